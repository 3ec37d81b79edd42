"""Cluster: an EKS control plane reachable only from inside the VPC.

Private endpoint only, Kubernetes secrets envelope-encrypted with a customer-managed
key, every control-plane log type shipped to a KMS-encrypted log group created (with
its retention) before the cluster, API-only authentication (access entries, no
``aws-auth`` ConfigMap), an OIDC provider for IRSA plus the Pod Identity agent, and
EKS managed add-ons at pinned versions.

The add-ons live in :mod:`components.cluster_addons`: the networking ones are created
here with the cluster, before any node joins; those that schedule pods are a separate
component, :class:`ClusterAddons` (re-exported here), created after the node pools.
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
    encrypted_log_group,
    https_from_vpc_security_group,
    managed_policy_arn,
    merge_tags,
    to_json,
)

# Re-exported: importers take the add-on names from here (they lived in this module).
from components.cluster_addons import ADDON_VERSIONS as ADDON_VERSIONS
from components.cluster_addons import EARLY_ADDONS as EARLY_ADDONS
from components.cluster_addons import LATE_ADDONS as LATE_ADDONS
from components.cluster_addons import ClusterAddons as ClusterAddons
from components.cluster_addons import ClusterAddonsArgs as ClusterAddonsArgs
from components.cluster_addons import addon_versions_for as addon_versions_for
from components.cluster_addons import ebs_csi_kms_policy as ebs_csi_kms_policy
from components.cluster_addons import irsa_role, managed_addon

CONTROL_PLANE_LOG_TYPES: tuple[str, ...] = (
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
)
"""Every EKS control-plane log type (CIS EKS 2.1.1 asks for all of them)."""

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
        check_cluster_args(args)
        pins = addon_versions_for(args.version, args.addon_versions)
        self.version = args.version
        self.addon_versions = pins
        tags = merge_tags(args.tags)

        cluster = self._control_plane(name, args, tags)
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
        self._grant_admins(name, cluster, args, tags)
        self._networking_addons(name, cluster, args.partition, pins, tags)

        ca_data = cluster.certificate_authority.apply(lambda ca: ca.data or "")

        def render_kubeconfig(name_endpoint_ca: list[str]) -> str:
            cluster_name, endpoint, ca = name_endpoint_ca
            return json.dumps(build_kubeconfig(cluster_name, endpoint, ca, args.region))

        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, ca_data).apply(render_kubeconfig)
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=child_opts(self),
        )
        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint.apply(lambda endpoint: endpoint or "")
        self.certificate_authority = ca_data
        self.private_endpoint_only = True
        self.cluster_security_group_id = cluster.vpc_config.apply(
            lambda vpc_config: vpc_config.cluster_security_group_id or ""
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

    def _control_plane(
        self, name: str, args: ClusterArgs, tags: Mapping[str, str]
    ) -> aws.eks.Cluster:
        """The cluster role, API security group and log group, then the EKS cluster."""
        role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=to_json(assume_role_policy("eks.amazonaws.com")),
            tags=tags,
            opts=child_opts(self),
        )
        role_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=role.name,
            policy_arn=managed_policy_arn(args.partition, "AmazonEKSClusterPolicy"),
            opts=child_opts(self),
        )
        api_group = https_from_vpc_security_group(
            self,
            f"{name}-api-sg",
            vpc_id=args.vpc_id,
            vpc_cidr=args.vpc_cidr,
            description="EKS API endpoint: HTTPS from inside the VPC only",
            rule_description="Kubernetes API from the VPC",
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="Control plane to nodes (kubelet, webhooks) inside the VPC",
                    protocol="tcp",
                    from_port=0,
                    to_port=65535,
                    cidr_blocks=[args.vpc_cidr],
                )
            ],
            tags=tags,
        )
        log_group = encrypted_log_group(
            self,
            f"{name}-control-plane-logs",
            # EKS writes to exactly this name; creating it first sets retention and KMS.
            log_group_name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_days=args.log_retention_days,
            kms_key_arn=args.logs_kms_key_arn,
            tags=tags,
        )
        return aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.subnet_ids),
                security_group_ids=[api_group.id],
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
            opts=child_opts(self, depends_on=[role_policy, log_group]),
        )

    def _grant_admins(
        self, name: str, cluster: aws.eks.Cluster, args: ClusterArgs, tags: Mapping[str, str]
    ) -> None:
        """An access entry with the cluster-admin access policy for each admin role."""
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

    def _networking_addons(
        self,
        name: str,
        cluster: aws.eks.Cluster,
        partition: str,
        pins: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> None:
        """The add-ons nodes need to go Ready: VPC CNI (with its IRSA role), kube-proxy,
        the Pod Identity agent."""
        cni_role = irsa_role(
            self,
            name,
            "vpc-cni",
            ("kube-system", "aws-node"),
            self.oidc_provider_arn,
            self.oidc_issuer_host,
            tags,
            managed=[managed_policy_arn(partition, "AmazonEKS_CNI_Policy")],
        )
        managed_addon(
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
            managed_addon(self, name, cluster.name, addon, pins[addon], tags=tags)


def check_cluster_args(args: ClusterArgs) -> None:
    """Version, cluster name and subnets, checked before anything is registered."""
    check_version(args.version)
    if not _CLUSTER_NAME.match(args.cluster_name):
        raise ValueError(
            f"cluster_name {args.cluster_name!r}: 1-100 letters, digits, '-' or '_', "
            "starting with a letter"
        )
    if len(args.subnet_ids) < 2:
        raise ValueError("subnet_ids: EKS needs subnets in at least two zones")
