"""The shared AWS foundation of a stack: keys, network, platform buckets, EKS, node capacity.

KMS keys -> network -> access-log and platform buckets -> EKS cluster -> the ``system``
managed node group -> the add-ons that need nodes -> Karpenter (its AWS identity and
interruption queue, the controller, and the node classes and pools
:mod:`components.platform.sizing` plans) -> the encrypted gp3 StorageClass, which every
Kubernetes object of the stack waits for. Every resource is a child of the platform
component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._util import merge_tags
from components.cluster import Cluster, ClusterAddons, ClusterAddonsArgs, ClusterArgs
from components.cluster_karpenter import KarpenterAws, KarpenterAwsArgs
from components.encryption import Encryption, EncryptionArgs, KeyService, KeySpec
from components.k8s.catalog import Registry, RegistryArgs
from components.k8s.karpenter import (
    KarpenterInstall,
    NodeClassSpec,
    NodePoolSpec,
    ec2_node_class,
    node_pool,
)
from components.network import Network, NetworkArgs
from components.nodepools import (
    PURPOSE_LABEL,
    CapacityType,
    NodePool,
    NodePoolArgs,
    NodeRole,
    NodeRoleArgs,
    PoolKind,
)
from components.platform.sizing import (
    KarpenterPoolPlan,
    PoolPlan,
    karpenter_pool_plans,
    node_pool_plans,
    pool_zone_ids,
    single_zone_gpu_notes,
)
from components.settings import Environment, PlatformSettings
from components.storage import (
    AccessLogBucket,
    AccessLogBucketArgs,
    DataClassification,
    SecureBucket,
    SecureBucketArgs,
)
from contracts.names import PART_OF

PLATFORM_KEYS: tuple[KeySpec, ...] = (
    KeySpec("eks-secrets", "Envelope encryption of Kubernetes secrets"),
    KeySpec("logs", "CloudWatch log groups (flow logs, control plane)", KeyService.LOGS),
    KeySpec("ebs", "Node root volumes and persistent volumes", KeyService.EBS),
    KeySpec("s3-platform", "Platform buckets (shared artifacts)"),
    KeySpec("sqs", "Platform queues (drift and rollback events)"),
)
"""Keys every AWS stack has, one per purpose."""


@dataclass(frozen=True)
class Account:
    """The account and partition the stack deploys into (from the provider's identity)."""

    account_id: str
    partition: str

    @classmethod
    def current(cls) -> Account:
        """Ask the provider (``aws.get_caller_identity``, ``aws.get_partition``)."""
        return cls(aws.get_caller_identity().account_id, aws.get_partition().partition)


class AwsFoundation:
    """What every tenant of an AWS stack shares."""

    keys: Encryption
    """Platform keys by purpose (:data:`PLATFORM_KEYS`)."""
    network: Network
    """The VPC over the stack's zones."""
    log_bucket: AccessLogBucket
    """Target of every bucket's server access logs."""
    platform_bucket: SecureBucket
    """Shared artifacts."""
    cluster: Cluster
    """EKS, private endpoint only."""
    node_pools: dict[str, NodePool]
    """Managed node groups by pool name (only ``system``)."""
    karpenter_pools: list[KarpenterPoolPlan]
    """The Karpenter NodePools of the stack."""
    karpenter: KarpenterInstall
    """The Karpenter controller, node classes and pools."""
    storage_class: k8s.storage.v1.StorageClass
    """``gp3``: encrypted with the platform's EBS key; Prometheus volumes use it."""

    def __init__(
        self,
        name: str,
        settings: PlatformSettings,
        account: Account,
        tags: dict[str, str],
        parent: pulumi.Resource,
    ) -> None:
        self._name = name
        self._settings = settings
        self._account = account
        self._tags = tags
        self._child = pulumi.ResourceOptions(parent=parent)
        self.keys = self._platform_keys()
        self.network = self._network()
        self.log_bucket, self.platform_bucket = self._buckets()
        self.cluster = self._cluster()
        self.node_pools = self._node_pools(node_pool_plans(settings))
        addons = self._addons()
        self.karpenter_pools = karpenter_pool_plans(settings)
        for note in single_zone_gpu_notes(self.karpenter_pools):
            pulumi.log.warn(note)
        self.karpenter = self._karpenter(parent, addons)
        self.storage_class = self._gp3(addons, parent)

    @property
    def protect(self) -> bool:
        """Whether stateful resources are protected (the environment's profile)."""
        return self._settings.profile.protect_stateful

    def _platform_keys(self) -> Encryption:
        return Encryption(
            f"{self._name}-keys",
            EncryptionArgs(
                account_id=self._account.account_id,
                region=self._settings.region,
                keys=PLATFORM_KEYS,
                alias_prefix=f"mlplatform/{self._settings.stack}",
                partition=self._account.partition,
                protect=self.protect,
                tags=self._tags,
            ),
            self._child,
        )

    def _network(self) -> Network:
        settings = self._settings
        return Network(
            f"{self._name}-net",
            NetworkArgs(
                region=settings.region,
                zone_ids=settings.zone_ids,
                flow_logs_kms_key_arn=self.keys.key_arns["logs"],
                account_id=self._account.account_id,
                cidr_block=settings.network.cidr,
                excluded_zone_ids=settings.network.excluded_zone_ids,
                nat_gateway_per_zone=settings.profile.nat_per_az,
                flow_log_retention_days=settings.network.flow_log_retention_days,
                partition=self._account.partition,
                tags=self._tags,
            ),
            self._child,
        )

    def _buckets(self) -> tuple[AccessLogBucket, SecureBucket]:
        settings = self._settings
        dev = settings.environment is Environment.DEV
        log_bucket = AccessLogBucket(
            f"{self._name}-access-logs",
            AccessLogBucketArgs(
                account_id=self._account.account_id,
                retention_days=max(settings.profile.log_retention_days, 90),
                protect=self.protect,
                force_destroy=dev,
                partition=self._account.partition,
                tags=self._tags,
            ),
            self._child,
        )
        platform_bucket = SecureBucket(
            f"{self._name}-platform",
            SecureBucketArgs(
                kms_key_arn=self.keys.key_arns["s3-platform"],
                log_bucket=log_bucket.bucket_name,
                data_classification=DataClassification.INTERNAL,
                protect=self.protect,
                force_destroy=dev,
                tags=self._tags,
            ),
            self._child,
        )
        return log_bucket, platform_bucket

    def _cluster(self) -> Cluster:
        settings, network = self._settings, self.network
        return Cluster(
            f"{self._name}-eks",
            ClusterArgs(
                cluster_name=f"{settings.project}-{settings.stack}",
                region=settings.region,
                vpc_id=network.vpc_id,
                vpc_cidr=network.vpc_cidr,
                subnet_ids=[network.node_subnet_ids[z] for z in network.zone_ids],
                secrets_kms_key_arn=self.keys.key_arns["eks-secrets"],
                logs_kms_key_arn=self.keys.key_arns["logs"],
                version=settings.cluster.kubernetes_version,
                log_retention_days=settings.cluster.control_plane_log_retention_days,
                admin_role_arns=settings.cluster.admin_role_arns,
                partition=self._account.partition,
                deletion_protection=self.protect,
                tags=self._tags,
            ),
            self._child,
        )

    def _node_pools(self, plans: list[PoolPlan]) -> dict[str, NodePool]:
        node_role = NodeRole(
            f"{self._name}-nodes",
            NodeRoleArgs(partition=self._account.partition, tags=self._tags),
            self._child,
        )
        return {plan.pool: self._node_pool(plan, node_role) for plan in plans}

    def _node_pool(self, plan: PoolPlan, node_role: NodeRole) -> NodePool:
        network, group = self.network, plan.group
        zones = pool_zone_ids(list(group.instance_types), network.zone_ids, self._settings.region)
        low, high, desired = plan.bounds
        return NodePool(
            f"{self._name}-{plan.pool}",
            NodePoolArgs(
                cluster_name=self.cluster.cluster_name,
                node_role_arn=node_role.role_arn,
                subnet_ids=[network.node_subnet_ids[z] for z in zones],
                instance_types=list(group.instance_types),
                ebs_kms_key_arn=self.keys.key_arns["ebs"],
                kind=plan.kind,
                purpose=plan.purpose,
                min_size=low,
                max_size=high,
                desired_size=desired,
                capacity_type=CapacityType(group.capacity_type),
                disk_gib=group.disk_gib,
                tenant=plan.tenant,
                capacity_reservation_id=group.capacity_reservation_id,
                labels=plan.labels,
                extra_taints=plan.extra_taints,
                tags=self._tags,
            ),
            self._child,
        )

    def _addons(self) -> ClusterAddons:
        cluster = self.cluster
        return ClusterAddons(
            f"{self._name}-eks-addons",
            ClusterAddonsArgs(
                cluster_name=cluster.cluster_name,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer_host=cluster.oidc_issuer_host,
                ebs_kms_key_arn=self.keys.key_arns["ebs"],
                region=self._settings.region,
                addon_versions=cluster.addon_versions,
                depends_on=[p.node_group for p in self.node_pools.values()],
                partition=self._account.partition,
                tags=self._tags,
            ),
            self._child,
        )

    def _gp3(self, addons: ClusterAddons, parent: pulumi.Resource) -> k8s.storage.v1.StorageClass:
        return k8s.storage.v1.StorageClass(
            f"{self._name}-gp3",
            metadata={"name": "gp3", "labels": {"app.kubernetes.io/part-of": PART_OF}},
            provisioner="ebs.csi.aws.com",
            parameters={
                "type": "gp3",
                "encrypted": "true",
                "kmsKeyId": self.keys.key_arns["ebs"],
            },
            reclaim_policy="Retain" if self.protect else "Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            # Every Kubernetes object of the stack waits for this class: Karpenter must
            # be there to give their pods nodes.
            opts=pulumi.ResourceOptions(
                parent=parent,
                providers=[self.cluster.provider],
                depends_on=[addons, self.karpenter],
            ),
        )

    def registry(self) -> RegistryArgs:
        """The in-region registry charts and images come from (the account's ECR by default)."""
        settings = self._settings
        return {
            "registry_host": settings.registry.host
            or Registry.ecr(self._account.account_id, settings.region).host,
            "image_prefix": settings.registry.image_prefix,
            "chart_prefix": settings.registry.chart_prefix,
        }

    def _karpenter(self, parent: pulumi.Resource, addons: ClusterAddons) -> KarpenterInstall:
        """Karpenter's AWS side, then the controller with the stack's node classes and pools."""
        settings, cluster, network = self._settings, self.cluster, self.network
        cluster_name = f"{settings.project}-{settings.stack}"
        aws_side = KarpenterAws(
            f"{self._name}-karpenter",
            KarpenterAwsArgs(
                cluster_name=cluster.cluster_name,
                cluster_name_plain=cluster_name,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer_host=cluster.oidc_issuer_host,
                # The network spans the healthy zones only (excluded ones have no subnet).
                subnet_ids=[network.node_subnet_ids[z] for z in network.zone_ids],
                cluster_security_group_id=cluster.cluster_security_group_id,
                ebs_kms_key_arn=self.keys.key_arns["ebs"],
                account_id=self._account.account_id,
                region=settings.region,
                partition=self._account.partition,
                protect=self.protect,
                capacity_reservation_ids=sorted(
                    {
                        p.capacity_reservation_id
                        for p in self.karpenter_pools
                        if p.capacity_reservation_id
                    }
                ),
                tags=self._tags,
            ),
            self._child,
        )
        system = self.node_pools["system"]
        replicas = min(2, node_pool_plans(settings)[0].bounds[0])
        return KarpenterInstall(
            f"{self._name}-karpenter",
            {
                **self.registry(),
                "cluster_name": cluster.cluster_name,
                "cluster_endpoint": cluster.endpoint,
                "cluster_cidrs": [settings.network.cidr],
                "role_arn": aws_side.controller_role_arn,
                "interruption_queue": aws_side.interruption_queue_name,
                "node_classes": self._node_classes(cluster_name, aws_side),
                "node_pools": [self._karpenter_pool(plan) for plan in self.karpenter_pools],
                "replicas": max(replicas, 1),
                "system_selector": {PURPOSE_LABEL: "system"},
            },
            pulumi.ResourceOptions(
                parent=parent,
                providers=[cluster.provider],
                depends_on=[addons, system.node_group],
            ),
        )

    def _node_classes(self, cluster_name: str, aws_side: KarpenterAws) -> list[dict[str, Any]]:
        """One class per kind of node (CPU, GPU) and one per capacity reservation."""
        labels = {"app.kubernetes.io/part-of": PART_OF}
        classes: dict[str, NodeClassSpec] = {}
        for plan in self.karpenter_pools:
            if plan.node_class in classes:
                continue
            classes[plan.node_class] = NodeClassSpec(
                name=plan.node_class,
                cluster_name=cluster_name,
                instance_profile=aws_side.instance_profile_name,
                ebs_kms_key_arn=self.keys.key_arns["ebs"],
                # GPU images (CUDA, NCCL) are large: GPU nodes get a bigger root volume.
                disk_gib=max(plan.disk_gib, 200 if plan.kind is PoolKind.GPU else 100),
                capacity_reservation_ids=(
                    (plan.capacity_reservation_id,) if plan.capacity_reservation_id else ()
                ),
                tags=merge_tags(self._tags, {"karpenter-node-class": plan.node_class}),
            )
        return [ec2_node_class(spec, labels) for spec in classes.values()]

    def _karpenter_pool(self, plan: KarpenterPoolPlan) -> dict[str, Any]:
        labels = {"app.kubernetes.io/part-of": PART_OF}
        if plan.tenant is not None:
            labels["mlplatform.io/tenant"] = plan.tenant
        return node_pool(
            NodePoolSpec(
                name=plan.pool,
                node_class=plan.node_class,
                instance_types=plan.instance_types,
                zone_ids=plan.zone_ids,
                capacity_types=plan.capacity_types,
                node_labels=plan.labels,
                taints=[taint.to_k8s() for taint in plan.taints],
                limits=plan.limits.as_resources(gpu=plan.kind is PoolKind.GPU),
                training=plan.training,
                # A reservation is paid for whether used or not: prefer it.
                weight=100 if plan.capacity_reservation_id else None,
            ),
            labels,
        )
