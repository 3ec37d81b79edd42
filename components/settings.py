"""Typed stack settings: the only reader of Pulumi config.

A stack file names the environment, a few platform knobs and a list of tenants
(``name``, ``tier`` and optional ``overrides``). The tier preset fills in everything
else. Everything is validated here, once, before any resource is registered; a problem
becomes one line naming the stack file, the config key path and what is allowed.

Config keys live in the project namespace (``sovereign-ml-platform:<key>``) and use the
field names below; ``aws:region`` is read for the region.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts import regions
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


DEFAULT_MODELS: tuple[ModelSettings, ...] = (ModelSettings(name="churn", version="1"),)
"""What every tenant serves unless it overrides ``models``: the workloads' churn model."""


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
    monitoring_retention_days: int
    drift_automation: bool
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
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on everything.")
    tenants: list[TenantSpec] = Field(min_length=1, description="The tenants of this stack.")
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
    tags: dict[str, str]
    tenants: list[Tenant]

    def prefix(self) -> str:
        """Name prefix of every resource: ``<stack>``."""
        return self.stack


# --- tier presets -------------------------------------------------------------------


def _smb_preset(spec: TenantSpec) -> dict[str, Any]:
    return {
        "data_classification": DataClassification.CONFIDENTIAL,
        "dedicated_nodes": False,
        "cpu_pool": None,
        "gpu_pool": None,
        # Training on spot: SMB jobs are short, checkpointed and cost-sensitive.
        "training_pool": NodeGroupSettings(
            instance_types=["m6i.xlarge", "m6i.2xlarge", "m5.xlarge"],
            capacity_type="SPOT",
            min_size=0,
            max_size=3,
        ),
        "quota": Quota(cpu=8, memory_gib=32, gpus=0, pods=50),
        "inference": InferenceSettings(
            min_replicas=1, max_replicas=3, gpu=False, canary=False, pdb=False
        ),
        "online_store": "dynamodb",
        "object_lock": False,
        "monitoring_retention_days": 15,
        "drift_automation": True,
    }


def _enterprise_preset(spec: TenantSpec) -> dict[str, Any]:
    return {
        "data_classification": DataClassification.RESTRICTED,
        "dedicated_nodes": True,
        "cpu_pool": NodeGroupSettings(instance_types=["m6i.2xlarge"], min_size=2, max_size=6),
        # g6 (L4) for inference: offered in mec1-az1/az2 only; scales from zero.
        "gpu_pool": NodeGroupSettings(instance_types=["g6.xlarge"], min_size=0, max_size=4),
        "training_pool": NodeGroupSettings(instance_types=["g6e.xlarge"], min_size=0, max_size=2),
        "quota": Quota(cpu=64, memory_gib=256, gpus=8, pods=200),
        "inference": InferenceSettings(
            min_replicas=2, max_replicas=10, gpu=True, canary=True, pdb=True
        ),
        "online_store": "redis",
        "object_lock": True,
        "monitoring_retention_days": 90,
        "drift_automation": True,
    }


PRESETS = {Tier.SMB: _smb_preset, Tier.ENTERPRISE: _enterprise_preset}


