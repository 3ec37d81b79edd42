"""Names and labels the infrastructure creates and the workloads (or IAM) refer to.

Every name here is built by one function; the Kubernetes layer, the IAM trust policies
and the workloads call the same function, so a rename cannot break one side silently.
"""

from __future__ import annotations

import re
from enum import StrEnum

DEFAULT_REGION = "me-central-1"
"""The UAE AWS region; the only one allowed unless the policy configuration says otherwise."""

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
"""A Kubernetes DNS-1123 label (also check the 63-character limit)."""

MODEL_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
"""A model name: KServe's ``<model>-challenger-predictor`` must stay a DNS label, so 40
characters at most."""

MODEL_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
"""A model version: one path segment of the model's storage URI."""


class Tier(StrEnum):
    """Tenant tier: SMB is CPU-only and cost-first; enterprise gets GPUs, HA and isolation."""

    SMB = "smb"
    ENTERPRISE = "enterprise"


# --- labels ---------------------------------------------------------------------------

TENANT_LABEL = "mlplatform.io/tenant"
"""Label (and enterprise node-pool taint key) naming the tenant an object belongs to."""
TIER_LABEL = "mlplatform.io/tier"
"""Namespace label carrying the tenant's tier."""
PART_OF = "mlplatform"
"""``app.kubernetes.io/part-of`` of everything the platform deploys."""
MODEL_LABEL = "mlplatform.io/model"
INFERENCE_SERVICE_LABEL = "mlplatform.io/inferenceservice"
ROLE_LABEL = "mlplatform.io/role"
"""Pod label: ``champion`` or ``challenger`` (canary analysis selects on it)."""


def labels(tenant: str, component: str, *, name: str | None = None) -> dict[str, str]:
    """Recommended labels plus the tenant, so policies and dashboards can select by tenant."""
    return {
        "app.kubernetes.io/name": name or component,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        TENANT_LABEL: tenant,
    }


# --- per-tenant objects ---------------------------------------------------------------


def tenant_namespace(tenant: str) -> str:
    """A tenant's Kubernetes namespace."""
    return f"tenant-{tenant}"


def feast_service_account(tenant: str) -> str:
    """Service account of a tenant's Feast servers (IRSA: online store, registry, offline data)."""
    return f"{tenant}-feast"


def serving_service_account(tenant: str) -> str:
    """Service account of a tenant's model servers (IRSA: read models, write prediction logs)."""
    return f"{tenant}-serving"


def automation_service_account(tenant: str) -> str:
    """Service account of a tenant's alert receiver (rollback and retraining triggers)."""
    return f"{tenant}-automation"


def training_service_account(tenant: str) -> str:
    """Service account of a tenant's training runs (IRSA: features in, signed models out)."""
    return f"{tenant}-training"


def drift_monitor_service_account(tenant: str) -> str:
    """Service account of a tenant's drift monitors (IRSA: prediction logs, reports, queue)."""
    return f"{tenant}-drift-monitor"


def retraining_service_account(tenant: str) -> str:
    """Service account of a tenant's retraining controller (IRSA: queue, registry)."""
    return f"{tenant}-retraining"


def irsa_service_accounts(tenant: str) -> list[str]:
    """Service accounts the tenant's AWS role trusts (IRSA subjects)."""
    from contracts.ingestion import ingestion_service_account

    return [
        feast_service_account(tenant),
        serving_service_account(tenant),
        training_service_account(tenant),
        # The ingestion worker writes the tenant's offline store and online tables.
        ingestion_service_account(tenant),
    ]


def automation_service_accounts(tenant: str) -> list[str]:
    """Service accounts the tenant's automation role trusts: the loop's long-running and
    periodic parts (alert receiver, drift monitors, retraining controller), which use its
    queues and the registry in the tenant bucket."""
    return [
        automation_service_account(tenant),
        drift_monitor_service_account(tenant),
        retraining_service_account(tenant),
    ]


def tenant_admin_group(tenant: str) -> str:
    """The Kubernetes group bound to a tenant's ``tenant-admin`` Role (its default)."""
    return f"mlplatform:{tenant}:admins"


def alert_receiver_name(tenant: str) -> str:
    """Deployment and Service of a tenant's alert receiver."""
    return f"{tenant}-alert-receiver"


def webhook_secret_name(tenant: str) -> str:
    """Secret (key ``token``) holding the bearer token Alertmanager presents."""
    return f"{tenant}-alert-webhook"


def retraining_controller_name(tenant: str) -> str:
    """Deployment of a tenant's retraining controller (and its run-template ConfigMap prefix)."""
    return f"{tenant}-retraining-controller"


def training_template_name(tenant: str) -> str:
    """ConfigMap holding the training-run template the retraining controller instantiates."""
    return f"{tenant}-training-run-template"


def signing_key_secret_name(tenant: str) -> str:
    """Secret (key :data:`contracts.signing.SIGNING_KEY_FILE`) with the private model-signing
    key of a tenant's training runs. Provisioned by the operator from their secret store
    (never by Pulumi: the private half must not sit in stack state)."""
    return f"{tenant}-model-signing-key"


