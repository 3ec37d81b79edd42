"""Platform: the composition of one stack from its validated settings.

A stack runs on one of two sites, each a composition of shared parts:

- ``aws`` (:class:`~components.platform.aws.AwsSite`): the shared foundation
  (:mod:`components.platform.aws_foundation`: KMS keys, network, buckets, EKS, the node
  pools :mod:`components.platform.sizing` plans, add-ons) and per tenant its key,
  buckets, namespace with workload identity, feature store and queues;
- ``hybrid`` (:class:`~components.platform.hybrid.HybridSite`): an existing in-country
  cluster and an S3-compatible object store; per tenant its namespace.

On both, the same Kubernetes layer (:mod:`components.platform.kubernetes`): KServe,
monitoring, GPU enablement, and per tenant its serving, monitoring and alert receiver;
and the batch layer (:mod:`components.platform.batch`): Kubeflow Trainer and Kueue with
one queue per tenant. On AWS, nodes come from Karpenter (only the platform's ``system``
pool is a managed node group).

Credentials (Grafana admin password, per enterprise tenant a Redis AUTH token, per
tenant the alert webhook token) are generated with ``pulumi_random`` and live only in
the encrypted stack state, Secrets Manager (Redis) and Kubernetes Secrets: nobody has to
put a ``secure:`` value in a stack file, and a value changes only when its
``RandomPassword`` is replaced.

Placement: enterprise tenants' pods select their dedicated pools and tolerate the
``mlplatform.io/tenant=<name>:NoSchedule`` taint those pools carry (GPU predictors also
the GPU taint); SMB pods select the shared CPU pool. On-prem pools are not created by
this blueprint, so no placement is imposed there.

This package is the only place that knows the settings model; every component below
receives plain, typed arguments.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.aws.queues import TenantQueues
from components.cluster import Cluster
from components.featurestore import FeatureStore
from components.k8s import ModelServing
from components.network import Network
from components.nodepools import NodePool
from components.platform.aws import AwsSite
from components.platform.batch import Batch, build_batch
from components.platform.hybrid import HybridSite
from components.platform.kubernetes import KubernetesLayer
from components.platform.site import Credentials, Site
from components.settings import Mode, PlatformSettings
from components.storage import SecureBucket
from components.tenant import Tenant


class Platform(pulumi.ComponentResource):
    """Everything one stack deploys, in ``aws`` or ``hybrid`` mode."""

    k8s_provider: k8s.Provider
    """Provider of the cluster the Kubernetes layer targets."""
    cluster: Cluster | None
    """The EKS cluster (aws mode)."""
    network: Network | None
    """The VPC (aws mode)."""
    platform_bucket: SecureBucket | None
    """Shared artifacts bucket (aws mode)."""
    tenants: dict[str, Tenant]
    """Tenant components by tenant name."""
    tenant_bucket_names: dict[str, dict[str, pulumi.Output[str]]]
    """Per tenant, bucket purpose -> bucket name (aws mode)."""
    tenant_key_arns: dict[str, pulumi.Output[str]]
    """Per tenant, its KMS key ARN (aws mode)."""
    platform_key_arns: dict[str, pulumi.Output[str]]
    """Platform keys by purpose (aws mode)."""
    node_pools: dict[str, NodePool]
    """Node pools by name (aws mode)."""
    serving: dict[str, ModelServing]
    """Model serving by tenant name."""
    feature_stores: dict[str, FeatureStore]
    """Feature stores by tenant name (aws mode)."""
    queues: dict[str, TenantQueues]
    """SQS queues by tenant name (aws mode)."""
    batch: Batch
    """Kubeflow Trainer and Kueue (every tenant's training queue)."""

    def __init__(
        self, name: str, settings: PlatformSettings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:platform:Platform", name, None, opts)
        self.settings = settings
        # Every resource names its owner and data classification (residency policy):
        # shared resources belong to "platform"; tenant resources override both.
        self.tags = {
            "tenant": "platform",
            "data-classification": "internal",
            **settings.tags,
            "environment": settings.environment.value,
            "stack": settings.stack,
        }
        site = self._site(name, settings)
        self.k8s_provider = site.k8s_provider
        self.tenants = site.tenants
        # Cluster-wide, from the tenant list: Trainer and Kueue with every tenant's queue.
        self.batch = build_batch(name, settings, site, self)
        self.serving = KubernetesLayer(name, settings, site, Credentials(self), self).serving
        self.register_outputs(self.exports())

    def _site(self, name: str, settings: PlatformSettings) -> Site:
        """Build the site and record what it made (the AWS attributes stay empty on-prem)."""
        self.cluster = self.network = self.platform_bucket = None
        self.tenant_bucket_names, self.tenant_key_arns, self.platform_key_arns = {}, {}, {}
        self.node_pools, self.feature_stores, self.queues = {}, {}, {}
        self.karpenter_pool_names: list[str] = []
        if settings.mode is Mode.HYBRID:
            if settings.hybrid is None or settings.registry.host is None:
                raise ValueError("hybrid mode needs the hybrid and registry.host settings")
            return HybridSite(name, settings, settings.hybrid, settings.registry.host, self)
        site = AwsSite(name, settings, self.tags, self)
        foundation = site.foundation
        self.cluster, self.network = foundation.cluster, foundation.network
        self.platform_bucket = foundation.platform_bucket
        self.platform_key_arns = foundation.keys.key_arns
        self.node_pools = foundation.node_pools
        self.karpenter_pool_names = [plan.pool for plan in foundation.karpenter_pools]
        self.tenant_key_arns = {t: r.key_arn for t, r in site.resources.items()}
        self.tenant_bucket_names = {t: r.bucket_names for t, r in site.resources.items()}
        # Filled as the Kubernetes layer asks the site for each tenant's services.
        self.feature_stores, self.queues = site.feature_stores, site.queues
        return site

    def exports(self) -> dict[str, Any]:
        """What the stack exports (``stacks/__main__.py`` passes these to ``pulumi.export``)."""
        out: dict[str, Any] = {
            "mode": self.settings.mode.value,
            "region": self.settings.region,
            "tenantNamespaces": {n: t.namespace for n, t in self.tenants.items()},
            "servingEndpoints": {n: s.endpoints for n, s in self.serving.items()},
            # Read by `mlplatform cost` (a documented, program-independent output name).
            "costBudgets": {
                "tenants": {
                    t.name: t.monthly_budget_usd
                    for t in self.settings.tenants
                    if t.monthly_budget_usd is not None
                },
                "tiers": {str(k): v for k, v in self.settings.tier_budgets_usd.items()},
            },
        }
        if self.queues:
            out["tenantQueueUrls"] = {n: q.queue_urls for n, q in self.queues.items()}
        if self.cluster is not None and self.network is not None:
            out.update(
                {
                    "vpcId": self.network.vpc_id,
                    "zoneIds": self.network.zone_ids,
                    "clusterName": self.cluster.cluster_name,
                    "clusterEndpoint": self.cluster.endpoint,
                    "clusterPrivateEndpointOnly": self.cluster.private_endpoint_only,
                    "kubernetesVersion": self.cluster.version,
                    "oidcProviderArn": self.cluster.oidc_provider_arn,
                    "tenantBuckets": self.tenant_bucket_names,
                    "tenantKeyArns": self.tenant_key_arns,
                    "platformKeyArns": self.platform_key_arns,
                    # Managed node groups (system) and Karpenter NodePools.
                    "nodePools": sorted([*self.node_pools, *self.karpenter_pool_names]),
                }
            )
        return out