def _resolve_tenant(
    spec: TenantSpec, path: str, region: str, zone_ids: list[str], signing_key: str | None = None
) -> tuple[Tenant | None, list[str]]:
    """Apply the tier preset and the overrides; return the tenant or the problems."""
    problems: list[str] = []
    preset = PRESETS[spec.tier](spec)
    o = spec.overrides
    offers = regions.load(region)

    def check_types(types: list[str], field: str, want_gpu: bool) -> None:
        if offers is None:
            problems.append(
                f"{path}.overrides.{field}: no offering data for region '{region}' "
                f"(data ships for: {', '.join(regions.regions_with_data())})"
            )
            return
        for t in types:
            it = offers.offered(t)
            if it is None:
                kind = "GPU types" if want_gpu else "CPU types"
                have = offers.gpu_types() if want_gpu else []
                hint = f"; {kind} offered: {offers.families(have)}" if want_gpu else ""
                problems.append(
                    f"{path}.overrides.{field}: '{t}' is not offered in {region} "
                    f"(offerings of {offers.data_date}){hint}"
                )
                continue
            if it.is_gpu != want_gpu:
                problems.append(
                    f"{path}.overrides.{field}: '{t}' is {'a GPU' if it.is_gpu else 'a CPU-only'} "
                    f"type; this pool needs {'GPU' if want_gpu else 'CPU'} types"
                )
                continue
            usable = sorted(set(it.az_ids) & set(zone_ids))
            if not usable:
                problems.append(
                    f"{path}.overrides.{field}: '{t}' is offered only in {', '.join(it.az_ids)}, "
                    f"none of the stack's zones ({', '.join(zone_ids)})"
                )

    if spec.tier is Tier.SMB:
        for field in ("gpu_instance_types", "gpu_max_nodes"):
            if getattr(o, field) is not None:
                problems.append(
                    f"{path}.overrides.{field}: SMB tenants run on CPU; GPU pools are "
                    "enterprise-only (use tier: enterprise)"
                )
        if o.training_capacity_reservation_id is not None:
            problems.append(
                f"{path}.overrides.training_capacity_reservation_id: SMB tenants train on "
                "CPU; capacity reservations are for enterprise GPU training"
            )
        if o.quota is not None and o.quota.gpus > 0:
            problems.append(f"{path}.overrides.quota.gpus: SMB tenants get no GPUs; allowed: 0")
        for i, model in enumerate(o.models or []):
            if model.challenger_version is not None or model.canary_percent is not None:
                problems.append(
                    f"{path}.overrides.models[{i}].challenger_version: canary rollouts are "
                    "enterprise-only; SMB tenants serve one version per model"
                )
        if o.cpu_instance_types is not None:
            problems.append(
                f"{path}.overrides.cpu_instance_types: SMB tenants share the platform CPU "
                "pool; allowed overrides: training_instance_types, quota, min_replicas, "
                "max_replicas, data_classification, monitoring_retention_days"
            )
        if o.training_instance_types is not None:
            check_types(o.training_instance_types, "training_instance_types", want_gpu=False)
            preset["training_pool"] = preset["training_pool"].model_copy(
                update={"instance_types": o.training_instance_types}
            )
    else:
        if o.cpu_instance_types is not None:
            check_types(o.cpu_instance_types, "cpu_instance_types", want_gpu=False)
            preset["cpu_pool"] = preset["cpu_pool"].model_copy(
                update={"instance_types": o.cpu_instance_types}
            )
        if o.gpu_instance_types is not None:
            check_types(o.gpu_instance_types, "gpu_instance_types", want_gpu=True)
            preset["gpu_pool"] = preset["gpu_pool"].model_copy(
                update={"instance_types": o.gpu_instance_types}
            )
        if o.training_instance_types is not None:
            check_types(o.training_instance_types, "training_instance_types", want_gpu=True)
            preset["training_pool"] = preset["training_pool"].model_copy(
                update={"instance_types": o.training_instance_types}
            )
        if o.training_capacity_reservation_id is not None:
            preset["training_pool"] = preset["training_pool"].model_copy(
                update={"capacity_reservation_id": o.training_capacity_reservation_id}
            )
        if any(t.startswith("p5") for t in preset["training_pool"].instance_types) and (
            preset["training_pool"].capacity_reservation_id is None
        ):
            problems.append(
                f"{path}.overrides.training_capacity_reservation_id: p5en pools need an EC2 "
                "capacity reservation id (cr-...) in me-central-1"
            )
        if o.cpu_max_nodes is not None:
            preset["cpu_pool"] = preset["cpu_pool"].model_copy(update={"max_size": o.cpu_max_nodes})
        if o.gpu_max_nodes is not None:
            preset["gpu_pool"] = preset["gpu_pool"].model_copy(update={"max_size": o.gpu_max_nodes})
    if o.quota is not None:
        preset["quota"] = o.quota
    inf = preset["inference"]
    if o.min_replicas is not None or o.max_replicas is not None:
        lo = o.min_replicas if o.min_replicas is not None else inf.min_replicas
        hi = o.max_replicas if o.max_replicas is not None else inf.max_replicas
        if spec.tier is Tier.ENTERPRISE and lo < 2:
            problems.append(
                f"{path}.overrides.min_replicas: enterprise serving is HA; allowed: >= 2"
            )
        if lo > hi:
            problems.append(f"{path}.overrides.min_replicas: {lo} exceeds max_replicas {hi}")
        else:
            preset["inference"] = inf.model_copy(update={"min_replicas": lo, "max_replicas": hi})
    if o.data_classification is not None:
        preset["data_classification"] = o.data_classification
    if o.monitoring_retention_days is not None:
        preset["monitoring_retention_days"] = o.monitoring_retention_days
    preset["models"] = list(o.models) if o.models is not None else list(DEFAULT_MODELS)
    key = o.model_signing_public_key or signing_key
    if key is None:
        # settings_from_config reports the stack-level key as missing once.
        return None, problems
    preset["model_signing_public_key"] = key
    if problems:
        return None, problems
    return Tenant(name=spec.name, tier=spec.tier, namespace=f"tenant-{spec.name}", **preset), []


