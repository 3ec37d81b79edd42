"""What the ingestion worker (workloads) and its deployment (components) agree on.

Names of the per-tenant objects, the bucket prefixes the worker reads and writes, its
metrics port and metric names, and the command line the Deployment runs.
"""

from __future__ import annotations

INGESTION_COMPONENT = "ingestion"
"""``app.kubernetes.io/component`` of the worker's pods."""
INGESTION_COMMAND = ["python", "-m", "workloads.ingestion"]
"""The worker's container command (loop image)."""
INGESTION_METRICS_PORT = 9096
"""Port of the worker's Prometheus ``/metrics`` (also its readiness and liveness probe)."""

EVENTS_COUNTER = "mlplatform_ingestion_events_total"
"""Events handled, label ``result`` = ``accepted`` | ``rejected`` (``received`` is the sum)."""
DUPLICATES_COUNTER = "mlplatform_ingestion_duplicates_total"
"""Accepted events whose id was already stored (redeliveries; written once)."""

OFFLINE_PREFIX = "offline/ingested"
"""Tenant bucket prefix of the partitioned offline store (``<view>/date=<day>/``): the
feature views' sources read it (``PlatformFeatureStoreSettings.offline_data_uri``), and
it holds the seeded history and the ingested events alike."""
LANDING_PREFIX = "landing"
"""Tenant bucket prefix where tenant systems drop JSON Lines files of events."""
LANDING_DONE_PREFIX = "landing-done"
"""Per landing file, the receipt of its ingestion (counts); a file with one is skipped."""

ONLINE_TTL_ATTRIBUTE = "expires_at"
"""DynamoDB TTL attribute (epoch seconds) of the online tables: the tables expire items
by it; the platform's writers (materialisation, ingestion worker) put it in every item
(``workloads.features.online_store``)."""

MAX_DELIVERIES = 5
"""Deliveries of a message before the worker gives up on it and dead-letters it with the
last error (a message that keeps failing must not block or crash-loop the worker); the
SQS redrive policy's ``maxReceiveCount`` is the same number, as a backstop."""

INGESTION_QUEUE_PURPOSE = "ingestion"
"""Queue purpose (``<tenant>-ingestion`` and its ``-dlq``) on SQS."""


def ingestion_worker_name(tenant: str) -> str:
    """Deployment (and ScaledObject) of a tenant's ingestion worker."""
    return f"{tenant}-ingestion"


def ingestion_service_account(tenant: str) -> str:
    """Service account of the worker (bound to the tenant's ingestion role)."""
    return f"{tenant}-ingestion"


def ingestion_queue_name(tenant: str) -> str:
    """SQS queue (and NATS stream) of a tenant's feature events."""
    return f"{tenant}-{INGESTION_QUEUE_PURPOSE}"


def ingestion_dlq_name(tenant: str) -> str:
    """Dead-letter queue of a tenant's rejected feature events."""
    return f"{ingestion_queue_name(tenant)}-dlq"


def push_source_name(view: str) -> str:
    """Feast ``PushSource`` of a feature view: the ingestion worker pushes to it."""
    return f"{view}_push"
