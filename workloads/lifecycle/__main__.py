"""``python -m workloads.lifecycle``: the whole model lifecycle on this machine.

Stages (each printed with its key numbers and time):

1. generate data and materialise features (``python -m workloads.features init``);
2. train, pass the quality gate, export to ONNX and sign (``python -m workloads.training``);
3. serve the champion on 127.0.0.1 with prediction logging (``python -m workloads.serving``);
4. send in-distribution traffic and check drift: nothing fires;
5. shift the input distribution step by step until drift fires, send the retraining
   trigger to a file queue and consume it once (a redelivery is a duplicate);
6. train a challenger that passes the offline gate but is a larger, slower network,
   serve it next to the champion and split labelled traffic between the two;
7. a canary alert reaches the authenticated Alertmanager webhook (an anonymous one is
   refused), the canary analysis decides, and the actuator rolls the challenger back
   by patching the model's Envoy router (ConfigMap, then Deployment ``churn-router``,
   as the serving component deploys them) through the Kubernetes API (a loopback
   stand-in records the calls); the decision is in the hash-chained audit log.

Everything is kept under ``--workdir`` (default ``.mlplatform/local``, ignored by git):
``feature_repo/``, ``models/champion`` and ``models/challenger`` (serve either again
with ``python -m workloads.serving``), ``predictions/``, ``monitoring/`` (drift
reports, trigger queue, retraining requests), ``alerts/audit.jsonl`` and ``logs/``.
Every process started is stopped at the end, on errors and on Ctrl-C.

Exit codes: 0 the loop completed (drift triggered retraining, the bad challenger was
rolled back); 1 a stage failed (its log is named); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import secrets
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import yaml

from contracts.signing import SIGNING_KEY_ENV
from workloads.common.signing import DEV_KEY_DIR, DEV_PUBLIC_KEY
from workloads.lifecycle.runtime import (
    ArmStats,
    Processes,
    StageError,
    V2Client,
    free_port,
    last_json_line,
    send,
    traffic,
    wait_ready,
)

MODEL = "churn"
NAMESPACE = "team-demo"
SHIFT_STEPS = (0.25, 0.5, 1.0, 1.5)


class Stages:
    """Numbered stage printer with timings."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.index = 0
        self.started = time.perf_counter()

    @contextmanager
    def stage(self, title: str) -> Iterator[list[str]]:
        """Print the title, run the block, print its notes and elapsed time."""
        self.index += 1
        print(f"[{self.index}/{self.total}] {title}", flush=True)
        notes: list[str] = []
        began = time.perf_counter()
        yield notes
        for note in notes:
            print(f"      {note}", flush=True)
        print(f"      done in {time.perf_counter() - began:.1f} s", flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workloads.lifecycle",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path(".mlplatform/local"))
    p.add_argument("--customers", type=int, default=3000, help="customers in the training data")
    p.add_argument("--traffic-rows", type=int, default=2000, help="rows per traffic window")
    p.add_argument("--batch", type=int, default=32, help="rows per inference request")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--epochs", type=int, default=30, help="champion training epochs")
    p.add_argument(
        "--challenger-hidden",
        default="1024,1024,1024",
        help="hidden layers of the (slower) challenger network",
    )
    p.add_argument("--canary-requests", type=int, default=300, help="requests per canary arm")
    p.add_argument(
        "--canary-batch",
        type=int,
        default=128,
        help="rows per canary request (large enough that model compute shows in latency)",
    )
    return p


def _reset(workdir: pathlib.Path) -> None:
    """Remove the previous run's outputs (keys and the feature repo are rewritten)."""
    for name in ("models", "predictions", "monitoring", "alerts", "logs"):
        shutil.rmtree(workdir / name, ignore_errors=True)


def run(args: argparse.Namespace, procs: Processes) -> dict[str, Any]:
    """Run every stage; return the summary. Raises StageError."""
    from contracts.router import WEIGHTS_ANNOTATION, routed_backends
    from workloads.alerts.audit import AuditLog, verify_audit_log
    from workloads.alerts.webhook import AlertRouter, WebhookConfig, WebhookServer
    from workloads.monitoring.drift import DriftThresholds, compute_drift, prepare_reference
    from workloads.monitoring.queues import FileQueue
    from workloads.monitoring.reference import load_reference
    from workloads.monitoring.trigger import (
        FileDedupeStore,
        RetrainingHandler,
        emit_retraining_trigger,
    )
    from workloads.monitoring.window import read_window
    from workloads.rollout.actuator import CanaryActuator
    from workloads.rollout.canary import ArmObservations, CanaryPolicy
    from workloads.rollout.localkube import LocalKube, canary_objects

    w = args.workdir
    repo, champion_dir, challenger_dir = (
        w / "feature_repo",
        w / "models" / "champion",
        w / "models" / "challenger",
    )
    pred_dir, mon_dir = w / "predictions", w / "monitoring"
    _reset(w)
    stages = Stages(7)
    summary: dict[str, Any] = {"workdir": str(w)}

    with stages.stage("generate data and materialise features (Feast, SQLite online store)") as n:
        out = procs.run(
            "features",
            [
                "-m",
                "workloads.features",
                "init",
                "--out",
                str(repo),
                "--customers",
                str(args.customers),
                "--seed",
                str(args.seed),
            ],
            timeout=300,
        )
        info = last_json_line(out)
        n.append(
            f"{info['n_labels']} labels, {info['n_activity_rows']} activity rows, "
            f"online store materialised: {info['materialized']}"
        )

    with stages.stage("train, quality gate, ONNX export and signature (champion)") as n:
        out = procs.run(
            "train-champion",
            [
                "-m",
                "workloads.training",
                "--repo",
                str(repo),
                "--out",
                str(champion_dir),
                "--epochs",
                str(args.epochs),
                "--seed",
                str(args.seed),
            ],
            timeout=600,
        )
        info = last_json_line(out)
        m = info["metrics"]
        n.append(
            f"version {info['model_version']}: roc_auc {m['roc_auc']:.3f}, "
            f"accuracy {m['accuracy_at_0_5']:.3f}, ONNX parity "
            f"{info['onnx_parity']['max_abs_diff']:.1e} -> gate passed, signed"
        )
        summary["champion"] = info

    card = json.loads((champion_dir / "model_card.json").read_text())
    features = [f["name"] for f in card["features"]]
    # Without a configured key the trainer signs with the local dev key it creates;
    # with one, the server finds the verify key itself (its own flag or environment).
    dev_public = (DEV_KEY_DIR / DEV_PUBLIC_KEY).resolve()
    key_args = [] if os.environ.get(SIGNING_KEY_ENV) else ["--public_key", str(dev_public)]
    serve_args = ["--enable_grpc", "false", *key_args]

    with stages.stage("serve the champion on 127.0.0.1 (KServe V2, prediction logging)") as n:
        port = free_port()
        champion = procs.start(
            "serve-champion",
            [
                "-m",
                "workloads.serving",
                "--model_name",
                MODEL,
                "--model_dir",
                str(champion_dir),
                "--http_port",
                str(port),
                "--prediction_log_dir",
                str(pred_dir),
                *serve_args,
            ],
        )
        wait_ready(port, MODEL, champion, timeout=90)
        n.append(f"http://127.0.0.1:{port}/v2/models/{MODEL} ready (pid {champion.pid})")

    reference = prepare_reference(load_reference(champion_dir / "reference_stats.json"))
    thresholds = DriftThresholds()
    client = V2Client(port, MODEL)

    def window_report(start: float, end: float, expected: int, label: str) -> Any:
        deadline = time.monotonic() + 10
        while True:  # the logger flushes about once a second
            window = read_window(pred_dir, model=MODEL, start=start, end=end)
            if window.n_rows >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        report = compute_drift(
            window.columns,
            reference,
            model=MODEL,
            thresholds=thresholds,
            window_start=start,
            window_end=end,
        )
        (mon_dir / "reports").mkdir(parents=True, exist_ok=True)
        (mon_dir / "reports" / f"{label}.json").write_text(
            json.dumps(report.to_json(), indent=2) + "\n"
        )
        return report

    def describe(report: Any) -> str:
        top = max(report.features, key=lambda f: f.psi)
        drifted = ", ".join(report.drifted_features) or "none"
        return (
            f"{report.n_rows} rows logged; max PSI {top.psi:.3f} ({top.feature}); "
            f"drifted: {drifted}; computed in {report.computed_seconds * 1000:.0f} ms"
        )

    with stages.stage("in-distribution traffic, drift check") as n:
        rows, labels = traffic(features, args.traffic_rows, args.seed + 100, 0.0)
        start = time.time()
        stats = send(client, rows, labels, args.batch)
        end = time.time() + 0.001
        p50 = float(np.percentile(stats.latency_ms, 50))
        p99 = float(np.percentile(stats.latency_ms, 99))
        n.append(
            f"{stats.requests} requests x {args.batch} rows: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"errors {stats.errors}, accuracy on labels {stats.correct / stats.labelled:.3f}"
        )
        report = window_report(start, end, len(rows), "baseline")
        n.append(describe(report))
        if report.triggered:
            raise StageError("drift fired on in-distribution traffic (see the baseline report)")
        n.append("no drift: no retraining trigger")

    with stages.stage("shift the input distribution until drift fires") as n:
        queue = FileQueue(mon_dir / "queue")
        fired = None
        for step, shift in enumerate(SHIFT_STEPS):
            rows, labels = traffic(features, args.traffic_rows, args.seed + 200 + step, shift)
            start = time.time()
            send(client, rows, labels, args.batch)
            end = time.time() + 0.001
            report = window_report(start, end, len(rows), f"shift-{shift}")
            n.append(f"shift {shift:+.2f}: {describe(report)}")
            if report.triggered:
                fired = report
                break
        if fired is None:
            raise StageError(f"drift never fired up to shift {SHIFT_STEPS[-1]}")
        version = str(card["model_version"])
        emit_retraining_trigger(fired, queue, version)
        emit_retraining_trigger(fired, queue, version)  # at-least-once: a resend happens
        requests_dir = mon_dir / "retraining-requests"
        requests_dir.mkdir(parents=True, exist_ok=True)

        def request_retraining(body: dict[str, Any]) -> None:
            # One request file per dedupe key; the trainer (a Job in the cluster) reads it.
            path = requests_dir / f"{body['dedupe_key']}.json"
            job = {
                "trigger": body,
                "command": [
                    "python",
                    "-m",
                    "workloads.training",
                    "--repo",
                    str(repo),
                    "--out",
                    str(w / "models" / f"retrain-{body['dedupe_key'][:12]}"),
                ],
            }
            path.write_text(json.dumps(job, indent=2) + "\n")

        handler = RetrainingHandler(
            queue, request_retraining, FileDedupeStore(mon_dir / "processed")
        )
        outcomes = [h.outcome for h in handler.poll_once()]
        if outcomes.count("started") != 1:
            raise StageError(f"retraining handler outcomes {outcomes}, expected one start")
        n.append(
            f"trigger {fired.dedupe_key()} sent twice, handled: {', '.join(outcomes)} "
            f"-> {requests_dir / (fired.dedupe_key() + '.json')}"
        )
        n.append(
            f"retraining triggered for {MODEL} (features: {', '.join(fired.drifted_features)})"
        )
        summary["retraining_triggered"] = True
        summary["drifted_features"] = fired.drifted_features

    with stages.stage("canary: a larger, slower challenger against the champion") as n:
        out = procs.run(
            "train-challenger",
            [
                "-m",
                "workloads.training",
                "--repo",
                str(repo),
                "--out",
                str(challenger_dir),
                "--hidden",
                args.challenger_hidden,
                "--epochs",
                "5",
                "--seed",
                str(args.seed + 1),
                "--model-version",
                "challenger-1",
            ],
            timeout=600,
        )
        info = last_json_line(out)
        n.append(
            f"challenger {args.challenger_hidden} trained: roc_auc "
            f"{info['metrics']['roc_auc']:.3f} -> passes the offline gate"
        )
        c_port = free_port()
        challenger = procs.start(
            "serve-challenger",
            [
                "-m",
                "workloads.serving",
                "--model_name",
                MODEL,
                "--model_dir",
                str(challenger_dir),
                "--http_port",
                str(c_port),
                *serve_args,
            ],
        )
        wait_ready(c_port, MODEL, challenger, timeout=90)
        c_client = V2Client(c_port, MODEL)
        batch = args.canary_batch
        rows, labels = traffic(features, args.canary_requests * batch, args.seed + 300, 0.0)
        arms = {"champion": ArmStats(), "challenger": ArmStats()}
        for i in range(args.canary_requests * 2):  # 50/50 split, interleaved
            arm, target = ("champion", client) if i % 2 == 0 else ("challenger", c_client)
            j = (i // 2) * batch
            send(target, rows[j : j + batch], labels[j : j + batch], batch, arms[arm])
        c_client.close()
        Processes.stop(challenger)
        for name, s in arms.items():
            n.append(
                f"{name}: {s.requests} requests x {batch} rows, errors {s.errors}, latency "
                f"p50 {np.percentile(s.latency_ms, 50):.1f} ms / p99 "
                f"{np.percentile(s.latency_ms, 99):.1f} ms, accuracy "
                f"{s.correct / max(s.labelled, 1):.3f} on {s.labelled} labelled rows"
            )
    observations = {
        k: ArmObservations(
            requests=s.requests,
            errors=s.errors,
            latency_ms=s.latency_ms,
            labelled=s.labelled,
            correct=s.correct,
        )
        for k, s in arms.items()
    }

    with stages.stage("canary alert -> webhook -> canary analysis -> rollback") as n:
        alerts_dir = w / "alerts"
        alerts_dir.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        token_file = alerts_dir / "webhook.token"
        token_file.touch(mode=0o600)
        token_file.write_text(token + "\n")
        audit = AuditLog(alerts_dir / "audit.jsonl")
        champion_uri = f"file://{champion_dir.resolve()}"
        challenger_uri = f"file://{challenger_dir.resolve()}"
        router_name = f"{MODEL}-router"

        def router_state(kube: LocalKube) -> tuple[dict[str, int], str]:
            cm = kube.config_map(NAMESPACE, router_name)
            dep = kube.deployment(NAMESPACE, router_name)
            traffic = routed_backends(NAMESPACE, yaml.safe_load(cm["data"]["envoy.yaml"]))
            return traffic, dep["spec"]["template"]["metadata"]["annotations"][WEIGHTS_ANNOTATION]

        with LocalKube(secrets.token_urlsafe(16)) as kube:
            # The router as the serving component deploys it with a 50 % canary.
            kube.add_all(canary_objects(NAMESPACE, MODEL, champion_uri, challenger_uri, 50))
            traffic_before, weights_before = router_state(kube)
            router = AlertRouter(
                config=WebhookConfig(
                    canary_policy=CanaryPolicy(min_requests=min(300, args.canary_requests))
                ),
                audit=audit,
                queue=FileQueue(mon_dir / "queue"),
                actuator=CanaryActuator.from_configuration(
                    kube.configuration(), NAMESPACE, actor="lifecycle-demo"
                ),
                metrics_source=lambda ns, name: (
                    observations["champion"],
                    observations["challenger"],
                ),
            )
            alert = {
                "version": "4",
                "status": "firing",
                "receiver": "mlplatform-rollout",
                "groupKey": '{}:{alertname="CanaryDegraded"}',
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {
                            "alertname": "CanaryDegraded",
                            "namespace": NAMESPACE,
                            "inferenceservice": f"{MODEL}-challenger",
                        },
                        "annotations": {"summary": "challenger p99 latency above champion"},
                        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "fingerprint": "demo-canary",
                    }
                ],
            }
            with WebhookServer(router, token) as hook:
                anon_status, _ = _post(hook.url, alert, None)
                n.append(f"anonymous POST /alerts -> HTTP {anon_status} (refused, audited)")
                status, body = _post(hook.url, alert, token)
            outcome = body["outcomes"][0]
            n.append(f"authenticated POST /alerts -> HTTP {status}: decision {outcome['action']}")
            for reason in outcome.get("reasons", []):
                n.append(f"  because {reason}")
            for call in kube.calls:
                n.append(
                    f"  Kubernetes API: {call.method} {call.path} {call.content_type}".rstrip()
                )
            for call in kube.writes():
                n.append(
                    f"  patched {'/'.join(call.path.rsplit('/', 2)[-2:])}: {_describe_patch(call.body)}"
                )
            traffic_after, weights_after = router_state(kube)
            n.append(
                f"router {NAMESPACE}/{router_name}: {_split(traffic_before)} -> "
                f"{_split(traffic_after)}; pod annotation {weights_before} -> {weights_after}"
            )
        check = verify_audit_log(audit.path)
        n.append(f"audit log: {check.message}")
        if outcome["action"] != "rollback" or traffic_after != {f"{MODEL}-champion": 100}:
            raise StageError(f"the bad challenger was not rolled back: {outcome}")
        n.append(f"challenger rolled back in {NAMESPACE}/{MODEL}")
        summary["rolled_back"] = True
    client.close()
    summary["seconds"] = round(time.perf_counter() - stages.started, 1)
    return summary


