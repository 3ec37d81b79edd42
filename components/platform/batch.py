"""Batch on every site: Kubeflow Trainer for distributed training, Kueue for per-tenant quotas.

Built from the tenant list, as one cluster-wide step after the tenants' namespaces:
Trainer first (Kueue's TrainJob integration needs its CRD), then Kueue with the flavors
and per-tenant queues :mod:`components.platform.sizing` plans. On AWS the flavors map
to the Karpenter training pools; on an existing (on-prem) cluster, whose pools are the
operator's, one ``default`` flavor without node labels carries every tenant's quota.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.k8s.catalog import registry_of
from components.k8s.kueue import Flavor, KueueInstall, Quota, TenantQueue
from components.k8s.placement import Scheduling
from components.k8s.trainer import TrainerInstall, TrainingPlacement
from components.nodepools import PURPOSE_LABEL
from components.platform.site import Site
from components.platform.sizing import (
    Capacity,
    TrainingQuota,
    training_flavors,
    training_quotas,
    training_scheduling,
)
from components.settings import Mode, PlatformSettings
from components.settings import Tenant as TenantSettings
from contracts.names import training_service_account

DEFAULT_FLAVOR = "default"
"""The single flavor of an on-prem cluster (no node labels: the operator's pools)."""


def _quota(capacity: Capacity | None) -> Quota | None:
    return None if capacity is None else Quota(capacity.cpu, capacity.memory_gib, capacity.gpus)


def tenant_queue(plan: TrainingQuota, flavor: str | None = None) -> TenantQueue:
    """A tenant's queue from its sizing plan (``flavor`` overrides the plan's)."""
    nominal = _quota(plan.nominal)
    assert nominal is not None
    return TenantQueue(
        tenant=plan.tenant,
        namespace=plan.namespace,
        flavor=flavor or plan.flavor,
        nominal=nominal,
        gpu=plan.gpu,
        cohort=plan.cohort,
        borrowing_limit=_quota(plan.borrowing_limit),
        lending_limit=_quota(plan.lending_limit),
    )


def kueue_flavors_and_queues(settings: PlatformSettings) -> tuple[list[Flavor], list[TenantQueue]]:
    """The ResourceFlavors and tenant queues of a stack."""
    plans = training_quotas(settings)
    if settings.mode is Mode.HYBRID:
        return [Flavor(DEFAULT_FLAVOR, {})], [tenant_queue(p, DEFAULT_FLAVOR) for p in plans]
    flavors = [
        Flavor(f.name, dict(f.node_labels), [t.toleration() for t in f.tolerations])
        for f in training_flavors(settings)
    ]
    return flavors, [tenant_queue(p) for p in plans]


@dataclass
class Batch:
    """What the batch step made."""

    trainer: TrainerInstall
    kueue: KueueInstall


def build_batch(
    name: str, settings: PlatformSettings, site: Site, parent: pulumi.Resource
) -> Batch:
    """Trainer and Kueue on ``site`` (children of ``parent``)."""
    opts = pulumi.ResourceOptions(
        parent=parent, providers=[site.k8s_provider], depends_on=list(site.k8s_depends)
    )
    system = {PURPOSE_LABEL: "system"} if settings.mode is Mode.AWS else {}
    trainer = TrainerInstall(
        f"{name}-trainer",
        {
            **site.registry,
            "cluster_cidrs": site.cluster_cidrs,
            "training_image": _training_image(site, settings),
            "system_selector": system,
        },
        opts,
    )
    flavors, queues = kueue_flavors_and_queues(settings)
    kueue = KueueInstall(
        f"{name}-kueue",
        {
            **site.registry,
            "cluster_cidrs": site.cluster_cidrs,
            "flavors": flavors,
            "queues": queues,
            "tenant_namespaces": dict(site.tenants),
            "system_selector": system,
        },
        pulumi.ResourceOptions(
            parent=parent,
            providers=[site.k8s_provider],
            depends_on=[*site.k8s_depends, trainer.release],
        ),
    )
    return Batch(trainer=trainer, kueue=kueue)


def _training_image(site: Site, settings: PlatformSettings) -> str:
    """The platform's CPU training image in the site's registry (the release's tag)."""
    return registry_of(site.registry).own_image("training", settings.registry.serving_image_tag)


def training_placement(settings: PlatformSettings, tenant: TenantSettings) -> TrainingPlacement:
    """Where a tenant's training runs go and what each node requests (for :func:`train_job`).

    AWS: the tenant's GPU training pool (enterprise) or the shared spot pool (SMB), one
    job shape per node from the pool's smallest type. On-prem: no node selection (the
    operator's pools), the same shape.
    """
    (plan,) = [q for q in training_quotas(settings) if q.tenant == tenant.name]
    scheduling = training_scheduling(tenant) if settings.mode is Mode.AWS else Scheduling()
    shape = plan.node_shape
    return TrainingPlacement(
        node_selector=dict(scheduling.node_selector),
        tolerations=[dict(t) for t in scheduling.tolerations],
        cpu=str(shape.cpu),
        memory=f"{shape.memory_gib}Gi",
        gpus=shape.gpus,
        service_account=training_service_account(tenant.name),
    )
