"""The node-pool sizing policy: which pools a stack gets, their limits, zones and placement.

Pure functions of the settings (no Pulumi resources), so the policy reads and tests on
its own. Nodes come from two sources:

- the ``system`` managed node group (EKS), at least the environment's minimum, for the
  platform's own controllers (Karpenter itself runs there: it cannot provision the
  nodes it runs on);
- Karpenter ``NodePool`` s, which add nodes when pods are pending and remove them when
  they are empty or under-used (:func:`karpenter_pool_plans`):

  - for SMB tenants a shared CPU pool for serving (on-demand) and a shared training
    pool (spot first, on-demand when spot is short) tainted for training jobs;
  - per enterprise tenant with dedicated nodes: its CPU pool, its GPU inference pool
    and its GPU training pool, each tainted for the tenant (GPU pools also with
    ``nvidia.com/gpu``); a p5en training pool launches only into the tenant's EC2
    capacity reservation.

A pool spans the healthy zones (the stack's zones, ``excluded_zone_ids`` removed) where
at least one of its instance types is offered, and lists only those types. In
me-central-1 with ``mec1-az2`` excluded, g5/g6/g6e exist only in ``mec1-az1``: GPU pools
are then single-zone, so GPU inference is not highly available across zones (two
replicas on two nodes of one zone survive a node loss, not a zone loss), and a loss of
``mec1-az1`` stops GPU serving and training until it recovers; CPU serving, data and
the control plane still span two zones. :func:`single_zone_gpu_notes` says so per pool
and the platform prints it on every run.

Limits. A Karpenter ``NodePool`` has no node count, only resource limits: each pool may
grow to ``max_size`` nodes of its largest type, and never beyond what its tenants may
request (their namespace quota) plus one node of slack for what the quota does not
count (the node's own daemons), so a tenant at its quota can still be placed. GPU limits
are exact: never more GPUs than the quota allows. Training pools size for the tenant's
Kueue quota (:func:`training_quotas`): nominal plus what it may borrow from its cohort.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from components.k8s.placement import Placement, Scheduling
from components.nodepools import (
    GPU_PRESENT_LABEL,
    GPU_TAINT_KEY,
    POOL_LABEL,
    PURPOSE_LABEL,
    PoolKind,
    Taint,
    pod_scheduling,
    pool_labels,
    pool_taints,
)
from components.settings import NodeGroupSettings, PlatformSettings
from components.settings import Tenant as TenantSettings
from contracts import regions
from contracts.names import Tier

SHARED_CPU_TYPES: tuple[str, ...] = ("m6i.xlarge", "m6i.2xlarge")
"""Instance types of the CPU pool SMB tenants share (offered in every me-central-1 zone)."""
TRAINING_TAINT = Taint(PURPOSE_LABEL, "training")
"""Spot training nodes only take pods that tolerate interruption (training jobs)."""
CAPACITY_LABEL = "mlplatform.io/capacity"
"""Node label naming the capacity type (``on_demand`` or ``spot``) of managed node groups."""
SMB_TRAIN_POOL = "smb-train"
"""The shared SMB training pool (and the Kueue flavor mapped to it)."""
GPU_TRAIN_FLAVOR = "gpu-train"
"""Kueue flavor of the enterprise GPU training pools (on-demand)."""
GPU_RESERVED_FLAVOR = "gpu-reserved"
"""Kueue flavor of GPU training pools that launch into a capacity reservation (p5en)."""
ENTERPRISE_COHORT = "enterprise"
"""Kueue cohort of every enterprise tenant's ClusterQueue."""
MAX_SHARED_CPU_NODES = 30
MAX_SHARED_TRAINING_NODES = 50


@dataclass(frozen=True)
class PoolPlan:
    """The managed node group of the platform's own services (``system``)."""

    pool: str
    """Pool name (``system``)."""
    group: NodeGroupSettings
    """Instance types, capacity type and the configured bounds."""
    kind: PoolKind
    """CPU or GPU (GPU pools carry the ``nvidia.com/gpu`` taint)."""
    purpose: str
    """``system``."""
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