def drift_monitor_name(model: str) -> str:
    """CronJob of a served model's drift monitor (CronJob names: 52 characters at most)."""
    return f"{model}-drift"


def feature_repo_config_map_name(tenant: str) -> str:
    """ConfigMap holding a tenant's rendered ``feature_store.yaml``."""
    return f"{tenant}-feature-repo"


def runtime_name(tenant: str, gpu: bool) -> str:
    """Name of a tenant's ONNX ServingRuntime (one CPU, optionally one GPU)."""
    return f"{tenant}-onnx-{'gpu' if gpu else 'cpu'}"


def verify_key_config_map_name(tenant: str) -> str:
    """Name of the ConfigMap holding a tenant's model-signing public key."""
    return f"{tenant}-model-verify-key"


def feast_project(tenant: str) -> str:
    """Feast project of a tenant: Feast allows letters, digits and ``_`` only."""
    return tenant.replace("-", "_")


def tenant_data_bucket_name(stack: str, tenant: str, account_id: str) -> str:
    """``mlp-<stack>-<tenant>-data-<account>``: known before deployment (model storage URIs
    are plain strings in the serving manifests) and globally unique through the account id.
    A long stack name is shortened to keep the 63-character limit."""
    fixed = f"-{tenant}-data-{account_id}"
    room = 63 - len("mlp-") - len(fixed)
    short = re.sub(r"[^a-z0-9-]", "-", stack.lower())[:room].strip("-") or "s"
    return f"mlp-{short}{fixed}"


# --- models ---------------------------------------------------------------------------

CHAMPION = "champion"
CHALLENGER = "challenger"


def model_storage_uri(bucket: str, model: str, version: str) -> str:
    """Where a model version's signed artifacts live: ``s3://<bucket>/models/<model>/<version>/``."""
    return f"s3://{bucket}/models/{model}/{version}/"


TRIGGER_LABEL = "mlplatform.io/trigger"
"""Label of a training run: the first characters of the trigger's dedupe key."""
RUN_KEY_CHARS = 20
"""Characters of a trigger's dedupe key kept in a training run's name."""


def training_run_name(model: str, dedupe_key: str) -> str:
    """Name of the training run a retraining trigger starts: ``<model>-rt-<key prefix>``.

    Derived from the trigger alone, so a redelivered message names the same run and its
    create fails with AlreadyExists instead of starting a second one. At most 60
    characters (a Job's name becomes a label value: 63).
    """
    key = dedupe_key.lower()
    if not re.fullmatch(r"[0-9a-f]{16,64}", key):
        raise ValueError(f"dedupe_key {dedupe_key!r}: must be 16-64 lowercase hex digits")
    return f"{model[:36].rstrip('-')}-rt-{key[:RUN_KEY_CHARS]}"


# --- where the loop keeps its state in the tenant bucket ----------------------------------

PREDICTION_LOG_PREFIX = "predictions"
"""``s3://<bucket>/predictions/<model>/<UTC hour>/<segment>.jsonl``: model servers' logs."""
REGISTRY_PREFIX = "registry"
"""``s3://<bucket>/registry/<model>.json``: the tenant's model registry (one index per model)."""


def prediction_log_uri(bucket: str) -> str:
    """Where model servers ship their prediction logs (the server appends ``<model>/``)."""
    return f"s3://{bucket}/{PREDICTION_LOG_PREFIX}/"


def registry_uri(bucket: str) -> str:
    """The tenant's model registry: ``s3://<bucket>/registry/``."""
    return f"s3://{bucket}/{REGISTRY_PREFIX}/"


FEEDBACK_PREFIX = "feedback"
"""Labelled outcomes of served predictions (``feedback/<model>/*.jsonl``): the canary's accuracy."""


def feedback_uri(bucket: str) -> str:
    """Where the tenant's application writes labelled feedback: ``s3://<bucket>/feedback/``."""
    return f"s3://{bucket}/{FEEDBACK_PREFIX}/"


LOOP_READ_PREFIXES = ("predictions", "models", "registry", FEEDBACK_PREFIX)
"""Folders of the tenant bucket the loop's automation role reads."""
LOOP_WRITE_PREFIXES = ("models/*/drift", "registry")
"""Folders it writes: drift reports next to each model, the registry."""


def models_uri(bucket: str) -> str:
    """Root of the tenant's signed models: ``s3://<bucket>/models/``."""
    return f"s3://{bucket}/models/"


def champion_of(model: str) -> str:
    """Name of a model's champion InferenceService."""
    return f"{model}-{CHAMPION}"


def challenger_of(model: str) -> str:
    """Name of a model's challenger InferenceService."""
    return f"{model}-{CHALLENGER}"


def model_of_challenger(service: str) -> str | None:
    """The model a ``<model>-challenger`` InferenceService serves, or None for another name."""
    suffix = f"-{CHALLENGER}"
    if service.endswith(suffix) and len(service) > len(suffix):
        return service.removesuffix(suffix)
    return None
