"""The node-pool sizing policy: which pools a stack gets, their bounds, zones and placement.

Pure functions of the settings (no Pulumi resources), so the policy reads and tests on
its own:

- a ``system`` pool, at least the environment's minimum;
- for SMB tenants a shared CPU pool (three nodes per tenant, at most 30) and a shared
  spot training pool tainted for training jobs (the union of their training types);
- per enterprise tenant with dedicated nodes: its CPU pool, its GPU pool and its GPU
  training pool, each tainted for the tenant.

A pool spans the stack's zones where every one of its instance types is offered.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.k8s.placement import Placement, Scheduling
from components.nodepools import PURPOSE_LABEL, PoolKind, Taint, pod_scheduling
from components.settings import NodeGroupSettings, PlatformSettings
from components.settings import Tenant as TenantSettings
from contracts import regions
from contracts.names import Tier

SHARED_CPU_TYPES: tuple[str, ...] = ("m6i.xlarge", "m6i.2xlarge")
"""Instance types of the CPU pool SMB tenants share (offered in every me-central-1 zone)."""
TRAINING_TAINT = Taint(PURPOSE_LABEL, "training")
"""Spot training nodes only take pods that tolerate interruption (training jobs)."""
CAPACITY_LABEL = "mlplatform.io/capacity"
"""Node label naming the capacity type (``on_demand`` or ``spot``)."""


@dataclass(frozen=True)
class PoolPlan:
    """One node pool the stack gets, before any resource exists."""

    pool: str
    """Pool name (``system``, ``smb-cpu``, ``<tenant>-gpu``, ...)."""
    group: NodeGroupSettings
    """Instance types, capacity type and the configured bounds."""
    kind: PoolKind
    """CPU or GPU (GPU pools carry the ``nvidia.com/gpu`` taint)."""
    purpose: str
    """``system``, ``shared``, ``inference`` or ``training``."""
    tenant: str | None = None
    """The enterprise tenant owning the pool (tainted for it), or None for shared pools."""
    min_size: int | None = None
    """A floor overriding the group's ``min_size`` (the system pool's)."""
    extra_taints: tuple[Taint, ...] = ()
    """Taints beyond the kind's and the tenant's."""

    @property
    def bounds(self) -> tuple[int, int, int | None]:
        """``(min, max, desired)``: max never below min, desired clamped between them."""
        low = self.group.min_size if self.min_size is None else self.min_size
        high = max(self.group.max_size, low)
        desired = (
            None
            if self.group.desired_size is None
            else min(max(self.group.desired_size, low), high)
        )
        return low, high, desired

    @property
    def labels(self) -> dict[str, str]:
        """Node labels the pool adds to those of its kind and purpose."""
        return {CAPACITY_LABEL: self.group.capacity_type.lower()}


def node_pool_plans(settings: PlatformSettings) -> list[PoolPlan]:
    """Every pool of an AWS stack, in creation order."""
    system = settings.cluster.system_nodes
    plans = [
        PoolPlan(
            "system",
            system,
            PoolKind.CPU,
            "system",
            min_size=min(max(system.min_size, settings.profile.system_min_nodes), system.max_size),
        )
    ]
    smb = [t for t in settings.tenants if t.tier is Tier.SMB]
    if smb:
        plans += _shared_smb_pools(smb)
    for tenant in settings.tenants:
        if tenant.tier is Tier.ENTERPRISE and tenant.dedicated_nodes:
            plans += _dedicated_pools(tenant)
    return plans


def _shared_smb_pools(smb: list[TenantSettings]) -> list[PoolPlan]:
    training_types: list[str] = []
    for tenant in smb:
        training_types += [
            t for t in tenant.training_pool.instance_types if t not in training_types
        ]
    cpu = NodeGroupSettings(
        instance_types=list(SHARED_CPU_TYPES), min_size=1, max_size=min(3 * len(smb), 30)
    )
    training = NodeGroupSettings(
        instance_types=training_types,
        capacity_type="SPOT",
        min_size=0,
        max_size=min(sum(t.training_pool.max_size for t in smb), 50),
    )
    return [
        PoolPlan("smb-cpu", cpu, PoolKind.CPU, "shared"),
        PoolPlan("smb-train", training, PoolKind.CPU, "training", extra_taints=(TRAINING_TAINT,)),
    ]


def _dedicated_pools(tenant: TenantSettings) -> list[PoolPlan]:
    plans: list[PoolPlan] = []
    if tenant.cpu_pool is not None:
        plans.append(
            PoolPlan(f"{tenant.name}-cpu", tenant.cpu_pool, PoolKind.CPU, "inference", tenant.name)
        )
    if tenant.gpu_pool is not None:
        plans.append(
            PoolPlan(f"{tenant.name}-gpu", tenant.gpu_pool, PoolKind.GPU, "inference", tenant.name)
        )
    plans.append(
        PoolPlan(
            f"{tenant.name}-train", tenant.training_pool, PoolKind.GPU, "training", tenant.name
        )
    )
    return plans


def pool_zone_ids(instance_types: list[str], zone_ids: list[str], region: str) -> list[str]:
    """Stack zones where every one of ``instance_types`` is offered (region offering data)."""
    offers = regions.load(region)
    if offers is None:
        raise ValueError(f"no offering data ships for region '{region}'")
    usable = list(zone_ids)
    for name in instance_types:
        offered = offers.offered(name)
        if offered is None:
            raise ValueError(f"instance type '{name}' is not offered in {region}")
        usable = [z for z in usable if z in offered.az_ids]
    if not usable:
        raise ValueError(
            f"instance types {instance_types}: no zone of the stack ({', '.join(zone_ids)}) "
            "offers all of them; split them into separate pools"
        )
    return usable


def tenant_placement(tenant: TenantSettings) -> Placement:
    """Pools of a tenant's pods (the node-pool contract of :func:`pod_scheduling`)."""
    if tenant.tier is Tier.ENTERPRISE and tenant.dedicated_nodes:
        gpu = (
            Scheduling.of(pod_scheduling(tenant=tenant.name, gpu=True))
            if tenant.gpu_pool is not None
            else None
        )
        return Placement(cpu=Scheduling.of(pod_scheduling(tenant=tenant.name)), gpu=gpu)
    return Placement(cpu=Scheduling.of(pod_scheduling(tenant=None)))
