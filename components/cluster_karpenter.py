"""What Karpenter needs from AWS: a node identity, a controller identity, an interruption queue.

:class:`KarpenterAws` creates, for one EKS cluster:

- the **node role** of Karpenter-launched nodes (worker + ECR pull policies only), its
  instance profile (pre-created: the controller then needs no IAM write access, and
  IAM has no VPC endpoint) and the EKS access entry that lets those nodes join;
- the **controller role** (IRSA, trusted by exactly ``karpenter/karpenter``) with the
  least privilege Karpenter 1.13 documents, narrowed further: EC2 launch, tag and
  terminate actions only on resources tagged for this cluster and in this region,
  launches only into discovery-tagged subnets and groups and named reservations,
  ``iam:PassRole`` of the node role only to EC2, SSM reads of public AMI parameters
  only, the interruption queue only, the EBS key only through EC2; no pricing, no
  instance-profile management, no zonal-shift (all disabled in the controller);
- the **interruption queue** (SQS, KMS-encrypted with its own key whose policy admits
  EventBridge of this account only, TLS only) and the EventBridge rules that feed it:
  spot interruption warnings, rebalance recommendations, instance state changes,
  scheduled maintenance (AWS Health) and capacity-reservation interruptions;
- the **discovery tag** (``karpenter.sh/discovery=<cluster>``) on the node subnets of the
  healthy zones and on the cluster security group, which is how the node classes find
  them (``aws.ec2.Tag`` resources: the subnets and the EKS-owned group keep their own
  definitions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components._util import child_opts, merge_tags, policy_document, to_json
from components.aws.queues import tls_only_queue_policy
from components.cluster_addons import ebs_csi_kms_policy, irsa_role
from components.encryption import KeyService, key_policy
from components.k8s.karpenter import DISCOVERY_TAG, NAMESPACE, SERVICE_ACCOUNT
from components.nodepools import NodeRole, NodeRoleArgs

INTERRUPTION_EVENTS: dict[str, tuple[str, str]] = {
    "scheduled-change": ("aws.health", "AWS Health Event"),
    "spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "instance-state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "reservation-interruption": (
        "aws.ec2",
        "EC2 Capacity Reservation Instance Interruption Warning",
    ),
}
"""EventBridge rules feeding the interruption queue (Karpenter 1.13 getting-started template)."""

QUEUE_ACTIONS = ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
"""What the controller does with its interruption queue."""


def controller_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    cluster_name: str,
    node_role_arn: str,
    instance_profile_arn: str,
    queue_arn: str,
    queue_key_arn: str,
    capacity_reservation_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """The controller's IAM policy: Karpenter 1.13's documented policy, narrowed.

    Narrowed from upstream: launches only into discovery-tagged subnets and security
    groups and only into the named capacity reservations (upstream: any), no placement
    groups, no instance-profile management, no pricing or zonal-shift reads.
    """
    ec2 = f"arn:{partition}:ec2:{region}"
    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"}
    requested = {
        f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster_name,
    }
    launched = [
        f"{ec2}:{account_id}:{kind}/*"
        for kind in (
            "fleet",
            "instance",
            "volume",
            "network-interface",
            "launch-template",
            "spot-instances-request",
        )
    ]
    launch = ["ec2:RunInstances", "ec2:CreateFleet"]
    reservations = [
        {
            "Sid": "LaunchIntoOwnReservations",
            "Effect": "Allow",
            "Action": launch,
            "Resource": [
                f"{ec2}:{account_id}:capacity-reservation/{reservation}"
                for reservation in sorted(capacity_reservation_ids)
            ],
        }
    ]
    return policy_document(
        [
            {
                # Upstream allows every subnet and group; only the discovery-tagged ones
                # (the cluster's, in healthy zones) are ever selected, so only they are allowed.
                "Sid": "LaunchIntoDiscoveredNetwork",
                "Effect": "Allow",
                "Action": launch,
                "Resource": [
                    f"{ec2}:{account_id}:security-group/*",
                    f"{ec2}:{account_id}:subnet/*",
                ],
                "Condition": {"StringEquals": {f"aws:ResourceTag/{DISCOVERY_TAG}": cluster_name}},
            },
            {
                "Sid": "LaunchFromRegionalImages",
                "Effect": "Allow",
                "Action": launch,
                "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*"],
                "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
            },
            *(reservations if capacity_reservation_ids else []),
            {
                "Sid": "LaunchWithOwnLaunchTemplates",
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
                "Resource": f"{ec2}:{account_id}:launch-template/*",
                "Condition": {
                    "StringEquals": owned,
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                },
            },
            {
                "Sid": "CreateOnlyTaggedForThisCluster",
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
                "Resource": launched,
                "Condition": {
                    "StringEquals": requested,
                    "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
                },
            },
            {
                "Sid": "TagOnCreate",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": launched,
                "Condition": {
                    "StringEquals": {
                        **requested,
                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                    },
                    "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
                },
            },
            {
                "Sid": "TagOwnInstances",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": f"{ec2}:{account_id}:instance/*",
                "Condition": {
                    "StringEquals": owned,
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                    "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                    "ForAllValues:StringEquals": {
                        "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                    },
                },
            },
            {
                "Sid": "DeleteOwnInstancesAndTemplates",
                "Effect": "Allow",
                "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                "Resource": [
                    f"{ec2}:{account_id}:instance/*",
                    f"{ec2}:{account_id}:launch-template/*",
                ],
                "Condition": {
                    "StringEquals": owned,
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                },
            },
            {
                "Sid": "PassNodeRoleToEc2",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": node_role_arn,
                "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            },
            {
                "Sid": "ReadOwnInstanceProfile",
                "Effect": "Allow",
                "Action": "iam:GetInstanceProfile",
                "Resource": instance_profile_arn,
            },
            {
                "Sid": "DescribeThisRegion",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeCapacityReservations",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInstanceStatus",
                    "ec2:DescribeInstanceTypeOfferings",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates",
                    "ec2:DescribePlacementGroups",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory",
                    "ec2:DescribeSubnets",
                ],
                # Describe* calls support no resource-level permissions.
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
            },
            {
                "Sid": "PublicAmiParameters",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
            },
            {
                "Sid": "ClusterCidrAndEndpoint",
                "Effect": "Allow",
                "Action": "eks:DescribeCluster",
                "Resource": f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster_name}",
            },
            {
                "Sid": "InterruptionQueue",
                "Effect": "Allow",
                "Action": list(QUEUE_ACTIONS),
                "Resource": queue_arn,
            },
            {
                "Sid": "InterruptionQueueKeyThroughSqs",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": queue_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
            },
        ]
    )


def queue_key_policy(*, account_id: str, region: str, partition: str) -> dict[str, Any]:
    """The interruption queue's key: IAM of the account, and EventBridge of this account."""
    document = key_policy(
        account_id=account_id, region=region, partition=partition, service=KeyService.NONE
    )
    document["Statement"].append(
        {
            "Sid": "AllowEventBridgeOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )
    return document


def queue_policy(queue_arn: str, rule_arns: Sequence[str]) -> dict[str, Any]:
    """TLS only, and EventBridge may send only from this cluster's rules."""
    document = tls_only_queue_policy(queue_arn)
    document["Statement"].append(
        {
            "Sid": "EventBridgeRulesOfThisCluster",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}},
        }
    )
    return document


