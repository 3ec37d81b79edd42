"""Platform: the composition of one stack from its validated settings.

``aws`` mode: KMS keys -> network -> access-log and platform buckets -> EKS cluster ->
node pools (a system pool; a shared CPU pool and a shared spot training pool for SMB
tenants; dedicated, tainted CPU, GPU and training pools per enterprise tenant) -> the
add-ons that need nodes -> per tenant a key, buckets and the tenant component.

``hybrid`` mode: a Kubernetes provider for the existing in-country cluster and only the
Kubernetes side of each tenant (no AWS resources at all).

Then, in both modes, the Kubernetes platform layer (``components.k8s``): KServe
(RawDeployment) with cert-manager, the shared monitoring stack, GPU enablement when any
tenant has GPU pools, and per tenant its model serving and monitoring. In ``aws`` mode
each tenant also gets its Feast feature store (SMB: one DynamoDB table per feature view;
enterprise: ElastiCache Redis with TLS, AUTH, its CMK and multi-AZ failover), its SQS
queues, and the alert receiver that turns alerts into retraining requests and canary
rollbacks, under its own IRSA role limited to its own queues.

What ``hybrid`` mode deliberately leaves out, and why:

- **Feature store.** :class:`~components.k8s.FeatureStore` supports DynamoDB and
  ElastiCache only, both AWS services. An in-cluster online store (a Redis StatefulSet
  with TLS and AUTH, pinned and mirrored) is not built yet; Feast's SQLite store would
  be per pod and never see what materialisation writes. So on-prem tenants get no
  feature server until that exists, rather than one that would serve stale or no data.
- **Queues and the alert receiver.** They are SQS-based. Alerts still fire and reach
  the shared Alertmanager; only the automatic reaction is missing on-prem.
- Models are read from the in-country object store (``hybrid.object_store_endpoint``,
  bucket ``hybrid.tenant_bucket_template``): the serving account carries KServe's
  ``s3-endpoint`` annotations. The store's credentials must be provisioned on the
  cluster by the operator (there is no IRSA on-prem).

Credentials (Grafana admin password, per enterprise tenant a Redis AUTH token, per
tenant the alert webhook token) are generated with ``pulumi_random`` and live only in
the encrypted stack state, Secrets Manager (Redis) and Kubernetes Secrets: nobody has to
put a ``secure:`` value in a stack file, and a value changes only when its
``RandomPassword`` is replaced.

Placement: enterprise tenants' pods select their dedicated pools and tolerate the
``mlplatform.io/tenant=<name>:NoSchedule`` taint those pools carry (GPU predictors also
the GPU taint); SMB pods select the shared CPU pool. On-prem pools are not created by
this blueprint, so no placement is imposed there.

This is the only place that knows the settings model; every component below receives
plain, typed arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from components._util import irsa_trust_policy, merge_tags, to_json
from components.cluster import Cluster, ClusterAddons, ClusterAddonsArgs, ClusterArgs
from components.encryption import Encryption, EncryptionArgs, KeyService, KeySpec
from components.k8s import (
    FeatureStore,
    GpuEnablement,
    KServeInstall,
    ModelServing,
    MonitoringStack,
    TenantAutomation,
    TenantMonitoring,
    TenantQueues,
)
from components.k8s.automation import TenantAutomationArgs
from components.k8s.catalog import Registry, RegistryArgs
from components.k8s.featurestore import FeatureStoreArgs
from components.k8s.monitoring import TenantMonitoringArgs
from components.k8s.placement import Placement, Scheduling
from components.k8s.serving import ModelServingArgs, ModelSpec
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
    pod_scheduling,
)
from components.settings import (
    Environment,
    Mode,
    ModelSettings,
    NodeGroupSettings,
    PlatformSettings,
    Tier,
)
from components.settings import Tenant as TenantSettings
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
from contracts import regions
from contracts.feature_store import FEATURE_VIEWS, dynamodb_table_name
from contracts.names import (
    automation_service_account,
    feast_project,
    irsa_service_accounts,
    model_storage_uri,
    tenant_data_bucket_name,
    webhook_secret_name,
)
from contracts.telemetry import REDIS_PORT

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
DYNAMODB_ACTIONS: tuple[str, ...] = (
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
"""What Feast's DynamoDB online store does: serve reads, materialise writes. Tables are
created by Pulumi, so no CreateTable/DeleteTable."""
REDIS_TOKEN_SPECIALS = "!&#$^<>-"  # noqa: S105 (an alphabet, not a secret)
"""The only special characters ElastiCache allows in an AUTH token."""


def model_specs(models: Sequence[ModelSettings], bucket: str, *, gpu: bool) -> list[ModelSpec]:
    """Serving specs of a tenant's models: ``s3://<bucket>/models/<name>/<version>/``."""
    specs: list[ModelSpec] = []
    for m in models:
        spec: ModelSpec = {
            "name": m.name,
            "storage_uri": model_storage_uri(bucket, m.name, m.version),
            "gpu": gpu,
        }
        if m.challenger_version is not None:
            spec["challenger_storage_uri"] = model_storage_uri(bucket, m.name, m.challenger_version)
            spec["canary_percent"] = m.canary_percent if m.canary_percent is not None else 10
        specs.append(spec)
    return specs


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


