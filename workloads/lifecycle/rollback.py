"""Stage 7 of the local lifecycle: a canary alert reaches the authenticated webhook,
the canary analysis decides, and the actuator rolls the challenger back by patching the
model's Envoy router through the Kubernetes API (a loopback stand-in records the calls).
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import time
import urllib.parse
from typing import Any

import yaml

from contracts.router import WEIGHTS_ANNOTATION, routed_backends
from workloads.alerts.audit import AuditLog, verify_audit_log
from workloads.alerts.webhook import AlertRouter, WebhookConfig, WebhookServer
from workloads.lifecycle.runtime import ArmStats, StageError
from workloads.lifecycle.steps import MODEL, NAMESPACE, Workdir
from workloads.monitoring.queues import FileQueue
from workloads.rollout.actuator import CanaryActuator
from workloads.rollout.canary import ArmObservations, CanaryPolicy
from workloads.rollout.localkube import LocalKube, canary_objects

ROUTER = f"{MODEL}-router"


def _observations(arms: dict[str, ArmStats]) -> dict[str, ArmObservations]:
    return {
        name: ArmObservations(
            requests=stats.requests,
            errors=stats.errors,
            latency_ms=stats.latency_ms,
            labelled=stats.labelled,
            correct=stats.correct,
        )
        for name, stats in arms.items()
    }


def _canary_alert() -> dict[str, Any]:
    """The Alertmanager webhook payload of a firing canary alert on the challenger."""
    return {
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


def _router_state(kube: LocalKube) -> tuple[dict[str, int], str]:
    """The router's traffic split (from its Envoy file) and its pod weights annotation."""
    config_map = kube.config_map(NAMESPACE, ROUTER)
    deployment = kube.deployment(NAMESPACE, ROUTER)
    split = routed_backends(NAMESPACE, yaml.safe_load(config_map["data"]["envoy.yaml"]))
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    return split, annotations[WEIGHTS_ANNOTATION]


def roll_back(
    args: argparse.Namespace, workdir: Workdir, arms: dict[str, ArmStats], notes: list[str]
) -> None:
    """Post a canary alert to the webhook; check that it rolled the challenger back."""
    observations = _observations(arms)
    workdir.alerts.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    token_file = workdir.alerts / "webhook.token"
    token_file.touch(mode=0o600)
    token_file.write_text(token + "\n")
    audit = AuditLog(workdir.alerts / "audit.jsonl")
    champion_uri = f"file://{workdir.champion.resolve()}"
    challenger_uri = f"file://{workdir.challenger.resolve()}"
    with LocalKube(secrets.token_urlsafe(16)) as kube:
        # The router as the serving component deploys it with a 50 % canary.
        kube.add_all(canary_objects(NAMESPACE, MODEL, champion_uri, challenger_uri, 50))
        traffic_before, weights_before = _router_state(kube)
        router = AlertRouter(
            config=WebhookConfig(
                canary_policy=CanaryPolicy(min_requests=min(300, args.canary_requests))
            ),
            audit=audit,
            queue=FileQueue(workdir.monitoring / "queue"),
            actuator=CanaryActuator.from_configuration(
                kube.configuration(), NAMESPACE, actor="lifecycle-demo"
            ),
            metrics_source=lambda namespace, model: (
                observations["champion"],
                observations["challenger"],
            ),
        )
        alert = _canary_alert()
        with WebhookServer(router, token) as hook:
            anonymous_status, _ = _post(hook.url, alert, None)
            notes.append(f"anonymous POST /alerts -> HTTP {anonymous_status} (refused, audited)")
            status, body = _post(hook.url, alert, token)
        outcome = body["outcomes"][0]
        notes.append(f"authenticated POST /alerts -> HTTP {status}: decision {outcome['action']}")
        for reason in outcome.get("reasons", []):
            notes.append(f"  because {reason}")
        for call in kube.calls:
            notes.append(
                f"  Kubernetes API: {call.method} {call.path} {call.content_type}".rstrip()
            )
        for call in kube.writes():
            notes.append(
                f"  patched {'/'.join(call.path.rsplit('/', 2)[-2:])}: {_describe_patch(call.body)}"
            )
        traffic_after, weights_after = _router_state(kube)
        notes.append(
            f"router {NAMESPACE}/{ROUTER}: {_split(traffic_before)} -> "
            f"{_split(traffic_after)}; pod annotation {weights_before} -> {weights_after}"
        )
    check = verify_audit_log(audit.path)
    notes.append(f"audit log: {check.message}")
    if outcome["action"] != "rollback" or traffic_after != {f"{MODEL}-champion": 100}:
        raise StageError(f"the bad challenger was not rolled back: {outcome}")
    notes.append(f"challenger rolled back in {NAMESPACE}/{MODEL}")


def _split(traffic: dict[str, int]) -> str:
    return ", ".join(f"{isvc} {weight} %" for isvc, weight in traffic.items())


def _describe_patch(body: Any) -> str:
    """A one-line summary of a router patch: which keys it sets, not the whole Envoy file."""
    if not isinstance(body, dict):
        return repr(body)
    if "data" in body:
        return "data." + ", data.".join(
            f"{key} ({len(value)} bytes)" for key, value in body["data"].items()
        )
    template = body.get("spec", {}).get("template", {}).get("metadata", {})
    annotations = body.get("metadata", {}).get("annotations", {})
    settings = [
        f"spec.template annotation {key}={value}"
        for key, value in template.get("annotations", {}).items()
    ]
    settings += [f"metadata annotation {key}" for key in annotations]
    return "; ".join(settings) or json.dumps(body)


def _post(url: str, body: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any]]:
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