# --- loading ------------------------------------------------------------------------


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = f"{PROJECT}:{part}"
    return out


def _describe(err: Mapping[str, Any]) -> str:
    etype = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if etype == "extra_forbidden":
        return "unknown key (check the spelling; see the settings reference in README)"
    if etype == "missing":
        return "required but missing"
    if etype == "enum":
        return f"'{value}' is not allowed; allowed: {ctx.get('expected', '').replace(' or ', ', ')}"
    if etype == "literal_error":
        return f"'{value}' is not allowed; allowed: {ctx.get('expected', '')}"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def validation_lines(stack_file: str, exc: ValidationError) -> list[str]:
    """One line per pydantic error: ``<file>: <key path>: <problem>``."""
    lines = []
    for err in exc.errors():
        path = _loc_to_path(tuple(err["loc"])) or PROJECT
        lines.append(f"{stack_file}: {path}: {_describe(err)}")
    return lines


def settings_from_config(
    config: Mapping[str, Any], *, project: str, stack: str, stack_file: str
) -> PlatformSettings:
    """Validate raw stack config (key -> already-parsed value) into PlatformSettings.

    ``config`` maps full keys (``aws:region``, ``sovereign-ml-platform:tenants``) to
    values as Pulumi would hand them to the program after JSON-decoding objects.
    Raises ConfigError with every problem found.
    """
    ns = f"{project}:"
    raw = {k[len(ns) :]: v for k, v in config.items() if k.startswith(ns)}
    region = config.get("aws:region")
    mode = raw.get("mode", Mode.AWS.value)
    allowed = raw.get("allowed_regions")
    if not (isinstance(allowed, list) and all(isinstance(r, str) for r in allowed)):
        allowed = [DEFAULT_REGION]
    problems: list[str] = []
    if mode == Mode.AWS.value:
        if region is None:
            problems.append(
                f"{stack_file}: aws:region: required in aws mode; allowed: {', '.join(allowed)}"
            )
        elif region not in allowed:
            problems.append(
                f"{stack_file}: aws:region: '{region}' is not allowed; allowed: "
                f"{', '.join(allowed)} (UAE data residency"
                + ("; me-south-1 is Bahrain, not the UAE)" if region == "me-south-1" else ")")
            )
    try:
        spec = StackSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(problems + validation_lines(stack_file, exc)) from None
    if problems:
        raise ConfigError(problems)

    region = str(region or DEFAULT_REGION)

    zone_ids: list[str] = []
    offers = regions.load(region)
    if spec.mode is Mode.AWS and offers is not None:
        known = set(offers.zone_ids)
        for field in ("zone_ids", "excluded_zone_ids"):
            for z in getattr(spec.network, field) or []:
                if z not in known:
                    problems.append(
                        f"{stack_file}: {PROJECT}:network.{field}: '{z}' is not a zone id of "
                        f"{region}; allowed: {', '.join(offers.zone_ids)} (use zone ids, "
                        "not zone names)"
                    )
        chosen = spec.network.zone_ids or list(offers.zone_ids)
        zone_ids = [z for z in chosen if z not in spec.network.excluded_zone_ids]
        if len(zone_ids) < 2:
            problems.append(
                f"{stack_file}: {PROJECT}:network: {len(zone_ids)} usable zone(s) "
                f"({', '.join(zone_ids) or 'none'}); stateful data must span at least two "
                "healthy zones"
            )
        for t in spec.cluster.system_nodes.instance_types:
            if offers.offered(t) is None:
                problems.append(
                    f"{stack_file}: {PROJECT}:cluster.system_nodes.instance_types: '{t}' is "
                    f"not offered in {region} (offerings of {offers.data_date})"
                )
    elif spec.mode is Mode.AWS and region in spec.allowed_regions:
        problems.append(
            f"{stack_file}: aws:region: no offering data ships for '{region}'; "
            f"available: {', '.join(regions.regions_with_data())}"
        )

    unkeyed = [t.name for t in spec.tenants if t.overrides.model_signing_public_key is None]
    if spec.model_signing_public_key is None and unkeyed:
        problems.append(
            f"{stack_file}: {PROJECT}:model_signing_public_key: required but missing; give "
            "the PEM of the Ed25519 public key that verifies signed models (tenants serving "
            f"models without their own key: {', '.join(unkeyed)})"
        )
    tenants: list[Tenant] = []
    for i, tspec in enumerate(spec.tenants):
        tenant, errs = _resolve_tenant(
            tspec,
            f"{PROJECT}:tenants[{i}]",
            region,
            zone_ids or ["-"],
            spec.model_signing_public_key,
        )
        problems.extend(f"{stack_file}: {e}" for e in errs)
        if tenant is not None:
            tenants.append(tenant)
    if problems:
        raise ConfigError(problems)

    env = spec.environment
    return PlatformSettings(
        project=project,
        stack=stack,
        stack_file=stack_file,
        environment=env,
        profile=PROFILES[env],
        mode=spec.mode,
        region=region,
        allowed_regions=spec.allowed_regions,
        zone_ids=zone_ids,
        network=spec.network,
        cluster=spec.cluster,
        registry=spec.registry,
        hybrid=spec.hybrid,
        tags=spec.tags,
        tenants=tenants,
    )


