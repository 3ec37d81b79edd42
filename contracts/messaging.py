"""Tenant messaging on the in-country site: the NATS JetStream broker's wire names.

The AWS site gives each tenant SQS queues; the hybrid (on-prem) site runs one NATS
JetStream broker in the cluster (:mod:`components.k8s.nats`) and gives each tenant its
own streams, its own NATS user and subject permissions limited to its own subjects.
Everything the broker's component, the tenant workloads (trigger queue, ingestion) and
the KEDA scaler must agree on is named here:

- where the broker is (namespace, service DNS, client and monitoring ports);
- a tenant's streams and subjects (``<tenant>.<purpose>``, stream ``<TENANT>_<PURPOSE>``)
  and the durable consumer each purpose is read by;
- the Secret holding the tenant's broker credentials and the CA, where the workloads
  mount them and the environment variables that name those files;
- the queue spec the workloads take on the command line (``--queue=nats:...``), next to
  the SQS one, so components build both through :func:`trigger_queue_spec`.

Why NATS JetStream: one small static binary (the same one the tests start on
127.0.0.1), durable file-backed streams with explicit acknowledgement and redelivery
after an ack wait (the SQS visibility-timeout semantics the trigger queue relies on),
per-account/per-user subject permissions for tenant isolation, an official Helm chart,
and a KEDA scaler (``nats-jetstream``) for the ingestion workers.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

from contracts.names import DNS1123_LABEL

# --- where the broker runs ------------------------------------------------------------

NATS_NAMESPACE = "mlplatform-messaging"
"""Namespace of the broker (platform-wide; Pod Security restricted)."""
NATS_RELEASE = "nats"
"""Helm release name: the chart names its client Service after it."""
NATS_CLIENT_PORT = 4222
"""Client port (TLS required in the cluster)."""
NATS_MONITOR_PORT = 8222
"""HTTP monitoring port (``/healthz``, ``/jsz``; the KEDA scaler reads ``/jsz``)."""
NATS_SERVICE_HOST = f"{NATS_RELEASE}.{NATS_NAMESPACE}.svc.cluster.local"
"""In-cluster DNS name of the broker's client Service (also the TLS certificate's name)."""
NATS_TLS_SECRET = "nats-server-tls"  # noqa: S105 (a Secret's name)
"""Secret (``tls.crt``/``tls.key``) with the broker's certificate for
:data:`NATS_SERVICE_HOST`, provided by the operator's PKI in the broker's namespace."""
NATS_CA_CONFIG_MAP = "nats-ca"
"""ConfigMap (key :data:`NATS_CA_KEY`) with the CA of the broker's certificate, which the
operator's PKI provides in each tenant namespace (with :data:`NATS_TLS_SECRET`), so
clients verify the broker."""
NATS_CA_KEY = "ca.crt"


NATS_CLUSTER_SIZE = 3
"""Servers of the in-cluster broker; its streams keep this many replicas (one per server),
so a stream survives losing a server and its volume."""


def nats_server_url(
    *, tls: bool = True, host: str = NATS_SERVICE_HOST, port: int = NATS_CLIENT_PORT
) -> str:
    """The broker's client URL: ``tls://host:port`` in the cluster, ``nats://`` for tests."""
    return f"{'tls' if tls else 'nats'}://{host}:{port}"


# --- per-tenant streams and subjects ----------------------------------------------------

RETRAINING = "retraining"
"""Purpose of the stream carrying retraining triggers (drift monitor -> controller)."""
INGESTION = "ingestion"
"""Purpose of the stream carrying ingestion batches (producers -> ingestion workers)."""
DEAD_LETTERS = "ingestion-dlq"
"""Purpose of the stream of rejected ingestion events (the worker's dead-letter queue)."""
WORK_QUEUES: tuple[str, ...] = (RETRAINING, INGESTION)
"""Streams read as work queues (one durable consumer; an acknowledged message is gone)."""
PURPOSES: tuple[str, ...] = (*WORK_QUEUES, DEAD_LETTERS)
"""Every stream each tenant gets."""

