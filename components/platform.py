"""Platform: the composition of one stack from its validated settings.

``aws`` mode: KMS keys -> network -> access-log and platform buckets -> EKS cluster ->
node pools (a system pool; a shared CPU pool and a shared spot training pool for SMB
tenants; dedicated, tainted CPU, GPU and training pools per enterprise tenant) -> the
add-ons that need nodes -> per tenant a key, buckets and the tenant component.

``hybrid`` mode: a Kubernetes provider for the existing in-country cluster and only the
Kubernetes side of each tenant (no AWS resources at all).

This is the only place that knows the settings model; every component below receives
plain, typed arguments.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster import Cluster, ClusterAddons, ClusterAddonsArgs, ClusterArgs
from components.encryption import Encryption, EncryptionArgs, KeyService, KeySpec
from components.network import Network, NetworkArgs, plan_subnets
from components.nodepools import (
    PURPOSE_LABEL,
    CapacityType,
    NodePool,
    NodePoolArgs,
    NodeRole,
    NodeRoleArgs,
    PoolKind,
    Taint,
)
from components.storage import (
    AccessLogBucket,
    AccessLogBucketArgs,
    DataClassification,
    ObjectLock,
    ObjectLockMode,
    SecureBucket,
    SecureBucketArgs,
)
from components.tenant import EgressRule, Tenant, TenantArgs, TenantAwsIdentity, TenantQuota
from mlplatform import offerings
from mlplatform.settings import (
    Environment,
    Mode,
    NodeGroupSettings,
    PlatformSettings,
    Tier,
)
from mlplatform.settings import Tenant as TenantSettings

PLATFORM_KEYS: tuple[KeySpec, ...] = (
    KeySpec("eks-secrets", "Envelope encryption of Kubernetes secrets"),
    KeySpec("logs", "CloudWatch log groups (flow logs, control plane)", KeyService.LOGS),
    KeySpec("ebs", "Node root volumes and persistent volumes", KeyService.EBS),
    KeySpec("s3-platform", "Platform buckets (shared artifacts)"),
    KeySpec("sqs", "Platform queues (drift and rollback events)"),
)
"""Keys every AWS stack has, one per purpose."""

SHARED_CPU_TYPES: tuple[str, ...] = ("m6i.xlarge", "m6i.2xlarge")
"""Instance types of the CPU pool SMB tenants share (offered in every me-central-1 zone)."""
TRAINING_TAINT = Taint(PURPOSE_LABEL, "training")
"""Spot training nodes only take pods that tolerate interruption (training jobs)."""
REDIS_PORT = 6379
"""ElastiCache Redis (enterprise online store), in the data subnets."""


def pool_zone_ids(instance_types: list[str], zone_ids: list[str], region: str) -> list[str]:
    """Stack zones where every one of ``instance_types`` is offered (region offering data)."""
    offers = offerings.load(region)
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


def audit_object_lock(environment: Environment) -> ObjectLock:
    """COMPLIANCE retention in prod; GOVERNANCE (removable by admins) elsewhere."""
    if environment is Environment.PROD:
        return ObjectLock(ObjectLockMode.COMPLIANCE, days=1825)
    return ObjectLock(ObjectLockMode.GOVERNANCE, days=30)


class Platform(pulumi.ComponentResource):
    """Everything one stack deploys, in ``aws`` or ``hybrid`` mode."""

    k8s_provider: k8s.Provider
    """Provider of the cluster the Kubernetes layer targets."""
    cluster: Cluster | None
    """The EKS cluster (aws mode)."""
    network: Network | None
    """The VPC (aws mode)."""
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

    def __init__(
        self, name: str, settings: PlatformSettings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:platform:Platform", name, None, opts)
        self.settings = settings
        self.cluster = None
        self.network = None
        self.tenants = {}
        self.tenant_bucket_names = {}
        self.tenant_key_arns = {}
        self.platform_key_arns = {}
        self.node_pools = {}
        # Every resource names its owner and data classification (residency policy):
        # shared resources belong to "platform"; tenant resources override both.
        self.tags = {
            "tenant": "platform",
            "data-classification": "internal",
            **settings.tags,
            "environment": settings.environment.value,
            "stack": settings.stack,
        }
        if settings.mode is Mode.AWS:
            self._aws(name, settings)
        else:
            self._hybrid(name, settings)
        self.register_outputs(self.exports())

    # -- hybrid ----------------------------------------------------------------------
    def _hybrid(self, name: str, settings: PlatformSettings) -> None:
        hybrid = settings.hybrid
        assert hybrid is not None  # guaranteed by the settings validator
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=hybrid.kubeconfig_path,
            context=hybrid.context,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        for tenant in settings.tenants:
            self.tenants[tenant.name] = Tenant(
                f"{name}-{tenant.name}",
                self._tenant_args(
                    tenant,
                    https_cidrs=list(hybrid.object_store_cidrs),
                    extra_egress=[],
                    aws_identity=None,
                ),
                pulumi.ResourceOptions(parent=self, providers=[self.k8s_provider]),
            )

    # -- aws -------------------------------------------------------------------------
    def _aws(self, name: str, settings: PlatformSettings) -> None:
        account_id = aws.get_caller_identity().account_id
        partition = aws.get_partition().partition
        region = settings.region
        protect = settings.profile.protect_stateful
        child = pulumi.ResourceOptions(parent=self)
        alias_prefix = f"mlplatform/{settings.stack}"

        keys = Encryption(
            f"{name}-keys",
            EncryptionArgs(
                account_id=account_id,
                region=region,
                keys=PLATFORM_KEYS,
                alias_prefix=alias_prefix,
                partition=partition,
                protect=protect,
                tags=self.tags,
            ),
            child,
        )
        self.platform_key_arns = keys.key_arns

        network = Network(
            f"{name}-net",
            NetworkArgs(
                region=region,
                zone_ids=settings.zone_ids,
                flow_logs_kms_key_arn=keys.key_arns["logs"],
                account_id=account_id,
                cidr_block=settings.network.cidr,
                excluded_zone_ids=settings.network.excluded_zone_ids,
                nat_gateway_per_zone=settings.profile.nat_per_az,
                flow_log_retention_days=settings.network.flow_log_retention_days,
                partition=partition,
                tags=self.tags,
            ),
            child,
        )
        self.network = network

        log_bucket = AccessLogBucket(
            f"{name}-access-logs",
            AccessLogBucketArgs(
                account_id=account_id,
                retention_days=max(settings.profile.log_retention_days, 90),
                protect=protect,
                force_destroy=settings.environment is Environment.DEV,
                partition=partition,
                tags=self.tags,
            ),
            child,
        )
        self.platform_bucket = SecureBucket(
            f"{name}-platform",
            SecureBucketArgs(
                kms_key_arn=keys.key_arns["s3-platform"],
                log_bucket=log_bucket.bucket_name,
                data_classification=DataClassification.INTERNAL,
                protect=protect,
                force_destroy=settings.environment is Environment.DEV,
                tags=self.tags,
            ),
            child,
        )

        cluster = Cluster(
            f"{name}-eks",
            ClusterArgs(
                cluster_name=f"{settings.project}-{settings.stack}",
                region=region,
                vpc_id=network.vpc_id,
                vpc_cidr=network.vpc_cidr,
                subnet_ids=[network.node_subnet_ids[z] for z in network.zone_ids],
                secrets_kms_key_arn=keys.key_arns["eks-secrets"],
                logs_kms_key_arn=keys.key_arns["logs"],
                version=settings.cluster.kubernetes_version,
                log_retention_days=settings.cluster.control_plane_log_retention_days,
                admin_role_arns=settings.cluster.admin_role_arns,
                partition=partition,
                deletion_protection=protect,
                tags=self.tags,
            ),
            child,
        )
        self.cluster = cluster
        self.k8s_provider = cluster.provider

        node_role = NodeRole(
            f"{name}-nodes", NodeRoleArgs(partition=partition, tags=self.tags), child
        )
        self._node_pools(name, settings, network, cluster, node_role, keys)

        ClusterAddons(
            f"{name}-eks-addons",
            ClusterAddonsArgs(
                cluster_name=cluster.cluster_name,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer_host=cluster.oidc_issuer_host,
                ebs_kms_key_arn=keys.key_arns["ebs"],
                region=region,
                addon_versions=cluster.addon_versions,
                depends_on=[p.node_group for p in self.node_pools.values()],
                partition=partition,
                tags=self.tags,
            ),
            child,
        )

        data_cidrs = [p.data for p in plan_subnets(settings.network.cidr, network.zone_ids)]
        for tenant in settings.tenants:
            self._aws_tenant(
                name, settings, tenant, account_id, partition, log_bucket, cluster, data_cidrs
            )

    def _node_pools(
        self,
        name: str,
        settings: PlatformSettings,
        network: Network,
        cluster: Cluster,
        node_role: NodeRole,
        keys: Encryption,
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        region = settings.region

        def add(
            pool: str,
            group: NodeGroupSettings,
            *,
            kind: PoolKind,
            purpose: str,
            tenant: str | None = None,
            min_size: int | None = None,
            extra_taints: tuple[Taint, ...] = (),
        ) -> None:
            zones = pool_zone_ids(list(group.instance_types), network.zone_ids, region)
            low = group.min_size if min_size is None else min_size
            labels = {"mlplatform.io/capacity": group.capacity_type.lower()}
            self.node_pools[pool] = NodePool(
                f"{name}-{pool}",
                NodePoolArgs(
                    cluster_name=cluster.cluster_name,
                    node_role_arn=node_role.role_arn,
                    subnet_ids=[network.node_subnet_ids[z] for z in zones],
                    instance_types=list(group.instance_types),
                    ebs_kms_key_arn=keys.key_arns["ebs"],
                    kind=kind,
                    purpose=purpose,
                    min_size=low,
                    max_size=max(group.max_size, low),
                    desired_size=None
                    if group.desired_size is None
                    else min(max(group.desired_size, low), max(group.max_size, low)),
                    capacity_type=CapacityType(group.capacity_type),
                    disk_gib=group.disk_gib,
                    tenant=tenant,
                    capacity_reservation_id=group.capacity_reservation_id,
                    labels=labels,
                    extra_taints=extra_taints,
                    tags=self.tags,
                ),
                child,
            )

        system = settings.cluster.system_nodes
        add(
            "system",
            system,
            kind=PoolKind.CPU,
            purpose="system",
            min_size=min(max(system.min_size, settings.profile.system_min_nodes), system.max_size),
        )
        smb = [t for t in settings.tenants if t.tier is Tier.SMB]
        if smb:
            add(
                "smb-cpu",
                NodeGroupSettings(
                    instance_types=list(SHARED_CPU_TYPES),
                    min_size=1,
                    max_size=min(3 * len(smb), 30),
                ),
                kind=PoolKind.CPU,
                purpose="shared",
            )
            types: list[str] = []
            for t in smb:
                types += [x for x in t.training_pool.instance_types if x not in types]
            add(
                "smb-train",
                NodeGroupSettings(
                    instance_types=types,
                    capacity_type="SPOT",
                    min_size=0,
                    max_size=min(sum(t.training_pool.max_size for t in smb), 50),
                ),
                kind=PoolKind.CPU,
                purpose="training",
                extra_taints=(TRAINING_TAINT,),
            )
        for t in settings.tenants:
            if t.tier is not Tier.ENTERPRISE or not t.dedicated_nodes:
                continue
            if t.cpu_pool is not None:
                add(
                    f"{t.name}-cpu",
                    t.cpu_pool,
                    kind=PoolKind.CPU,
                    purpose="inference",
                    tenant=t.name,
                )
            if t.gpu_pool is not None:
                add(
                    f"{t.name}-gpu",
                    t.gpu_pool,
                    kind=PoolKind.GPU,
                    purpose="inference",
                    tenant=t.name,
                )
            add(
                f"{t.name}-train",
                t.training_pool,
                kind=PoolKind.GPU,
                purpose="training",
                tenant=t.name,
            )

    def _aws_tenant(
        self,
        name: str,
        settings: PlatformSettings,
        tenant: TenantSettings,
        account_id: str,
        partition: str,
        log_bucket: AccessLogBucket,
        cluster: Cluster,
        data_cidrs: list[str],
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        protect = settings.profile.protect_stateful
        dev = settings.environment is Environment.DEV
        tenant_tags = {
            **self.tags,
            "tenant": tenant.name,
            "data-classification": tenant.data_classification.value,
        }
        key_name = f"tenant-{tenant.name}"
        keys = Encryption(
            f"{name}-{tenant.name}-keys",
            EncryptionArgs(
                account_id=account_id,
                region=settings.region,
                keys=[
                    KeySpec(key_name, f"Data of tenant {tenant.name}", tags={"tenant": tenant.name})
                ],
                alias_prefix=f"mlplatform/{settings.stack}",
                partition=partition,
                protect=protect,
                tags=tenant_tags,
            ),
            child,
        )
        key_arn = keys.key_arns[key_name]
        classification = DataClassification(tenant.data_classification.value)
        buckets = {
            "data": SecureBucket(
                f"{name}-{tenant.name}-data",
                SecureBucketArgs(
                    kms_key_arn=key_arn,
                    log_bucket=log_bucket.bucket_name,
                    data_classification=classification,
                    tenant=tenant.name,
                    protect=protect,
                    force_destroy=dev,
                    tags=tenant_tags,
                ),
                child,
            )
        }
        if tenant.object_lock:
            buckets["audit"] = SecureBucket(
                f"{name}-{tenant.name}-audit",
                SecureBucketArgs(
                    kms_key_arn=key_arn,
                    log_bucket=log_bucket.bucket_name,
                    data_classification=classification,
                    tenant=tenant.name,
                    object_lock=audit_object_lock(settings.environment),
                    protect=protect,
                    tags=tenant_tags,
                ),
                child,
            )
        self.tenant_key_arns[tenant.name] = key_arn
        self.tenant_bucket_names[tenant.name] = {k: b.bucket_name for k, b in buckets.items()}

        via = ["s3", "dynamodb"] if tenant.online_store == "dynamodb" else ["s3"]
        extra = (
            [EgressRule("redis", data_cidrs, [REDIS_PORT])]
            if tenant.online_store == "redis"
            else []
        )
        identity = TenantAwsIdentity(
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer_host=cluster.oidc_issuer_host,
            bucket_arns=[b.bucket_arn for b in buckets.values()],
            kms_key_arn=key_arn,
            region=settings.region,
            kms_via_services=via,
            tags=tenant_tags,
        )
        self.tenants[tenant.name] = Tenant(
            f"{name}-{tenant.name}",
            self._tenant_args(
                tenant,
                https_cidrs=[settings.network.cidr],
                extra_egress=extra,
                aws_identity=identity,
                pss_version=f"v{settings.cluster.kubernetes_version}",
            ),
            pulumi.ResourceOptions(parent=self, providers=[self.k8s_provider]),
        )

    @staticmethod
    def _tenant_args(
        tenant: TenantSettings,
        *,
        https_cidrs: list[str],
        extra_egress: list[EgressRule],
        aws_identity: TenantAwsIdentity | None,
        pss_version: str = "latest",
    ) -> TenantArgs:
        quota = tenant.quota
        return TenantArgs(
            name=tenant.name,
            tier=tenant.tier.value,
            namespace=tenant.namespace,
            quota=TenantQuota(
                cpu=quota.cpu, memory_gib=quota.memory_gib, gpus=quota.gpus, pods=quota.pods
            ),
            https_egress_cidrs=https_cidrs,
            extra_egress=extra_egress,
            # The platform layer's feature server and model server run under their own
            # service accounts in the tenant namespace and use the tenant's role.
            irsa_service_accounts=[f"{tenant.name}-feast", f"{tenant.name}-serving"],
            pod_security_version=pss_version,
            aws=aws_identity,
        )

    # -- outputs ---------------------------------------------------------------------
    def exports(self) -> dict[str, Any]:
        """What the stack exports (``stacks/__main__.py`` passes these to ``pulumi.export``)."""
        out: dict[str, Any] = {
            "mode": self.settings.mode.value,
            "region": self.settings.region,
            "tenantNamespaces": {n: t.namespace for n, t in self.tenants.items()},
        }
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
                    "nodePools": sorted(self.node_pools),
                }
            )
        return out