def dynamodb_statements(
    partition: str, region: str, account_id: str, tenant: str, views: Sequence[str]
) -> list[dict[str, Any]]:
    """The feature server's access to its own online tables, by exact ARN."""
    project = feast_project(tenant)
    return [
        {
            "Sid": "FeastOnlineTables",
            "Effect": "Allow",
            "Action": list(DYNAMODB_ACTIONS),
            "Resource": sorted(
                f"arn:{partition}:dynamodb:{region}:{account_id}:table/"
                + dynamodb_table_name(project, v)
                for v in views
            ),
        }
    ]


@dataclass(frozen=True)
class _TenantAwsParts:
    """What the AWS layer made for one tenant that its Kubernetes layer needs."""

    bucket: str
    key_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    automation_role_name: pulumi.Output[str]
    automation_role_arn: pulumi.Output[str]


@dataclass(frozen=True)
class _ClusterAwsParts:
    """Cluster-wide AWS facts the feature stores need (aws mode)."""

    region: str
    data_subnet_ids: list[pulumi.Output[str]]
    vpc_id: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]


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
    serving: dict[str, ModelServing]
    """Model serving by tenant name."""
    feature_stores: dict[str, FeatureStore]
    """Feature stores by tenant name (aws mode)."""
    queues: dict[str, TenantQueues]
    """SQS queues by tenant name (aws mode)."""

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
        self.serving = {}
        self.feature_stores = {}
        self.queues = {}
        self._tenant_aws: dict[str, _TenantAwsParts] = {}
        self._cluster_aws: _ClusterAwsParts | None = None
        self._registry_host = settings.registry.host
        self._k8s_depends: list[pulumi.Resource] = []
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
        self._kubernetes_layer(name, settings)
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

        addons = ClusterAddons(
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

        if self._registry_host is None:
            self._registry_host = Registry.ecr(account_id, region).host
        self._cluster_aws = _ClusterAwsParts(
            region=region,
            data_subnet_ids=[network.data_subnet_ids[z] for z in network.zone_ids],
            vpc_id=network.vpc_id,
            # Managed node groups without their own security groups use the cluster's.
            node_security_group_id=cluster.cluster_security_group_id,
        )
        # Prometheus volumes: gp3 on the EBS CSI driver, encrypted with the platform's EBS key.
        gp3 = k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata={"name": "gp3", "labels": {"app.kubernetes.io/part-of": "mlplatform"}},
            provisioner="ebs.csi.aws.com",
            parameters={
                "type": "gp3",
                "encrypted": "true",
                "kmsKeyId": keys.key_arns["ebs"],
            },
            reclaim_policy="Retain" if protect else "Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(
                parent=self, providers=[self.k8s_provider], depends_on=[addons]
            ),
        )
        self._k8s_depends.append(gp3)

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
        data_bucket = tenant_data_bucket_name(settings.stack, tenant.name, account_id)
        buckets = {
            "data": SecureBucket(
                f"{name}-{tenant.name}-data",
                SecureBucketArgs(
                    bucket_name=data_bucket,
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
        extra_statements = (
            dynamodb_statements(partition, settings.region, account_id, tenant.name, FEATURE_VIEWS)
            if tenant.online_store == "dynamodb"
            else []
        )
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
            extra_statements=extra_statements,
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
        role_arn = self.tenants[tenant.name].role_arn
        assert role_arn is not None  # aws mode always has the workload role
        automation = self._automation_role(name, tenant, cluster, tenant_tags)
        self._tenant_aws[tenant.name] = _TenantAwsParts(
            bucket=data_bucket,
            key_arn=key_arn,
            role_arn=role_arn,
            automation_role_name=automation.name,
            automation_role_arn=automation.arn,
        )

    def _automation_role(
        self, name: str, tenant: TenantSettings, cluster: Cluster, tags: dict[str, str]
    ) -> aws.iam.Role:
        """The alert receiver's own IRSA role: only its service account may assume it.

        It gets no inline permissions here; :class:`TenantQueues` attaches the policy for
        exactly this tenant's queues and key.
        """
        account = automation_service_account(tenant.name)
        trust = pulumi.Output.all(cluster.oidc_provider_arn, cluster.oidc_issuer_host).apply(
            lambda v: to_json(irsa_trust_policy(v[0], v[1], tenant.namespace, account))
        )
        return aws.iam.Role(
            f"{name}-{tenant.name}-automation-role",
            description=f"Alert receiver of tenant {tenant.name} (queues only) via IRSA",
            assume_role_policy=trust,
            max_session_duration=3600,
            tags=merge_tags(tags, {"tenant": tenant.name}),
            opts=pulumi.ResourceOptions(parent=self),
        )

    # -- kubernetes platform layer -----------------------------------------------------
    def _credential(self, name: str, *, length: int, specials: str | None) -> pulumi.Output[str]:
        """A generated secret, stable across runs (kept in the encrypted state)."""
        password = random.RandomPassword(
            name,
            length=length,
            special=specials is not None,
            override_special=specials,
            min_lower=2,
            min_upper=2,
            min_numeric=2,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.secret(password.result)

    def _kubernetes_layer(self, name: str, settings: PlatformSettings) -> None:
        """KServe, monitoring and GPU enablement, then each tenant's serving stack."""
        assert self._registry_host is not None  # aws: ECR default; hybrid: required below
        reg: RegistryArgs = {
            "registry_host": self._registry_host,
            "image_prefix": settings.registry.image_prefix,
            "chart_prefix": settings.registry.chart_prefix,
        }
        hybrid = settings.hybrid
        cidrs = list(hybrid.cluster_cidrs) if hybrid is not None else [settings.network.cidr]
        platform_opts = pulumi.ResourceOptions(
            parent=self, providers=[self.k8s_provider], depends_on=list(self._k8s_depends)
        )
        kserve = KServeInstall(f"{name}-kserve", {**reg, "cluster_cidrs": cidrs}, platform_opts)
        smb_retention = [
            t.monitoring_retention_days for t in settings.tenants if t.tier is Tier.SMB
        ]
        monitoring = MonitoringStack(
            f"{name}-monitoring",
            {
                **reg,
                "cluster_cidrs": cidrs,
                "retention_days": max(smb_retention, default=15),
                "grafana_admin_password": self._credential(
                    f"{name}-grafana-admin", length=32, specials="!#%*-_=+"
                ),
                "storage_class": hybrid.storage_class if hybrid is not None else "gp3",
            },
            platform_opts,
        )
        if any(t.gpu_pool is not None for t in settings.tenants):
            GpuEnablement(f"{name}-gpu", {**reg}, platform_opts)
        for tenant in settings.tenants:
            self._tenant_layer(settings, tenant, reg, [kserve, monitoring])

    def _tenant_layer(
        self,
        settings: PlatformSettings,
        tenant: TenantSettings,
        reg: RegistryArgs,
        platform: list[pulumi.Resource],
    ) -> None:
        """One tenant's feature store, queues, serving, monitoring and alert receiver."""
        hybrid = settings.hybrid
        parts = self._tenant_aws.get(tenant.name)
        tier = tenant.tier
        opts = pulumi.ResourceOptions(
            parent=self,
            providers=[self.k8s_provider],
            depends_on=[*platform, self.tenants[tenant.name]],
        )
        # On-prem pools are the operator's: impose no selector they may not carry.
        placement = tenant_placement(tenant) if hybrid is None else None
        gpu = tenant.inference.gpu and tenant.gpu_pool is not None
        models = tenant.models
        canary = [m.name for m in models if m.challenger_version is not None]
        image_tag = settings.registry.serving_image_tag
        if parts is not None:
            bucket = parts.bucket
        else:
            assert hybrid is not None  # a tenant without AWS parts is an on-prem tenant
            bucket = hybrid.tenant_bucket_template.replace("{tenant}", tenant.name)

        queues: TenantQueues | None = None
        if parts is not None:
            queues = self._aws_feature_store_and_queues(settings, tenant, reg, parts, opts)

        serving: ModelServingArgs = {
            **reg,
            "tenant": tenant.name,
            "namespace": tenant.namespace,
            "tier": tier,
            "image_tag": image_tag,
            "min_replicas": tenant.inference.min_replicas,
            "max_replicas": tenant.inference.max_replicas,
            "models": model_specs(models, bucket, gpu=gpu),
            "verify_key_pem": tenant.model_signing_public_key,
        }
        if parts is not None:
            serving["role_arn"] = parts.role_arn
        if hybrid is not None:
            serving["s3_endpoint"] = hybrid.object_store_endpoint
        if placement is not None:
            serving["placement"] = placement
        self.serving[tenant.name] = ModelServing(f"{tenant.name}-serving", serving, opts)

        # The receiver consumes alerts through SQS: none on-prem, where alerts stop at
        # Alertmanager (they still fire and notify).
        automation = queues is not None and (tenant.drift_automation or tenant.inference.canary)
        monitoring: TenantMonitoringArgs = {
            **reg,
            "tenant": tenant.name,
            "namespace": tenant.namespace,
            "tier": tier,
            "models": [m.name for m in models],
            "retention_days": tenant.monitoring_retention_days,
            "canary": bool(canary),
            "automation": automation,
        }
        if hybrid is not None:
            monitoring["storage_class"] = hybrid.storage_class
        if placement is not None:
            monitoring["placement"] = placement
        TenantMonitoring(f"{tenant.name}-monitoring", monitoring, opts)

        if automation and queues is not None and parts is not None:
            receiver: TenantAutomationArgs = {
                **reg,
                "tenant": tenant.name,
                "namespace": tenant.namespace,
                "image_tag": image_tag,
                "retraining_queue_url": queues.queue_urls.apply(lambda u: u["retraining"]),
                "webhook_token": self._credential(
                    webhook_secret_name(tenant.name), length=48, specials=None
                ),
                "role_arn": parts.automation_role_arn,
                "canary_models": canary,
            }
            if placement is not None:
                receiver["placement"] = placement
            TenantAutomation(f"{tenant.name}-automation", receiver, opts)

    def _aws_feature_store_and_queues(
        self,
        settings: PlatformSettings,
        tenant: TenantSettings,
        reg: RegistryArgs,
        parts: _TenantAwsParts,
        opts: pulumi.ResourceOptions,
    ) -> TenantQueues:
        """The tenant's SQS queues and Feast (DynamoDB for SMB, Redis for enterprise)."""
        cluster = self._cluster_aws
        assert cluster is not None  # set by _aws before any tenant layer
        classification = tenant.data_classification.value
        tags = {**self.tags, "tenant": tenant.name, "data-classification": classification}
        queues = TenantQueues(
            f"{tenant.name}-queues",
            {
                "tenant": tenant.name,
                "kms_key_arn": parts.key_arn,
                "automation_role_name": parts.automation_role_name,
                "region": cluster.region,
                "tags": tags,
                "data_classification": classification,
            },
            pulumi.ResourceOptions(parent=self),
        )
        self.queues[tenant.name] = queues
        store: FeatureStoreArgs = {
            **reg,
            "tenant": tenant.name,
            "namespace": tenant.namespace,
            "tier": tenant.tier,
            "bucket_name": parts.bucket,
            "kms_key_arn": parts.key_arn,
            "role_arn": parts.role_arn,
            "feature_views": list(FEATURE_VIEWS),
            "region": cluster.region,
            "data_classification": classification,
            "protect": settings.profile.protect_stateful,
            "tags": tags,
        }
        if tenant.online_store == "redis":
            store["data_subnet_ids"] = cluster.data_subnet_ids
            store["vpc_id"] = cluster.vpc_id
            store["node_security_group_id"] = cluster.node_security_group_id
            store["redis_auth_token"] = self._credential(
                f"{tenant.name}-redis-auth", length=48, specials=REDIS_TOKEN_SPECIALS
            )
        placement = tenant_placement(tenant)
        store["placement"] = placement
        self.feature_stores[tenant.name] = FeatureStore(f"{tenant.name}-features", store, opts)
        return queues

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
            irsa_service_accounts=irsa_service_accounts(tenant.name),
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
            "servingEndpoints": {n: s.endpoints for n, s in self.serving.items()},
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
                    "nodePools": sorted(self.node_pools),
                }
            )
        return out
