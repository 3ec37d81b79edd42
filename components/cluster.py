"""Cluster: an EKS control plane reachable only from inside the VPC.

Private endpoint only, Kubernetes secrets envelope-encrypted with a customer-managed
key, every control-plane log type shipped to a KMS-encrypted log group created (with
its retention) before the cluster, API-only authentication (access entries, no
``aws-auth`` ConfigMap), an OIDC provider for IRSA plus the Pod Identity agent, and
EKS managed add-ons at pinned versions.

Add-ons that schedule pods (CoreDNS, the EBS CSI controller) only become healthy once
nodes exist, so they live in :class:`ClusterAddons`, which the composition creates after
the node pools; the networking add-ons (VPC CNI with network-policy enforcement,
kube-proxy, Pod Identity agent) are created with the cluster, before any node joins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._util import (
    assume_role_policy,
    child_opts,
    irsa_trust_policy,
    managed_policy_arn,
    merge_tags,
    policy_document,
    to_json,
)

CONTROL_PLANE_LOG_TYPES: tuple[str, ...] = (
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
)
"""Every EKS control-plane log type (CIS EKS 2.1.1 asks for all of them)."""

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

MIN_VERSION = (1, 35)
_VERSION = re.compile(r"^1\.(\d+)$")
_CLUSTER_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-_]{0,99}$")


@dataclass(frozen=True)
class ClusterArgs:
    """Inputs of :class:`Cluster`."""

    cluster_name: str
    """EKS cluster name (fixed, so the log group name is known before the cluster)."""
    region: str
    """Region, for the kubeconfig's token command."""
    vpc_id: pulumi.Input[str]
    """VPC of the cluster."""
    vpc_cidr: str
    """VPC range: the only source allowed to reach the API endpoint."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets for the control plane's network interfaces (two zones or more)."""
    secrets_kms_key_arn: pulumi.Input[str]
    """Key that envelope-encrypts Kubernetes secrets."""
    logs_kms_key_arn: pulumi.Input[str]
    """Key of the control-plane log group."""
    version: str = "1.35"
    """Kubernetes minor version, 1.35 or later."""
    log_retention_days: int = 365
    """Control-plane log retention."""
    admin_role_arns: Sequence[str] = ()
    """IAM roles granted cluster-admin through access entries."""
    addon_versions: Mapping[str, str] | None = None
    """Add-on versions; defaults to :data:`ADDON_VERSIONS` for ``version``."""
    partition: str = "aws"
    """AWS partition."""
    deletion_protection: bool = False
    """EKS deletion protection (prod)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every resource."""


def check_version(version: str) -> None:
    """Refuse versions outside standard support (1.34 leaves it on 2026-12-02)."""
    match = _VERSION.match(version)
    if match is None or (1, int(match.group(1))) < MIN_VERSION:
        raise ValueError(
            f"cluster version {version!r}: 1.35 or later is required "
            "(1.34 leaves EKS standard support on 2026-12-02)"
        )


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


def build_kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> dict[str, Any]:
    """A kubeconfig that authenticates with ``aws eks get-token`` (short-lived tokens)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"server": endpoint, "certificate-authority-data": ca_data},
            }
        ],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": "aws"}}],
        "current-context": cluster_name,
        "users": [
            {
                "name": "aws",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": [
                            "eks",
                            "get-token",
                            "--cluster-name",
                            cluster_name,
                            "--region",
                            region,
                            "--output",
                            "json",
                        ],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
    }


def oidc_issuer(identities: Sequence[Any] | None) -> str:
    """The OIDC issuer URL from an EKS cluster's ``identities`` output."""
    for identity in identities or []:
        for oidc in identity.oidcs or []:
            if oidc.issuer:
                return str(oidc.issuer)
    raise ValueError("the EKS cluster reported no OIDC issuer (identities[0].oidcs[0].issuer)")


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


