"""``python -m workloads.retraining``: run a tenant's retraining controller.

See :mod:`workloads.retraining.controller`. It serves ``/metrics`` on
``--metrics_host:--metrics_port`` (loopback unless told otherwise; the pod binds
``0.0.0.0`` behind the tenant's network policies) and runs a pass every ``--interval``
seconds, or once with ``--once`` (prints the pass as JSON).

Exit codes: 0 stopped (or ``--once`` done), 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import threading
from collections.abc import Sequence

from contracts.telemetry import CONTROLLER_METRICS_PORT


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workloads.retraining")
    p.add_argument("--namespace", required=True, help="the tenant namespace (the only one)")
    p.add_argument("--queue", required=True, help="sqs:URL or file:DIR of retraining triggers")
    p.add_argument("--run_template", type=pathlib.Path, required=True, help="run template (JSON)")
    p.add_argument("--registry", required=True, help="s3://bucket/registry/")
    p.add_argument("--models_uri", required=True, help="s3://bucket/models/")
    p.add_argument("--kms_key", default=None, help="tenant key for registry writes (SSE-KMS)")
    p.add_argument(
        "--model", action="append", default=[], help="NAME=VERSION[:CANARY_PERCENT] (repeat)"
    )
    p.add_argument(
        "--prometheus_url", default=None, help="the tenant's Prometheus: per-arm traffic"
    )
    p.add_argument(
        "--scrape", action="append", default=[],
        help="SERVICE=URL of a model server's /metrics (instead of Prometheus; repeat)",
    )  # fmt: skip
    p.add_argument("--feedback", default=None, help="s3://bucket/feedback/: labelled outcomes")
    p.add_argument("--audit_log", type=pathlib.Path, required=True)
    p.add_argument("--interval", type=float, default=30.0)
    p.add_argument("--once", action="store_true", help="one pass, printed as JSON")
    p.add_argument("--metrics_host", default="127.0.0.1")
    p.add_argument("--metrics_port", type=int, default=CONTROLLER_METRICS_PORT)
    p.add_argument("--min_requests", type=int, default=500, help="canary: requests per arm")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster service account)")
    return p


def _pair(flag: str, text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise ValueError(f"{flag} {text!r}: expected NAME=VALUE")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    """Build the controller from the arguments and run it."""
    args = _parser().parse_args(argv)
    try:
        from kubernetes import client
        from kubernetes import config as kube_config
        from prometheus_client import start_http_server

        from workloads.alerts.audit import AuditLog
        from workloads.common.objectstore import open_store
        from workloads.monitoring.queues import open_queue
        from workloads.registry.index import ModelRegistry
        from workloads.retraining.controller import ManagedModel, RetrainingController
        from workloads.retraining.launcher import launcher_for
        from workloads.rollout.actuator import CanaryActuator
        from workloads.rollout.canary import CanaryPolicy
        from workloads.rollout.deploy import ModelDeployer
        from workloads.rollout.observations import (
            CanaryObservations,
            MetricsReader,
            PrometheusReader,
            ScrapeReader,
        )

        models = {m.name: m for m in map(ManagedModel.parse, args.model)}
        if not models:
            raise ValueError("--model: at least one NAME=VERSION is required")
        if args.kubeconfig:
            kube_config.load_kube_config(config_file=args.kubeconfig)
        else:
            kube_config.load_incluster_config()
        api = client.ApiClient()
        template = json.loads(args.run_template.read_text())
        controller = RetrainingController(
            namespace=args.namespace,
            queue=open_queue(args.queue),
            launcher=launcher_for(api, args.namespace, template),
            registry=ModelRegistry(
                open_store(args.registry, args.kms_key), who="retraining-controller"
            ),
            models_store=open_store(args.models_uri, args.kms_key),
            models_uri=args.models_uri.rstrip("/") + "/",
            models=models,
            audit=AuditLog(args.audit_log),
            actuator=CanaryActuator(api, args.namespace, actor="retraining-controller"),
            deployer=ModelDeployer(api, args.namespace),
            policy=CanaryPolicy(min_requests=args.min_requests),
        )
        reader: MetricsReader | None = None
        if args.scrape:
            reader = ScrapeReader(dict(_pair("--scrape", t) for t in args.scrape))
        elif args.prometheus_url:
            reader = PrometheusReader(args.prometheus_url, args.namespace)
        if reader is not None:
            controller.observations = CanaryObservations(
                reader,
                open_store(args.feedback, args.kms_key) if args.feedback else None,
                controller.canary_versions,
            )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # kubernetes configuration errors have no common base
        print(f"error: configuration: {exc}", file=sys.stderr)
        return 2
    if args.once:
        print(json.dumps(controller.step(), default=str))
        return 0
    start_http_server(args.metrics_port, addr=args.metrics_host, registry=controller.metrics)
    print(f"retraining controller for {args.namespace}: {', '.join(models)}", flush=True)
    stop = threading.Event()
    try:
        while not stop.is_set():
            try:
                controller.step()
            except Exception as exc:  # one bad pass must not end the controller
                print(f"pass failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            stop.wait(args.interval)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
