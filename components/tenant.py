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
import pulumi_kubernetes as k8s

from components._util import (
    child_opts,
    irsa_trust_policy,
    merge_tags,
    policy_document,
    to_json,
    wildcard_findings,
)
from contracts.names import TENANT_LABEL, TIER_LABEL, tenant_namespace

Manifest = dict[str, Any]
"""A Kubernetes object in wire format."""

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
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


def _meta(
    name: str,
    namespace: str | None,
    tenant: str,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    meta: Manifest = {
        "name": name,
        "labels": {
            "app.kubernetes.io/part-of": "mlplatform",
            "app.kubernetes.io/managed-by": "pulumi",
            TENANT_LABEL: tenant,
            **(labels or {}),
        },
    }
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def namespace_manifest(tenant: str, namespace: str, tier: str, pss_version: str) -> Manifest:
    """The namespace, enforcing, auditing and warning at Pod Security ``restricted``."""
    labels = {TIER_LABEL: tier}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = pss_version
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(namespace, None, tenant, labels),
    }


def _netpol(name: str, namespace: str, tenant: str, spec: Manifest) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(name, namespace, tenant),
        "spec": spec,
    }


def network_policy_manifests(args: TenantArgs) -> list[Manifest]:
    """Default-deny plus the explicit allows, in the order they are registered."""
    ns = namespace_of(args)
    t = args.name
    all_pods: Manifest = {}
    policies = [
        _netpol(
            "default-deny-all",
            ns,
            t,
            {"podSelector": all_pods, "policyTypes": ["Ingress", "Egress"]},
        ),
        _netpol(
            "allow-dns",
            ns,
            t,
            {
                "podSelector": all_pods,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ],
                    }
                ],
            },
        ),
        _netpol(
            "allow-same-namespace",
            ns,
            t,
            {
                "podSelector": all_pods,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": all_pods}]}],
                "egress": [{"to": [{"podSelector": all_pods}]}],
            },
        ),
        _netpol(
            "allow-monitoring-scrape",
            ns,
            t,
            {
                "podSelector": all_pods,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {
                                        "kubernetes.io/metadata.name": args.monitoring_namespace
                                    }
                                }
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": p} for p in args.metrics_ports],
                    }
                ],
            },
        ),
    ]
    if args.https_egress_cidrs:
        policies.append(
            _netpol(
                "allow-https-to-aws-endpoints",
                ns,
                t,
                {
                    "podSelector": all_pods,
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"ipBlock": {"cidr": c}} for c in args.https_egress_cidrs],
                            "ports": [{"protocol": "TCP", "port": 443}],
                        }
                    ],
                },
            )
        )
    for rule in args.extra_egress:
        policies.append(
            _netpol(
                f"allow-egress-{rule.name}",
                ns,
                t,
                {
                    "podSelector": all_pods,
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"ipBlock": {"cidr": c}} for c in rule.cidrs],
                            "ports": [{"protocol": "TCP", "port": p} for p in rule.ports],
                        }
                    ],
                },
            )
        )
    return policies


def resource_quota_manifest(args: TenantArgs) -> Manifest:
    """The namespace budget: CPU, memory, GPUs, pods, storage; no LB or NodePort services."""
    q = args.quota
    hard = {
        "requests.cpu": str(q.cpu),
        "limits.cpu": str(q.cpu * q.cpu_limit_factor),
        "requests.memory": f"{q.memory_gib}Gi",
        "limits.memory": f"{q.memory_gib}Gi",
        "requests.nvidia.com/gpu": str(q.gpus),
        "pods": str(q.pods),
        "persistentvolumeclaims": str(q.pvcs),
        "requests.storage": f"{q.storage_gib}Gi",
        # Tenants are never exposed directly: no cloud load balancers, no node ports.
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta("tenant-quota", namespace_of(args), args.name),
        "spec": {"hard": hard},
    }


def limit_range_manifest(args: TenantArgs) -> Manifest:
    """Defaults for containers that declare no resources, and a per-container ceiling."""
    q = args.quota
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta("tenant-limits", namespace_of(args), args.name),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {
                        "cpu": q.container_default_cpu,
                        "memory": q.container_default_memory,
                    },
                    "defaultRequest": {
                        "cpu": q.container_default_cpu_request,
                        "memory": q.container_default_memory_request,
                    },
                    "max": {"cpu": str(q.cpu), "memory": f"{q.memory_gib}Gi"},
                }
            ]
        },
    }


def _rules(
    groups: Sequence[tuple[str, Sequence[str]]], verbs: Sequence[str], drop: Sequence[str] = ()
) -> list[Manifest]:
    rules = []
    for group, resources in groups:
        kept = [r for r in resources if r not in drop]
        if kept:
            rules.append({"apiGroups": [group], "resources": kept, "verbs": list(verbs)})
    return rules


def rbac_manifests(args: TenantArgs) -> list[Manifest]:
    """tenant-admin and tenant-viewer Roles and their RoleBindings to groups."""
    ns = namespace_of(args)
    admin_group = args.admin_group or f"mlplatform:{args.name}:admins"
    viewer_group = args.viewer_group or f"mlplatform:{args.name}:viewers"
    admin_rules = _rules(_ADMIN_WRITE, _WRITE_VERBS) + _rules(_ADMIN_READ, _READ_VERBS)
    # Viewers see workloads and their logs, never secret values.
    viewer_rules = _rules(_ADMIN_WRITE, _READ_VERBS, drop=("secrets",)) + _rules(
        _ADMIN_READ, _READ_VERBS
    )
    out: list[Manifest] = []
    for role, rules, group in (
        ("tenant-admin", admin_rules, admin_group),
        ("tenant-viewer", viewer_rules, viewer_group),
    ):
        out.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": _meta(role, ns, args.name),
                "rules": rules,
            }
        )
        out.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta(role, ns, args.name),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": role,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
                ],
            }
        )
    return out


