"""Node pools: EKS managed node groups with hardened launch templates, and the pool contract.

Only the platform's ``system`` pool is a managed node group; every other pool is a
Karpenter ``NodePool`` (:mod:`components.k8s.karpenter`) carrying the same labels and
taints, so :func:`pod_scheduling` states the placement contract of both.

Every pool gets its own launch template: IMDSv2 required with a hop limit of 1 (pods
cannot reach the node's instance credentials; they use IRSA), an encrypted gp3 root
volume with the platform's EBS key, no SSH key. GPU pools carry the
``nvidia.com/gpu=true:NoSchedule`` taint and the NVIDIA AL2023 AMI type and scale from
zero; enterprise dedicated pools also carry a tenant taint and label so only that
tenant's pods (which tolerate it) land there.

The component takes the subnet ids it is given: the composition picks, from the
region's offering data, only the zones where the pool's instance types exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws

from components._util import (
    assume_role_policy,
    child_opts,
    managed_policy_arn,
    merge_tags,
    to_json,
)
from contracts.names import TENANT_LABEL

GPU_TAINT_KEY = "nvidia.com/gpu"
"""Taint (and extended resource) key of NVIDIA GPU nodes."""
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
"""Label the NVIDIA device plugin / GPU feature discovery select nodes by."""
TENANT_KEY = TENANT_LABEL
"""Taint and label key of nodes dedicated to one tenant."""
POOL_LABEL = "mlplatform.io/pool"
"""Label naming the pool a node belongs to."""
PURPOSE_LABEL = "mlplatform.io/purpose"
"""Label naming what the pool is for (system, shared, inference, training)."""

NODE_MANAGED_POLICIES: tuple[str, ...] = (
    "AmazonEKSWorkerNodePolicy",
    # Pull-only (not ReadOnly): nodes never need to list or describe repositories.
    "AmazonEC2ContainerRegistryPullOnly",
)
"""The minimal AWS managed policies of a worker node (the CNI policy sits on the
vpc-cni IRSA role instead)."""

_FAMILY = re.compile(r"^([a-z]+)(\d+)([a-z-]*)\.[a-z0-9-]+$")


class PoolKind(StrEnum):
    """Whether a pool's instances carry NVIDIA GPUs."""

    CPU = "cpu"
    GPU = "gpu"


class CapacityType(StrEnum):
    """EC2 purchase option of a pool."""

    ON_DEMAND = "ON_DEMAND"
    SPOT = "SPOT"


@dataclass(frozen=True)
class Taint:
    """A node taint as EKS managed node groups spell it."""

    key: str
    value: str
    effect: str = "NO_SCHEDULE"

    def to_args(self) -> dict[str, str]:
        """The node-group ``taints`` entry."""
        return {"key": self.key, "value": self.value, "effect": self.effect}

    def to_k8s(self) -> dict[str, str]:
        """The taint as Kubernetes (and Karpenter's NodePool) spell it."""
        return {"key": self.key, "value": self.value, "effect": _K8S_EFFECTS[self.effect]}

    def toleration(self) -> dict[str, str]:
        """The toleration that matches exactly this taint."""
        return {"operator": "Equal", **self.to_k8s()}


_K8S_EFFECTS = {
    "NO_SCHEDULE": "NoSchedule",
    "NO_EXECUTE": "NoExecute",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
}


@dataclass(frozen=True)
class NodePoolArgs:
    """Inputs of :class:`NodePool` (plain data)."""

    cluster_name: pulumi.Input[str]
    """Cluster the pool joins."""
    node_role_arn: pulumi.Input[str]
    """IAM role of the nodes (see :class:`NodeRole`)."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets, only in zones where the instance types are offered."""
    instance_types: Sequence[str]
    """Instance types (one architecture)."""
    ebs_kms_key_arn: pulumi.Input[str]
    """Key of the root volumes."""
    kind: PoolKind = PoolKind.CPU
    """CPU or GPU pool."""
    purpose: str = "shared"
    """What the pool is for (label): system, shared, inference, training."""
    min_size: int = 1
    """Minimum nodes (GPU pools may be 0: scale from zero)."""
    max_size: int = 3
    """Maximum nodes."""
    desired_size: int | None = None
    """Initial nodes; the autoscaler owns it afterwards (changes are ignored)."""
    capacity_type: CapacityType = CapacityType.ON_DEMAND
    """SPOT only where the tier allows (SMB training)."""
    disk_gib: int = 100
    """Root volume size."""
    tenant: str | None = None
    """Dedicated to this tenant: adds the tenant taint and label."""
    capacity_reservation_id: str | None = None
    """EC2 capacity reservation to launch into (p5en)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra node labels."""
    extra_taints: Sequence[Taint] = ()
    """Further taints (e.g. spot training nodes take only interruption-tolerant pods)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the node group, launch template, instances and volumes."""


