"""Alertmanager webhook receiver: drift alerts become retraining triggers, canary alerts
become canary decisions (and rollbacks), and every decision is audited.

``POST /alerts`` takes Alertmanager's webhook payload (``"version": "4"``) and must carry
``Authorization: Bearer <token>`` (Alertmanager's ``http_config.authorization`` with
``credentials_file``). The token comes from a file or an environment variable; there
is no default, and a missing or short token stops the receiver from starting. The
comparison is constant-time.

Refusals cost an anonymous caller nothing to send, so they must cost the receiver little:
an unauthenticated request is answered 401 without its body being read, counted in
``mlplatform_alert_receiver_refused_total{reason}`` (``GET /metrics``), and audited as
one summary record at most once per ``refusal_audit_interval`` (not one fsync'd record
each). The body of an authenticated request is refused before it is read when its
``Content-Length`` is missing, negative, not a number or over 1 MiB, or when it is sent
chunked (:func:`workloads.common.httpserver.content_length`).

The audit log (:mod:`workloads.alerts.audit`) is keyed (``--audit_key``), shipped to
the tenant's object-locked audit bucket (``--audit_bucket``) and checkpointed every
``--checkpoint_interval`` seconds, so a cut at its tail is detectable.

Routing, by the alert's ``alertname`` label (see :class:`WebhookConfig`):

- drift alert (labels ``model``): sends a retraining trigger whose ``dedupe_key`` is
  derived from the alert's fingerprint and ``startsAt``, so Alertmanager's repeat
  notifications of the same alert start one retraining.
- canary alert (labels ``namespace`` and ``inferenceservice=<model>-challenger``; the
  model is the ``modelName`` label when present, else the InferenceService name without
  its ``-challenger`` suffix): when a metrics source is configured, the canary analysis
  (:func:`workloads.rollout.canary.decide`) decides hold / roll back on the current
  numbers; without one, a firing canary alert means roll back. A degradation alert can
  only hold or roll back, never promote: when the numbers say "promote" the receiver
  holds and leaves promotion to the retraining controller's scheduled canary analysis
  (an alert that fired is evidence against the challenger, not for it). The actuator
  carries the decision out on the model's Envoy router (ConfigMap, then Deployment
  ``<model>-router``; see :mod:`workloads.rollout.actuator`), not on the
  InferenceService, whose ``canaryTrafficPercent`` KServe 0.16 RawDeployment ignores.
  It refuses namespaces other than the tenant's (answered 403 for that alert).
- resolved or unknown alerts: audited, no action.

``GET /healthz`` and ``GET /metrics`` answer without authentication. The server binds 127.0.0.1 unless
told otherwise (in the cluster, the pod IP behind a NetworkPolicy that admits only
Alertmanager).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import pathlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.names import CHALLENGER, model_of_challenger
from contracts.router import router_name
from contracts.telemetry import CANARY_ALERT, DRIFT_ALERT, WEBHOOK_PORT
from workloads.alerts.audit import AuditError, AuditLog, add_audit_arguments, open_audit_log
from workloads.common.httpserver import BackgroundHTTPServer, BodyError, JSONRequestHandler
from workloads.common.objectstore import ObjectStoreError
from workloads.monitoring.queues import TriggerQueue
from workloads.monitoring.trigger import TRIGGER_TYPE
from workloads.registry.index import ModelRegistry, RegistryError
from workloads.rollout.actuator import ActuatorError, CanaryActuator, TenantScopeError
from workloads.rollout.canary import Action, ArmObservations, CanaryDecision, CanaryPolicy, decide

MIN_TOKEN_LENGTH = 16
MAX_BODY_BYTES = 1_048_576
REFUSED_METRIC = "mlplatform_alert_receiver_refused_total"
SHIP_FAILURES_METRIC = "mlplatform_alert_receiver_audit_ship_failures_total"
MAX_CALLERS_PER_SUMMARY = 20

# (namespace, model) -> (champion, challenger) observations, or None if the numbers
# are not available right now.
MetricsSource = Callable[[str, str], tuple[ArmObservations, ArmObservations] | None]


class WebhookConfig(BaseModel):
    """How alerts are routed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drift_alertnames: tuple[str, ...] = Field(
        default=(DRIFT_ALERT,), description="Alert names that request retraining."
    )
    canary_alertnames: tuple[str, ...] = Field(
        default=(CANARY_ALERT,), description="Alert names that trigger canary analysis."
    )
    identity: str = Field(
        default="alertmanager", description="Who holds the token (written to the audit log)."
    )
    canary_policy: CanaryPolicy = Field(
        default_factory=CanaryPolicy, description="Thresholds of the canary analysis."
    )


