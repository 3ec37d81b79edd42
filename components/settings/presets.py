"""Tier presets and tenant overrides: from a stack file's tenant entry to a :class:`Tenant`.

The preset of the tenant's tier fills everything; the overrides may change what the
tier allows (an SMB tenant asking for a GPU pool is an error, not a silent upgrade), and
every instance type is checked against the region's offering data.
"""

from __future__ import annotations

from typing import Any

from components.settings.models import (
    DEFAULT_MODELS,
    RETENTION_LIMIT_DAYS,
    DataClassification,
    DisasterRecoverySettings,
    InferenceSettings,
    NodeGroupSettings,
    Quota,
    RetentionSettings,
    Tenant,
    TenantOverrides,
    TenantSpec,
)
from contracts import backup, regions
from contracts.names import Tier, tenant_namespace

SMB_ALLOWED_OVERRIDES = (
    "training_instance_types, quota, min_replicas, max_replicas, data_classification, "
    "monitoring_retention_days, monthly_budget_usd"
)
"""What an SMB tenant may override (it shares the platform's CPU pool)."""


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
        # The alert receiver acts for SMB tenants too: its audit trail needs the same
        # object-locked bucket (a few KB a day; the lock is what makes it evidence).
        "object_lock": True,
        "audit_retention_days": 365,
        "monitoring_retention_days": 15,
        "retention": RetentionSettings(),
        "drift_automation": True,
        # Priced part of the estimate (`mlplatform cost`) with headroom; unpriced services
        # (region prices unknown) come on top.
        "monthly_budget_usd": 1000.0,
        # Daily backups, copied in-country: a day's work at risk, a day to restore.
        "disaster_recovery": DisasterRecoverySettings(
            rpo_minutes=1500,
            rto_minutes=1440,
            backup_interval_minutes=1440,
            backup_retention_days=35,
        ),
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
        # CBUAE and DIFC record-keeping: five years.
        "audit_retention_days": 1825,
        "monitoring_retention_days": 90,
        # Restricted data: shorter everywhere a customer's rows rest.
        "retention": RetentionSettings(offline_features_days=365, prediction_logs_days=60),
        "drift_automation": True,
        "monthly_budget_usd": 12000.0,
        # Hourly backups, copied in-country within half an hour; serving again in 4 hours.
        "disaster_recovery": DisasterRecoverySettings(
            rpo_minutes=120,
            rto_minutes=240,
            backup_interval_minutes=60,
            backup_retention_days=35,
        ),
    }


PRESETS = {Tier.SMB: _smb_preset, Tier.ENTERPRISE: _enterprise_preset}


def resolve_tenant(
    spec: TenantSpec, path: str, region: str, zone_ids: list[str], signing_key: str | None = None
) -> tuple[Tenant | None, list[str]]:
    """Apply the tier preset and the overrides; return the tenant or the problems.

    ``path`` is the tenant's config key path (``<project>:tenants[<i>]``) that problems
    name; ``signing_key`` is the stack-level model-signing key a tenant may override.
    """
    resolution = _Resolution(spec, path, region, zone_ids)
    if spec.tier is Tier.SMB:
        resolution.smb_overrides()
    else:
        resolution.enterprise_overrides()
    resolution.common_overrides()
    key = spec.overrides.model_signing_public_key or signing_key
    if key is None:
        # settings_from_config reports the stack-level key as missing once.
        return None, resolution.problems
    if resolution.problems:
        return None, resolution.problems
    preset = resolution.preset
    preset["model_signing_public_key"] = key
    return Tenant(
        name=spec.name, tier=spec.tier, namespace=tenant_namespace(spec.name), **preset
    ), []