def _split(traffic: dict[str, int]) -> str:
    return ", ".join(f"{isvc} {weight} %" for isvc, weight in traffic.items())


def _describe_patch(body: Any) -> str:
    """A one-line summary of a router patch: which keys it sets, not the whole Envoy file."""
    if not isinstance(body, dict):
        return repr(body)
    if "data" in body:
        return "data." + ", data.".join(f"{k} ({len(v)} bytes)" for k, v in body["data"].items())
    template = body.get("spec", {}).get("template", {}).get("metadata", {})
    notes = body.get("metadata", {}).get("annotations", {})
    parts = [
        f"spec.template annotation {k}={v}" for k, v in template.get("annotations", {}).items()
    ]
    parts += [f"metadata annotation {k}" for k in notes]
    return "; ".join(parts) or json.dumps(body)


def _post(url: str, body: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any]]:
    import http.client
    import urllib.parse

    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("POST", "/alerts", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the lifecycle; stop every started process whatever happens."""
    args = _parser().parse_args(argv)
    for name in ("customers", "traffic_rows", "batch", "epochs", "canary_requests", "canary_batch"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')}: must be >= 1", file=sys.stderr)
            return 2
    procs = Processes(args.workdir / "logs")

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        summary = run(args, procs)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: stopping every started process", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: keep the traceback in the log, one line here
        log = args.workdir / "logs" / "lifecycle-error.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        print(f"error: {type(exc).__name__}: {exc} (traceback: {log})", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        signal.signal(signal.SIGTERM, previous)
        # Recorded so a user (and the test) can check that nothing was left running.
        (args.workdir / "logs").mkdir(parents=True, exist_ok=True)
        (args.workdir / "logs" / "processes.json").write_text(
            json.dumps({name: p.pid for name, p in procs.started}) + "\n"
        )
    print(
        f"lifecycle complete in {summary['seconds']} s: retraining triggered, "
        "bad challenger rolled back"
    )
    print(json.dumps(summary | {"champion": summary["champion"]["model_version"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
