"""Cluster-level isolation: exposure of Services, namespaces, RBAC and network policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.rules.common import (
    MISSING,
    UNKNOWN,
    UNKNOWN_SENTINELS,
    ResourceCheck,
    StackCheck,
    as_list,
    dig,
)

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:Node",
        "kubernetes:core/v1:PersistentVolume",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "kubernetes:storage.k8s.io/v1:StorageClass",
        "kubernetes:storage.k8s.io/v1:CSIDriver",
        "kubernetes:scheduling.k8s.io/v1:PriorityClass",
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration",
        "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration",
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
        "kubernetes:node.k8s.io/v1:RuntimeClass",
        "kubernetes:apiregistration.k8s.io/v1:APIService",
        "kubernetes:flowcontrol.apiserver.k8s.io/v1:FlowSchema",
        "kubernetes:flowcontrol.apiserver.k8s.io/v1:PriorityLevelConfiguration",
        "kubernetes:networking.k8s.io/v1:IngressClass",
    }
)


def validate_service_exposure(check: ResourceCheck) -> None:
    """Services are not exposed outside the cluster (internal load balancers excepted)."""
    kind = check.get("spec.type")
    annotations = check.get("metadata.annotations")
    if kind is UNKNOWN:
        check.violation("'spec.type' could not be determined (unknown during preview).")
    elif kind == "NodePort":
        check.violation("Service type NodePort opens a port on every node.")
    elif kind == "LoadBalancer":
        internal = isinstance(annotations, Mapping) and (
            annotations.get("service.beta.kubernetes.io/aws-load-balancer-scheme") == "internal"
            or str(annotations.get("service.beta.kubernetes.io/aws-load-balancer-internal"))
            .lower()
            .strip()
            in ("true", "0.0.0.0/0")
        )
        if not internal:
            check.violation(
                "Service type LoadBalancer without the internal-scheme annotation creates an "
                "internet-facing load balancer."
            )
    external = check.get("spec.externalIPs")
    if external is UNKNOWN or as_list(external):
        check.violation("Service sets 'externalIPs'.")


def _namespace_of(check: ResourceCheck) -> Any:
    if check.resource_type.startswith("kubernetes:helm.sh/"):
        namespace = check.get("namespace")
    else:
        namespace = check.get("metadata.namespace")
    if namespace is MISSING:
        namespace = dig(check.provider_props, "namespace")
    return namespace


def validate_not_default_namespace(check: ResourceCheck) -> None:
    """Namespaced objects are not placed (explicitly or by omission) in 'default'."""
    namespace = _namespace_of(check)
    if namespace is UNKNOWN:
        return  # set from another resource's output (a tenant namespace): not 'default'
    if namespace is MISSING or namespace == "" or namespace == "default":
        how = "explicitly" if namespace == "default" else "because no namespace is set"
        check.violation(f"The object lands in the 'default' namespace {how}.")


def is_namespaced_kubernetes(resource_type: str) -> bool:
    """Whether objects of this type live in a namespace (Helm releases included)."""
    if resource_type.startswith("kubernetes:helm.sh/"):
        return True
    return (
        resource_type.startswith("kubernetes:")
        and resource_type not in CLUSTER_SCOPED_KINDS
        and not resource_type.startswith("kubernetes:apiextensions.k8s.io:")
        and not resource_type.endswith(("List", "Patch"))
        and "/v1:" in resource_type
    )


def validate_rbac_binding(check: ResourceCheck) -> None:
    """Nothing is bound to cluster-admin (or to the 'system:masters' group)."""
    role = check.get("roleRef.name")
    if role is UNKNOWN:
        check.violation("'roleRef.name' could not be determined (unknown during preview).")
    elif role == "cluster-admin":
        check.violation("Binds the 'cluster-admin' ClusterRole.")
    for subject in as_list(check.get("subjects")):
        if dig(subject, "kind") == "Group" and dig(subject, "name") == "system:masters":
            check.violation("Grants the 'system:masters' group.")


def validate_rbac_wildcards(check: ResourceCheck) -> None:
    """Roles use no '*' in apiGroups, resources or verbs."""
    unknown = "'rules' could not be determined (unknown during preview)."
    if (rules := check.require_known("rules", unknown)) is None:
        return
    for index, role_rule in enumerate(as_list(rules)):
        for field in ("apiGroups", "resources", "verbs", "nonResourceURLs"):
            values = dig(role_rule, field)
            if values is UNKNOWN:
                check.violation(f"Rule {index}: '{field}' could not be determined.")
            elif "*" in as_list(values):
                check.violation(f"Rule {index}: '{field}' contains '*'.")


_PSS_ENFORCE = "pod-security.kubernetes.io/enforce"


def validate_pod_security_label(check: ResourceCheck) -> None:
    """Namespaces enforce the Pod Security 'restricted' level."""
    unknown = "Namespace labels could not be determined (unknown during preview)."
    if (labels := check.require_known("metadata.labels", unknown)) is None:
        return
    # Label keys contain dots, so read them directly rather than through dig().
    value = labels.get(_PSS_ENFORCE, MISSING) if isinstance(labels, Mapping) else MISSING
    if value is None:
        value = MISSING
    elif isinstance(value, str) and value in UNKNOWN_SENTINELS:
        value = UNKNOWN
    if value is UNKNOWN:
        check.violation("The Pod Security enforce label could not be determined.")
    elif value != "restricted":
        shown = "missing" if value is MISSING else repr(value)
        check.violation(f"Label 'pod-security.kubernetes.io/enforce' is {shown}, not 'restricted'.")


def _is_default_deny(policy: Mapping[str, Any]) -> bool:
    selector = dig(policy, "spec.podSelector")
    types = [str(policy_type) for policy_type in as_list(dig(policy, "spec.policyTypes"))]
    empty_selector = isinstance(selector, Mapping) and not any(
        selector.get(key) for key in ("matchLabels", "matchExpressions")
    )
    return (
        empty_selector
        and "Ingress" in types
        and "Egress" in types
        and not as_list(dig(policy, "spec.ingress"))
        and not as_list(dig(policy, "spec.egress"))
    )


def validate_default_deny(check: StackCheck) -> None:
    """Every namespace in the stack has a default-deny (ingress and egress) NetworkPolicy."""
    namespaces = list(check.of_type("kubernetes:core/v1:Namespace"))
    policies = [
        policy
        for policy in check.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if _is_default_deny(policy.props)
    ]
    by_name = {
        target
        for policy in policies
        if isinstance(target := dig(policy.props, "metadata.namespace"), str)
    }
    by_dependency = {
        urn for policy in policies for urn in policy.property_dependencies.get("metadata", ())
    }
    for namespace in namespaces:
        name = dig(namespace.props, "metadata.name")
        if (isinstance(name, str) and name in by_name) or namespace.urn in by_dependency:
            continue
        shown = name if isinstance(name, str) else namespace.name
        check.violation(
            f"Namespace '{shown}' has no default-deny NetworkPolicy (empty podSelector, "
            "policyTypes [Ingress, Egress], no rules).",
            namespace.urn,
        )
