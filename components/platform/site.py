"""What a site (an AWS stack, or an existing in-country cluster) gives the Kubernetes layer.

The Kubernetes layer is the same on every site; a :class:`Site` says where it runs (the
provider, the image registry, the cluster's address ranges and storage class), where
each tenant's models live, where its pods go, and which tenant services the site can
back (on AWS: SQS queues and a Feast online store; on-prem: the tenant's streams on the
in-cluster NATS JetStream broker and a Feast online store on an in-cluster Valkey).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.k8s.catalog import RegistryArgs
from components.k8s.nats import QueueClient
from components.k8s.objectstore import ObjectStoreClient
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
    """The tenant key the loop's objects are written with (AWS, SSE-KMS); None on-prem."""
    object_store: ObjectStoreClient | None = None
    """How the loop's pods reach the in-country store (endpoint, the operator's credentials
    file, CA, store-side encryption) on-prem; None on AWS (IRSA and the tenant key).
    The loop runs where the site gives one of the two."""


@dataclass(frozen=True)
class TenantServices:
    """What a site built for a tenant beyond its namespace: what automation can use."""

    retraining_queue_url: pulumi.Output[str] | None = None
    """Queue the alert receiver writes retraining triggers to; None: no receiver."""
    automation_role_arn: pulumi.Output[str] | None = None
    """Workload identity of the alert receiver, drift monitors and retraining controller (AWS)."""
    feature_repo_config_map: str | None = None
    """ConfigMap with the tenant's ``feature_store.yaml`` (training runs mount it)."""
    audit: AuditTrail | None = None
    """Where the alert receiver ships its audit records; None: a local log only."""
    ingestion: IngestionTarget | None = None
    """The tenant's feature-event queue and dead letters; None: no ingestion worker."""
    queue_client: QueueClient | None = None
    """What the tenant's automation pods need to reach the site's broker (on-prem NATS:
    credentials, inbox prefix, CA); None: the cloud's workload identity suffices (AWS)."""


@dataclass(frozen=True)
class IngestionTarget:
    """What a tenant's ingestion worker consumes and where it writes (the site's part)."""

    trigger: Literal["aws-sqs", "nats"]
    """KEDA scaler kind: ``aws-sqs`` (AWS) or ``nats`` (the on-prem broker)."""
    queue_spec: pulumi.Output[str]
    """The worker's ``--queue`` (``sqs:<url>`` or a NATS spec)."""
    dlq_spec: pulumi.Output[str]
    """The worker's ``--dlq`` (``sqs:<url>``, or the broker's dead-letter stream spec)."""
    bucket: str
    """The tenant's data bucket (offline store, landing prefix)."""
    queue_url: pulumi.Output[str] | None = None
    """SQS URL the scaler reads (AWS)."""
    kms_key_arn: pulumi.Output[str] | None = None
    role_arn: pulumi.Output[str] | None = None
    """IRSA role of the worker (AWS)."""
    redis_secret_name: str | None = None
    """Secret with the Redis AUTH token (enterprise online store)."""
    s3_endpoint: str | None = None
    """S3-compatible endpoint of the in-country object store (on-prem)."""
    pod_access: tuple[Mapping[str, Sequence[Any]], ...] = ()
    """Env, volumes and mounts the worker's clients need (on-prem: broker credentials and
    CA, the in-country store's client, the Valkey CA)."""


@dataclass(frozen=True)
class AuditTrail:
    """The tenant's object-locked audit bucket and the MAC key its records are chained with."""

    bucket: pulumi.Output[str]
    """Audit bucket name (object lock on, SSE-KMS with the tenant key)."""
    mac_key_arn: pulumi.Output[str]
    """KMS HMAC_256 key: only the automation role may generate MACs with it."""
    lock_mode: str
    """``COMPLIANCE`` (prod) or ``GOVERNANCE``: the object-lock mode of each record."""
    retention_days: int
    """Retention of each record (from the tier)."""
    region: str
    """Region of the bucket and the key."""


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
    keda_role_arn: pulumi.Output[str] | None = None
    """IRSA role of the KEDA operator (reads the ingestion queues' depth); None on-prem."""
    keda_nats: bool = False
    """KEDA scales on the in-cluster NATS broker (on-prem): needs egress to its monitor."""


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