def model_of(labels: dict[str, Any]) -> str:
    """The model a canary alert is about: ``modelName``, else ``<model>-challenger`` stripped."""
    explicit = str(labels.get("modelName") or "")
    if explicit:
        return explicit
    service = str(labels.get("inferenceservice") or "")
    model = model_of_challenger(service)
    if model is not None:
        return model
    raise ValueError(
        f"label inferenceservice {service!r}: expected '<model>-{CHALLENGER}' "
        "(or a modelName label naming the model)"
    )


class TokenError(ValueError):
    """The webhook token is missing or too weak."""


def load_token(token_file: pathlib.Path | None = None, env_var: str | None = None) -> str:
    """Read the bearer token from a file (preferred) or an environment variable."""
    if token_file is not None:
        try:
            token = pathlib.Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenError(f"{token_file}: cannot read webhook token: {exc.strerror}") from None
        source = str(token_file)
    elif env_var:
        token = os.environ.get(env_var, "").strip()
        source = f"environment variable {env_var}"
    else:
        raise TokenError("no webhook token configured: pass --token_file or --token_env")
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(f"{source}: webhook token must be at least {MIN_TOKEN_LENGTH} characters")
    return token


class RefusalCounter:
    """Counts refused requests by reason and audits them as a summary, rate-limited.

    The first refusal after a quiet period is audited at once; later ones are counted
    and written as one record (counts per reason, up to 20 caller addresses) when
    :meth:`flush` runs after ``interval`` seconds (the server's timer calls it). Totals
    since start are the metric.
    """

    def __init__(
        self,
        audit: AuditLog,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.audit = audit
        self.interval = interval
        self.clock = clock
        self.totals: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._callers: set[str] = set()
        self._last_flush: float | None = None
        self._lock = threading.Lock()

    def refused(self, reason: str, caller: str) -> None:
        """Count one refusal; audit now only if the last summary is ``interval`` old."""
        with self._lock:
            self.totals[reason] = self.totals.get(reason, 0) + 1
            self._pending[reason] = self._pending.get(reason, 0) + 1
            if len(self._callers) < MAX_CALLERS_PER_SUMMARY:
                self._callers.add(caller)
            due = self._last_flush is None or self.clock() - self._last_flush >= self.interval
        if due:
            self.flush()

    def flush(self) -> None:
        """Write one summary record of the refusals counted since the last one (if any)."""
        with self._lock:
            pending, callers = self._pending, sorted(self._callers)
            self._pending, self._callers = {}, set()
            self._last_flush = self.clock()
        if pending:
            total = sum(pending.values())
            self.audit.append(
                who="anonymous@" + ",".join(callers),
                what="rejected",
                why=f"{total} request(s) refused: missing or invalid bearer token"
                if set(pending) == {"unauthorized"}
                else f"{total} request(s) refused",
                metrics={"refused": pending},
            )


class AlertRouter:
    """Turns one authenticated Alertmanager payload into actions and audit records."""

    def __init__(
        self,
        *,
        config: WebhookConfig,
        audit: AuditLog,
        queue: TriggerQueue,
        actuator: CanaryActuator,
        metrics_source: MetricsSource | None = None,
        registry: ModelRegistry | None = None,
    ) -> None:
        self.config = config
        self.audit = audit
        self.queue = queue
        self.actuator = actuator
        self.metrics_source = metrics_source
        self.registry = registry

    def _registry_rollback(self, model: str, why: str) -> str:
        """Mark the model's pending challenger rolled back in the registry (if any)."""
        try:
            challenger = self.registry.challenger(model) if self.registry else None
            if challenger and self.registry is not None:
                self.registry.roll_back(model, challenger, why)
                return f"{challenger} rolled-back"
        except (RegistryError, ObjectStoreError) as exc:
            return f"not updated: {exc}"
        return "no pending challenger"

    def handle(self, payload: dict[str, Any], who: str) -> tuple[int, list[dict[str, Any]]]:
        """Route every alert; return the HTTP status and one outcome per alert."""
        outcomes = []
        status = 200
        for alert in payload.get("alerts", []):
            outcome = self._route(alert, who, payload)
            if outcome.get("status") == 403:
                status = 403
            outcomes.append(outcome)
        return status, outcomes

    def _route(self, alert: dict[str, Any], who: str, payload: dict[str, Any]) -> dict[str, Any]:
        labels = alert.get("labels") or {}
        annotations = alert.get("annotations") or {}
        name = str(labels.get("alertname", ""))
        context = {
            "alertname": name,
            "fingerprint": alert.get("fingerprint"),
            "starts_at": alert.get("startsAt"),
            "group_key": payload.get("groupKey"),
            "labels": labels,
        }
        if alert.get("status") != "firing":
            self.audit.append(who=who, what="ignore", why="alert resolved", alert=context)
            return {"alertname": name, "action": "none", "why": "resolved"}
        if name in self.config.drift_alertnames:
            return self._drift(alert, labels, annotations, who, context)
        if name in self.config.canary_alertnames:
            return self._canary(labels, annotations, who, context)
        self.audit.append(who=who, what="ignore", why="alert not routed here", alert=context)
        return {"alertname": name, "action": "none", "why": "not routed"}

    def _drift(
        self,
        alert: dict[str, Any],
        labels: dict[str, Any],
        annotations: dict[str, Any],
        who: str,
        context: dict[str, Any],
    ) -> dict[str, Any]:
        model = str(labels.get("model", ""))
        if not model:
            self.audit.append(
                who=who, what="ignore", why="drift alert without model label", alert=context
            )
            return {"alertname": context["alertname"], "action": "none", "why": "no model label"}
        basis = f"{alert.get('fingerprint')}|{alert.get('startsAt')}|{model}"
        key = hashlib.sha256(basis.encode()).hexdigest()[:32]
        body = {
            "type": TRIGGER_TYPE,
            "dedupe_key": key,
            "model": model,
            "model_version": labels.get("model_version"),
            "drifted_features": [
                feature for feature in str(labels.get("feature", "")).split(",") if feature
            ],
            "source": "alertmanager",
            "summary": annotations.get("summary"),
            "emitted_at": time.time(),
        }
        message_id = self.queue.send(body)
        why = str(annotations.get("summary") or "drift alert firing")
        self.audit.append(
            who=who,
            what="retraining-trigger",
            why=why,
            metrics={"value": annotations.get("value")},
            alert=context,
            dedupe_key=key,
            message_id=message_id,
        )
        return {
            "alertname": context["alertname"],
            "action": "retraining-trigger",
            "dedupe_key": key,
            "message_id": message_id,
        }

    def _canary(
        self,
        labels: dict[str, Any],
        annotations: dict[str, Any],
        who: str,
        context: dict[str, Any],
    ) -> dict[str, Any]:
        namespace = str(labels.get("namespace", ""))
        service = str(labels.get("inferenceservice", ""))
        alertname = context["alertname"]
        target: dict[str, Any] = {"namespace": namespace, "inferenceservice": service}
        try:
            # Namespace first: another tenant's alert is refused whatever else it says.
            self.actuator.check_namespace(namespace)
            model = model_of(labels)
            self.actuator.check_scope(namespace, model)
        except TenantScopeError as exc:
            self.audit.append(who=who, what="refused", why=str(exc), alert=context, target=target)
            return {"alertname": alertname, "action": "refused", "why": str(exc), "status": 403}
        except ValueError as exc:
            self.audit.append(who=who, what="failed", why=str(exc), alert=context, target=target)
            return {"alertname": alertname, "action": "failed", "why": str(exc)}
        target |= {"model": model, "router": router_name(model)}
        observations = self.metrics_source(namespace, model) if self.metrics_source else None
        if observations is not None:
            decision = decide(*observations, self.config.canary_policy)
            if decision.action is Action.PROMOTE:
                decision = CanaryDecision(
                    Action.HOLD,
                    [
                        "a degradation alert never promotes: the analysis found the "
                        "challenger non-inferior, so hold and leave promotion to the "
                        "scheduled canary analysis",
                        *decision.reasons,
                    ],
                    decision.metrics,
                )
        else:
            decision = CanaryDecision(
                Action.ROLLBACK,
                [str(annotations.get("summary") or "canary alert firing")],
                {"alert_value": annotations.get("value")},
            )
        try:
            result = self.actuator.apply_decision(decision, namespace, model)
        except (ActuatorError, ValueError) as exc:
            self.audit.append(
                who=who,
                what="failed",
                why=str(exc),
                metrics=decision.metrics,
                alert=context,
                target=target,
                decision=decision.action.value,
            )
            return {"alertname": alertname, "action": "failed", "why": str(exc)}
        what = decision.action.value if result is None or result.changed else "no-change"
        if decision.action is Action.ROLLBACK and self.registry is not None:
            target["registry"] = self._registry_rollback(model, "; ".join(decision.reasons))
        self.audit.append(
            who=who,
            what=what,
            why="; ".join(decision.reasons),
            metrics=decision.metrics,
            alert=context,
            target=target,
            decision=decision.action.value,
            patch=result.patch if result else None,
            traffic_before=result.traffic_before if result else None,
            traffic_after=result.traffic_after if result else None,
        )
        return {
            "alertname": alertname,
            "action": decision.action.value,
            "model": model,
            "changed": bool(result and result.changed),
            "traffic": result.traffic_after if result else None,
            "reasons": decision.reasons,
        }


class WebhookServer(BackgroundHTTPServer):
    """The HTTP front: authentication, size limits, payload checks, then the router."""

    def __init__(
        self,
        router: AlertRouter,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        checkpoint_interval: float = 60.0,
        refusal_audit_interval: float = 60.0,
        metrics_port: int | None = None,
    ) -> None:
        if len(token) < MIN_TOKEN_LENGTH:
            raise TokenError(f"webhook token must be at least {MIN_TOKEN_LENGTH} characters")
        self.router = router
        self._expected = f"Bearer {token}".encode()
        self.host = host
        self.port = port
        self.refusals = RefusalCounter(router.audit, refusal_audit_interval)
        self.checkpoint_interval = checkpoint_interval
        self._timer_stop = threading.Event()
        self._timer: threading.Thread | None = None
        self.metrics_port = metrics_port
        self._metrics: _MetricsServer | None = None

    def _tick(self) -> None:
        """Summarise refusals and checkpoint the audit log, every interval until stopped."""
        while not self._timer_stop.wait(self.checkpoint_interval):
            self.tick()

    def tick(self) -> None:
        """One timer round (also called once on stop)."""
        try:
            self.refusals.flush()
            self.router.audit.checkpoint()
        except (OSError, AuditError) as exc:
            print(f"audit: {exc}", file=sys.stderr, flush=True)

    def metrics_text(self) -> str:
        """Prometheus text exposition of the receiver's counters."""
        lines = [
            f"# HELP {REFUSED_METRIC} Requests refused before any action, by reason.",
            f"# TYPE {REFUSED_METRIC} counter",
        ]
        for reason, count in sorted(self.refusals.totals.items()):
            lines.append(f'{REFUSED_METRIC}{{reason="{reason}"}} {count}')
        lines += [
            f"# HELP {SHIP_FAILURES_METRIC} Audit records or checkpoints not yet shipped.",
            f"# TYPE {SHIP_FAILURES_METRIC} counter",
            f"{SHIP_FAILURES_METRIC} {self.router.audit.ship_failures}",
        ]
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        """Stop the timer (with a last summary and checkpoint), then the HTTP servers."""
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        if self._timer is not None:
            self._timer_stop.set()
            self._timer.join(timeout=5)
            self._timer = None
            self.tick()
        super().stop()

    def _authorized(self, header: str | None) -> bool:
        return hmac.compare_digest((header or "").encode(), self._expected)

    def start(self) -> WebhookServer:
        """Bind and serve in a daemon thread."""
        outer = self

        class Handler(JSONRequestHandler):
            server_version = "mlplatform-alerts"
            sys_version = ""

            def _reply(
                self,
                status: int,
                body: Mapping[str, Any],
                headers: Mapping[str, str] | None = None,
            ) -> None:
                if status == 401:
                    headers = {
                        **(headers or {}),
                        "WWW-Authenticate": 'Bearer realm="mlplatform-alerts"',
                    }
                super()._reply(status, body, headers)

            def do_GET(self) -> None:  # noqa: N802 (http.server name)
                if self.path == "/healthz":
                    self._reply(200, {"status": "ok"})
                elif self.path == "/metrics":
                    data = outer.metrics_text().encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802 (http.server name)
                caller = f"{self.client_address[0]}"
                # Nothing of an unauthenticated or refused request's body is read: close
                # the connection after answering so the unread bytes go nowhere.
                if self.path != "/alerts":
                    self.close_connection = True
                    outer.refusals.refused("not_found", caller)
                    self._reply(404, {"error": "not found"})
                    return
                if not outer._authorized(self.headers.get("Authorization")):
                    self.close_connection = True
                    outer.refusals.refused("unauthorized", caller)
                    self._reply(401, {"error": "unauthorized"})
                    return
                who = f"{outer.router.config.identity}@{caller}"
                try:
                    body = self._read_body(MAX_BODY_BYTES)
                except BodyError as exc:
                    outer.refusals.refused(f"body_{exc.status}", caller)
                    self._reply(exc.status, {"error": str(exc)})
                    return
                try:
                    payload = json.loads(body or b"null")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    self._reply(400, {"error": "body is not JSON"})
                    return
                problem = _payload_problem(payload)
                if problem:
                    outer.router.audit.append(who=who, what="rejected", why=problem)
                    self._reply(400, {"error": problem})
                    return
                status, outcomes = outer.router.handle(payload, who)
                self._reply(status, {"outcomes": outcomes})

        self.port = self._serve((self.host, self.port), Handler)
        if self.metrics_port is not None:
            # Its own port: Prometheus may reach it, the webhook stays Alertmanager's only.
            self._metrics = _MetricsServer(self.metrics_text, self.host, self.metrics_port)
            self.metrics_port = self._metrics.start().port
        self._timer_stop.clear()
        self._timer = threading.Thread(target=self._tick, daemon=True)
        self._timer.start()
        return self

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://{self.host}:{self.port}"


class _MetricsServer(BackgroundHTTPServer):
    """``GET /metrics`` (Prometheus text) on a port of its own."""

    def __init__(self, render: Callable[[], str], host: str, port: int) -> None:
        self.render = render
        self.host = host
        self.port = port

    def start(self) -> _MetricsServer:
        """Bind and serve in a daemon thread."""
        render = self.render

        class Handler(JSONRequestHandler):
            server_version = "mlplatform-alerts-metrics"
            sys_version = ""

            def do_GET(self) -> None:  # noqa: N802 (http.server name)
                if self.path != "/metrics":
                    self._reply(404, {"error": "not found"})
                    return
                data = render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.port = self._serve((self.host, self.port), Handler)
        return self


def _payload_problem(payload: Any) -> str | None:
    """What is wrong with an Alertmanager payload (None if it is usable)."""
    if not isinstance(payload, dict):
        return "payload must be a JSON object"
    if payload.get("version") != "4":
        return f'version: expected "4" (Alertmanager webhook), got {payload.get("version")!r}'
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        return "alerts: must be a list"
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            return f"alerts[{i}]: must be an object with a labels object"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m workloads.alerts.webhook``: run the receiver until interrupted."""
    from workloads.monitoring.queues import open_queue

    parser = argparse.ArgumentParser(prog="python -m workloads.alerts.webhook")
    parser.add_argument("--token_file", type=pathlib.Path)
    parser.add_argument("--token_env", help="environment variable holding the token")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=WEBHOOK_PORT)
    parser.add_argument("--audit_log", type=pathlib.Path, required=True)
    add_audit_arguments(parser)
    parser.add_argument("--checkpoint_interval", type=float, default=60.0)
    parser.add_argument(
        "--metrics_port", type=int, default=None, help="serve /metrics on this port too"
    )
    parser.add_argument("--region", default=None, help="AWS region of KMS and S3")
    parser.add_argument("--queue", required=True, help="file:DIR or sqs:URL")
    parser.add_argument("--tenant_namespace", required=True)
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster service account)"
    )
    parser.add_argument("--registry", help="s3://bucket/registry/: marks rollbacks there")
    parser.add_argument("--kms_key", help="KMS key of registry and audit writes (SSE-KMS)")
    args = parser.parse_args(argv)
    try:
        token = load_token(args.token_file, args.token_env)
        audit = open_audit_log(
            args.audit_log,
            key=args.audit_key,
            bucket=args.audit_bucket,
            lock_mode=args.audit_lock_mode,
            retention_days=args.audit_retention_days,
            kms_key=args.kms_key,
            region=args.region,
        )
        from kubernetes import config as kube_config

        if args.kubeconfig:
            kube_config.load_kube_config(config_file=args.kubeconfig)
        else:
            kube_config.load_incluster_config()
        from kubernetes import client

        actuator = CanaryActuator(client.ApiClient(), args.tenant_namespace)
        registry = None
        if args.registry:
            from workloads.common.objectstore import open_store

            registry = ModelRegistry(open_store(args.registry, args.kms_key), who="alert-receiver")
        router = AlertRouter(
            config=WebhookConfig(),
            audit=audit,
            queue=open_queue(args.queue),
            actuator=actuator,
            registry=registry,
        )
        server = WebhookServer(
            router,
            token,
            args.host,
            args.port,
            checkpoint_interval=args.checkpoint_interval,
            metrics_port=args.metrics_port,
        ).start()
    except (TokenError, AuditError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # kubernetes config errors have no common base
        print(f"error: kubernetes configuration: {exc}", file=sys.stderr)
        return 2
    print(f"alert webhook on {server.url}/alerts", flush=True)
    stopping = threading.Event()
    # Kubernetes stops a pod with SIGTERM: stop cleanly, so the last refusals summary and
    # a final checkpoint are written (and shipped) before the process exits.
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