_PURPOSE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def _check(tenant: str, purpose: str) -> None:
    if not DNS1123_LABEL.match(tenant):
        raise ValueError(f"tenant {tenant!r}: must be a DNS-1123 label")
    if not _PURPOSE.match(purpose):
        raise ValueError(f"purpose {purpose!r}: must be lowercase letters, digits and '-'")


def tenant_subject_prefix(tenant: str) -> str:
    """Every subject of a tenant starts with ``<tenant>.``: its user may use nothing else."""
    _check(tenant, RETRAINING)
    return f"{tenant}."


def subject(tenant: str, purpose: str) -> str:
    """Subject a tenant's messages of ``purpose`` are published on: ``<tenant>.<purpose>``."""
    _check(tenant, purpose)
    return f"{tenant}.{purpose}"


def stream_name(tenant: str, purpose: str) -> str:
    """JetStream stream of a tenant's ``purpose``: ``<TENANT>_<PURPOSE>`` (no dots allowed)."""
    _check(tenant, purpose)
    return f"{tenant}_{purpose}".upper().replace("-", "_")


def consumer_name(tenant: str, purpose: str) -> str:
    """Durable pull consumer all readers of a stream share (a work queue, not fan-out)."""
    _check(tenant, purpose)
    return f"{tenant}-{purpose}-workers"


def tenant_account(tenant: str) -> str:
    """NATS account of a tenant: its own subject space and JetStream limits (the KEDA
    ``nats-jetstream`` scaler names it as ``account``)."""
    _check(tenant, RETRAINING)
    return f"TENANT_{tenant.upper().replace('-', '_')}"


def tenant_user(tenant: str) -> str:
    """NATS user of a tenant's workloads (password in :func:`credentials_secret_name`)."""
    _check(tenant, RETRAINING)
    return f"tenant-{tenant}"


def inbox_prefix(tenant: str) -> str:
    """Reply-inbox prefix a tenant's clients use (their permissions allow only this one)."""
    _check(tenant, RETRAINING)
    return f"_INBOX_{tenant}"


def tenant_permissions(tenant: str) -> dict[str, dict[str, list[str]]]:
    """Subject permissions of a tenant's user, inside its own account: its own subjects,
    and the JetStream API for its own streams only; replies on its own inbox prefix.

    - Work queues (:data:`WORK_QUEUES`): create the stream if missing, read its info,
      create/read the durable consumer, pull, acknowledge.
    - Dead letters (:data:`DEAD_LETTERS`): create the stream if missing, read its info,
      and read a letter by its sequence (``STREAM.MSG.GET``). No consumer on it, so
      nothing can take a letter out of it; letters leave only by the stream's age limit.

    No delete, purge or update, and no other stream, even in its own account. Another
    tenant's user lives in another account: it cannot even name these streams."""
    js_api = ["$JS.API.INFO"]
    for stream in (stream_name(tenant, p) for p in WORK_QUEUES):
        js_api += [
            f"$JS.API.STREAM.CREATE.{stream}",
            f"$JS.API.STREAM.INFO.{stream}",
            f"$JS.API.CONSUMER.INFO.{stream}.>",
            f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>",
            f"$JS.ACK.{stream}.>",
        ]
    dead = stream_name(tenant, DEAD_LETTERS)
    js_api += [
        f"$JS.API.STREAM.CREATE.{dead}",
        f"$JS.API.STREAM.INFO.{dead}",
        f"$JS.API.STREAM.MSG.GET.{dead}",
    ]
    return {
        "publish": {"allow": [f"{tenant}.>", *js_api]},
        "subscribe": {"allow": [f"{tenant}.>", f"{inbox_prefix(tenant)}.>"]},
    }


