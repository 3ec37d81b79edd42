"""Metric names, alert names and ports: what the workloads export or listen on and the
monitoring layer scrapes, alerts on or connects to."""

from __future__ import annotations

from contracts.names import alert_receiver_name

# --- model server ---------------------------------------------------------------------

REQUESTS_COUNTER = "mlplatform_inference_requests_total"
"""Requests by ``model``, ``protocol`` and ``status`` (HTTP code, or ``ok``/``error`` for gRPC)."""
LATENCY_HISTOGRAM = "mlplatform_inference_request_duration_seconds"
"""Request latency histogram of the model server, labels ``model``, ``protocol``."""
ERROR_STATUS = "5..|error"
"""``status`` values that count as failures (server errors; client 4xx are not the model's)."""
PREDICTION_SCORE = "mlplatform_prediction_score"
"""Distribution of the positive-class probability per ``model``."""
PREDICTION_LOG_RECORDS = "mlplatform_prediction_log_records_total"
PREDICTION_LOG_DROPPED = "mlplatform_prediction_log_dropped_total"

# --- drift monitor --------------------------------------------------------------------

DRIFT_PREFIX = "mlplatform_drift"
"""Prefix of the drift monitor's gauges (``<prefix>_psi``, ``<prefix>_detected``, ...)."""
DRIFT_GAUGE = f"{DRIFT_PREFIX}_psi"
"""Population stability index per ``model`` and ``feature``, from the drift monitor."""

DRIFT_LAST_RUN = f"{DRIFT_PREFIX}_last_run_timestamp_seconds"
"""Unix time of the last completed drift check of a ``model`` (a stale monitor shows here)."""

# --- retraining controller ------------------------------------------------------------

CONTROLLER_METRICS_PORT = 9090
"""Port of the retraining controller's ``/metrics`` (its own counters and the drift gauges
it re-exports from the drift monitors' latest reports)."""
TRAINING_RUNS = "mlplatform_training_runs_total"
"""Training runs the controller handled, by ``model`` and ``outcome``
(started, duplicate, coalesced, rejected, failed)."""

# --- alerts ---------------------------------------------------------------------------

CANARY_ALERT = "CanaryDegraded"
"""Alert the receiver turns into canary analysis and rollback."""
DRIFT_ALERT = "ModelInputDrift"
"""Alert the receiver turns into a retraining trigger on the tenant's queue."""

# --- ports ----------------------------------------------------------------------------

WEBHOOK_PORT = 9095
"""Port of the alert receiver (``python -m workloads.alerts.webhook``)."""
REDIS_PORT = 6379
"""Port of the Redis-compatible online store."""
WEBHOOK_TOKEN_ENV = "ALERT_WEBHOOK_TOKEN"  # noqa: S105 (an environment variable name)
"""Environment variable the alert receiver reads its bearer token from."""


def webhook_url(tenant: str, namespace: str) -> str:
    """In-cluster URL of a tenant's alert receiver."""
    return f"http://{alert_receiver_name(tenant)}.{namespace}.svc:{WEBHOOK_PORT}/alerts"
