"""zero-trust Kubernetes rules: Pod Security restricted, RBAC, exposure, namespaces."""

from __future__ import annotations

import copy

import pytest
from policy_helpers import ECR, UNKNOWN, stack_resource, validate, validate_stack

from policies.rules import kubernetes as k

CONTAINER = {
    "name": "app",
    "image": f"{ECR}/app:1.0.0",
    "resources": {
        "limits": {"cpu": "1", "memory": "1Gi"},
        "requests": {"cpu": "500m", "memory": "512Mi"},
    },
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    },
}
POD_SPEC = {
    "serviceAccountName": "app",
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "containers": [CONTAINER],
}
KINDS = {
    "kubernetes:core/v1:Pod": lambda s: {"spec": s},
    "kubernetes:apps/v1:Deployment": lambda s: {"spec": {"template": {"spec": s}}},
    "kubernetes:apps/v1:StatefulSet": lambda s: {"spec": {"template": {"spec": s}}},
    "kubernetes:apps/v1:DaemonSet": lambda s: {"spec": {"template": {"spec": s}}},
    "kubernetes:apps/v1:ReplicaSet": lambda s: {"spec": {"template": {"spec": s}}},
    "kubernetes:batch/v1:Job": lambda s: {"spec": {"template": {"spec": s}}},
    "kubernetes:batch/v1:CronJob": lambda s: {
        "spec": {"jobTemplate": {"spec": {"template": {"spec": s}}}}
    },
}
POD_RULES = [
    k.kubernetes_pod_no_privileged,
    k.kubernetes_pod_no_host_access,
    k.kubernetes_pod_run_as_non_root,
    k.kubernetes_pod_no_privilege_escalation,
    k.kubernetes_pod_drop_capabilities,
    k.kubernetes_pod_seccomp,
    k.kubernetes_pod_read_only_root,
    k.kubernetes_pod_resource_limits,
    k.kubernetes_service_account_token,
]


def workload(kind: str, spec: dict) -> dict:
    props = KINDS[kind](spec)
    props["metadata"] = {"name": "w", "namespace": "tenant-a"}
    return props


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_restricted_workload_passes_every_rule(kind) -> None:
    for policy in POD_RULES:
        assert validate(policy, kind, workload(kind, POD_SPEC)) == [], policy.name


def mutate(path: str, value, *, container: bool = True, init: bool = False) -> dict:
    spec = copy.deepcopy(POD_SPEC)
    target = spec["containers"][0] if container else spec
    if init:
        spec["initContainers"] = [copy.deepcopy(CONTAINER)]
        target = spec["initContainers"][0]
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    if value is KeyError:
        target.pop(leaf, None)
    else:
        target[leaf] = value
    return spec