def is_arm(instance_type: str) -> bool:
    """True for Graviton types (``m7g.large``, ``c6gn.xlarge``), from the family suffix."""
    match = _FAMILY.match(instance_type)
    if match is None:
        raise ValueError(f"instance type {instance_type!r} is not an EC2 instance type name")
    family, _, suffix = match.groups()
    # GPU families (g5, g6e) start with "g"; Graviton is a "g" *after* the generation.
    return "g" in suffix and family not in ("g", "p", "inf", "trn")


def ami_type_for(kind: PoolKind, instance_types: Sequence[str]) -> str:
    """The EKS AL2023 AMI type for a pool; every type must share one architecture."""
    arches = {is_arm(instance_type) for instance_type in instance_types}
    if len(arches) != 1:
        raise ValueError(
            f"instance_types {list(instance_types)}: mixes x86_64 and arm64; one pool, one arch"
        )
    arm = arches.pop()
    if kind is PoolKind.GPU:
        if arm:
            raise ValueError(
                f"instance_types {list(instance_types)}: GPU pools use x86_64 types (g5, g6, g6e, p5en)"
            )
        return "AL2023_x86_64_NVIDIA"
    return "AL2023_ARM_64_STANDARD" if arm else "AL2023_x86_64_STANDARD"


def pool_taints(kind: PoolKind, tenant: str | None) -> list[Taint]:
    """GPU taint for GPU pools, tenant taint for dedicated pools."""
    taints: list[Taint] = []
    if kind is PoolKind.GPU:
        taints.append(Taint(GPU_TAINT_KEY, "true"))
    if tenant is not None:
        taints.append(Taint(TENANT_KEY, tenant))
    return taints


def pool_labels(
    pool: str, kind: PoolKind, purpose: str, tenant: str | None, extra: Mapping[str, str]
) -> dict[str, str]:
    """Node labels: pool, purpose, GPU presence and tenant, then extras."""
    labels = {POOL_LABEL: pool, PURPOSE_LABEL: purpose}
    if kind is PoolKind.GPU:
        labels[GPU_PRESENT_LABEL] = "true"
    if tenant is not None:
        labels[TENANT_KEY] = tenant
    labels.update(extra)
    return labels


def launch_template_spec(
    *,
    ebs_kms_key_arn: pulumi.Input[str],
    disk_gib: int,
    tags: Mapping[str, str],
    capacity_reservation_id: str | None = None,
) -> dict[str, Any]:
    """Launch-template inputs (plain data): IMDSv2, encrypted gp3 root, no SSH key."""
    spec: dict[str, Any] = {
        "metadata_options": {
            "http_endpoint": "enabled",
            "http_tokens": "required",
            # 1 hop: the instance can reach IMDS, containers behind a bridge cannot.
            "http_put_response_hop_limit": 1,
            "instance_metadata_tags": "disabled",
        },
        "block_device_mappings": [
            {
                "device_name": "/dev/xvda",
                "ebs": {
                    "volume_size": disk_gib,
                    "volume_type": "gp3",
                    "encrypted": "true",
                    "kms_key_id": ebs_kms_key_arn,
                    "delete_on_termination": "true",
                },
            }
        ],
        "tag_specifications": [
            {"resource_type": "instance", "tags": dict(tags)},
            {"resource_type": "volume", "tags": dict(tags)},
        ],
        "update_default_version": True,
    }
    if capacity_reservation_id is not None:
        spec["capacity_reservation_specification"] = {
            "capacity_reservation_target": {"capacity_reservation_id": capacity_reservation_id}
        }
    return spec


def validate_pool(args: NodePoolArgs) -> None:
    """Bounds and tier rules a pool must satisfy before anything is registered."""
    if not args.instance_types:
        raise ValueError("instance_types: at least one instance type is required")
    if not args.subnet_ids:
        raise ValueError("subnet_ids: at least one subnet is required")
    if not 0 <= args.min_size <= args.max_size or args.max_size < 1:
        raise ValueError(
            f"scaling bounds min_size={args.min_size} max_size={args.max_size}: "
            "need 0 <= min_size <= max_size and max_size >= 1"
        )
    desired = args.min_size if args.desired_size is None else args.desired_size
    if not args.min_size <= desired <= args.max_size:
        raise ValueError(f"desired_size={desired}: must lie between min_size and max_size")
    if args.disk_gib < 20:
        raise ValueError(f"disk_gib={args.disk_gib}: at least 20 GiB")
    if args.capacity_reservation_id is not None and args.capacity_type is CapacityType.SPOT:
        raise ValueError("capacity_reservation_id: reservations are on-demand capacity, not SPOT")


@dataclass(frozen=True)
class NodeRoleArgs:
    """Inputs of :class:`NodeRole`."""

    partition: str = "aws"
    """AWS partition."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags."""


