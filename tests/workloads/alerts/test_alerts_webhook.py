"""The Alertmanager webhook: authentication, routing to actions, and the audit trail.

Canary alerts act on the model's Envoy router (ConfigMap + Deployment ``<model>-router``)
in a loopback Kubernetes API, seeded as the platform deploys it.
"""

from __future__ import annotations

import http.client
import json
import pathlib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from contracts.router import WEIGHTS_ANNOTATION
from contracts.telemetry import CANARY_ALERT, DRIFT_ALERT
from workloads.alerts.audit import AuditLog, verify_audit_log
from workloads.alerts.webhook import (
    AlertRouter,
    TokenError,
    WebhookConfig,
    WebhookServer,
    load_token,
)
from workloads.monitoring.queues import InMemoryQueue
from workloads.monitoring.trigger import InMemoryDedupeStore, RetrainingHandler
from workloads.rollout.actuator import CanaryActuator
from workloads.rollout.canary import ArmObservations
from workloads.rollout.localkube import LocalKube, canary_objects

TOKEN = "s3cret-webhook-token-0123456789"
CM = "/api/v1/namespaces/team-a/configmaps/fraud-router"
DEP = "/apis/apps/v1/namespaces/team-a/deployments/fraud-router"
CANARY = {"namespace": "team-a", "inferenceservice": "fraud-challenger"}


def test_default_routing_follows_the_alert_names_the_platform_rules_fire() -> None:
    # components/k8s/monitoring.py renders the alert rules with the same contract names.
    config = WebhookConfig()
    assert DRIFT_ALERT in config.drift_alertnames
    assert CANARY_ALERT in config.canary_alertnames


@dataclass
class Stack:
    server: WebhookServer
    kube: LocalKube
    queue: InMemoryQueue
    audit: AuditLog


def _stack(tmp_path: pathlib.Path, metrics_source: Any = None) -> Iterator[Stack]:
    with LocalKube("kube-token-abcdef") as kube:
        kube.add_all(canary_objects("team-a", "fraud", "s3://b/v1", "s3://b/v2", 10))
        kube.add_all(canary_objects("team-b", "fraud", "s3://x/v1", "s3://x/v2", 10))
        queue = InMemoryQueue()
        audit = AuditLog(tmp_path / "audit.jsonl")
        router = AlertRouter(
            config=WebhookConfig(),
            audit=audit,
            queue=queue,
            actuator=CanaryActuator.from_configuration(kube.configuration(), "team-a"),
            metrics_source=metrics_source,
        )
        with WebhookServer(router, TOKEN) as server:
            yield Stack(server, kube, queue, audit)


@pytest.fixture
def stack(tmp_path: pathlib.Path) -> Iterator[Stack]:
    yield from _stack(tmp_path)


def _payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "mlplatform",
        "groupKey": '{}:{alertname="x"}',
        "alerts": list(alerts),
    }


def _weights(kube: LocalKube, namespace: str = "team-a") -> str:
    dep = kube.deployment(namespace, "fraud-router")
    return dep["spec"]["template"]["metadata"]["annotations"][WEIGHTS_ANNOTATION]


def _alert(name: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} summary", "value": "0.42"},
        "startsAt": "2026-11-26T10:00:00Z",
        "fingerprint": f"fp-{name}-{sorted(labels.items())}",
    }