@pytest.mark.parametrize(
    ("policy", "spec", "text"),
    [
        (k.kubernetes_pod_no_privileged, mutate("securityContext.privileged", True), "privileged"),
        (
            k.kubernetes_pod_no_privileged,
            mutate("securityContext.privileged", UNKNOWN),
            "could not",
        ),
        (
            k.kubernetes_pod_no_host_access,
            mutate("hostNetwork", True, container=False),
            "hostNetwork",
        ),
        (k.kubernetes_pod_no_host_access, mutate("hostPID", True, container=False), "hostPID"),
        (k.kubernetes_pod_no_host_access, mutate("hostIPC", True, container=False), "hostIPC"),
        (
            k.kubernetes_pod_no_host_access,
            mutate("volumes", [{"name": "h", "hostPath": {"path": "/"}}], container=False),
            "hostPath",
        ),
        (
            k.kubernetes_pod_no_host_access,
            mutate("ports", [{"containerPort": 80, "hostPort": 80}]),
            "hostPort",
        ),
        (
            k.kubernetes_pod_run_as_non_root,
            mutate("securityContext.runAsNonRoot", KeyError, container=False),
            "runAsNonRoot",
        ),
        (
            k.kubernetes_pod_run_as_non_root,
            mutate("securityContext.runAsNonRoot", False),
            "runAsNonRoot",
        ),
        (k.kubernetes_pod_run_as_non_root, mutate("securityContext.runAsUser", 0), "runAsUser: 0"),
        (
            k.kubernetes_pod_run_as_non_root,
            mutate("securityContext.runAsNonRoot", UNKNOWN),
            "could not",
        ),
        (
            k.kubernetes_pod_no_privilege_escalation,
            mutate("securityContext.allowPrivilegeEscalation", KeyError),
            "allowPrivilegeEscalation",
        ),
        (
            k.kubernetes_pod_no_privilege_escalation,
            mutate("securityContext.allowPrivilegeEscalation", True, init=True),
            "initContainers[0]",
        ),
        (
            k.kubernetes_pod_drop_capabilities,
            mutate("securityContext.capabilities.drop", ["NET_RAW"]),
            "'ALL'",
        ),
        (
            k.kubernetes_pod_drop_capabilities,
            mutate("securityContext.capabilities.add", ["SYS_ADMIN"]),
            "SYS_ADMIN",
        ),
        (
            k.kubernetes_pod_seccomp,
            mutate("securityContext.seccompProfile", KeyError, container=False),
            "unset",
        ),
        (
            k.kubernetes_pod_seccomp,
            mutate("securityContext.seccompProfile", {"type": "Unconfined"}),
            "'Unconfined'",
        ),
        (
            k.kubernetes_pod_read_only_root,
            mutate("securityContext.readOnlyRootFilesystem", False),
            "readOnlyRootFilesystem",
        ),
        (k.kubernetes_pod_resource_limits, mutate("resources", KeyError), "limits.cpu"),
        (
            k.kubernetes_pod_resource_limits,
            mutate("resources.limits", {"cpu": "1"}),
            "limits.memory",
        ),
        (
            k.kubernetes_service_account_token,
            mutate("serviceAccountName", KeyError, container=False),
            "default service account",
        ),
    ],
)
def test_each_violation_is_reported(policy, spec, text) -> None:
    kind = "kubernetes:apps/v1:Deployment"
    found = validate(policy, kind, workload(kind, spec))
    assert len(found) == 1, found
    assert text in found[0]


def test_capabilities_allow_net_bind_service_and_pod_level_context() -> None:
    spec = mutate("securityContext.capabilities.add", ["NET_BIND_SERVICE"])
    assert (
        validate(
            k.kubernetes_pod_drop_capabilities,
            "kubernetes:core/v1:Pod",
            workload("kubernetes:core/v1:Pod", spec),
        )
        == []
    )


def test_missing_or_unknown_pod_spec() -> None:
    kind = "kubernetes:apps/v1:Deployment"
    (missing,) = validate(k.kubernetes_pod_no_privileged, kind, {"metadata": {}, "spec": {}})
    assert "no pod spec" in missing
    (unknown,) = validate(k.kubernetes_pod_no_privileged, kind, {"spec": {"template": UNKNOWN}})
    assert "could not be determined" in unknown


def test_service_account_automount() -> None:
    sa = "kubernetes:core/v1:ServiceAccount"
    assert (
        validate(k.kubernetes_service_account_token, sa, {"automountServiceAccountToken": False})
        == []
    )
    assert validate(k.kubernetes_service_account_token, sa, {})
    assert (
        "could not"
        in validate(
            k.kubernetes_service_account_token, sa, {"automountServiceAccountToken": UNKNOWN}
        )[0]
    )