class _Resolution:
    """One tenant's preset being overridden, and the problems found on the way."""

    def __init__(self, spec: TenantSpec, path: str, region: str, zone_ids: list[str]) -> None:
        self.spec = spec
        self.overrides: TenantOverrides = spec.overrides
        self.preset: dict[str, Any] = PRESETS[spec.tier](spec)
        self.problems: list[str] = []
        self._path = path
        self._region = region
        self._zone_ids = zone_ids
        self._offers = regions.load(region)

    def problem(self, field: str, text: str) -> None:
        """Record ``<path>.overrides.<field>: <text>``."""
        self.problems.append(f"{self._path}.overrides.{field}: {text}")

    def update_pool(self, pool: str, **changes: Any) -> None:
        """Replace fields of one of the preset's node pools."""
        self.preset[pool] = self.preset[pool].model_copy(update=changes)

    def check_types(self, types: list[str], field: str, want_gpu: bool) -> None:
        """Every type offered in the region, of the right kind, in one of the stack's zones."""
        offers, region = self._offers, self._region
        if offers is None:
            self.problem(
                field,
                f"no offering data for region '{region}' "
                f"(data ships for: {', '.join(regions.regions_with_data())})",
            )
            return
        for name in types:
            offered = offers.offered(name)
            if offered is None:
                hint = (
                    f"; GPU types offered: {offers.families(offers.gpu_types())}"
                    if want_gpu
                    else ""
                )
                self.problem(
                    field,
                    f"'{name}' is not offered in {region} (offerings of {offers.data_date}){hint}",
                )
                continue
            if offered.is_gpu != want_gpu:
                self.problem(
                    field,
                    f"'{name}' is {'a GPU' if offered.is_gpu else 'a CPU-only'} type; this pool "
                    f"needs {'GPU' if want_gpu else 'CPU'} types",
                )
                continue
            if not set(offered.az_ids) & set(self._zone_ids):
                self.problem(
                    field,
                    f"'{name}' is offered only in {', '.join(offered.az_ids)}, none of the "
                    f"stack's zones ({', '.join(self._zone_ids)})",
                )

    def smb_overrides(self) -> None:
        """SMB tenants run on CPU, share the platform CPU pool and serve one version."""
        overrides = self.overrides
        for field in ("gpu_instance_types", "gpu_max_nodes"):
            if getattr(overrides, field) is not None:
                self.problem(
                    field,
                    "SMB tenants run on CPU; GPU pools are enterprise-only (use tier: enterprise)",
                )
        if overrides.training_capacity_reservation_id is not None:
            self.problem(
                "training_capacity_reservation_id",
                "SMB tenants train on CPU; capacity reservations are for enterprise GPU training",
            )
        if overrides.quota is not None and overrides.quota.gpus > 0:
            self.problem("quota.gpus", "SMB tenants get no GPUs; allowed: 0")
        for index, model in enumerate(overrides.models or []):
            if model.challenger_version is not None or model.canary_percent is not None:
                self.problem(
                    f"models[{index}].challenger_version",
                    "canary rollouts are enterprise-only; SMB tenants serve one version per model",
                )
        if overrides.cpu_instance_types is not None:
            self.problem(
                "cpu_instance_types",
                "SMB tenants share the platform CPU pool; allowed overrides: "
                + SMB_ALLOWED_OVERRIDES,
            )
        if overrides.training_instance_types is not None:
            self.check_types(overrides.training_instance_types, "training_instance_types", False)
            self.update_pool("training_pool", instance_types=overrides.training_instance_types)

    def enterprise_overrides(self) -> None:
        """Enterprise pools: instance types, bounds, and a reservation for p5en training."""
        overrides = self.overrides
        for pool, field, want_gpu in (
            ("cpu_pool", "cpu_instance_types", False),
            ("gpu_pool", "gpu_instance_types", True),
            ("training_pool", "training_instance_types", True),
        ):
            types = getattr(overrides, field)
            if types is not None:
                self.check_types(types, field, want_gpu)
                self.update_pool(pool, instance_types=types)
        if overrides.training_capacity_reservation_id is not None:
            self.update_pool(
                "training_pool",
                capacity_reservation_id=overrides.training_capacity_reservation_id,
            )
        training: NodeGroupSettings = self.preset["training_pool"]
        if (
            any(t.startswith("p5") for t in training.instance_types)
            and training.capacity_reservation_id is None
        ):
            self.problem(
                "training_capacity_reservation_id",
                "p5en pools need an EC2 capacity reservation id (cr-...) in me-central-1",
            )
        if overrides.cpu_max_nodes is not None:
            self.update_pool("cpu_pool", max_size=overrides.cpu_max_nodes)
        if overrides.gpu_max_nodes is not None:
            self.update_pool("gpu_pool", max_size=overrides.gpu_max_nodes)
        for pool, field in (
            ("gpu_pool", "gpu_instance_types"),
            ("training_pool", "training_instance_types"),
        ):
            if getattr(overrides, field) is None and self.preset.get(pool) is not None:
                self.check_healthy_offering(self.preset[pool].instance_types, field)

    def check_healthy_offering(self, types: list[str], field: str) -> None:
        """A tier's GPU choice must be offered in at least one of the stack's healthy zones.

        Overridden types are checked one by one (:meth:`check_types`); this catches the
        tier preset's own choice, e.g. g6 (mec1-az1/az2 only) in a stack whose healthy
        zones are mec1-az3 alone.
        """
        offers, zones = self._offers, [z for z in self._zone_ids if z != "-"]
        if offers is None or not zones:
            return  # no offering data (reported elsewhere) or an on-prem cluster
        if any(
            (offered := offers.offered(name)) is not None and set(offered.az_ids) & set(zones)
            for name in types
        ):
            return
        usable = sorted(
            name
            for name in offers.gpu_types()
            if set(offers.instance_types[name].az_ids) & set(zones)
        )
        where = ", ".join(
            sorted({z for name in types if (o := offers.offered(name)) for z in o.az_ids})
        )
        self.problem(
            field,
            f"the {self.spec.tier.value} tier's GPU choice ({', '.join(types)}) has no offering "
            f"in any healthy zone of the stack ({', '.join(zones)}; offered in: "
            f"{where or 'none'}); set {field} to GPU types offered there: "
            f"{offers.families(usable) if usable else 'none (change the stack zones)'}",
        )

    def common_overrides(self) -> None:
        """Quota, replicas, classification, retention and models: any tier."""
        overrides, preset = self.overrides, self.preset
        if overrides.quota is not None:
            preset["quota"] = overrides.quota
        self._replicas()
        if overrides.data_classification is not None:
            preset["data_classification"] = overrides.data_classification
        if overrides.monitoring_retention_days is not None:
            preset["monitoring_retention_days"] = overrides.monitoring_retention_days
        if overrides.monthly_budget_usd is not None:
            preset["monthly_budget_usd"] = overrides.monthly_budget_usd
        self._retention()
        self._disaster_recovery()
        preset["models"] = (
            list(overrides.models) if overrides.models is not None else list(DEFAULT_MODELS)
        )

    def _retention(self) -> None:
        """Apply retention overrides; no store may keep data longer than its class allows."""
        retention: RetentionSettings = self.preset["retention"]
        if self.overrides.retention is not None:
            changes = self.overrides.retention.model_dump(exclude_none=True)
            retention = retention.model_copy(update=changes)
            self.preset["retention"] = retention
        classification = self.preset["data_classification"]
        limit = RETENTION_LIMIT_DAYS[classification]
        for field, days in retention.model_dump().items():
            if days > limit:
                self.problem(
                    f"retention.{field}",
                    f"{days} days exceeds what {classification.value} data allows;"
                    f" allowed: 1..{limit}",
                )

    def _disaster_recovery(self) -> None:
        """Apply backup overrides; the generated schedule must meet the tier's RPO."""
        dr: DisasterRecoverySettings = self.preset["disaster_recovery"]
        if self.overrides.disaster_recovery is not None:
            changes = self.overrides.disaster_recovery.model_dump(exclude_none=True)
            dr = dr.model_copy(update=changes)
            self.preset["disaster_recovery"] = dr
        field = "disaster_recovery.backup_interval_minutes"
        if dr.backup_interval_minutes not in backup.BACKUP_INTERVALS_MINUTES:
            self.problem(
                field,
                f"{dr.backup_interval_minutes} is not a schedulable interval; allowed: "
                f"{', '.join(map(str, backup.BACKUP_INTERVALS_MINUTES))}",
            )
            return
        loss = backup.worst_case_loss_minutes(dr.backup_interval_minutes)
        if loss > dr.rpo_minutes:
            fits = [
                i
                for i in backup.BACKUP_INTERVALS_MINUTES
                if backup.worst_case_loss_minutes(i) <= dr.rpo_minutes
            ]
            schedule = backup.backup_cron(dr.backup_interval_minutes)
            self.problem(
                field,
                f"every {dr.backup_interval_minutes} min ({schedule} + "
                f"{backup.COPY_ALLOWANCE_MINUTES} min copy) can lose {loss} min, more than the "
                f"{self.spec.tier.value} tier's RPO of {dr.rpo_minutes} min; allowed: "
                f"{', '.join(map(str, fits)) or 'none'}",
            )

    def _replicas(self) -> None:
        overrides = self.overrides
        if overrides.min_replicas is None and overrides.max_replicas is None:
            return
        inference: InferenceSettings = self.preset["inference"]
        low = (
            overrides.min_replicas if overrides.min_replicas is not None else inference.min_replicas
        )
        high = (
            overrides.max_replicas if overrides.max_replicas is not None else inference.max_replicas
        )
        if self.spec.tier is Tier.ENTERPRISE and low < 2:
            self.problem("min_replicas", "enterprise serving is HA; allowed: >= 2")
        if low > high:
            self.problem("min_replicas", f"{low} exceeds max_replicas {high}")
        else:
            self.preset["inference"] = inference.model_copy(
                update={"min_replicas": low, "max_replicas": high}
            )