def password_variable(tenant: str) -> str:
    """Server-side environment variable the broker's config reads a tenant's password from
    (set from the tenant's credentials Secret; never written into the config itself)."""
    return f"NATS_PW_{tenant.upper().replace('-', '_')}"


def server_accounts(tenants: dict[str, str], *, max_file_bytes: int) -> dict[str, object]:
    """The broker's ``accounts`` block: one account per tenant with JetStream limited to
    ``max_file_bytes`` of file storage (no memory streams), one user with
    :func:`tenant_permissions`. ``tenants`` maps each tenant to its password expression:
    ``$NATS_PW_<TENANT>`` in the cluster (:func:`password_variable`), a literal in tests.
    JSON of this is valid NATS configuration."""
    return {
        tenant_account(tenant): {
            "jetstream": {"max_file": max_file_bytes, "max_mem": 0},
            "users": [
                {
                    "user": tenant_user(tenant),
                    "password": password,
                    "permissions": tenant_permissions(tenant),
                }
            ],
        }
        for tenant, password in sorted(tenants.items())
    }


# --- credentials ------------------------------------------------------------------------


def credentials_secret_name(tenant: str) -> str:
    """Secret in the tenant namespace with keys ``user`` and ``password`` for the broker."""
    _check(tenant, RETRAINING)
    return f"{tenant}-nats-credentials"


NATS_CREDENTIALS_MOUNT = "/var/run/secrets/mlplatform/nats"
"""Where workloads mount the tenant's credentials Secret (read-only files ``user`` and
``password``; secrets reach pods as files, never as environment variables)."""
NATS_USER_FILE_ENV = "NATS_USER_FILE"
"""Environment variable with the path of the file holding the tenant's broker user."""
NATS_PASSWORD_FILE_ENV = "NATS_PASSWORD_FILE"  # noqa: S105 (an environment variable name)
"""Environment variable with the path of the file holding the tenant's broker password."""
NATS_USER_ENV = "NATS_USER"
"""The broker user itself, read only when :data:`NATS_USER_FILE_ENV` is unset (local runs
and tests; the cluster's pods get the file)."""
NATS_PASSWORD_ENV = "NATS_PASSWORD"  # noqa: S105 (an environment variable name)
"""The broker password itself, read only when :data:`NATS_PASSWORD_FILE_ENV` is unset."""
NATS_CA_FILE_ENV = "NATS_CA_FILE"
"""Environment variable with the path of the CA file (the mounted ConfigMap)."""
NATS_INBOX_ENV = "NATS_INBOX_PREFIX"
"""Environment variable with the reply-inbox prefix the tenant's permissions allow."""
NATS_CA_MOUNT = "/etc/mlplatform/nats"
"""Where workloads mount :data:`NATS_CA_CONFIG_MAP`."""

# --- queue specs on the command line ------------------------------------------------------


def nats_queue_spec(
    server_url: str,
    tenant: str,
    purpose: str = RETRAINING,
    *,
    replicas: int = 1,
    max_age_days: int | None = None,
) -> str:
    """``nats:<server url>/<stream>/<subject>?consumer=<durable>[&replicas=N]
    [&max_age_days=N]``: what ``open_queue`` takes (``replicas`` and ``max_age_days``:
    of the stream when the client creates it; a message not taken within its maximum
    age is deleted by the broker, as SQS does after the queue's retention)."""
    if max_age_days is not None and not 1 <= max_age_days <= 3650:
        raise ValueError(f"queue: max_age_days must be 1-3650, got {max_age_days}")
    spec = (
        f"nats:{server_url.rstrip('/')}/{stream_name(tenant, purpose)}/"
        f"{quote(subject(tenant, purpose), safe='.')}?consumer={consumer_name(tenant, purpose)}"
    )
    spec += f"&replicas={replicas}" if replicas != 1 else ""
    return spec + (f"&max_age_days={max_age_days}" if max_age_days is not None else "")


