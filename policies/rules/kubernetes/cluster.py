"""Cluster-level isolation: exposure of Services and Ingresses, namespaces, RBAC, network policies.

RBAC is judged by what a binding gives to whom (the power of the role, the breadth of
the subjects) and by the verbs a role grants that lead to more (bind, escalate,
impersonate, token minting); network policies by the peers they admit, so an allow-all
policy beside the default-deny one is caught.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.rules import cidr
from policies.rules.common import (
    MISSING,
    UNKNOWN,
    UNKNOWN_SENTINELS,
    ResourceCheck,
    StackCheck,
    as_list,
    dig,
    is_unknown,
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
    """Services are not exposed outside the cluster (internal load balancers excepted).

    A ``ServicePatch`` only changes what it sets, so an absent type is not a violation.
    """
    kind = check.get("spec.type")
    annotations = check.get("metadata.annotations")
    if kind is UNKNOWN and check.resource_type.endswith("Patch"):
        pass
    elif kind is UNKNOWN:
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


CLUSTER_SCOPED_CUSTOM_KINDS = frozenset(
    {
        ("karpenter.sh", "NodePool"),
        ("karpenter.sh", "NodeClaim"),
        ("karpenter.k8s.aws", "EC2NodeClass"),
        ("kueue.x-k8s.io", "ClusterQueue"),
        ("kueue.x-k8s.io", "ResourceFlavor"),
        ("kueue.x-k8s.io", "AdmissionCheck"),
        ("kueue.x-k8s.io", "WorkloadPriorityClass"),
        ("kueue.x-k8s.io", "Topology"),
        ("serving.kserve.io", "ClusterServingRuntime"),
        ("serving.kserve.io", "ClusterStorageContainer"),
        ("trainer.kubeflow.org", "ClusterTrainingRuntime"),
        ("cert-manager.io", "ClusterIssuer"),
        ("nvidia.com", "ClusterPolicy"),
        ("gateway.networking.k8s.io", "GatewayClass"),
        ("snapshot.storage.k8s.io", "VolumeSnapshotClass"),
        ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
    }
)
"""Custom kinds whose CRDs declare ``scope: Cluster`` (they have no namespace to default)."""


def is_namespaced_kubernetes(resource_type: str) -> bool:
    """Whether objects of this type live in a namespace (Helm releases included)."""
    if resource_type.startswith("kubernetes:helm.sh/"):
        return True
    parts = resource_type.split(":")
    if len(parts) == 3 and (parts[1].rpartition("/")[0], parts[2]) in CLUSTER_SCOPED_CUSTOM_KINDS:
        return False
    return (
        resource_type.startswith("kubernetes:")
        and resource_type not in CLUSTER_SCOPED_KINDS
        and not resource_type.startswith("kubernetes:apiextensions.k8s.io:")
        and not resource_type.endswith(("List", "Patch"))
        and "/v1:" in resource_type
    )


_SUPERUSER_ROLES = frozenset({"cluster-admin"})
_WRITE_ROLES = frozenset({"admin", "edit"})
"""Built-in ClusterRoles: ``admin`` and ``edit`` write almost everything in a namespace
(secrets included) and can run pods as any service account there."""
_HARMLESS_ROLES = frozenset({"system:discovery", "system:basic-user", "system:public-info-viewer"})
"""Built-in ClusterRoles every user already holds (API discovery, self-review)."""

_ANONYMOUS_SUBJECTS = {("Group", "system:unauthenticated"), ("User", "system:anonymous")}
_BROAD_GROUPS = frozenset({"system:authenticated", "system:serviceaccounts"})
_BROAD_PREFIX = "system:serviceaccounts:"
"""Every service account of a namespace."""


def _subject_breadth(subject: Any) -> str | None:
    """Why a binding subject stands for many identities, or None for a named one."""
    kind, name = dig(subject, "kind"), dig(subject, "name")
    if (kind, name) in _ANONYMOUS_SUBJECTS:
        return f"anonymous requests ({kind} '{name}')"
    if kind == "Group" and name in _BROAD_GROUPS:
        return f"every {'authenticated identity' if name == 'system:authenticated' else 'service account'} of the cluster (Group '{name}')"
    if kind == "Group" and isinstance(name, str) and name.startswith(_BROAD_PREFIX):
        return f"every service account of namespace '{name[len(_BROAD_PREFIX) :]}' (Group '{name}')"
    return None


def validate_rbac_binding(check: ResourceCheck) -> None:
    """Bindings judged by the power of the role and the breadth of the subjects.

    - ``cluster-admin`` (and the ``system:masters`` group) to anyone;
    - the built-in ``admin``/``edit`` roles cluster-wide (a ClusterRoleBinding);
    - any role but the built-in discovery ones to a broad subject: anonymous users, all
      authenticated users, all service accounts (of the cluster or of a namespace);
      anonymous users get nothing at all.
    """
    role = check.get("roleRef.name")
    patch = check.resource_type.endswith("Patch")
    cluster_wide = "ClusterRoleBinding" in check.resource_type
    if role is UNKNOWN:
        if not patch:
            check.violation("'roleRef.name' could not be determined (unknown during preview).")
    elif role in _SUPERUSER_ROLES:
        check.violation(f"Binds the '{role}' ClusterRole.")
    elif role in _WRITE_ROLES and cluster_wide:
        check.violation(
            f"Binds the built-in '{role}' ClusterRole cluster-wide: write access (secrets "
            "included) to every namespace."
        )
    for subject in as_list(check.get("subjects")):
        if dig(subject, "kind") == "Group" and dig(subject, "name") == "system:masters":
            check.violation("Grants the 'system:masters' group.")
            continue
        breadth = _subject_breadth(subject)
        if breadth is None or role in _HARMLESS_ROLES or role in _SUPERUSER_ROLES:
            continue
        shown = role if isinstance(role, str) else "its role"
        check.violation(f"Grants '{shown}' to {breadth}.")


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


_ESCALATION_VERBS = {
    "bind": "bind roles it does not hold",
    "escalate": "grant itself permissions it does not hold",
    "impersonate": "act as other users, groups or service accounts",
}
_ESCALATION_RESOURCES = {
    ("create", "serviceaccounts/token"): "mint tokens for every service account it can name",
    ("update", "certificatesigningrequests/approval"): "approve client certificates",
    ("patch", "certificatesigningrequests/approval"): "approve client certificates",
    ("create", "nodes/proxy"): "reach every kubelet API (exec in any pod of the node)",
    ("get", "nodes/proxy"): "reach every kubelet API (exec in any pod of the node)",
}


def validate_rbac_escalation(check: ResourceCheck) -> None:
    """Roles grant no privilege-escalation verbs (bind, escalate, impersonate, token minting)."""
    rules = check.get("rules")
    if rules is UNKNOWN:
        return  # the wildcard rule reports unknown rules
    for index, role_rule in enumerate(as_list(rules)):
        verbs = [str(verb).lower() for verb in as_list(dig(role_rule, "verbs"))]
        resources = [str(resource) for resource in as_list(dig(role_rule, "resources"))]
        for verb in verbs:
            if verb in _ESCALATION_VERBS:
                check.violation(
                    f"Rule {index}: verb '{verb}' lets the subject {_ESCALATION_VERBS[verb]}."
                )
        for (verb, resource), what in _ESCALATION_RESOURCES.items():
            if verb in verbs and resource in resources:
                check.violation(f"Rule {index}: '{verb}' on '{resource}' lets the subject {what}.")


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


# --- traffic the network policies admit --------------------------------------------------

_DIRECTIONS = (("ingress", "from", "Ingress"), ("egress", "to", "Egress"))


def _peer_blocks(peers: list[Any]) -> tuple[list[str], list[str]]:
    """CIDR blocks and their exceptions of the ipBlock peers of one rule."""
    blocks: list[str] = []
    holes: list[str] = []
    for peer in peers:
        block = dig(peer, "ipBlock.cidr")
        if isinstance(block, str) and not is_unknown(block):
            blocks.append(block)
            holes += [
                hole for hole in as_list(dig(peer, "ipBlock.except")) if isinstance(hole, str)
            ]
    return blocks, holes


def validate_network_policy_scope(check: ResourceCheck) -> None:
    """No NetworkPolicy rule admits every peer or the internet.

    A rule without peers (no ``from``/``to``, or an empty list) admits every source or
    destination, in the cluster and outside it, whatever default-deny policy sits beside
    it; ipBlock peers are unioned (minus their exceptions) and compared with public
    address space, so ``0.0.0.0/1`` plus ``128.0.0.0/1`` counts as the internet.
    Selectors (``namespaceSelector: {}``) stay inside the cluster and are not judged here.
    """
    ipv4_limit = int(check.config.get("ipv4PublicPrefixLimit", 16))
    ipv6_limit = int(check.config.get("ipv6PublicPrefixLimit", 48))
    for direction, peer_key, label in _DIRECTIONS:
        rules = check.get(f"spec.{direction}")
        if rules is UNKNOWN:
            continue  # decided at preview; never by itself a violation
        blocks: list[str] = []
        holes: list[str] = []
        for index, policy_rule in enumerate(as_list(rules)):
            peers = dig(policy_rule, peer_key) if isinstance(policy_rule, Mapping) else MISSING
            if peers is UNKNOWN:
                continue
            if not as_list(peers):
                ports = as_list(dig(policy_rule, "ports"))
                scope = "on every port" if not ports else f"on {len(ports)} port(s)"
                check.violation(
                    f"{label} rule {index} has no '{peer_key}' peers: it admits every "
                    f"{'source' if direction == 'ingress' else 'destination'}, in the cluster "
                    f"and outside it, {scope}."
                )
                continue
            found_blocks, found_holes = _peer_blocks(as_list(peers))
            blocks += found_blocks
            holes += found_holes
        if blocks:
            found = cidr.exposure(blocks, holes)
            for problem in cidr.too_public(found, ipv4_limit, ipv6_limit):
                check.violation(f"{label} ipBlocks {sorted(set(blocks))} admit {problem}.")


# --- Ingress objects -------------------------------------------------------------------

_ALB_SCHEME = "alb.ingress.kubernetes.io/scheme"


def validate_ingress_internal(check: ResourceCheck) -> None:
    """Ingress objects (and ALB IngressClassParams) do not create internet-facing load balancers.

    The AWS Load Balancer Controller reads the scheme from the Ingress annotation or
    from the IngressClassParams of its class; it defaults to ``internal``.
    """
    if check.resource_type.startswith("kubernetes:elbv2.k8s.aws/"):
        scheme = check.get("spec.scheme")
        where = "spec.scheme"
    else:
        annotations = check.get("metadata.annotations")
        scheme = (
            annotations.get(_ALB_SCHEME, MISSING) if isinstance(annotations, Mapping) else MISSING
        )
        where = f"annotation '{_ALB_SCHEME}'"
    if isinstance(scheme, str) and scheme.strip().lower() == "internet-facing":
        check.violation(
            f"{where} is 'internet-facing': the load balancer gets public addresses; keep it "
            "'internal' and reach it through the VPN or a private link."
        )


def is_ingress(resource_type: str) -> bool:
    """Ingress kinds (any API version, patches included) and ALB IngressClassParams."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return False
    group = parts[1].rpartition("/")[0]
    kind = parts[2].removesuffix("Patch")
    return (kind == "Ingress" and group in ("networking.k8s.io", "extensions")) or (
        kind == "IngressClassParams" and group == "elbv2.k8s.aws"
    )


def is_network_policy(resource_type: str) -> bool:
    """NetworkPolicy and NetworkPolicyPatch."""
    return resource_type.startswith("kubernetes:networking.k8s.io/") and resource_type.split(":")[
        -1
    ] in ("NetworkPolicy", "NetworkPolicyPatch")