def _request(
    url: str, method: str, path: str, body: bytes | None = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _post(url: str, body: Any, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return _request(url, "POST", "/alerts", data, token)


@pytest.mark.parametrize("token", [None, "wrong-token-wrong-token", TOKEN[:-1], ""])
def test_unauthenticated_callers_cannot_roll_back(stack: Stack, token: str | None) -> None:
    status, body = _post(stack.server.url, _payload(_alert("CanaryDegraded", **CANARY)), token)
    assert status == 401
    assert body == {"error": "unauthorized"}
    assert stack.kube.calls == []
    assert _weights(stack.kube) == "champion=90,challenger=10"
    record = stack.audit.records()[-1]
    assert record["what"] == "rejected"
    assert record["who"].startswith("anonymous@127.0.0.1")


def test_unauthenticated_reply_names_the_bearer_scheme(stack: Stack) -> None:
    parsed = urllib.parse.urlsplit(stack.server.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    try:
        conn.request("POST", "/alerts", body=b"{}", headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 401
        assert response.getheader("WWW-Authenticate") == 'Bearer realm="mlplatform-alerts"'
        assert response.getheader("Content-Type") == "application/json"
    finally:
        conn.close()
    ok, _ = _request(stack.server.url, "GET", "/healthz")
    assert ok == 200


def test_canary_alert_rolls_the_router_back_and_is_audited(stack: Stack) -> None:
    alert = _alert("CanaryDegraded", **CANARY)
    status, body = _post(stack.server.url, _payload(alert))
    assert status == 200
    outcome = body["outcomes"][0]
    assert (outcome["action"], outcome["model"], outcome["changed"]) == ("rollback", "fraud", True)
    assert outcome["traffic"] == {"fraud-champion": 100}
    assert [(c.method, c.path) for c in stack.kube.calls] == [
        ("GET", CM),
        ("PATCH", CM),
        ("GET", DEP),
        ("PATCH", DEP),
    ]
    assert _weights(stack.kube) == "champion=100"
    envoy = stack.kube.config_map("team-a", "fraud-router")["data"]["envoy.yaml"]
    assert "fraud-challenger" not in envoy and "fraud-champion-predictor" in envoy
    record = stack.audit.records()[-1]
    assert record["who"] == "alertmanager@127.0.0.1"
    assert record["what"] == "rollback"
    assert record["why"] == "CanaryDegraded summary"
    assert record["target"] == {**CANARY, "model": "fraud", "router": "fraud-router"}
    assert set(record["patch"]) == {"ConfigMap/fraud-router", "Deployment/fraud-router"}
    assert record["traffic_before"] == {"fraud-champion": 90, "fraud-challenger": 10}
    # Alertmanager repeats the notification: no second change, and it says so.
    _post(stack.server.url, _payload(alert))
    assert stack.audit.records()[-1]["what"] == "no-change"
    assert [c.method for c in stack.kube.calls[4:]] == ["GET", "GET"]
    assert verify_audit_log(stack.audit.path).ok


def test_model_name_label_wins_and_unmappable_services_fail_cleanly(stack: Stack) -> None:
    named = _alert("CanaryDegraded", namespace="team-a", inferenceservice="x", modelName="fraud")
    status, body = _post(stack.server.url, _payload(named))
    assert (status, body["outcomes"][0]["model"]) == (200, "fraud")
    assert _weights(stack.kube) == "champion=100"
    calls = len(stack.kube.calls)
    champion = _alert("CanaryDegraded", namespace="team-a", inferenceservice="fraud-champion")
    status, body = _post(stack.server.url, _payload(champion))
    assert status == 200
    assert body["outcomes"][0] == {
        "alertname": "CanaryDegraded",
        "action": "failed",
        "why": "label inferenceservice 'fraud-champion': expected '<model>-challenger' "
        "(or a modelName label naming the model)",
    }
    assert len(stack.kube.calls) == calls
    assert stack.audit.records()[-1]["what"] == "failed"


def test_kubernetes_refusal_is_reported_in_one_line(stack: Stack) -> None:
    stack.kube.forbidden.add(("GET", CM))
    status, body = _post(stack.server.url, _payload(_alert("CanaryDegraded", **CANARY)))
    assert status == 200
    outcome = body["outcomes"][0]
    assert outcome["action"] == "failed"
    assert outcome["why"].startswith("cannot read ConfigMap team-a/fraud-router: HTTP 403")
    assert "\n" not in outcome["why"]
    assert stack.audit.records()[-1]["what"] == "failed"
    assert _weights(stack.kube) == "champion=90,challenger=10"


def test_other_tenant_namespace_is_refused(stack: Stack) -> None:
    status, body = _post(
        stack.server.url,
        _payload(_alert("CanaryDegraded", namespace="team-b", inferenceservice="bad_name")),
    )
    assert status == 403
    assert body["outcomes"][0]["action"] == "refused"
    assert stack.kube.calls == []
    assert _weights(stack.kube, "team-b") == "champion=90,challenger=10"
    assert stack.audit.records()[-1]["what"] == "refused"


def test_drift_alert_emits_one_retraining_per_alert(stack: Stack) -> None:
    alert = _alert("ModelInputDrift", model="fraud", feature="amount,age")
    for _ in range(2):  # Alertmanager's repeat_interval resends the same alert
        status, body = _post(stack.server.url, _payload(alert))
        assert status == 200
        assert body["outcomes"][0]["action"] == "retraining-trigger"
    started: list[dict[str, Any]] = []
    handler = RetrainingHandler(stack.queue, started.append, InMemoryDedupeStore())
    assert [h.outcome for h in handler.poll_once()] == ["started", "duplicate"]
    assert started[0]["drifted_features"] == ["amount", "age"]
    assert [r["what"] for r in stack.audit.records()] == ["retraining-trigger"] * 2


def test_resolved_and_unknown_alerts_do_nothing(stack: Stack) -> None:
    status, body = _post(
        stack.server.url,
        _payload(
            _alert("CanaryDegraded", status="resolved", **CANARY),
            _alert("DiskFull"),
        ),
    )
    assert status == 200
    assert [o["action"] for o in body["outcomes"]] == ["none", "none"]
    assert stack.kube.calls == []
    assert len(stack.queue) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not JSON"),
        ({"version": "3", "alerts": []}, 'version: expected "4"'),
        ({"version": "4", "alerts": {}}, "alerts: must be a list"),
        ({"version": "4", "alerts": [{"labels": 5}]}, "alerts[0]: must be an object"),
    ],
)
def test_bad_payloads_get_400(stack: Stack, body: Any, message: str) -> None:
    status, reply = _post(stack.server.url, body)
    assert status == 400
    assert message in reply["error"]


def test_a_degradation_alert_never_promotes(tmp_path: pathlib.Path) -> None:
    """With numbers that would promote, a firing degradation alert only holds: no traffic
    moves to the challenger, and the audit record says why."""
    healthy = ArmObservations(requests=5_000, errors=50, latency_ms=[20.0] * 5_000)
    asked: list[tuple[str, str]] = []

    def source(namespace: str, model: str) -> tuple[ArmObservations, ArmObservations]:
        asked.append((namespace, model))
        return healthy, healthy

    for stack in _stack(tmp_path, metrics_source=source):
        before = _weights(stack.kube)
        status, body = _post(stack.server.url, _payload(_alert("CanaryDegraded", **CANARY)))
        assert status == 200
        outcome = body["outcomes"][0]
        assert outcome["action"] == "hold"
        assert outcome["changed"] is False
        assert "never promotes" in outcome["reasons"][0]
        assert asked == [("team-a", "fraud")]
        assert _weights(stack.kube) == before != "challenger=100"
        assert not stack.kube.writes()
        record = stack.audit.records()[-1]
        assert record["decision"] == "hold"
        assert record["metrics"]["challenger_requests"] == 5_000


def test_token_must_come_from_somewhere_and_be_strong(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TokenError, match="no webhook token configured"):
        load_token()
    short = tmp_path / "token"
    short.write_text("abc\n")
    with pytest.raises(TokenError, match="token must be at least 16 characters"):
        load_token(short)
    with pytest.raises(TokenError, match="cannot read webhook token"):
        load_token(tmp_path / "absent")
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    assert load_token(env_var="HOOK_TOKEN") == TOKEN
    good = tmp_path / "good"
    good.write_text(TOKEN + "\n")
    assert load_token(good) == TOKEN


def test_healthz_needs_no_token(stack: Stack) -> None:
    assert _request(stack.server.url, "GET", "/healthz") == (200, {"status": "ok"})


# -- hardening: refusals are cheap, bodies are checked before they are read ------------------
def _raw(url: str, head: str, body: bytes = b"", timeout: float = 5.0) -> tuple[int, bytes]:
    """Send a hand-written request (headers the stdlib client would not send); return the
    status and the raw reply. A server that tried to read an unsent body would time out."""
    import socket

    parsed = urllib.parse.urlsplit(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
            if b"\r\n\r\n" in reply and b'"}' in reply:
                break
    return int(reply.split(b" ", 2)[1]), reply


def _head(length: str | None, token: str | None = TOKEN, extra: str = "") -> str:
    lines = ["POST /alerts HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return "\n".join(lines) + "\n" + extra + "\n"


@pytest.mark.parametrize(
    ("length", "extra", "status", "message"),
    [
        ("-1", "", 400, "non-negative integer"),
        ("-100000", "", 400, "non-negative integer"),
        ("abc", "", 400, "non-negative integer"),
        ("+5", "", 400, "non-negative integer"),
        ("1e3", "", 400, "non-negative integer"),
        ("99999999999999999999999", "", 400, "non-negative integer"),
        ("2000000", "", 413, "body over 1048576 bytes"),
        (None, "", 411, "Content-Length is required"),
        (None, "Transfer-Encoding: chunked\n", 411, "Transfer-Encoding"),
        ("5", "Content-Length: 6\n", 400, "conflicting Content-Length"),
    ],
)
def test_malformed_content_length_is_refused_before_reading(
    stack: Stack, length: str | None, extra: str, status: int, message: str
) -> None:
    # No body is sent: answering at all proves the server did not wait to read one.
    got, reply = _raw(stack.server.url, _head(length, extra=extra))
    assert got == status
    assert message in reply.decode()
    assert stack.kube.calls == [] and len(stack.queue) == 0
    assert _request(stack.server.url, "GET", "/healthz")[0] == 200  # still up


def test_unauthenticated_request_is_answered_without_reading_its_body(stack: Stack) -> None:
    got, _ = _raw(stack.server.url, _head("1000000", token=None))
    assert got == 401
    got, _ = _raw(stack.server.url, _head("-1", token="wrong-token-wrong-token"))
    assert got == 401


def test_anonymous_refusals_are_counted_and_audited_as_a_rate_limited_summary(
    stack: Stack,
) -> None:
    """A flood of unauthenticated calls writes one audit record now and one summary per
    interval, not one fsync'd record each; the metric counts every one."""
    for _ in range(60):
        assert _post(stack.server.url, _payload(), token="wrong-token-wrong-token")[0] == 401
    records = stack.audit.records()
    assert len(records) == 1  # the first refusal, written at once
    assert records[0]["metrics"] == {"refused": {"unauthorized": 1}}
    status, text = _metrics(stack.server.url)
    assert status == 200
    assert 'mlplatform_alert_receiver_refused_total{reason="unauthorized"} 60' in text
    stack.server.refusals.flush()  # the server's timer does this every interval
    summary = stack.audit.records()[-1]
    assert len(stack.audit.records()) == 2
    assert summary["what"] == "rejected"
    assert summary["metrics"] == {"refused": {"unauthorized": 59}}
    assert summary["who"] == "anonymous@127.0.0.1"
    stack.server.refusals.flush()  # nothing new: nothing written
    assert len(stack.audit.records()) == 2
    assert verify_audit_log(stack.audit.path).ok


def test_stopping_the_server_checkpoints_the_audit_log(tmp_path: pathlib.Path) -> None:
    from workloads.alerts.audit import checkpoints_path

    for stack in _stack(tmp_path):
        _post(stack.server.url, _payload(_alert("Other")))
    path = tmp_path / "audit.jsonl"
    lines = path.read_text().splitlines()
    assert checkpoints_path(path).exists()
    path.write_text("\n".join(lines[:-1]) + ("\n" if len(lines) > 1 else ""))
    result = verify_audit_log(path)
    assert not result.ok and "log truncated" in result.message


def _metrics(url: str) -> tuple[int, str]:
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_receiver_refuses_to_start_with_an_unusable_audit_key(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workloads.alerts.webhook import main

    token = tmp_path / "token"
    token.write_text(TOKEN)
    short_key = tmp_path / "audit.key"
    short_key.write_text("abcd")
    common = ["--token_file", str(token), "--audit_log", str(tmp_path / "a.jsonl")]
    common += ["--queue", f"file:{tmp_path / 'q'}", "--tenant_namespace", "team-a"]
    assert main([*common, "--audit_key", "vault:x"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: audit key 'vault:x': expected file:PATH or kms:KEY_ARN"
    )
    assert main([*common, "--audit_key", f"file:{short_key}"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {short_key}: audit key must hold at least 32 bytes"
    )


def test_metrics_have_a_port_of_their_own(tmp_path: pathlib.Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    router = AlertRouter(
        config=WebhookConfig(),
        audit=audit,
        queue=InMemoryQueue(),
        actuator=None,  # type: ignore[arg-type]
    )
    with WebhookServer(router, TOKEN, metrics_port=0) as server:
        assert server.metrics_port and server.metrics_port != server.port
        _post(server.url, _payload(), token="wrong-token-wrong-token")
        status, text = _metrics(f"http://127.0.0.1:{server.metrics_port}")
        assert status == 200
        assert 'mlplatform_alert_receiver_refused_total{reason="unauthorized"} 1' in text
        assert "mlplatform_alert_receiver_audit_ship_failures_total 0" in text
        # The metrics port answers nothing else.
        conn = http.client.HTTPConnection("127.0.0.1", server.metrics_port, timeout=10)
        try:
            conn.request("POST", "/alerts", body=b"{}")
            assert conn.getresponse().status == 501
        finally:
            conn.close()