class NodeRole(pulumi.ComponentResource):
    """IAM role for worker nodes with only the worker and ECR pull policies."""

    role_arn: pulumi.Output[str]
    """The role's ARN (EKS creates the node access entry for managed node groups)."""
    role_name: pulumi.Output[str]
    """The role's name."""

    def __init__(
        self, name: str, args: NodeRoleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:nodepools:NodeRole", name, None, opts)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=to_json(assume_role_policy("ec2.amazonaws.com")),
            tags=merge_tags(args.tags),
            opts=child_opts(self),
        )
        for policy in NODE_MANAGED_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy}",
                role=role.name,
                policy_arn=managed_policy_arn(args.partition, policy),
                opts=child_opts(self),
            )
        self.role_arn = role.arn
        self.role_name = role.name
        self.register_outputs({"roleArn": self.role_arn, "roleName": self.role_name})


class NodePool(pulumi.ComponentResource):
    """One EKS managed node group with its own hardened launch template."""

    node_group_name: pulumi.Output[str]
    """Name of the node group."""
    ami_type: str
    """EKS AMI type used."""
    taints: list[Taint]
    """Taints every node carries."""
    labels: dict[str, str]
    """Labels every node carries."""
    node_group: aws.eks.NodeGroup
    """The node group (for ``depends_on``)."""

    def __init__(
        self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:nodepools:NodePool", name, None, opts)
        validate_pool(args)
        self.ami_type = ami_type_for(args.kind, args.instance_types)
        self.taints = pool_taints(args.kind, args.tenant) + list(args.extra_taints)
        self.labels = pool_labels(name, args.kind, args.purpose, args.tenant, args.labels)
        tags = merge_tags(
            args.tags,
            {POOL_LABEL: name, PURPOSE_LABEL: args.purpose},
            {"tenant": args.tenant} if args.tenant else None,
        )
        spec = launch_template_spec(
            ebs_kms_key_arn=args.ebs_kms_key_arn,
            disk_gib=args.disk_gib,
            tags=tags,
            capacity_reservation_id=args.capacity_reservation_id,
        )
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"EKS node pool {name}: IMDSv2 only, encrypted gp3 root, no SSH",
            tags=tags,
            opts=child_opts(self),
            **spec,
        )
        desired = args.min_size if args.desired_size is None else args.desired_size
        self.node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=list(args.subnet_ids),
            ami_type=self.ami_type,
            capacity_type=str(args.capacity_type),
            instance_types=list(args.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=args.min_size, max_size=args.max_size, desired_size=desired
            ),
            labels=self.labels,
            taints=[aws.eks.NodeGroupTaintArgs(**taint.to_args()) for taint in self.taints],
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
            node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
            # No Cluster Autoscaler tag: managed node groups keep the platform's own
            # services (Karpenter among them); every other pool is a Karpenter NodePool.
            tags=tags,
            # Scaled by hand (or by an operator) once the pool exists: keep their count.
            opts=child_opts(self, ignore_changes=["scalingConfig.desiredSize"]),
        )
        self.node_group_name = self.node_group.node_group_name
        self.register_outputs(
            {
                "nodeGroupName": self.node_group_name,
                "amiType": self.ami_type,
                "taints": [taint.to_args() for taint in self.taints],
                "labels": self.labels,
            }
        )


def pod_scheduling(
    *, tenant: str | None, gpu: bool = False, training: bool = False
) -> dict[str, Any]:
    """``nodeSelector`` and ``tolerations`` (wire format) that land a pod on its pools.

    The scheduling contract of the pools the composition creates: enterprise tenants
    (``tenant`` given) run only on their dedicated pools and must tolerate the tenant
    taint; GPU pods also select ``nvidia.com/gpu.present`` and tolerate the GPU taint;
    training pods select the training pools (SMB ones are spot and tainted). SMB
    serving (``tenant=None``) goes to the shared CPU pool.
    """
    purpose = "training" if training else ("inference" if tenant else "shared")
    selector: dict[str, str] = {PURPOSE_LABEL: purpose}
    tolerations: list[dict[str, str]] = []
    if tenant is not None:
        selector[TENANT_KEY] = tenant
        tolerations.append(
            {"key": TENANT_KEY, "operator": "Equal", "value": tenant, "effect": "NoSchedule"}
        )
    elif training:
        tolerations.append(
            {
                "key": PURPOSE_LABEL,
                "operator": "Equal",
                "value": "training",
                "effect": "NoSchedule",
            }
        )
    if gpu:
        if tenant is None:
            raise ValueError("GPU pools are enterprise-only: pass the tenant")
        selector[GPU_PRESENT_LABEL] = "true"
        tolerations.append({"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"})
    return {"nodeSelector": selector, "tolerations": tolerations}
