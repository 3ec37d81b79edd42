"""Tenant: restricted namespace, default-deny, quotas, RBAC without wildcards, IRSA scope."""

from __future__ import annotations

import json

import kubernetes_validate
import pulumi_kubernetes as k8s
import pytest

from components._util import wildcard_findings
from components.tenant import (
    EgressRule,
    Tenant,
    TenantArgs,
    TenantAwsIdentity,
    TenantQuota,
    network_policy_manifests,
    rbac_manifests,
    resource_quota_manifest,
    tenant_access_policy,
)

BUCKET = "arn:aws:s3:::acme-data"
KEY = "arn:aws:kms:me-central-1:123456789012:key/tenant-acme"
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.me-central-1.amazonaws.com/id/ABC"
ISSUER = "oidc.eks.me-central-1.amazonaws.com/id/ABC"


def _args(aws: bool = True, **overrides: object) -> TenantArgs:
    base: dict[str, object] = {
        "name": "acme",
        "tier": "enterprise",
        "quota": TenantQuota(cpu=64, memory_gib=256, gpus=8, pods=200),
        "https_egress_cidrs": ["10.40.0.0/16"],
        "extra_egress": [EgressRule("redis", ["10.40.128.0/24"], [6379])],
        "pod_security_version": "v1.35",
        "aws": TenantAwsIdentity(OIDC, ISSUER, [BUCKET], KEY, "me-central-1") if aws else None,
    }
    base.update(overrides)
    return TenantArgs(**base)  # type: ignore[arg-type]


def test_manifests_validate_against_kubernetes_schemas(run_program) -> None:
    holder: dict[str, Tenant] = {}

    def program():
        holder["t"] = Tenant("acme", _args())

    run_program(program)
    manifests = holder["t"].manifests
    kinds = [manifest["kind"] for manifest in manifests]
    assert kinds.count("NetworkPolicy") == 6
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.35.0", strict=True)


def test_namespace_enforces_restricted(run_program) -> None:
    mocks = run_program(lambda: Tenant("acme", _args()))
    (namespace,) = mocks.of_type("kubernetes:core/v1:Namespace")
    labels = namespace.inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.35"
    assert namespace.inputs["metadata"]["name"] == "tenant-acme"


def test_default_deny_covers_ingress_and_egress() -> None:
    deny = network_policy_manifests(_args())[0]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    allows = network_policy_manifests(_args())[1:]
    by_name = {policy["metadata"]["name"]: policy for policy in allows}
    ports = by_name["allow-dns"]["spec"]["egress"][0]["ports"]
    assert {(port["protocol"], port["port"]) for port in ports} == {("UDP", 53), ("TCP", 53)}
    https = by_name["allow-https-to-aws-endpoints"]
    assert https["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.40.0.0/16"}}]
    # No allow opens ingress from outside the namespace except the monitoring scrape.
    ingress_from = [
        peer
        for policy in allows
        for rule in policy["spec"].get("ingress", [])
        for peer in rule["from"]
    ]
    assert all(
        "namespaceSelector" not in peer
        or peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
        for peer in ingress_from
    )


def test_quota_forbids_load_balancers_and_caps_gpus() -> None:
    hard = resource_quota_manifest(_args(quota=TenantQuota(cpu=8, memory_gib=32, gpus=0, pods=50)))[
        "spec"
    ]["hard"]
    assert hard["services.loadbalancers"] == "0"
    assert hard["services.nodeports"] == "0"
    assert hard["requests.nvidia.com/gpu"] == "0"
    assert hard["requests.cpu"] == "8"
    assert hard["requests.memory"] == "32Gi"


def test_rbac_has_no_wildcards_and_no_escalation() -> None:
    for rbac_object in rbac_manifests(_args()):
        if rbac_object["kind"] != "Role":
            continue
        for rule in rbac_object["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], (rbac_object["metadata"]["name"], rule)
            assert "rbac.authorization.k8s.io" not in rule["apiGroups"]
            assert "pods/exec" not in rule["resources"]
    viewer = next(
        rbac_object
        for rbac_object in rbac_manifests(_args())
        if rbac_object["metadata"]["name"] == "tenant-viewer" and rbac_object["kind"] == "Role"
    )
    assert all("secrets" not in rule["resources"] for rule in viewer["rules"])
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in viewer["rules"])


def test_access_policy_is_scoped() -> None:
    doc = tenant_access_policy([BUCKET], KEY, "me-central-1")
    assert wildcard_findings(doc) == []
    resources = {
        resource
        for statement in doc["Statement"]
        for resource in (
            [statement["Resource"]]
            if isinstance(statement["Resource"], str)
            else statement["Resource"]
        )
    }
    assert resources == {BUCKET, f"{BUCKET}/*", KEY}
    with pytest.raises(ValueError, match="not least-privilege"):
        tenant_access_policy(
            [BUCKET],
            KEY,
            "me-central-1",
            extra_statements=[{"Effect": "Allow", "Action": "s3:*", "Resource": BUCKET}],
        )
    with pytest.raises(ValueError, match="at least one bucket"):
        tenant_access_policy([], KEY, "me-central-1")


def test_aws_mode_role_and_service_account(run_program) -> None:
    mocks = run_program(lambda: Tenant("acme", _args()))
    role = mocks.one("aws:iam/role:Role", "acme-workload-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Federated": OIDC}
    assert trust["Condition"]["StringEquals"] == {
        f"{ISSUER}:sub": "system:serviceaccount:tenant-acme:workload",
        f"{ISSUER}:aud": "sts.amazonaws.com",
    }
    policy = json.loads(
        mocks.one("aws:iam/rolePolicy:RolePolicy", "acme-workload-access").inputs["policy"]
    )
    assert wildcard_findings(policy) == []
    (sa,) = mocks.of_type("kubernetes:core/v1:ServiceAccount")
    assert sa.inputs["automountServiceAccountToken"] is False
    assert (
        ":role/acme-workload-role"
        in sa.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    )


def test_platform_service_accounts_share_the_role(run_program) -> None:
    mocks = run_program(lambda: Tenant("acme", _args(irsa_service_accounts=["acme-feast"])))
    role = mocks.one("aws:iam/role:Role", "acme-workload-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Condition"]["StringEquals"][f"{ISSUER}:sub"] == [
        "system:serviceaccount:tenant-acme:acme-feast",
        "system:serviceaccount:tenant-acme:workload",
    ]
    with pytest.raises(ValueError, match="must be a DNS-1123 label"):
        run_program(lambda: Tenant("acme", _args(irsa_service_accounts=["Bad_SA"])))


def test_hybrid_mode_has_no_iam(run_program) -> None:
    def program():
        provider = k8s.Provider("onprem", kubeconfig="{}")
        import pulumi

        Tenant("acme", _args(aws=False), pulumi.ResourceOptions(providers=[provider]))

    mocks = run_program(program)
    assert not [res for res in mocks.resources if res.typ.startswith("aws:")]
    (sa,) = mocks.of_type("kubernetes:core/v1:ServiceAccount")
    assert "annotations" not in sa.inputs["metadata"]
    assert len(mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")) == 6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "Acme"}, "DNS-1123"),
        ({"pod_security_version": "1.35"}, "'latest' or 'v1.<minor>'"),
    ],
)
def test_bad_tenant_args(run_program, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_program(lambda: Tenant("acme", _args(**overrides)))