def load_settings() -> PlatformSettings:
    """Read the running Pulumi program's config once and validate it.

    Pulumi hands structured config values to the program as JSON strings; they are
    decoded here. Raises ConfigError.
    """
    import json

    import pulumi
    from pulumi.runtime.config import CONFIG  # the whole map, as the CLI set it

    project = pulumi.get_project()
    stack = pulumi.get_stack()
    raw: dict[str, Any] = {}
    for key, value in CONFIG.get().items():
        try:
            raw[key] = json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value
        except json.JSONDecodeError:
            raw[key] = value
    return settings_from_config(
        raw,
        project=project,
        stack=stack,
        stack_file=_stack_file(stack),
    )


def _stack_file(stack: str) -> str:
    """The running stack's config file as messages name it: relative to the project root.

    The root is where ``Pulumi.yaml`` lives (the CLI tells the program); the file sits in
    the project's ``stackConfigDir``.
    """
    import pulumi
    import yaml

    name = f"Pulumi.{stack}.yaml"
    try:
        root = pulumi.get_root_directory()
    except AttributeError:  # settings made by an older test harness carry no root
        root = None
    if not root:
        return name
    try:
        project = yaml.safe_load((Path(root) / "Pulumi.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        project = {}
    config_dir = project.get("stackConfigDir") if isinstance(project, dict) else None
    return str(Path(config_dir) / name) if isinstance(config_dir, str) else name
