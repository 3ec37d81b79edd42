"""What a site (an AWS stack, or an existing in-country cluster) gives the Kubernetes layer.

The Kubernetes layer is the same on every site; a :class:`Site` says where it runs (the
provider, the image registry, the cluster's address ranges and storage class), where
each tenant's models live, where its pods go, and which tenant services the site can
back (on AWS: SQS queues and a Feast online store; on-prem: none yet).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.k8s.catalog import RegistryArgs
from components.k8s.placement import Placement
from components.settings import Tenant as TenantSettings
from components.tenant import EgressRule, Tenant, TenantArgs, TenantAwsIdentity, TenantQuota
from contracts.names import irsa_service_accounts


class Credentials:
    """Generated secrets, stable across runs (kept in the encrypted state)."""

    def __init__(self, parent: pulumi.Resource) -> None:
        self._parent = parent

    def generate(self, name: str, *, length: int, specials: str | None) -> pulumi.Output[str]:
        """A ``RandomPassword`` of ``length`` characters; ``specials=None`` for none."""
        password = random.RandomPassword(
            name,
            length=length,
            special=specials is not None,
            override_special=specials,
            min_lower=2,
            min_upper=2,
            min_numeric=2,
            opts=pulumi.ResourceOptions(parent=self._parent),
        )
        return pulumi.Output.secret(password.result)


@dataclass(frozen=True)
class ModelStorage:
    """Where a tenant's model servers read models, and as whom."""

    bucket: str
    """Bucket of the tenant's signed models (``s3://<bucket>/models/...``)."""
    role_arn: pulumi.Output[str] | None = None
    """IRSA role of the serving account (AWS), or None."""
    s3_endpoint: str | None = None
    """S3-compatible endpoint of an in-country object store (on-prem), or None for AWS S3."""
    kms_key_arn: pulumi.Output[str] | None = None
    """The tenant key the loop's objects are written with (AWS); None: no loop state in the
    bucket (on-prem has no workload identity for the model servers yet)."""


@dataclass(frozen=True)
class TenantServices:
    """What a site built for a tenant beyond its namespace: what automation can use."""

    retraining_queue_url: pulumi.Output[str] | None = None
    """Queue the alert receiver writes retraining triggers to; None: no receiver."""
    automation_role_arn: pulumi.Output[str] | None = None
    """Workload identity of the alert receiver, drift monitors and retraining controller (AWS)."""
    feature_repo_config_map: str | None = None
    """ConfigMap with the tenant's ``feature_store.yaml`` (training runs mount it)."""


@dataclass
class SiteBase:
    """Facts every site has (filled by the site's constructor)."""

    k8s_provider: k8s.Provider
    """Provider of the cluster the Kubernetes layer targets."""
    registry: RegistryArgs
    """In-region (or in-country) registry of charts and images."""
    cluster_cidrs: list[str]
    """Address ranges of the cluster (the API server's webhooks come from there)."""
    storage_class: str
    """StorageClass of persistent volumes (Prometheus)."""
    tenants: dict[str, Tenant] = field(default_factory=dict)
    """Tenant namespaces (with their RBAC, quotas and network policies) by tenant name."""
    k8s_depends: list[pulumi.Resource] = field(default_factory=list)
    """What the platform's Kubernetes components must wait for."""


class Site(SiteBase, abc.ABC):
    """A place the platform runs: :class:`~components.platform.aws.AwsSite` or
    :class:`~components.platform.hybrid.HybridSite`."""

    @abc.abstractmethod
    def model_storage(self, tenant: TenantSettings) -> ModelStorage:
        """Where the tenant's models live."""

    @abc.abstractmethod
    def placement(self, tenant: TenantSettings) -> Placement | None:
        """Node pools of the tenant's pods, or None to impose none."""

    @abc.abstractmethod
    def tenant_services(
        self, tenant: TenantSettings, opts: pulumi.ResourceOptions, credentials: Credentials
    ) -> TenantServices:
        """Build the tenant's site-backed services (feature store, queues) under ``opts``."""


def tenant_args(
    tenant: TenantSettings,
    *,
    https_cidrs: list[str],
    extra_egress: Sequence[EgressRule],
    aws_identity: TenantAwsIdentity | None,
    pss_version: str = "latest",
) -> TenantArgs:
    """Arguments of a tenant's namespace component from its settings."""
    quota = tenant.quota
    return TenantArgs(
        name=tenant.name,
        tier=tenant.tier.value,
        namespace=tenant.namespace,
        quota=TenantQuota(
            cpu=quota.cpu, memory_gib=quota.memory_gib, gpus=quota.gpus, pods=quota.pods
        ),
        https_egress_cidrs=https_cidrs,
        extra_egress=list(extra_egress),
        # The platform layer's feature server and model server run under their own
        # service accounts in the tenant namespace and use the tenant's role.
        irsa_service_accounts=irsa_service_accounts(tenant.name),
        pod_security_version=pss_version,
        aws=aws_identity,
    )