def service_account_manifest(args: TenantArgs, role_arn: str | None) -> Manifest:
    """The workload ServiceAccount; token not automounted (pods opt in via projection)."""
    annotations = {IRSA_ANNOTATION: role_arn} if role_arn else None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(
            args.service_account_name, namespace_of(args), args.name, None, annotations
        ),
        "automountServiceAccountToken": False,
    }


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
                    "kms:ViaService": sorted(f"{s}.{region}.amazonaws.com" for s in via_services)
                }
            },
        },
    ]
    statements += [dict(s) for s in extra_statements]
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
        ns = namespace_of(args)
        for label, value in (("name", args.name), ("namespace", ns)):
            if not _DNS1123.match(value) or len(value) > 63:
                raise ValueError(f"tenant {label} {value!r}: must be a DNS-1123 label")
        if not _PSS_VERSION.match(args.pod_security_version):
            raise ValueError(
                f"pod_security_version {args.pod_security_version!r}: 'latest' or 'v1.<minor>'"
            )
        self.namespace = ns
        self.service_account_name = args.service_account_name

        ns_manifest = namespace_manifest(args.name, ns, args.tier, args.pod_security_version)
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata=ns_manifest["metadata"], opts=child_opts(self)
        )
        in_ns = child_opts(self, depends_on=[namespace])
        policies = network_policy_manifests(args)
        # Default-deny goes first, so no allow ever exists without it.
        deny = k8s.networking.v1.NetworkPolicy(
            f"{name}-{policies[0]['metadata']['name']}",
            metadata=policies[0]["metadata"],
            spec=policies[0]["spec"],
            opts=in_ns,
        )
        for policy in policies[1:]:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy['metadata']['name']}",
                metadata=policy["metadata"],
                spec=policy["spec"],
                opts=child_opts(self, depends_on=[namespace, deny]),
            )
        quota = resource_quota_manifest(args)
        k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=quota["metadata"], spec=quota["spec"], opts=in_ns
        )
        limits = limit_range_manifest(args)
        k8s.core.v1.LimitRange(
            f"{name}-limits", metadata=limits["metadata"], spec=limits["spec"], opts=in_ns
        )
        rbac = rbac_manifests(args)
        for obj in rbac:
            suffix = obj["metadata"]["name"] + ("-binding" if obj["kind"] == "RoleBinding" else "")
            if obj["kind"] == "Role":
                k8s.rbac.v1.Role(
                    f"{name}-{suffix}", metadata=obj["metadata"], rules=obj["rules"], opts=in_ns
                )
            else:
                k8s.rbac.v1.RoleBinding(
                    f"{name}-{suffix}",
                    metadata=obj["metadata"],
                    role_ref=obj["roleRef"],
                    subjects=obj["subjects"],
                    opts=in_ns,
                )

        self.role_arn = None
        self.role_name = None
        sa_metadata: Any
        if args.aws is not None:
            role = self._workload_role(name, ns, args)
            self.role_arn = role.arn
            self.role_name = role.name
            sa_metadata = role.arn.apply(
                lambda arn: service_account_manifest(args, arn)["metadata"]
            )
        else:
            sa_metadata = service_account_manifest(args, None)["metadata"]
        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=sa_metadata,
            automount_service_account_token=False,
            opts=in_ns,
        )
        self.manifests = [
            ns_manifest,
            *policies,
            quota,
            limits,
            *rbac,
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

    def _workload_role(self, name: str, ns: str, args: TenantArgs) -> aws.iam.Role:
        identity = args.aws
        assert identity is not None
        accounts = [args.service_account_name, *args.irsa_service_accounts]
        for account in accounts:
            if not _DNS1123.match(account):
                raise ValueError(f"service account {account!r}: must be a DNS-1123 label")
        trust = pulumi.Output.all(identity.oidc_provider_arn, identity.oidc_issuer_host).apply(
            lambda v: to_json(irsa_trust_policy(v[0], v[1], ns, accounts))
        )
        role = aws.iam.Role(
            f"{name}-workload-role",
            description=f"Workloads of tenant {args.name} (namespace {ns}) via IRSA",
            assume_role_policy=trust,
            max_session_duration=3600,
            tags=merge_tags(identity.tags, {"tenant": args.name}),
            opts=child_opts(self),
        )
        # Fail before registering anything if the extras are not least-privilege.
        tenant_access_policy(
            ["arn:aws:s3:::probe"],
            "arn:aws:kms:probe",
            identity.region,
            identity.kms_via_services,
            identity.extra_statements,
        )
        policy = pulumi.Output.all(identity.kms_key_arn, *identity.bucket_arns).apply(
            lambda v: to_json(
                tenant_access_policy(
                    list(v[1:]),
                    v[0],
                    identity.region,
                    identity.kms_via_services,
                    identity.extra_statements,
                )
            )
        )
        aws.iam.RolePolicy(
            f"{name}-workload-access",
            role=role.id,
            policy=policy,
            opts=child_opts(self),
        )
        return role
