"""Tenant: an isolated namespace with quotas, RBAC, network policies and workload identity.

Each tenant gets a namespace that enforces Pod Security ``restricted``, a default-deny
NetworkPolicy (ingress and egress) plus only the allows the platform needs (DNS to
CoreDNS, traffic inside the namespace, scrapes from the monitoring namespace, HTTPS to
the VPC endpoints), a ResourceQuota and LimitRange from its tier, an admin Role without
wildcards and a read-only Role bound to groups, and a workload ServiceAccount that does
not automount its token.

In ``aws`` mode the ServiceAccount is bound through IRSA to an IAM role that exactly
that service account can assume, allowed only on the tenant's buckets and key. In
``hybrid`` mode (an on-prem cluster) the same Kubernetes objects are created, no IAM.

Builders return Kubernetes objects in wire format (camelCase), so tests validate exactly
what is registered against the Kubernetes OpenAPI schemas.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components._util import (
    child_opts,
    irsa_trust_policy,
    merge_tags,
    policy_document,
    to_json,
    wildcard_findings,
)
from components.k8s import netpol, podspec
from components.k8s._resources import register
from components.k8s.podspec import Manifest, object_meta
from contracts.names import PART_OF, TENANT_LABEL, TIER_LABEL, tenant_namespace

IRSA_ANNOTATION = podspec.IRSA_ANNOTATION
"""ServiceAccount annotation naming the IRSA role."""
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PSS_VERSION = re.compile(r"^(latest|v1\.\d+)$")

# Everything a tenant admin manages day to day. No "*" anywhere, no RBAC objects (no
# privilege escalation), no pods/exec or pods/attach (no interactive shells in
# production), and network policies / quotas read-only (the tenant cannot open holes).
_WRITE_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
_READ_VERBS = ["get", "list", "watch"]
_ADMIN_WRITE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("pods", "services", "configmaps", "secrets", "persistentvolumeclaims")),
    ("apps", ("deployments", "statefulsets", "replicasets")),
    ("batch", ("jobs", "cronjobs")),
    ("autoscaling", ("horizontalpodautoscalers",)),
    ("policy", ("poddisruptionbudgets",)),
    ("serving.kserve.io", ("inferenceservices",)),
)
_ADMIN_READ: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("pods/log", "events", "endpoints", "serviceaccounts", "resourcequotas", "limitranges")),
    ("networking.k8s.io", ("networkpolicies",)),
)


@dataclass(frozen=True)
class TenantQuota:
    """The namespace's resource budget (from the tier preset)."""

    cpu: int
    """Total CPU requests, cores."""
    memory_gib: int
    """Total memory requests (and limits), GiB."""
    gpus: int
    """Total ``nvidia.com/gpu`` requests (0: no GPU pods at all)."""
    pods: int
    """Maximum pods."""
    cpu_limit_factor: int = 2
    """CPU limits may burst to this multiple of the requests budget."""
    pvcs: int = 20
    """Maximum PersistentVolumeClaims."""
    storage_gib: int = 500
    """Total requested storage."""
    container_default_cpu: str = "500m"
    """Limit given to containers that declare none."""
    container_default_memory: str = "512Mi"
    """Memory limit given to containers that declare none."""
    container_default_cpu_request: str = "100m"
    """Request given to containers that declare none."""
    container_default_memory_request: str = "256Mi"
    """Memory request given to containers that declare none."""


@dataclass(frozen=True)
class EgressRule:
    """An extra egress allow: TCP ports to CIDR blocks (e.g. Redis in the data subnets)."""

    name: str
    """Short kebab-case name (becomes part of the policy name)."""
    cidrs: Sequence[str]
    """Destination CIDR blocks."""
    ports: Sequence[int]
    """Destination TCP ports."""


@dataclass(frozen=True)
class TenantAwsIdentity:
    """AWS mode: the IRSA role of the tenant's workloads and what it may touch."""

    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider."""
    oidc_issuer_host: pulumi.Input[str]
    """The cluster's OIDC issuer without ``https://``."""
    bucket_arns: Sequence[pulumi.Input[str]]
    """The tenant's buckets (and nothing else)."""
    kms_key_arn: pulumi.Input[str]
    """The tenant's key."""
    region: str
    """Region (for ``kms:ViaService``)."""
    kms_via_services: Sequence[str] = ("s3",)
    """Services through which the key may be used (s3, dynamodb, sqs...)."""
    extra_statements: Sequence[Mapping[str, Any]] = ()
    """Further least-privilege statements (no ``*`` action or resource allowed)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the role."""


