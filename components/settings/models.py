"""The settings model tree: what a stack file may say, and the resolved settings.

:class:`StackSpec` is what a stack file holds (``extra="forbid"`` everywhere, a
description on every field); :class:`PlatformSettings` is what the components receive
after :mod:`components.settings.presets` applied the tier presets and overrides.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from contracts.names import DEFAULT_REGION, DNS1123_LABEL, MODEL_NAME, MODEL_VERSION, Tier
from contracts.signing import ed25519_public_pem

PROJECT = "sovereign-ml-platform"
# Tenant names end up in bucket names (<= 63 chars with prefix and suffix), IAM role
# names (<= 64) and Kubernetes namespaces: 20 characters keeps every derived name valid.
TENANT_NAME_MAX = 20
# EKS 1.34 leaves standard support on 2026-12-02 (AWS docs); 1.35 is the floor.
SUPPORTED_KUBERNETES_VERSIONS = ("1.35", "1.36")
# OCI tag grammar; "latest" is refused because a tag must pin one build.
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class ConfigError(Exception):
    """Bad stack configuration: one human-readable line per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class Environment(StrEnum):
    """Deployment environment: decides cost/HA trade-offs and protection of stateful data."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class Mode(StrEnum):
    """Where the platform runs: a full AWS stack, or the Kubernetes layer on an existing cluster."""

    AWS = "aws"
    HYBRID = "hybrid"


class DataClassification(StrEnum):
    """Sensitivity of a tenant's data, carried as a tag on every data-bearing resource."""

    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"


class Strict(BaseModel):
    """Base for every settings model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class ImpairedZone(Strict):
    """A zone the operator declares impaired (an outage, a strike): never used, with why."""

    zone_id: str = Field(description="Availability-zone id, e.g. mec1-az3.")
    reason: str = Field(min_length=3, description="Why (incident, date, source), for auditors.")


class NetworkSettings(Strict):
    """The VPC and the zones it spans."""

    cidr: str = Field(default="10.40.0.0/16", description="VPC CIDR block (a /16 is expected).")
    zone_ids: list[str] | None = Field(
        default=None,
        description="Availability-zone ids to use (e.g. mec1-az1). Default: every zone of "
        "the region not listed in excluded_zone_ids.",
    )
    excluded_zone_ids: list[str] = Field(
        default_factory=list,
        description="Zone ids never to use, e.g. a zone lost to an outage (mec1-az2 in 2026).",
    )
    impaired_zones: list[ImpairedZone] = Field(
        default_factory=list,
        description="Zones declared impaired, with reasons: excluded like excluded_zone_ids.",
    )
    flow_log_retention_days: int = Field(
        default=365, ge=1, le=3653, description="Retention of VPC flow logs in CloudWatch."
    )

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        m = re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})", v)
        if not m or any(int(x) > 255 for x in m.groups()[:4]) or not 16 <= int(m[5]) <= 20:
            raise ValueError("must be an IPv4 CIDR block from /16 to /20, e.g. 10.40.0.0/16")
        return v


class NodeGroupSettings(Strict):
    """One managed node group: instance types, capacity type and scaling bounds."""

    instance_types: list[str] = Field(min_length=1, description="EC2 instance types.")
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(
        default="ON_DEMAND", description="EC2 purchase option."
    )
    min_size: int = Field(default=1, ge=0, le=100, description="Minimum node count.")
    max_size: int = Field(default=3, ge=1, le=200, description="Maximum node count.")
    desired_size: int | None = Field(default=None, ge=0, description="Initial node count.")
    disk_gib: int = Field(default=100, ge=20, le=4096, description="Root volume size (gp3).")
    capacity_reservation_id: str | None = Field(
        default=None, description="EC2 capacity reservation (required for p5en)."
    )

    @model_validator(mode="after")
    def _bounds(self) -> NodeGroupSettings:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} exceeds max_size {self.max_size}")
        if self.desired_size is not None and not (
            self.min_size <= self.desired_size <= self.max_size
        ):
            raise ValueError("desired_size must lie between min_size and max_size")
        return self

    @property
    def desired(self) -> int:
        """The initial node count."""
        return self.min_size if self.desired_size is None else self.desired_size


class ClusterSettings(Strict):
    """The EKS control plane and the platform's own (system) node group."""

    kubernetes_version: str = Field(
        default="1.35", description="EKS Kubernetes version (1.35 or later)."
    )
    system_nodes: NodeGroupSettings = Field(
        default_factory=lambda: NodeGroupSettings(
            instance_types=["m6i.xlarge"], min_size=2, max_size=4
        ),
        description="Node group for platform services (Prometheus, KServe controller...).",
    )
    admin_role_arns: list[str] = Field(
        default_factory=list,
        description="IAM roles granted cluster-admin through EKS access entries.",
    )
    control_plane_log_retention_days: int = Field(default=365, ge=1, le=3653)

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(
                f"'{v}' is not supported; allowed: {', '.join(SUPPORTED_KUBERNETES_VERSIONS)} "
                "(1.34 leaves EKS standard support on 2026-12-02)"
            )
        return v