@dataclass(frozen=True)
class KarpenterAwsArgs:
    """Inputs of :class:`KarpenterAws`."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster (plain name is known before the cluster exists)."""
    cluster_name_plain: str
    """The same name as plain text (IAM conditions are rendered from it)."""
    oidc_provider_arn: pulumi.Input[str]
    """IAM OIDC provider of the cluster (IRSA)."""
    oidc_issuer_host: pulumi.Input[str]
    """OIDC issuer without ``https://``."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Node subnets of the healthy zones: they get the discovery tag."""
    cluster_security_group_id: pulumi.Input[str]
    """The EKS cluster security group (nodes of managed groups use it too)."""
    ebs_kms_key_arn: pulumi.Input[str]
    """Key of the node volumes."""
    account_id: str
    """Account of the stack."""
    region: str
    """Region of the stack."""
    partition: str = "aws"
    """AWS partition."""
    protect: bool = False
    """Protect the queue key from deletion (prod)."""
    capacity_reservation_ids: Sequence[str] = ()
    """EC2 capacity reservations node classes may launch into (p5en training)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags."""


class KarpenterAws(pulumi.ComponentResource):
    """Node role and instance profile, controller role, interruption queue, discovery tags."""

    controller_role_arn: pulumi.Output[str]
    """IRSA role of the controller."""
    instance_profile_name: pulumi.Output[str]
    """Instance profile the node classes launch with."""
    interruption_queue_name: pulumi.Output[str]
    """SQS queue the controller reads interruption events from."""
    node_role_arn: pulumi.Output[str]
    """Role of Karpenter-launched nodes."""

    def __init__(
        self, name: str, args: KarpenterAwsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:cluster:KarpenterAws", name, None, opts)
        tags = merge_tags(args.tags)
        nodes = NodeRole(
            f"{name}-nodes",
            NodeRoleArgs(partition=args.partition, tags=tags),
            pulumi.ResourceOptions(parent=self),
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-nodes-profile", role=nodes.role_name, tags=tags, opts=child_opts(self)
        )
        aws.eks.AccessEntry(
            f"{name}-nodes-access",
            cluster_name=args.cluster_name,
            principal_arn=nodes.role_arn,
            type="EC2_LINUX",
            tags=tags,
            opts=child_opts(self),
        )
        queue, queue_key_arn = self._queue(name, args, tags)
        role = irsa_role(
            self,
            name,
            "controller",
            (NAMESPACE, SERVICE_ACCOUNT),
            args.oidc_provider_arn,
            args.oidc_issuer_host,
            tags,
        )
        policy_inputs = pulumi.Output.all(
            nodes.role_arn, profile.arn, queue.arn, queue_key_arn
        ).apply(
            lambda v: to_json(
                controller_policy(
                    partition=args.partition,
                    region=args.region,
                    account_id=args.account_id,
                    cluster_name=args.cluster_name_plain,
                    node_role_arn=v[0],
                    instance_profile_arn=v[1],
                    queue_arn=v[2],
                    queue_key_arn=v[3],
                    capacity_reservation_ids=args.capacity_reservation_ids,
                )
            )
        )
        aws.iam.RolePolicy(
            f"{name}-controller-policy", role=role.id, policy=policy_inputs, opts=child_opts(self)
        )
        # Volumes of launched nodes are encrypted with the platform key: the caller of
        # CreateFleet must be allowed to use it through EC2.
        aws.iam.RolePolicy(
            f"{name}-controller-ebs-kms",
            role=role.id,
            policy=pulumi.Output.from_input(args.ebs_kms_key_arn).apply(
                lambda arn: to_json(ebs_csi_kms_policy(arn, args.region))
            ),
            opts=child_opts(self),
        )
        for index, subnet in enumerate(args.subnet_ids):
            aws.ec2.Tag(
                f"{name}-discovery-subnet-{index}",
                resource_id=subnet,
                key=DISCOVERY_TAG,
                value=args.cluster_name,
                opts=child_opts(self),
            )
        aws.ec2.Tag(
            f"{name}-discovery-sg",
            resource_id=args.cluster_security_group_id,
            key=DISCOVERY_TAG,
            value=args.cluster_name,
            opts=child_opts(self),
        )
        self.controller_role_arn = role.arn
        self.instance_profile_name = profile.name
        self.interruption_queue_name = queue.name
        self.node_role_arn = nodes.role_arn
        self.register_outputs(
            {
                "controllerRoleArn": self.controller_role_arn,
                "instanceProfileName": self.instance_profile_name,
                "interruptionQueueName": self.interruption_queue_name,
                "nodeRoleArn": self.node_role_arn,
            }
        )

    def _queue(
        self, name: str, args: KarpenterAwsArgs, tags: Mapping[str, str]
    ) -> tuple[aws.sqs.Queue, pulumi.Output[str]]:
        """The KMS-encrypted interruption queue and the EventBridge rules feeding it."""
        key = aws.kms.Key(
            f"{name}-queue-key",
            description=f"Karpenter interruption queue of {args.cluster_name_plain}",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=30,
            multi_region=False,
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            policy=to_json(
                queue_key_policy(
                    account_id=args.account_id, region=args.region, partition=args.partition
                )
            ),
            tags=merge_tags(tags, {"purpose": "karpenter-interruptions"}),
            opts=child_opts(self, protect=args.protect),
        )
        queue = aws.sqs.Queue(
            f"{name}-interruptions",
            name=f"{args.cluster_name_plain}-karpenter",
            kms_master_key_id=key.arn,
            kms_data_key_reuse_period_seconds=300,
            # Interruption warnings are worth nothing after a few minutes.
            message_retention_seconds=300,
            tags=tags,
            opts=child_opts(self),
        )
        rule_arns: list[pulumi.Output[str]] = []
        for event, (source, detail_type) in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{event}",
                description=f"Karpenter ({args.cluster_name_plain}): {detail_type}",
                event_pattern=json.dumps({"source": [source], "detail-type": [detail_type]}),
                tags=tags,
                opts=child_opts(self),
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{event}-target",
                rule=rule.name,
                arn=queue.arn,
                opts=child_opts(self),
            )
            rule_arns.append(rule.arn)
        aws.sqs.QueuePolicy(
            f"{name}-interruptions-policy",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, *rule_arns).apply(
                lambda v: json.dumps(queue_policy(v[0], v[1:]))
            ),
            opts=child_opts(self),
        )
        return queue, key.arn