@dataclass(frozen=True)
class TenantArgs:
    """Inputs of :class:`Tenant`."""

    name: str
    """Tenant name (DNS-1123 label)."""
    tier: str
    """Tier label value (smb, enterprise)."""
    quota: TenantQuota
    """Resource budget."""
    namespace: str | None = None
    """Namespace name; defaults to ``tenant-<name>``."""
    https_egress_cidrs: Sequence[str] = ()
    """CIDRs the tenant may reach on 443 (the VPC: interface endpoints resolve there)."""
    extra_egress: Sequence[EgressRule] = ()
    """Further egress allows."""
    monitoring_namespace: str = "monitoring"
    """Namespace whose Prometheus may scrape the tenant."""
    metrics_ports: Sequence[int] = (8000, 8080, 9090)
    """Ports Prometheus may scrape (Feast feature server, KServe model server, drift)."""
    admin_group: str | None = None
    """Kubernetes group bound to the admin Role; defaults to ``mlplatform:<name>:admins``."""
    viewer_group: str | None = None
    """Group bound to the read-only Role; defaults to ``mlplatform:<name>:viewers``."""
    service_account_name: str = "workload"
    """The workload ServiceAccount (created here)."""
    irsa_service_accounts: Sequence[str] = ()
    """Further ServiceAccounts of the namespace, created by the platform layer (feature
    server, model server), that may also assume the tenant's role."""
    pod_security_version: str = "latest"
    """Pod Security Standards version label (``v1.35`` pins the policy to that release)."""
    aws: TenantAwsIdentity | None = None
    """AWS mode identity; None in hybrid mode (no IAM)."""


def namespace_of(args: TenantArgs) -> str:
    """The tenant's namespace name."""
    return args.namespace or tenant_namespace(args.name)