@dataclass(frozen=True)
class Capacity:
    """An amount of node resources: whole vCPUs, GiB of memory, NVIDIA GPUs."""

    cpu: int
    memory_gib: int
    gpus: int = 0

    def scaled(self, factor: int) -> Capacity:
        """``factor`` times this amount."""
        return Capacity(self.cpu * factor, self.memory_gib * factor, self.gpus * factor)

    def plus(self, other: Capacity) -> Capacity:
        """The sum of two amounts."""
        return Capacity(
            self.cpu + other.cpu, self.memory_gib + other.memory_gib, self.gpus + other.gpus
        )

    def at_most(self, other: Capacity) -> Capacity:
        """Resource by resource, the smaller of two amounts."""
        return Capacity(
            min(self.cpu, other.cpu),
            min(self.memory_gib, other.memory_gib),
            min(self.gpus, other.gpus),
        )

    def halved(self) -> Capacity:
        """Half of this amount, rounded down."""
        return Capacity(self.cpu // 2, self.memory_gib // 2, self.gpus // 2)

    def as_resources(self, *, gpu: bool) -> dict[str, str]:
        """Kubernetes resource quantities (``nvidia.com/gpu`` only when ``gpu``)."""
        out = {"cpu": str(self.cpu), "memory": f"{self.memory_gib}Gi"}
        if gpu:
            out["nvidia.com/gpu"] = str(self.gpus)
        return out


@dataclass(frozen=True)
class KarpenterPoolPlan:
    """One Karpenter ``NodePool`` the stack gets, before any resource exists."""

    pool: str
    """Pool name (``smb-cpu``, ``<tenant>-gpu``, ...): the NodePool's name and node label."""
    node_class: str
    """Name of the ``EC2NodeClass`` it launches with (``cpu``, ``gpu``, ``<tenant>-reserved``)."""
    kind: PoolKind
    """CPU or GPU."""
    purpose: str
    """``shared``, ``inference`` or ``training``."""
    instance_types: tuple[str, ...]
    """Instance types offered in at least one of :attr:`zone_ids`."""
    zone_ids: tuple[str, ...]
    """Healthy zones where at least one of the types is offered."""
    capacity_types: tuple[str, ...]
    """Karpenter capacity types: ``on-demand``, ``spot``, ``reserved``."""
    limits: Capacity
    """The most the pool's nodes may add up to."""
    tenant: str | None = None
    """The enterprise tenant owning the pool, or None for shared pools."""
    extra_taints: tuple[Taint, ...] = ()
    """Taints beyond the kind's and the tenant's (the spot training taint)."""
    capacity_reservation_id: str | None = None
    """EC2 capacity reservation the pool's node class launches into."""
    disk_gib: int = 100
    """Root volume size of the pool's nodes."""

    @property
    def training(self) -> bool:
        """Training pools never disrupt a node with a running job on it."""
        return self.purpose == "training"

    @property
    def taints(self) -> list[Taint]:
        """Every taint the pool's nodes carry."""
        return pool_taints(self.kind, self.tenant) + list(self.extra_taints)

    @property
    def labels(self) -> dict[str, str]:
        """Node labels: pool, purpose, GPU presence and tenant."""
        return pool_labels(self.pool, self.kind, self.purpose, self.tenant, {})


@dataclass(frozen=True)
class TrainingQuota:
    """A tenant's Kueue ClusterQueue: which flavor its training runs on, and how much."""

    tenant: str
    namespace: str
    tier: Tier
    flavor: str
    """The ResourceFlavor (mapped to the tenant's training pool)."""
    nominal: Capacity
    """What the tenant is guaranteed."""
    gpu: bool
    """Whether the queue covers ``nvidia.com/gpu`` at all (SMB: never)."""
    borrowing_limit: Capacity | None = None
    """Most it may borrow from its cohort's idle quota (None: no cohort)."""
    lending_limit: Capacity | None = None
    """Most of its idle quota the cohort may borrow (None: no cohort)."""
    node_shape: Capacity = field(default_factory=lambda: Capacity(1, 1))
    """Requests of one training node's process group (a node minus daemon overhead)."""

    @property
    def cohort(self) -> str | None:
        """Enterprise tenants share a cohort; SMB tenants have none."""
        return ENTERPRISE_COHORT if self.tier is Tier.ENTERPRISE else None


@dataclass(frozen=True)
class FlavorPlan:
    """A Kueue ResourceFlavor and the node labels and taints of the pools it maps to."""

    name: str
    node_labels: dict[str, str]
    tolerations: tuple[Taint, ...]


# --- managed node group -----------------------------------------------------------------


def node_pool_plans(settings: PlatformSettings) -> list[PoolPlan]:
    """The managed node groups of an AWS stack: only the system pool (Karpenter adds the rest)."""
    system = settings.cluster.system_nodes
    return [
        PoolPlan(
            "system",
            system,
            PoolKind.CPU,
            "system",
            min_size=min(max(system.min_size, settings.profile.system_min_nodes), system.max_size),
        )
    ]


# --- offerings ------------------------------------------------------------------------------


def _offering(name: str, region: str) -> regions.InstanceType:
    offers = regions.load(region)
    if offers is None:
        raise ValueError(f"no offering data ships for region '{region}'")
    offered = offers.offered(name)
    if offered is None:
        raise ValueError(f"instance type '{name}' is not offered in {region}")
    return offered


def node_capacity(instance_types: list[str] | tuple[str, ...], region: str) -> Capacity:
    """The largest node of a pool: max vCPUs, memory and GPUs over its types."""
    types = [_offering(name, region) for name in instance_types]
    return Capacity(
        max(int(t.vcpu or 0) for t in types),
        max(int(t.memory_gib or 0) for t in types),
        max(t.gpus for t in types),
    )


def node_shape(instance_types: list[str] | tuple[str, ...], region: str) -> Capacity:
    """What one process group may request on the smallest node of a pool.

    One vCPU and a quarter of the memory stay for the kubelet, the node's daemons and
    the page cache; GPUs are all the job's.
    """
    types = [_offering(name, region) for name in instance_types]
    smallest = min(types, key=lambda t: (t.vcpu or 0, t.memory_gib or 0))
    return Capacity(
        max(int(smallest.vcpu or 1) - 1, 1),
        max(int((smallest.memory_gib or 4) * 3 // 4), 1),
        smallest.gpus,
    )


def pool_zones(
    instance_types: list[str] | tuple[str, ...], zone_ids: list[str], region: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(types, zones)``: the types offered in a healthy zone, and the healthy zones that
    offer at least one of them. Raises ValueError when none is offered in any."""
    kept: list[str] = []
    zones: set[str] = set()
    for name in instance_types:
        where = [z for z in _offering(name, region).az_ids if z in zone_ids]
        if where:
            kept.append(name)
            zones.update(where)
    if not kept:
        raise ValueError(
            f"instance types {list(instance_types)}: none is offered in a healthy zone of the "
            f"stack ({', '.join(zone_ids)})"
        )
    return tuple(kept), tuple(z for z in zone_ids if z in zones)


def pool_zone_ids(instance_types: list[str], zone_ids: list[str], region: str) -> list[str]:
    """Stack zones where every one of ``instance_types`` is offered (managed node groups)."""
    usable = list(zone_ids)
    for name in instance_types:
        usable = [z for z in usable if z in _offering(name, region).az_ids]
    if not usable:
        raise ValueError(
            f"instance types {instance_types}: no zone of the stack ({', '.join(zone_ids)}) "
            "offers all of them; split them into separate pools"
        )
    return usable


# --- Karpenter pools ------------------------------------------------------------------------


def _limits(
    group: NodeGroupSettings, nodes: int, quota: Capacity, region: str, *, gpu: bool
) -> Capacity:
    """``nodes`` of the largest type, at most the quota plus one node (GPUs: the quota)."""
    largest = node_capacity(group.instance_types, region)
    cap = quota.plus(Capacity(largest.cpu, largest.memory_gib, 0))
    limits = largest.scaled(nodes).at_most(cap)
    return limits if gpu else Capacity(limits.cpu, limits.memory_gib, 0)


def _quota(tenant: TenantSettings) -> Capacity:
    return Capacity(tenant.quota.cpu, tenant.quota.memory_gib, tenant.quota.gpus)


def karpenter_pool_plans(settings: PlatformSettings) -> list[KarpenterPoolPlan]:
    """Every Karpenter NodePool of an AWS stack, in creation order."""
    plans: list[KarpenterPoolPlan] = []
    smb = [t for t in settings.tenants if t.tier is Tier.SMB]
    if smb:
        plans += _shared_smb_pools(settings, smb)
    for tenant in settings.tenants:
        if tenant.tier is Tier.ENTERPRISE and tenant.dedicated_nodes:
            plans += _dedicated_pools(settings, tenant)
    return plans


def _shared_smb_pools(
    settings: PlatformSettings, smb: list[TenantSettings]
) -> list[KarpenterPoolPlan]:
    region, zones = settings.region, settings.zone_ids
    quota = Capacity(sum(t.quota.cpu for t in smb), sum(t.quota.memory_gib for t in smb))
    cpu = NodeGroupSettings(
        instance_types=list(SHARED_CPU_TYPES),
        min_size=0,
        max_size=min(3 * len(smb), MAX_SHARED_CPU_NODES),
    )
    cpu_types, cpu_zones = pool_zones(cpu.instance_types, zones, region)
    training_types: list[str] = []
    for tenant in smb:
        training_types += [
            t for t in tenant.training_pool.instance_types if t not in training_types
        ]
    train_types, train_zones = pool_zones(training_types, zones, region)
    train_group = NodeGroupSettings(instance_types=list(train_types), min_size=0, max_size=1)
    training_nodes = min(sum(t.training_pool.max_size for t in smb), MAX_SHARED_TRAINING_NODES)
    train_quota = Capacity(0, 0)
    for quota_plan in _smb_training(settings, smb):
        train_quota = train_quota.plus(quota_plan.nominal)
    return [
        KarpenterPoolPlan(
            "smb-cpu",
            "cpu",
            PoolKind.CPU,
            "shared",
            cpu_types,
            cpu_zones,
            ("on-demand",),
            _limits(cpu, cpu.max_size, quota, region, gpu=False),
        ),
        KarpenterPoolPlan(
            SMB_TRAIN_POOL,
            "cpu",
            PoolKind.CPU,
            "training",
            train_types,
            train_zones,
            # Spot first (Karpenter launches the cheapest offering), on-demand when the
            # region has no spot capacity left.
            ("spot", "on-demand"),
            _limits(train_group, training_nodes, train_quota, region, gpu=False),
            extra_taints=(TRAINING_TAINT,),
        ),
    ]


def _dedicated_pools(settings: PlatformSettings, tenant: TenantSettings) -> list[KarpenterPoolPlan]:
    region, zones = settings.region, settings.zone_ids
    quota = _quota(tenant)
    plans: list[KarpenterPoolPlan] = []
    for pool, group, kind in (
        ("cpu", tenant.cpu_pool, PoolKind.CPU),
        ("gpu", tenant.gpu_pool, PoolKind.GPU),
    ):
        if group is None:
            continue
        types, pool_zone_list = pool_zones(group.instance_types, zones, region)
        plans.append(
            KarpenterPoolPlan(
                f"{tenant.name}-{pool}",
                kind.value,
                kind,
                "inference",
                types,
                pool_zone_list,
                ("on-demand",),
                _limits(group, group.max_size, quota, region, gpu=kind is PoolKind.GPU),
                tenant=tenant.name,
                disk_gib=group.disk_gib,
            )
        )
    training = tenant.training_pool
    types, train_zones = pool_zones(training.instance_types, zones, region)
    (plan,) = [q for q in training_quotas(settings) if q.tenant == tenant.name]
    assert plan.borrowing_limit is not None  # enterprise queues are in a cohort
    reserved = training.capacity_reservation_id
    plans.append(
        KarpenterPoolPlan(
            f"{tenant.name}-train",
            f"{tenant.name}-reserved" if reserved else "gpu",
            PoolKind.GPU,
            "training",
            types,
            train_zones,
            ("reserved",) if reserved else ("on-demand",),
            _training_limits(plan, training, region, quota),
            tenant=tenant.name,
            capacity_reservation_id=reserved,
            disk_gib=training.disk_gib,
        )
    )
    return plans


def _training_limits(
    plan: TrainingQuota, group: NodeGroupSettings, region: str, quota: Capacity
) -> Capacity:
    """Enough nodes for the nominal quota plus the borrowing limit, GPUs at most the quota."""
    assert plan.borrowing_limit is not None
    gpus = plan.nominal.gpus + plan.borrowing_limit.gpus
    shape = plan.node_shape
    nodes = math.ceil(gpus / shape.gpus) if shape.gpus else group.max_size
    return _limits(group, max(nodes, 1), quota, region, gpu=True)


# --- Kueue quotas ---------------------------------------------------------------------------


def _smb_training(settings: PlatformSettings, smb: list[TenantSettings]) -> list[TrainingQuota]:
    out = []
    for tenant in smb:
        types = tenant.training_pool.instance_types
        shape = node_shape(types, settings.region)
        nominal = Capacity(shape.cpu, shape.memory_gib).scaled(tenant.training_pool.max_size)
        out.append(
            TrainingQuota(
                tenant.name,
                tenant.namespace,
                tenant.tier,
                SMB_TRAIN_POOL,
                nominal.at_most(Capacity(tenant.quota.cpu, tenant.quota.memory_gib)),
                gpu=False,
                node_shape=Capacity(shape.cpu, shape.memory_gib),
            )
        )
    return out


def training_quotas(settings: PlatformSettings) -> list[TrainingQuota]:
    """One Kueue ClusterQueue per tenant, in tenant order.

    Nominal quota: the tier's training pool (``max_size`` nodes of its smallest type's
    job shape), never more than the tenant's namespace quota. SMB tenants queue on the
    shared spot CPU flavor only: their queues do not cover ``nvidia.com/gpu``, so a
    GPU-requesting workload is never admitted. Enterprise tenants share the
    ``enterprise`` cohort: each may borrow up to its own nominal quota of idle GPUs
    from the others and lends at most half of its own, so half of a tenant's nominal
    quota is always available to it without preempting anyone.
    """
    smb = [t for t in settings.tenants if t.tier is Tier.SMB]
    by_name = {q.tenant: q for q in _smb_training(settings, smb)}
    for tenant in settings.tenants:
        if tenant.tier is not Tier.ENTERPRISE:
            continue
        training = tenant.training_pool
        shape = node_shape(training.instance_types, settings.region)
        nominal = shape.scaled(training.max_size).at_most(_quota(tenant))
        by_name[tenant.name] = TrainingQuota(
            tenant.name,
            tenant.namespace,
            tenant.tier,
            GPU_RESERVED_FLAVOR if training.capacity_reservation_id else GPU_TRAIN_FLAVOR,
            nominal,
            gpu=True,
            borrowing_limit=nominal,
            lending_limit=nominal.halved(),
            node_shape=shape,
        )
    return [by_name[t.name] for t in settings.tenants]


def training_flavors(settings: PlatformSettings) -> list[FlavorPlan]:
    """The Kueue ResourceFlavors the stack's queues use, each mapped to its pools' labels."""
    quotas = training_quotas(settings)
    used = {q.flavor for q in quotas}
    flavors: list[FlavorPlan] = []
    if SMB_TRAIN_POOL in used:
        flavors.append(FlavorPlan(SMB_TRAIN_POOL, {POOL_LABEL: SMB_TRAIN_POOL}, (TRAINING_TAINT,)))
    gpu_taint = Taint(GPU_TAINT_KEY, "true")
    if GPU_TRAIN_FLAVOR in used:
        flavors.append(
            FlavorPlan(
                GPU_TRAIN_FLAVOR,
                {PURPOSE_LABEL: "training", GPU_PRESENT_LABEL: "true"},
                (gpu_taint,),
            )
        )
    if GPU_RESERVED_FLAVOR in used:
        flavors.append(
            FlavorPlan(
                GPU_RESERVED_FLAVOR,
                {
                    PURPOSE_LABEL: "training",
                    GPU_PRESENT_LABEL: "true",
                    "karpenter.sh/capacity-type": "reserved",
                },
                (gpu_taint,),
            )
        )
    return flavors


# --- notes and placement --------------------------------------------------------------------


def single_zone_gpu_notes(plans: list[KarpenterPoolPlan]) -> list[str]:
    """One line per GPU pool that can only launch in one healthy zone (no zone-level HA)."""
    return [
        f"GPU pool {plan.pool} ({', '.join(plan.instance_types)}) can launch only in "
        f"{plan.zone_ids[0]}: the only healthy zone offering these types. Its pods survive "
        "a node loss, not a zone loss."
        for plan in plans
        if plan.kind is PoolKind.GPU and len(plan.zone_ids) == 1
    ]


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


def training_scheduling(tenant: TenantSettings) -> Scheduling:
    """Where a tenant's training runs go: its GPU training pool, or the shared spot pool."""
    enterprise = tenant.tier is Tier.ENTERPRISE and tenant.dedicated_nodes
    return Scheduling.of(
        pod_scheduling(tenant=tenant.name if enterprise else None, gpu=enterprise, training=True)
    )