def nats_dead_letter_spec(
    server_url: str, tenant: str, *, max_age_days: int, replicas: int = 1
) -> str:
    """``nats:<server url>/<STREAM>/<subject>?max_age_days=N[&replicas=N]``: the
    tenant's dead-letter stream (:data:`DEAD_LETTERS`) as the ingestion worker's
    ``--dlq``. No consumer: the worker only appends; the stream keeps every letter for
    ``max_age_days`` (limits retention), then the broker deletes it."""
    if not 1 <= max_age_days <= 3650:
        raise ValueError(f"dead letters: max_age_days must be 1-3650, got {max_age_days}")
    spec = (
        f"nats:{server_url.rstrip('/')}/{stream_name(tenant, DEAD_LETTERS)}/"
        f"{quote(subject(tenant, DEAD_LETTERS), safe='.')}?max_age_days={max_age_days}"
    )
    return spec + (f"&replicas={replicas}" if replicas != 1 else "")


def _query(target: str) -> dict[str, str]:
    out = {}
    for pair in urlsplit(target).query.split("&"):
        key, _, value = pair.partition("=")
        if key:
            out[key] = unquote(value)
    return out


def nats_spec_max_age_days(target: str) -> int | None:
    """The ``max_age_days`` of a stream spec (None when absent); ValueError when bad."""
    value = _query(target).get("max_age_days")
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 3650:
        raise ValueError(f"queue 'nats:{target}': max_age_days must be 1-3650, got {value!r}")
    return int(value)


def nats_spec_replicas(target: str) -> int:
    """The ``replicas`` of a queue spec's stream (1 when absent); ValueError when bad."""
    for pair in urlsplit(target).query.split("&"):
        key, _, value = pair.partition("=")
        if key == "replicas":
            if not value.isdigit() or not 1 <= int(value) <= 5:
                raise ValueError(f"queue 'nats:{target}': replicas must be 1-5, got {value!r}")
            return int(value)
    return 1


def parse_nats_queue_spec(target: str) -> tuple[str, str, str, str]:
    """Split the part after ``nats:`` into (server url, stream, subject, consumer).

    Raises ValueError naming what is allowed when ``target`` is not
    ``nats://host:port/STREAM/subject?consumer=name`` (or ``tls://...``).
    """
    parts = urlsplit(target)
    segments = [s for s in parts.path.split("/") if s]
    consumer = ""
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if key == "consumer":
            consumer = unquote(value)
    if (
        parts.scheme not in ("nats", "tls")
        or not parts.hostname
        or len(segments) != 2
        or not consumer
    ):
        raise ValueError(
            f"queue 'nats:{target}': expected 'nats:nats://host:port/STREAM/subject?consumer=NAME'"
            " (or tls://)"
        )
    server = f"{parts.scheme}://{parts.netloc}"
    return server, segments[0], unquote(segments[1]), consumer


def parse_nats_stream_spec(target: str) -> tuple[str, str, str]:
    """Split the part after ``nats:`` of a stream without a consumer (dead letters,
    :func:`nats_dead_letter_spec`) into (server url, stream, subject); ValueError naming
    the format when it is not one."""
    parts = urlsplit(target)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("nats", "tls") or not parts.hostname or len(segments) != 2:
        raise ValueError(
            f"queue 'nats:{target}': expected 'nats:nats://host:port/STREAM/subject"
            "?max_age_days=N' (or tls://)"
        )
    return f"{parts.scheme}://{parts.netloc}", segments[0], unquote(segments[1])


def nats_spec_has_consumer(target: str) -> bool:
    """Whether a spec names a durable consumer (a work queue) or not (a dead-letter stream)."""
    return bool(_query(target).get("consumer"))


def trigger_queue_spec(queue: str) -> str:
    """The ``--queue`` value of a site's trigger queue: SQS URLs get ``sqs:``, a NATS spec
    (from :func:`nats_queue_spec`) is passed through."""
    if queue.startswith("nats:"):
        return queue
    return f"sqs:{queue}"