def tenant_labels(tenant: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels of every object of a tenant: part of the platform, managed by Pulumi, its tenant."""
    return {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        TENANT_LABEL: tenant,
        **(extra or {}),
    }


def namespace_manifest(tenant: str, namespace: str, tier: str, pss_version: str) -> Manifest:
    """The namespace, enforcing, auditing and warning at Pod Security ``restricted``."""
    return podspec.namespace(
        namespace,
        "restricted",
        tenant_labels(tenant, {TIER_LABEL: tier}),
        pod_security_version=pss_version,
    )


def network_policy_manifests(args: TenantArgs) -> list[Manifest]:
    """Default-deny plus the explicit allows, in the order they are registered."""
    namespace = namespace_of(args)
    labels = tenant_labels(args.name)
    policies = [
        netpol.default_deny(namespace, labels),
        netpol.allow_dns(namespace, labels),
        netpol.allow_same_namespace(namespace, labels),
        netpol.scrape_ingress(namespace, labels, args.monitoring_namespace, args.metrics_ports),
    ]
    egress: list[tuple[str, Sequence[str], Sequence[int]]] = []
    if args.https_egress_cidrs:
        egress.append(("allow-https-to-aws-endpoints", args.https_egress_cidrs, [443]))
    egress += [(f"allow-egress-{rule.name}", rule.cidrs, rule.ports) for rule in args.extra_egress]
    for policy_name, cidrs, ports in egress:
        peers = netpol.ip_block_peers(cidrs)
        policies.append(netpol.egress_to(policy_name, namespace, labels, peers, ports))
    return policies


def resource_quota_manifest(args: TenantArgs) -> Manifest:
    """The namespace budget: CPU, memory, GPUs, pods, storage; no LB or NodePort services."""
    quota = args.quota
    hard = {
        "requests.cpu": str(quota.cpu),
        "limits.cpu": str(quota.cpu * quota.cpu_limit_factor),
        "requests.memory": f"{quota.memory_gib}Gi",
        "limits.memory": f"{quota.memory_gib}Gi",
        "requests.nvidia.com/gpu": str(quota.gpus),
        "pods": str(quota.pods),
        "persistentvolumeclaims": str(quota.pvcs),
        "requests.storage": f"{quota.storage_gib}Gi",
        # Tenants are never exposed directly: no cloud load balancers, no node ports.
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": object_meta("tenant-quota", namespace_of(args), tenant_labels(args.name)),
        "spec": {"hard": hard},
    }


def limit_range_manifest(args: TenantArgs) -> Manifest:
    """Defaults for containers that declare no resources, and a per-container ceiling."""
    quota = args.quota
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": object_meta("tenant-limits", namespace_of(args), tenant_labels(args.name)),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {
                        "cpu": quota.container_default_cpu,
                        "memory": quota.container_default_memory,
                    },
                    "defaultRequest": {
                        "cpu": quota.container_default_cpu_request,
                        "memory": quota.container_default_memory_request,
                    },
                    "max": {"cpu": str(quota.cpu), "memory": f"{quota.memory_gib}Gi"},
                }
            ]
        },
    }


def _rules(
    groups: Sequence[tuple[str, Sequence[str]]], verbs: Sequence[str], drop: Sequence[str] = ()
) -> list[Manifest]:
    rules = []
    for group, resources in groups:
        kept = [resource for resource in resources if resource not in drop]
        if kept:
            rules.append({"apiGroups": [group], "resources": kept, "verbs": list(verbs)})
    return rules


def rbac_manifests(args: TenantArgs) -> list[Manifest]:
    """tenant-admin and tenant-viewer Roles and their RoleBindings to groups."""
    namespace = namespace_of(args)
    labels = tenant_labels(args.name)
    admin_group = args.admin_group or f"mlplatform:{args.name}:admins"
    viewer_group = args.viewer_group or f"mlplatform:{args.name}:viewers"
    admin_rules = _rules(_ADMIN_WRITE, _WRITE_VERBS) + _rules(_ADMIN_READ, _READ_VERBS)
    # Viewers see workloads and their logs, never secret values.
    viewer_rules = _rules(_ADMIN_WRITE, _READ_VERBS, drop=("secrets",)) + _rules(
        _ADMIN_READ, _READ_VERBS
    )
    manifests: list[Manifest] = []
    for role_name, rules, group in (
        ("tenant-admin", admin_rules, admin_group),
        ("tenant-viewer", viewer_rules, viewer_group),
    ):
        manifests.append(podspec.role(role_name, namespace, labels, rules))
        manifests.append(
            podspec.role_binding(
                role_name, namespace, labels, role_name, [podspec.group_subject(group)]
            )
        )
    return manifests


def service_account_manifest(args: TenantArgs, role_arn: str | None) -> Manifest:
    """The workload ServiceAccount; token not automounted (pods opt in via projection)."""
    return podspec.service_account(
        args.service_account_name, namespace_of(args), tenant_labels(args.name), role_arn
    )


def tenant_access_policy(
    bucket_arns: Sequence[str],
    kms_key_arn: str,
    region: str,
    via_services: Sequence[str] = ("s3",),
    extra_statements: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Permissions of a tenant's workload role: its buckets and its key, nothing else."""
    if not bucket_arns:
        raise ValueError("bucket_arns: a tenant role needs at least one bucket")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListTenantBuckets",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": sorted(bucket_arns),
        },
        {
            "Sid": "ReadWriteTenantObjects",
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": sorted(f"{arn}/*" for arn in bucket_arns),
        },
        {
            "Sid": "UseTenantKeyThroughServices",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": kms_key_arn,
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": sorted(
                        f"{service}.{region}.amazonaws.com" for service in via_services
                    )
                }
            },
        },
    ]
    statements += [dict(statement) for statement in extra_statements]
    document = policy_document(statements)
    findings = wildcard_findings(document)
    if findings:
        raise ValueError(f"tenant access policy is not least-privilege: {'; '.join(findings)}")
    return document


class Tenant(pulumi.ComponentResource):
    """A tenant's namespace, guard rails and workload identity.

    Pass the cluster's Kubernetes provider in ``opts`` (``providers=[provider]``); the
    children inherit it through ``parent``.
    """

    namespace: str
    """Namespace name."""
    service_account_name: str
    """Workload ServiceAccount name."""
    role_arn: pulumi.Output[str] | None
    """IRSA role ARN (aws mode), None in hybrid mode."""
    role_name: pulumi.Output[str] | None
    """IRSA role name (to attach further policies, e.g. a queue's), None in hybrid mode."""
    manifests: list[Manifest]
    """The Kubernetes objects registered (wire format; the SA's role ARN is a placeholder)."""

    def __init__(
        self, name: str, args: TenantArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:tenant:Tenant", name, None, opts)
        namespace = namespace_of(args)
        _check_names(args, namespace)
        self.namespace = namespace
        self.service_account_name = args.service_account_name

        namespace_object = namespace_manifest(
            args.name, namespace, args.tier, args.pod_security_version
        )
        namespace_resource = register(f"{name}-ns", namespace_object, child_opts(self))
        in_namespace = child_opts(self, depends_on=[namespace_resource])
        guard_rails = self._register_guard_rails(name, args, namespace_resource, in_namespace)
        self.role_arn = None
        self.role_name = None
        role_arn: pulumi.Output[str] | None = None
        if args.aws is not None:
            role = self._workload_role(name, namespace, args)
            self.role_arn = role_arn = role.arn
            self.role_name = role.name
        self._register_service_account(name, args, role_arn, in_namespace)
        self.manifests = [
            namespace_object,
            *guard_rails,
            service_account_manifest(args, "<irsa-role-arn>" if args.aws else None),
        ]
        self.register_outputs(
            {
                "namespace": self.namespace,
                "serviceAccountName": self.service_account_name,
                "roleArn": self.role_arn,
                "roleName": self.role_name,
            }
        )

    def _register_guard_rails(
        self,
        name: str,
        args: TenantArgs,
        namespace: pulumi.Resource,
        in_namespace: pulumi.ResourceOptions,
    ) -> list[Manifest]:
        """Network policies, quota, limits and RBAC of the namespace; returns them."""
        policies = network_policy_manifests(args)
        # Default-deny goes first, so no allow ever exists without it.
        deny = register(f"{name}-{policies[0]['metadata']['name']}", policies[0], in_namespace)
        for policy in policies[1:]:
            register(
                f"{name}-{policy['metadata']['name']}",
                policy,
                child_opts(self, depends_on=[namespace, deny]),
            )
        quota = resource_quota_manifest(args)
        register(f"{name}-quota", quota, in_namespace)
        limits = limit_range_manifest(args)
        register(f"{name}-limits", limits, in_namespace)
        rbac = rbac_manifests(args)
        for rbac_object in rbac:
            suffix = "-binding" if rbac_object["kind"] == "RoleBinding" else ""
            register(f"{name}-{rbac_object['metadata']['name']}{suffix}", rbac_object, in_namespace)
        return [*policies, quota, limits, *rbac]

    def _register_service_account(
        self,
        name: str,
        args: TenantArgs,
        role_arn: pulumi.Output[str] | None,
        in_namespace: pulumi.ResourceOptions,
    ) -> None:
        """The workload ServiceAccount, annotated with the IRSA role once its ARN is known."""
        account = service_account_manifest(args, None)
        if role_arn is not None:
            account["metadata"] = role_arn.apply(
                lambda arn: service_account_manifest(args, arn)["metadata"]
            )
        register(f"{name}-sa", account, in_namespace)

    def _workload_role(self, name: str, namespace: str, args: TenantArgs) -> aws.iam.Role:
        identity = args.aws
        assert identity is not None
        accounts = [args.service_account_name, *args.irsa_service_accounts]
        for account in accounts:
            if not _DNS1123.match(account):
                raise ValueError(f"service account {account!r}: must be a DNS-1123 label")

        def trust_policy(provider_and_issuer: list[str]) -> str:
            provider_arn, issuer_host = provider_and_issuer
            return to_json(irsa_trust_policy(provider_arn, issuer_host, namespace, accounts))

        trust = pulumi.Output.all(identity.oidc_provider_arn, identity.oidc_issuer_host).apply(
            trust_policy
        )
        role = aws.iam.Role(
            f"{name}-workload-role",
            description=f"Workloads of tenant {args.name} (namespace {namespace}) via IRSA",
            assume_role_policy=trust,
            max_session_duration=3600,
            tags=merge_tags(identity.tags, {"tenant": args.name}),
            opts=child_opts(self),
        )

        def access_policy(key_arn: str, bucket_arns: Sequence[str]) -> dict[str, Any]:
            return tenant_access_policy(
                bucket_arns,
                key_arn,
                identity.region,
                identity.kms_via_services,
                identity.extra_statements,
            )

        # Fail here, not later inside the apply below, if the extras are not least-privilege.
        access_policy("arn:aws:kms:probe", ["arn:aws:s3:::probe"])
        policy = pulumi.Output.all(identity.kms_key_arn, *identity.bucket_arns).apply(
            lambda key_and_buckets: to_json(
                access_policy(key_and_buckets[0], list(key_and_buckets[1:]))
            )
        )
        aws.iam.RolePolicy(
            f"{name}-workload-access",
            role=role.id,
            policy=policy,
            opts=child_opts(self),
        )
        return role


def _check_names(args: TenantArgs, namespace: str) -> None:
    """Tenant and namespace must be DNS-1123 labels; the PSS version 'latest' or 'v1.<n>'."""
    for label, value in (("name", args.name), ("namespace", namespace)):
        if not _DNS1123.match(value) or len(value) > 63:
            raise ValueError(f"tenant {label} {value!r}: must be a DNS-1123 label")
    if not _PSS_VERSION.match(args.pod_security_version):
        raise ValueError(
            f"pod_security_version {args.pod_security_version!r}: 'latest' or 'v1.<minor>'"
        )