class Cluster(pulumi.ComponentResource):
    """An EKS control plane with private endpoint, encryption, logs, IRSA and add-ons."""

    cluster_name: pulumi.Output[str]
    """The cluster name."""
    endpoint: pulumi.Output[str]
    """The private API endpoint."""
    private_endpoint_only: bool
    """True: the API endpoint is not reachable from the internet."""
    certificate_authority: pulumi.Output[str]
    """Base64 CA bundle of the API server."""
    cluster_security_group_id: pulumi.Output[str]
    """Security group EKS creates for control plane / node traffic."""
    oidc_provider_arn: pulumi.Output[str]
    """ARN of the IAM OIDC provider (IRSA trust policies federate to it)."""
    oidc_issuer_host: pulumi.Output[str]
    """OIDC issuer without ``https://`` (the condition-key prefix in trust policies)."""
    kubeconfig: pulumi.Output[str]
    """kubeconfig (JSON, secret) that authenticates with ``aws eks get-token``."""
    provider: k8s.Provider
    """Kubernetes provider for this cluster, for tenant and platform-layer components."""
    version: str
    """Kubernetes minor version."""
    addon_versions: dict[str, str]
    """Pinned add-on versions in use."""

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:cluster:Cluster", name, None, opts)
        check_version(args.version)
        if not _CLUSTER_NAME.match(args.cluster_name):
            raise ValueError(
                f"cluster_name {args.cluster_name!r}: 1-100 letters, digits, '-' or '_', "
                "starting with a letter"
            )
        if len(args.subnet_ids) < 2:
            raise ValueError("subnet_ids: EKS needs subnets in at least two zones")
        pins = addon_versions_for(args.version, args.addon_versions)
        self.version = args.version
        self.addon_versions = pins
        tags = merge_tags(args.tags)

        role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=to_json(assume_role_policy("eks.amazonaws.com")),
            tags=tags,
            opts=child_opts(self),
        )
        policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=role.name,
            policy_arn=managed_policy_arn(args.partition, "AmazonEKSClusterPolicy"),
            opts=child_opts(self),
        )
        api_sg = aws.ec2.SecurityGroup(
            f"{name}-api-sg",
            vpc_id=args.vpc_id,
            description="EKS API endpoint: HTTPS from inside the VPC only",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="Kubernetes API from the VPC",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[args.vpc_cidr],
                )
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="Control plane to nodes (kubelet, webhooks) inside the VPC",
                    protocol="tcp",
                    from_port=0,
                    to_port=65535,
                    cidr_blocks=[args.vpc_cidr],
                )
            ],
            tags=merge_tags(tags, {"Name": f"{name}-api-sg"}),
            opts=child_opts(self),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            # EKS writes to exactly this name; creating it first sets retention and KMS.
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_kms_key_arn,
            tags=tags,
            opts=child_opts(self),
        )
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.subnet_ids),
                security_group_ids=[api_sg.id],
                endpoint_private_access=True,
                endpoint_public_access=False,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(
                    key_arn=args.secrets_kms_key_arn
                ),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # The identity running `pulumi up` must reach the API to create the
                # Kubernetes layer; every other admin is an explicit access entry.
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            # Add-ons are managed (and pinned) below, not the unmanaged bootstrap set.
            bootstrap_self_managed_addons=False,
            # STANDARD: the cluster never drifts silently into paid extended support.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=args.deletion_protection,
            tags=tags,
            opts=child_opts(self, depends_on=[policy, log_group]),
        )

        issuer = cluster.identities.apply(oidc_issuer)
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=tags,
            opts=child_opts(self),
        )
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer_host = issuer.apply(lambda url: url.removeprefix("https://"))

        for principal in args.admin_role_arns:
            slug = re.sub(r"[^a-zA-Z0-9-]", "-", principal.rsplit("/", 1)[-1]).lower()
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{slug}",
                cluster_name=cluster.name,
                principal_arn=principal,
                type="STANDARD",
                tags=tags,
                opts=child_opts(self),
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{slug}-policy",
                cluster_name=cluster.name,
                principal_arn=principal,
                policy_arn=(
                    f"arn:{args.partition}:eks::aws:cluster-access-policy/"
                    "AmazonEKSClusterAdminPolicy"
                ),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child_opts(self, depends_on=[entry]),
            )

        cni_role = _irsa_role(
            self,
            name,
            "vpc-cni",
            ("kube-system", "aws-node"),
            self.oidc_provider_arn,
            self.oidc_issuer_host,
            tags,
            managed=[managed_policy_arn(args.partition, "AmazonEKS_CNI_Policy")],
        )
        _addon(
            self,
            name,
            cluster.name,
            "vpc-cni",
            pins["vpc-cni"],
            role_arn=cni_role.arn,
            # NetworkPolicy objects are only enforced when the CNI's policy agent runs;
            # every tenant namespace relies on default-deny.
            configuration={"enableNetworkPolicy": "true"},
            tags=tags,
        )
        for addon in ("kube-proxy", "eks-pod-identity-agent"):
            _addon(self, name, cluster.name, addon, pins[addon], tags=tags)

        ca_data = cluster.certificate_authority.apply(lambda ca: ca.data or "")
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, ca_data).apply(
                lambda v: json.dumps(build_kubeconfig(v[0], v[1], v[2], args.region))
            )
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=child_opts(self),
        )
        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint.apply(lambda e: e or "")
        self.certificate_authority = ca_data
        self.private_endpoint_only = True
        self.cluster_security_group_id = cluster.vpc_config.apply(
            lambda vc: vc.cluster_security_group_id or ""
        )
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "endpoint": self.endpoint,
                "privateEndpointOnly": self.private_endpoint_only,
                "oidcProviderArn": self.oidc_provider_arn,
                "oidcIssuerHost": self.oidc_issuer_host,
                "clusterSecurityGroupId": self.cluster_security_group_id,
                "kubeconfig": self.kubeconfig,
                "version": self.version,
            }
        )


def _irsa_role(
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
    trust = pulumi.Output.all(oidc_provider_arn, oidc_issuer_host).apply(
        lambda v: to_json(irsa_trust_policy(v[0], v[1], namespace, account))
    )
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


def _addon(
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
        _addon(
            self,
            name,
            args.cluster_name,
            "coredns",
            args.addon_versions["coredns"],
            tags=tags,
            depends_on=args.depends_on,
        )
        ebs_role = _irsa_role(
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
        _addon(
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
