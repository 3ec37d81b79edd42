"""EKS managed add-ons at pinned versions, and :class:`ClusterAddons` (those that need nodes).

Add-ons that schedule pods (CoreDNS, the EBS CSI controller) only become healthy once
nodes exist, so they live in :class:`ClusterAddons`, which the composition creates after
the node pools; the networking add-ons (:data:`EARLY_ADDONS`: VPC CNI with network-policy
enforcement, kube-proxy, Pod Identity agent) are created by the cluster component, before
any node joins. :class:`ClusterAddons` keeps the ``mlplatform:cluster`` type token (and
so its URN) from the days it lived in :mod:`components.cluster`, which re-exports it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components._util import (
    child_opts,
    irsa_trust_policy,
    managed_policy_arn,
    merge_tags,
    policy_document,
    to_json,
)

# Pinned EKS managed add-on versions per Kubernetes minor version. Pinned (never
# "latest") so an add-on cannot change underneath a running platform; bump them
# deliberately with `aws eks describe-addon-versions --kubernetes-version <v>`.
ADDON_VERSIONS: dict[str, dict[str, str]] = {
    "1.35": {
        "vpc-cni": "v1.21.1-eksbuild.3",
        "kube-proxy": "v1.35.0-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "coredns": "v1.13.2-eksbuild.1",
        "aws-ebs-csi-driver": "v1.55.0-eksbuild.2",
    },
    "1.36": {
        "vpc-cni": "v1.22.3-eksbuild.1",
        "kube-proxy": "v1.36.0-eksbuild.13",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.3",
        "coredns": "v1.14.3-eksbuild.3",
        "aws-ebs-csi-driver": "v1.63.1-eksbuild.1",
    },
}
"""Add-on versions known to work with each supported Kubernetes minor version."""

EARLY_ADDONS: tuple[str, ...] = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
"""Add-ons created with the cluster, before nodes join (nodes need the CNI to go Ready)."""
LATE_ADDONS: tuple[str, ...] = ("coredns", "aws-ebs-csi-driver")
"""Add-ons that run Deployments and so wait for nodes."""


def addon_versions_for(version: str, overrides: Mapping[str, str] | None) -> dict[str, str]:
    """The pinned add-on versions for ``version``, with overrides applied."""
    pins = dict(ADDON_VERSIONS.get(version, {}))
    pins.update(overrides or {})
    missing = [a for a in (*EARLY_ADDONS, *LATE_ADDONS) if a not in pins]
    if missing:
        raise ValueError(
            f"no pinned add-on versions for Kubernetes {version} ({', '.join(missing)}); "
            f"pass addon_versions or use one of {', '.join(sorted(ADDON_VERSIONS))}"
        )
    return pins


def ebs_csi_kms_policy(key_arn: str, region: str) -> dict[str, Any]:
    """Lets the EBS CSI controller use one key for volumes it creates, via EC2 only."""
    return policy_document(
        [
            {
                "Sid": "UseEbsKeyViaEc2",
                "Effect": "Allow",
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:DescribeKey",
                ],
                "Resource": key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
            },
            {
                "Sid": "GrantsForAttachedVolumes",
                "Effect": "Allow",
                "Action": "kms:CreateGrant",
                "Resource": key_arn,
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ]
    )


def irsa_role(
    parent: pulumi.Resource,
    name: str,
    purpose: str,
    service_account: tuple[str, str],
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer_host: pulumi.Input[str],
    tags: Mapping[str, str],
    managed: Sequence[str] = (),
) -> aws.iam.Role:
    """An IRSA role for one ``(namespace, service account)`` with managed policies."""
    namespace, account = service_account

    def trust_policy(provider_and_issuer: list[str]) -> str:
        provider_arn, issuer_host = provider_and_issuer
        return to_json(irsa_trust_policy(provider_arn, issuer_host, namespace, account))

    trust = pulumi.Output.all(oidc_provider_arn, oidc_issuer_host).apply(trust_policy)
    role = aws.iam.Role(
        f"{name}-{purpose}-irsa",
        assume_role_policy=trust,
        tags=dict(tags),
        opts=child_opts(parent),
    )
    for index, arn in enumerate(managed):
        aws.iam.RolePolicyAttachment(
            f"{name}-{purpose}-irsa-{index}",
            role=role.name,
            policy_arn=arn,
            opts=child_opts(parent),
        )
    return role


def managed_addon(
    parent: pulumi.Resource,
    name: str,
    cluster_name: pulumi.Input[str],
    addon: str,
    version: str,
    *,
    tags: Mapping[str, str],
    role_arn: pulumi.Input[str] | None = None,
    configuration: Mapping[str, Any] | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
) -> aws.eks.Addon:
    """An EKS managed add-on at a pinned version."""
    return aws.eks.Addon(
        f"{name}-addon-{addon}",
        cluster_name=cluster_name,
        addon_name=addon,
        addon_version=version,
        service_account_role_arn=role_arn,
        configuration_values=json.dumps(configuration) if configuration else None,
        resolve_conflicts_on_create="OVERWRITE",
        # Keep hand-made changes visible as drift instead of silently reverting them.
        resolve_conflicts_on_update="PRESERVE",
        tags=dict(tags),
        opts=child_opts(parent, depends_on=depends_on),
    )


@dataclass(frozen=True)
class ClusterAddonsArgs:
    """Inputs of :class:`ClusterAddons` (take them from a :class:`Cluster`'s outputs)."""

    cluster_name: pulumi.Input[str]
    """The cluster."""
    oidc_provider_arn: pulumi.Input[str]
    """IAM OIDC provider of the cluster."""
    oidc_issuer_host: pulumi.Input[str]
    """OIDC issuer without ``https://``."""
    ebs_kms_key_arn: pulumi.Input[str]
    """Key the EBS CSI driver may use for volumes."""
    region: str
    """Region (for the ``kms:ViaService`` condition)."""
    addon_versions: Mapping[str, str]
    """Pinned versions (a :class:`Cluster`'s ``addon_versions``)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources (node groups) that must exist first."""
    partition: str = "aws"
    """AWS partition."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags."""


class ClusterAddons(pulumi.ComponentResource):
    """Add-ons that need nodes: CoreDNS and the EBS CSI driver (with its IRSA role)."""

    addon_names: list[str]
    """Names of the add-ons created."""

    def __init__(
        self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:cluster:ClusterAddons", name, None, opts)
        tags = merge_tags(args.tags)
        managed_addon(
            self,
            name,
            args.cluster_name,
            "coredns",
            args.addon_versions["coredns"],
            tags=tags,
            depends_on=args.depends_on,
        )
        ebs_role = irsa_role(
            self,
            name,
            "ebs-csi",
            ("kube-system", "ebs-csi-controller-sa"),
            args.oidc_provider_arn,
            args.oidc_issuer_host,
            tags,
            managed=[managed_policy_arn(args.partition, "service-role/AmazonEBSCSIDriverPolicy")],
        )
        aws.iam.RolePolicy(
            f"{name}-ebs-csi-kms",
            role=ebs_role.id,
            policy=pulumi.Output.from_input(args.ebs_kms_key_arn).apply(
                lambda arn: to_json(ebs_csi_kms_policy(arn, args.region))
            ),
            opts=child_opts(self),
        )
        managed_addon(
            self,
            name,
            args.cluster_name,
            "aws-ebs-csi-driver",
            args.addon_versions["aws-ebs-csi-driver"],
            tags=tags,
            role_arn=ebs_role.arn,
            depends_on=args.depends_on,
        )
        self.addon_names = ["coredns", "aws-ebs-csi-driver"]
        self.register_outputs({"addonNames": self.addon_names})