class RegistrySettings(Strict):
    """Where every image and chart is pulled from: an in-region mirror."""

    host: str | None = Field(
        default=None,
        description="Registry host. Default: this account's ECR in the stack's region.",
    )
    image_prefix: str = Field(default="mirror", description="Repository prefix for images.")
    chart_prefix: str = Field(default="charts", description="Repository prefix for charts.")
    # 0.1.0 is the model-server image built from workloads/serving/Dockerfile and pushed
    # to the mirror; an exact tag so every node runs the same build.
    serving_image_tag: str = Field(
        default="0.1.0",
        description="Exact tag of the platform's model-server image (workloads/serving); "
        "also runs the alert receiver. Never 'latest'.",
    )

    @field_validator("serving_image_tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        if v == "latest" or not IMAGE_TAG.match(v):
            raise ValueError(
                f"'{v}' is not an exact image tag; allowed: letters, digits, '_', '.', '-' "
                "(at most 128), not 'latest'"
            )
        return v


class DrSiteSettings(Strict):
    """The in-country second site's object store the AWS stacks copy tenants' data to."""

    object_store_endpoint: str = Field(
        pattern=r"^https://[a-z0-9.-]+(:[0-9]{1,5})?$",
        description="HTTPS endpoint of the in-country S3-compatible store (no path).",
    )
    object_store_cidrs: list[str] = Field(
        min_length=1, description="Its address ranges: the copy job's only extra egress."
    )
    bucket_template: str = Field(
        default="mlp-dr-{tenant}",
        description="Each tenant's backup bucket; '{tenant}' is replaced.",
    )


class HybridSettings(Strict):
    """An existing (on-prem, in-country) cluster the Kubernetes layer is deployed onto."""

    kubeconfig_path: str = Field(description="Path to the kubeconfig of the target cluster.")
    context: str | None = Field(default=None, description="kubeconfig context to use.")
    object_store_endpoint: str = Field(
        description="HTTPS endpoint of the in-country S3-compatible object store."
    )
    object_store_cidrs: list[str] = Field(
        min_length=1,
        description="Address ranges of the object store: the only HTTPS egress tenant pods get.",
    )
    storage_class: str = Field(default="standard", description="StorageClass for volumes.")
    cluster_cidrs: list[str] = Field(
        min_length=1,
        description="Address ranges of the cluster's API server and nodes: webhook callers "
        "and the API server egress of the platform namespaces' NetworkPolicies.",
    )
    tenant_bucket_template: str = Field(
        default="mlplatform-{tenant}",
        description="Name of each tenant's bucket on the in-country object store; "
        "'{tenant}' is replaced by the tenant name. Models live under models/<name>/<version>/.",
    )

    @field_validator("tenant_bucket_template")
    @classmethod
    def _bucket(cls, v: str) -> str:
        probe = v.replace("{tenant}", "t" * TENANT_NAME_MAX)
        if "{tenant}" not in v or not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", probe):
            raise ValueError(
                f"'{v}' must contain '{{tenant}}' and give S3 bucket names (3-63 lowercase "
                "letters, digits, '.', '-') for tenant names of up to 20 characters"
            )
        return v

    @field_validator("object_store_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            m = re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})", c)
            if not m or any(int(x) > 255 for x in m.groups()[:4]) or int(m[5]) > 32:
                raise ValueError(f"'{c}' is not an IPv4 CIDR block")
            if int(m[5]) == 0:
                raise ValueError(
                    "0.0.0.0/0 would open egress to the world; list the store's ranges"
                )
        return v

    @field_validator("cluster_cidrs")
    @classmethod
    def _cluster_cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            m = re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})", c)
            if not m or any(int(x) > 255 for x in m.groups()[:4]) or int(m[5]) > 32:
                raise ValueError(f"'{c}' is not an IPv4 CIDR block")
            if int(m[5]) == 0:
                raise ValueError("0.0.0.0/0 is not a cluster range; list the API server and nodes")
        return v

    @field_validator("object_store_endpoint")
    @classmethod
    def _https(cls, v: str) -> str:
        if not v.startswith("https://"):
            raise ValueError("must be an https:// URL (TLS is mandatory)")
        return v