@pytest.mark.parametrize(
    ("spec", "annotations", "expected"),
    [
        ({"type": "ClusterIP"}, None, 0),
        ({}, None, 0),
        ({"type": "NodePort"}, None, 1),
        ({"type": "LoadBalancer"}, None, 1),
        (
            {"type": "LoadBalancer"},
            {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
            0,
        ),
        ({"type": "ClusterIP", "externalIPs": ["1.2.3.4"]}, None, 1),
        ({"type": UNKNOWN}, None, 1),
    ],
)
def test_service_exposure(spec, annotations, expected) -> None:
    metadata = {"namespace": "t"} | ({"annotations": annotations} if annotations else {})
    found = validate(
        k.kubernetes_service_not_exposed,
        "kubernetes:core/v1:Service",
        {"metadata": metadata, "spec": spec},
    )
    assert len(found) == expected


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        ("kubernetes:core/v1:ConfigMap", {"metadata": {"namespace": "tenant-a"}}, 0),
        ("kubernetes:core/v1:ConfigMap", {"metadata": {"namespace": "default"}}, 1),
        ("kubernetes:core/v1:ConfigMap", {"metadata": {"name": "x"}}, 1),
        ("kubernetes:core/v1:ConfigMap", {"metadata": {"namespace": UNKNOWN}}, 0),
        ("kubernetes:core/v1:Namespace", {"metadata": {"name": "x"}}, 0),
        ("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", {"rules": []}, 0),
        ("kubernetes:helm.sh/v3:Release", {"chart": "c"}, 1),
        ("kubernetes:helm.sh/v3:Release", {"chart": "c", "namespace": "platform"}, 0),
    ],
)
def test_default_namespace(resource_type, props, expected) -> None:
    assert len(validate(k.kubernetes_no_default_namespace, resource_type, props)) == expected


def test_rbac() -> None:
    binding = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
    ok = {
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "u"}],
    }
    assert validate(k.kubernetes_rbac_no_cluster_admin, binding, ok) == []
    admin = {**ok, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}}
    assert "cluster-admin" in validate(k.kubernetes_rbac_no_cluster_admin, binding, admin)[0]
    masters = {**ok, "subjects": [{"kind": "Group", "name": "system:masters"}]}
    assert "system:masters" in validate(k.kubernetes_rbac_no_cluster_admin, binding, masters)[0]
    assert (
        "could not"
        in validate(k.kubernetes_rbac_no_cluster_admin, binding, {"roleRef": {"name": UNKNOWN}})[0]
    )
    role = "kubernetes:rbac.authorization.k8s.io/v1:Role"
    good = {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}
    assert validate(k.kubernetes_rbac_no_wildcards, role, good) == []
    wild = {"rules": [{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["*"]}]}
    assert len(validate(k.kubernetes_rbac_no_wildcards, role, wild)) == 2
    assert "could not" in validate(k.kubernetes_rbac_no_wildcards, role, {"rules": UNKNOWN})[0]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"pod-security.kubernetes.io/enforce": "restricted"}, None),
        ({"pod-security.kubernetes.io/enforce": "baseline"}, "'baseline'"),
        ({}, "missing"),
        (None, "missing"),
        ({"pod-security.kubernetes.io/enforce": UNKNOWN}, "could not"),
        (UNKNOWN, "could not"),
    ],
)
def test_pod_security_label(labels, expected) -> None:
    metadata = {"name": "t"} if labels is None else {"name": "t", "labels": labels}
    found = validate(
        k.kubernetes_namespace_pod_security_restricted,
        "kubernetes:core/v1:Namespace",
        {"metadata": metadata},
    )
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0]


NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DENY = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_default_deny_network_policy_per_namespace() -> None:
    ns_a = stack_resource("kubernetes:core/v1:Namespace", "a", {"metadata": {"name": "tenant-a"}})
    ns_b = stack_resource("kubernetes:core/v1:Namespace", "b", {"metadata": {"name": "tenant-b"}})
    deny_a = stack_resource(NETPOL, "deny-a", {"metadata": {"namespace": "tenant-a"}, "spec": DENY})
    allow_b = stack_resource(
        NETPOL,
        "allow-b",
        {
            "metadata": {"namespace": "tenant-b"},
            "spec": {**DENY, "ingress": [{"from": [{"podSelector": {}}]}]},
        },
    )
    found = validate_stack(k.kubernetes_namespace_default_deny, [ns_a, ns_b, deny_a, allow_b])
    assert len(found) == 1
    message, urn = found[0]
    assert "'tenant-b'" in message and urn.endswith("::b")
    ingress_only = stack_resource(
        NETPOL,
        "i",
        {
            "metadata": {"namespace": "tenant-b"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        },
    )
    assert validate_stack(k.kubernetes_namespace_default_deny, [ns_b, ingress_only])


def test_default_deny_matched_through_property_dependency() -> None:
    ns = stack_resource("kubernetes:core/v1:Namespace", "auto", {"metadata": {}})
    deny = stack_resource(
        NETPOL,
        "deny",
        {"metadata": {"namespace": UNKNOWN}, "spec": DENY},
        property_dependencies={"metadata": [ns]},
    )
    assert validate_stack(k.kubernetes_namespace_default_deny, [ns, deny]) == []


# -- images by digest (supply chain) ----------------------------------------------------------
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_image_by_digest_is_compliant(kind) -> None:
    spec = mutate("image", f"{ECR}/app@{DIGEST}")
    assert validate(k.kubernetes_image_digest, kind, workload(kind, spec)) == []
    spec = mutate("image", f"{ECR}/app:1.0.0@{DIGEST}")  # tag kept for readers
    assert validate(k.kubernetes_image_digest, kind, workload(kind, spec)) == []


@pytest.mark.parametrize(
    ("image", "init"),
    [
        (f"{ECR}/app:1.0.0", False),
        (f"{ECR}/app:1.0.0", True),
        (f"{ECR}/app", False),
        (f"{ECR}/app@sha256:abc", False),  # not a full digest
        (f"{ECR}/app@md5:" + "ab" * 16, False),
    ],
)
def test_tag_only_images_are_flagged(image: str, init: bool) -> None:
    spec = mutate("image", image, init=init)
    if init:
        spec["containers"][0]["image"] = f"{ECR}/app@{DIGEST}"
    found = validate(k.kubernetes_image_digest, "kubernetes:apps/v1:Deployment", workload(
        "kubernetes:apps/v1:Deployment", spec
    ))  # fmt: skip
    assert len(found) == 1 and "by tag only" in found[0], found


def test_image_digest_rule_is_advisory_and_unknown_images_are_not_violations() -> None:
    assert k.kubernetes_image_digest.enforcement_level.value == "advisory"
    spec = mutate("image", UNKNOWN)
    kind = "kubernetes:apps/v1:Deployment"
    assert validate(k.kubernetes_image_digest, kind, workload(kind, spec)) == []
    spec = mutate("image", KeyError)
    assert validate(k.kubernetes_image_digest, kind, workload(kind, spec)) == []


def test_image_digest_rule_reads_custom_resources_and_helm_values() -> None:
    runtime = {
        "metadata": {"name": "rt", "namespace": "tenant-a"},
        "spec": {"containers": [{"name": "kserve-container", "image": f"{ECR}/srv:1"}]},
    }
    found = validate(
        k.kubernetes_image_digest, "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime", runtime
    )
    assert len(found) == 1
    release = {
        "chart": "oci://x/charts/kps",
        "version": "1.0.0",
        "values": {
            "prometheus": {"image": {"registry": ECR, "repository": "prom", "tag": "v3"}},
            "grafana": {
                "image": {"registry": ECR, "repository": "graf", "tag": "11", "digest": DIGEST}
            },
        },
    }
    found = validate(k.kubernetes_image_digest, "kubernetes:helm.sh/v3:Release", release)
    assert len(found) == 1 and "prom" in found[0], found
    release["values"]["prometheus"]["image"]["digest"] = DIGEST
    assert validate(k.kubernetes_image_digest, "kubernetes:helm.sh/v3:Release", release) == []