class Quota(Strict):
    """Namespace ResourceQuota of a tenant."""

    cpu: int = Field(ge=1, description="requests.cpu (cores).")
    memory_gib: int = Field(ge=1, description="requests.memory (GiB).")
    gpus: int = Field(ge=0, description="requests.nvidia.com/gpu.")
    pods: int = Field(ge=1, description="Maximum pods.")


class InferenceSettings(Strict):
    """Model serving shape of a tenant."""

    min_replicas: int = Field(ge=1, le=50)
    max_replicas: int = Field(ge=1, le=200)
    gpu: bool = Field(description="Serve on GPU nodes.")
    canary: bool = Field(description="Canary rollouts with metric-driven rollback.")
    pdb: bool = Field(description="PodDisruptionBudget on predictors.")

    @model_validator(mode="after")
    def _bounds(self) -> InferenceSettings:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas exceeds max_replicas")
        return self


class ModelSettings(Strict):
    """One model a tenant serves: its champion version and, for enterprise, a challenger."""

    name: str = Field(description="Model name: a DNS-1123 label of at most 40 characters.")
    version: str = Field(
        description="Champion version: the folder models/<name>/<version>/ in the tenant bucket."
    )
    challenger_version: str | None = Field(
        default=None, description="Challenger version for a canary rollout (enterprise only)."
    )
    canary_percent: int | None = Field(
        default=None,
        ge=1,
        le=99,
        description="Share of requests to the challenger, 1-99 (default 10; enterprise only).",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not MODEL_NAME.match(v):
            raise ValueError(
                f"'{v}' is not a DNS-1123 label of at most 40 characters (lowercase "
                "letters, digits and '-')"
            )
        return v

    @field_validator("version", "challenger_version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        if v is not None and not MODEL_VERSION.match(v):
            raise ValueError(
                f"'{v}' is not a version: one path segment of letters, digits, '.', '_', '-'"
            )
        return v

    @model_validator(mode="after")
    def _canary(self) -> ModelSettings:
        if self.canary_percent is not None and self.challenger_version is None:
            raise ValueError("canary_percent needs a challenger_version")
        if self.challenger_version is not None and self.challenger_version == self.version:
            raise ValueError("challenger_version must differ from version")
        return self


class RetentionSettings(Strict):
    """How long each kind of a tenant's data rests before it is deleted (days).

    UAE PDPL (Art. 5): personal data is kept no longer than its purpose needs. Applied
    where the data rests: bucket lifecycle rules per prefix, the online tables' TTL,
    queue retention, prediction-log expiry. Audit records are not here: they follow
    ``audit_retention_days`` (record-keeping obligations), under object lock.
    """

    raw_events_days: int = Field(
        default=30, ge=1, description="Landing files of ingestion and their receipts."
    )
    offline_features_days: int = Field(
        default=730, ge=1, description="Offline-store partitions (ingested and generated)."
    )
    online_features_days: int = Field(
        default=90, ge=1, description="Online-store rows after their last write (TTL)."
    )
    prediction_logs_days: int = Field(
        default=90, ge=1, description="Logged model inputs and outputs (and drift windows)."
    )
    queue_messages_days: int = Field(
        default=4, ge=1, le=14, description="Messages in the tenant's queues (SQS: at most 14)."
    )
    dead_letter_days: int = Field(
        default=14, ge=1, le=14, description="Messages in dead-letter queues (SQS: at most 14)."
    )


RETENTION_LIMIT_DAYS: dict[DataClassification, int] = {
    DataClassification.INTERNAL: 3650,
    DataClassification.CONFIDENTIAL: 1095,
    DataClassification.RESTRICTED: 730,
}
"""The longest any store of customer data may keep it, per classification (platform
policy: the more sensitive, the shorter); a stack asking for more is a config error."""


class RetentionOverrides(Strict):
    """Per-field overrides of a tenant's retention (each checked against its classification)."""

    raw_events_days: int | None = Field(default=None, ge=1)
    offline_features_days: int | None = Field(default=None, ge=1)
    online_features_days: int | None = Field(default=None, ge=1)
    prediction_logs_days: int | None = Field(default=None, ge=1)
    queue_messages_days: int | None = Field(default=None, ge=1, le=14)
    dead_letter_days: int | None = Field(default=None, ge=1, le=14)


DEFAULT_MODELS: tuple[ModelSettings, ...] = (ModelSettings(name="churn", version="1"),)
"""What every tenant serves unless it overrides ``models``: the workloads' churn model."""


class DisasterRecoverySettings(Strict):
    """Recovery objectives of a tier and the backup schedule that serves them (issue 14).

    The RPO is checked against the schedule the platform generates from
    ``backup_interval_minutes`` (:func:`contracts.backup.worst_case_loss_minutes`): a
    stack whose schedule cannot meet it is a configuration error. The RTO is what the
    runbook and the restore drill (``python -m workloads.dr drill``) are held to.
    """

    rpo_minutes: int = Field(ge=60, description="Most data (minutes) a region loss may cost.")
    rto_minutes: int = Field(ge=60, description="Longest time (minutes) to serve again.")
    backup_interval_minutes: int = Field(
        description="Backups and in-country copies run this often (whole hours dividing a day)."
    )
    backup_retention_days: int = Field(
        ge=7, le=3650, description="Recovery points are kept this long (vault lock minimum)."
    )


class DisasterRecoveryOverrides(Strict):
    """What a tenant may change about its tier's backups (never its RPO or RTO)."""

    backup_interval_minutes: int | None = Field(default=None, description="See the settings.")
    backup_retention_days: int | None = Field(default=None, ge=7, le=3650)


class TenantOverrides(Strict):
    """What a tenant may change about its tier preset; checked against the tier."""

    cpu_instance_types: list[str] | None = Field(default=None, description="CPU pool types.")
    cpu_max_nodes: int | None = Field(default=None, ge=1, le=200)
    gpu_instance_types: list[str] | None = Field(
        default=None, description="GPU inference pool types (enterprise only)."
    )
    gpu_max_nodes: int | None = Field(default=None, ge=1, le=100)
    training_instance_types: list[str] | None = Field(
        default=None, description="Training pool types (GPU for enterprise, CPU for SMB)."
    )
    training_capacity_reservation_id: str | None = Field(
        default=None, description="Capacity reservation for p5en training pools."
    )
    quota: Quota | None = None
    min_replicas: int | None = Field(default=None, ge=1, le=50)
    max_replicas: int | None = Field(default=None, ge=1, le=200)
    data_classification: DataClassification | None = None
    monitoring_retention_days: int | None = Field(default=None, ge=1, le=400)
    retention: RetentionOverrides | None = Field(
        default=None, description="Data retention in days (limited by data_classification)."
    )
    disaster_recovery: DisasterRecoveryOverrides | None = Field(
        default=None, description="Backup interval and retention (checked against the RPO)."
    )
    monthly_budget_usd: float | None = Field(
        default=None,
        ge=0,
        description="Monthly cost budget of this tenant in USD (default: the tier's); "
        "`mlplatform cost` exits 1 when the estimate exceeds it.",
    )
    models: list[ModelSettings] | None = Field(
        default=None,
        min_length=1,
        description="Models to serve (default: one model 'churn', version '1'); a "
        "challenger_version (canary) is enterprise-only.",
    )
    model_signing_public_key: str | None = Field(
        default=None,
        description="PEM of the Ed25519 public key verifying this tenant's models, for a "
        "tenant that signs its own (default: the stack's model_signing_public_key).",
    )

    @field_validator("model_signing_public_key")
    @classmethod
    def _signing_key(cls, v: str | None) -> str | None:
        return None if v is None else ed25519_public_pem(v)

    @field_validator("models")
    @classmethod
    def _unique_models(cls, v: list[ModelSettings] | None) -> list[ModelSettings] | None:
        names = [m.name for m in v or []]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate model names: {', '.join(dupes)}; names must be unique")
        return v


class TenantSpec(Strict):
    """A tenant as written in the stack file."""

    name: str = Field(description="DNS-1123 label, at most 20 characters.")
    tier: Tier = Field(description="smb or enterprise.")
    overrides: TenantOverrides = Field(default_factory=TenantOverrides)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not DNS1123_LABEL.match(v) or len(v) > TENANT_NAME_MAX:
            raise ValueError(
                f"'{v}' is not a DNS-1123 label of at most {TENANT_NAME_MAX} characters "
                "(lowercase letters, digits and '-', starting and ending alphanumeric)"
            )
        return v


class Tenant(Strict):
    """A tenant with its tier preset applied: what the components consume."""

    name: str
    tier: Tier
    namespace: str
    data_classification: DataClassification
    dedicated_nodes: bool = Field(description="Tainted node pools only this tenant uses.")
    cpu_pool: NodeGroupSettings | None = Field(description="Dedicated CPU pool (enterprise).")
    gpu_pool: NodeGroupSettings | None = Field(description="GPU inference pool (enterprise).")
    training_pool: NodeGroupSettings = Field(description="Training pool.")
    quota: Quota
    inference: InferenceSettings
    online_store: Literal["dynamodb", "redis"]
    object_lock: bool = Field(description="S3 object lock on the audit bucket.")
    audit_retention_days: int = Field(
        default=365,
        ge=1,
        description="Object-lock retention of the audit bucket's records (COMPLIANCE in prod).",
    )
    monitoring_retention_days: int
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings, description="Data retention per kind of data."
    )
    drift_automation: bool
    monthly_budget_usd: float | None = Field(
        default=None, description="Monthly cost budget in USD (None: no budget)."
    )
    disaster_recovery: DisasterRecoverySettings = Field(
        description="RPO, RTO and the backup schedule of the tenant's tier."
    )
    models: list[ModelSettings] = Field(description="Models the tenant serves.")
    model_signing_public_key: str = Field(
        description="PEM of the Ed25519 public key the tenant's model servers verify with."
    )


class EnvironmentProfile(Strict):
    """Cost and resilience knobs that follow from the environment."""

    nat_per_az: bool
    protect_stateful: bool
    log_retention_days: int
    system_min_nodes: int


PROFILES: dict[Environment, EnvironmentProfile] = {
    Environment.DEV: EnvironmentProfile(
        nat_per_az=False, protect_stateful=False, log_retention_days=30, system_min_nodes=1
    ),
    Environment.STAGING: EnvironmentProfile(
        nat_per_az=False, protect_stateful=False, log_retention_days=90, system_min_nodes=2
    ),
    Environment.PROD: EnvironmentProfile(
        nat_per_az=True, protect_stateful=True, log_retention_days=365, system_min_nodes=2
    ),
}


class StackSpec(Strict):
    """Everything a stack file may say under the project's config namespace."""

    environment: Environment = Field(description="dev, staging or prod.")
    mode: Mode = Field(default=Mode.AWS, description="aws or hybrid.")
    allowed_regions: list[str] = Field(
        default_factory=lambda: [DEFAULT_REGION],
        description="Regions the stack may deploy to (residency).",
    )
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    hybrid: HybridSettings | None = Field(default=None, description="Required in hybrid mode.")
    dr_site: DrSiteSettings | None = Field(
        default=None, description="In-country store the scheduled copy goes to (AWS mode)."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on everything.")
    tenants: list[TenantSpec] = Field(min_length=1, description="The tenants of this stack.")
    tier_budgets_usd: dict[Tier, float] = Field(
        default_factory=dict,
        description="Monthly cost budget per tier in USD (all tenants of the tier together); "
        "`mlplatform cost` exits 1 when a tier's estimate exceeds it.",
    )
    # Public by nature, so plain text in the stack file; required because every tenant
    # serves models (checked after parsing, so a tenant's own key may stand in for it).
    model_signing_public_key: str | None = Field(
        default=None,
        description="PEM of the Ed25519 public key that verifies signed models; mounted "
        "into every model server. Required unless every tenant overrides it.",
    )

    @field_validator("model_signing_public_key")
    @classmethod
    def _signing_key(cls, v: str | None) -> str | None:
        return None if v is None else ed25519_public_pem(v)

    @field_validator("tenants")
    @classmethod
    def _unique(cls, tenants: list[TenantSpec]) -> list[TenantSpec]:
        names = [t.name for t in tenants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate tenant names: {', '.join(dupes)}; names must be unique")
        return tenants

    @model_validator(mode="after")
    def _cross(self) -> StackSpec:
        if self.mode is Mode.HYBRID and self.hybrid is None:
            raise ValueError("mode 'hybrid' needs a 'hybrid' section (kubeconfig_path, ...)")
        if self.mode is Mode.AWS and self.hybrid is not None:
            raise ValueError("a 'hybrid' section is only allowed with mode: hybrid")
        if self.mode is Mode.HYBRID and self.registry.host is None:
            raise ValueError(
                "mode 'hybrid' needs registry.host: the in-country registry every image "
                "and chart is pulled from (there is no ECR default on-prem)"
            )
        return self


class PlatformSettings(Strict):
    """The validated, preset-expanded settings of one stack."""

    project: str
    stack: str
    stack_file: str
    environment: Environment
    profile: EnvironmentProfile
    mode: Mode
    region: str
    allowed_regions: list[str]
    zone_ids: list[str]
    network: NetworkSettings
    cluster: ClusterSettings
    registry: RegistrySettings
    hybrid: HybridSettings | None
    dr_site: DrSiteSettings | None = None
    tags: dict[str, str]
    tenants: list[Tenant]
    tier_budgets_usd: dict[Tier, float] = Field(default_factory=dict)

    def prefix(self) -> str:
        """Name prefix of every resource: ``<stack>``."""
        return self.stack
