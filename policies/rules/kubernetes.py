"""Kubernetes workload-isolation rules (Pod Security ``restricted``, RBAC, exposure).

Every pod-spec check looks at Pods and at every controller that embeds a pod template
(Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob),
and at init and ephemeral containers as well as regular ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies.rules import frameworks as fw
from policies.rules.common import (
    MISSING,
    UNKNOWN,
    UNKNOWN_SENTINELS,
    ResourceCheck,
    RulePolicy,
    StackCheck,
    StackRulePolicy,
    as_list,
    dig,
    truthy,
)

POD_SPEC_PATHS = {
    "kubernetes:core/v1:Pod": "spec",
    "kubernetes:apps/v1:Deployment": "spec.template.spec",
    "kubernetes:apps/v1:StatefulSet": "spec.template.spec",
    "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
    "kubernetes:apps/v1:ReplicaSet": "spec.template.spec",
    "kubernetes:core/v1:ReplicationController": "spec.template.spec",
    "kubernetes:batch/v1:Job": "spec.template.spec",
    "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
}
"""Where each workload kind keeps its pod spec."""

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

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


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Any:
    """The pod spec of a workload (MISSING/UNKNOWN when absent or unknown)."""
    path = POD_SPEC_PATHS.get(resource_type)
    return dig(props, path) if path else MISSING


def containers_of(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(path, container) for every container of a workload, init and ephemeral included."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return
    spec = dig(props, path)
    if not isinstance(spec, Mapping):
        return
    for key in CONTAINER_LISTS:
        for index, container in enumerate(as_list(spec.get(key))):
            name = dig(container, "name")
            label = f"{path}.{key}[{index}]" + (f" ({name})" if isinstance(name, str) else "")
            yield label, container


def _effective(container: Any, spec: Mapping[str, Any], field: str) -> Any:
    """A securityContext field: the container's value, else the pod's."""
    own = dig(container, f"securityContext.{field}")
    if own is not MISSING:
        return own
    return dig(spec, f"securityContext.{field}")


def _workload(check: ResourceCheck) -> Mapping[str, Any] | None:
    spec = pod_spec(check.resource_type, check.props)
    if spec is UNKNOWN:
        check.violation("The pod spec could not be determined (unknown during preview).")
        return None
    if not isinstance(spec, Mapping):
        check.violation("The workload has no pod spec.")
        return None
    return spec


def validate_privileged(check: ResourceCheck) -> None:
    """No privileged container."""
    if _workload(check) is None:
        return
    for where, container in containers_of(check.resource_type, check.props):
        value = dig(container, "securityContext.privileged")
        if value is UNKNOWN:
            check.violation(f"{where}: 'privileged' could not be determined.")
        elif truthy(value):
            check.violation(f"{where}: runs privileged.")


def validate_host_namespaces(check: ResourceCheck) -> None:
    """No host network, PID or IPC namespace; no hostPath volume; no host ports."""
    if (spec := _workload(check)) is None:
        return
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        value = dig(spec, field)
        if value is UNKNOWN:
            check.violation(f"'{field}' could not be determined.")
        elif truthy(value):
            check.violation(f"Pod shares the host's namespace: '{field}: true'.")
    for index, volume in enumerate(as_list(dig(spec, "volumes"))):
        if dig(volume, "hostPath") is not MISSING:
            check.violation(f"Volume {index} ('{dig(volume, 'name')}') mounts a hostPath.")
    for where, container in containers_of(check.resource_type, check.props):
        for port in as_list(dig(container, "ports")):
            if dig(port, "hostPort") not in (MISSING, 0):
                check.violation(f"{where}: binds hostPort {dig(port, 'hostPort')}.")


def validate_run_as_non_root(check: ResourceCheck) -> None:
    """Every container runs as non-root (runAsNonRoot true and no runAsUser 0)."""
    if (spec := _workload(check)) is None:
        return
    for where, container in containers_of(check.resource_type, check.props):
        non_root = _effective(container, spec, "runAsNonRoot")
        user = _effective(container, spec, "runAsUser")
        if non_root is UNKNOWN or user is UNKNOWN:
            check.violation(f"{where}: runAsNonRoot/runAsUser could not be determined.")
        elif truthy(non_root) is not True:
            check.violation(f"{where}: 'runAsNonRoot: true' is not set (pod or container).")
        elif user == 0:
            check.violation(f"{where}: 'runAsUser: 0' runs as root.")


def validate_privilege_escalation(check: ResourceCheck) -> None:
    """Every container sets allowPrivilegeEscalation: false."""
    if _workload(check) is None:
        return
    for where, container in containers_of(check.resource_type, check.props):
        value = dig(container, "securityContext.allowPrivilegeEscalation")
        if value is UNKNOWN:
            check.violation(f"{where}: 'allowPrivilegeEscalation' could not be determined.")
        elif truthy(value) is not False:
            check.violation(f"{where}: 'allowPrivilegeEscalation: false' is not set.")


def validate_capabilities(check: ResourceCheck) -> None:
    """Every container drops ALL capabilities and adds at most NET_BIND_SERVICE."""
    if _workload(check) is None:
        return
    for where, container in containers_of(check.resource_type, check.props):
        drop = dig(container, "securityContext.capabilities.drop")
        add = dig(container, "securityContext.capabilities.add")
        if drop is UNKNOWN or add is UNKNOWN:
            check.violation(f"{where}: capabilities could not be determined.")
            continue
        if "ALL" not in [str(c).upper() for c in as_list(drop)]:
            check.violation(f"{where}: capabilities.drop does not include 'ALL'.")
        extra = [c for c in as_list(add) if str(c).upper() not in ("NET_BIND_SERVICE",)]
        if extra:
            check.violation(f"{where}: adds capabilities {extra}.")


def validate_seccomp(check: ResourceCheck) -> None:
    """Every container runs with the RuntimeDefault (or a Localhost) seccomp profile."""
    if (spec := _workload(check)) is None:
        return
    for where, container in containers_of(check.resource_type, check.props):
        profile = _effective(container, spec, "seccompProfile.type")
        if profile is UNKNOWN:
            check.violation(f"{where}: the seccomp profile could not be determined.")
        elif profile not in ("RuntimeDefault", "Localhost"):
            shown = "unset" if profile is MISSING else repr(profile)
            check.violation(f"{where}: seccompProfile.type is {shown}; use 'RuntimeDefault'.")


def validate_read_only_root(check: ResourceCheck) -> None:
    """Every container has a read-only root filesystem."""
    if _workload(check) is None:
        return
    for where, container in containers_of(check.resource_type, check.props):
        value = dig(container, "securityContext.readOnlyRootFilesystem")
        if value is UNKNOWN:
            check.violation(f"{where}: 'readOnlyRootFilesystem' could not be determined.")
        elif truthy(value) is not True:
            check.violation(f"{where}: 'readOnlyRootFilesystem: true' is not set.")


def validate_resource_limits(check: ResourceCheck) -> None:
    """Every regular and init container sets CPU and memory requests and a memory limit."""
    if _workload(check) is None:
        return
    for where, container in containers_of(check.resource_type, check.props):
        if ".ephemeralContainers[" in where:
            continue  # the API forbids resources on ephemeral containers
        resources = dig(container, "resources")
        if resources is UNKNOWN:
            check.violation(f"{where}: resources could not be determined.")
            continue
        missing = [
            path
            for path in ("limits.cpu", "limits.memory", "requests.cpu", "requests.memory")
            if dig(resources, path) is MISSING
        ]
        if missing:
            check.violation(f"{where}: no resources.{', resources.'.join(missing)}.")


def validate_token_automount(check: ResourceCheck) -> None:
    """Service-account tokens are not mounted unless a workload opts in explicitly."""
    if check.resource_type == "kubernetes:core/v1:ServiceAccount":
        value = check.get("automountServiceAccountToken")
        if value is UNKNOWN:
            check.violation("'automountServiceAccountToken' could not be determined.")
        elif truthy(value) is not False:
            check.violation("'automountServiceAccountToken: false' is not set.")
        return
    if (spec := _workload(check)) is None:
        return
    value = dig(spec, "automountServiceAccountToken")
    account = dig(spec, "serviceAccountName")
    if value is UNKNOWN:
        check.violation("'automountServiceAccountToken' could not be determined.")
    elif value is MISSING and account in (MISSING, "default"):
        check.violation(
            "The pod uses the namespace's default service account with its token mounted; "
            "set 'automountServiceAccountToken: false' or a dedicated service account."
        )


_CIS_POD = fw.cis_eks("4.2.1", "4.2.2", "4.2.3", "4.2.4", "4.2.5", "4.2.6", "4.2.8", "4.6.3")


def _pod_rule(
    name: str, description: str, validator: Any, remediation: str, *, severity: Severity, cis: str
) -> RulePolicy:
    return RulePolicy(
        name=name,
        description=description,
        validator=validator,
        resource_types=set(POD_SPEC_PATHS),
        severity=severity,
        enforcement_level=EnforcementLevel.MANDATORY,
        frameworks=(*fw.cis_eks(cis), *fw.SECURITY),
        remediation=remediation,
    )


kubernetes_pod_no_privileged = _pod_rule(
    "kubernetes-pod-no-privileged",
    "Containers do not run privileged.",
    validate_privileged,
    "Remove 'securityContext.privileged: true'; grant a specific capability if one is needed.",
    severity=Severity.CRITICAL,
    cis="4.2.1",
)
kubernetes_pod_no_host_access = _pod_rule(
    "kubernetes-pod-no-host-access",
    "Pods do not share the host's network, PID or IPC namespaces, mount hostPath volumes "
    "or bind host ports.",
    validate_host_namespaces,
    "Remove hostNetwork/hostPID/hostIPC, hostPath volumes (use a PVC, emptyDir or CSI volume) "
    "and hostPort.",
    severity=Severity.CRITICAL,
    cis="4.2.4",
)
kubernetes_pod_run_as_non_root = _pod_rule(
    "kubernetes-pod-run-as-non-root",
    "Containers run as a non-root user.",
    validate_run_as_non_root,
    "Set 'securityContext.runAsNonRoot: true' and a non-zero 'runAsUser' on the pod or "
    "container, and build the image with a numeric non-root USER.",
    severity=Severity.HIGH,
    cis="4.2.6",
)
kubernetes_pod_no_privilege_escalation = _pod_rule(
    "kubernetes-pod-no-privilege-escalation",
    "Containers cannot gain more privileges than their parent process.",
    validate_privilege_escalation,
    "Set 'securityContext.allowPrivilegeEscalation: false' on every container.",
    severity=Severity.HIGH,
    cis="4.2.5",
)
kubernetes_pod_drop_capabilities = _pod_rule(
    "kubernetes-pod-drop-all-capabilities",
    "Containers drop all Linux capabilities (NET_BIND_SERVICE may be added back).",
    validate_capabilities,
    "Set 'securityContext.capabilities: {drop: [ALL]}' and add back only NET_BIND_SERVICE.",
    severity=Severity.HIGH,
    cis="4.2.8",
)
kubernetes_pod_seccomp = _pod_rule(
    "kubernetes-pod-seccomp-profile",
    "Containers run with the RuntimeDefault seccomp profile.",
    validate_seccomp,
    "Set 'securityContext.seccompProfile: {type: RuntimeDefault}' on the pod.",
    severity=Severity.MEDIUM,
    cis="4.6.2",
)
kubernetes_pod_read_only_root = _pod_rule(
    "kubernetes-pod-read-only-root-filesystem",
    "Containers have a read-only root filesystem.",
    validate_read_only_root,
    "Set 'securityContext.readOnlyRootFilesystem: true' and mount an emptyDir for scratch "
    "paths (/tmp, caches).",
    severity=Severity.MEDIUM,
    cis="4.6.3",
)
kubernetes_pod_resource_limits = _pod_rule(
    "kubernetes-pod-resource-limits",
    "Containers declare CPU and memory requests and limits.",
    validate_resource_limits,
    "Set resources.requests and resources.limits (cpu and memory) on every container; the "
    "tenant LimitRange supplies defaults only at admission, which this check cannot see.",
    severity=Severity.MEDIUM,
    cis="4.6.1",
)
kubernetes_service_account_token = RulePolicy(
    name="kubernetes-service-account-token-automount",
    description="Service accounts do not automount API tokens; pods opt in explicitly.",
    validator=validate_token_automount,
    resource_types={*POD_SPEC_PATHS, "kubernetes:core/v1:ServiceAccount"},
    severity=Severity.MEDIUM,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.cis_eks("4.1.6"), *fw.SECURITY),
    remediation="Set 'automountServiceAccountToken: false' on service accounts; pods that call "
    "the API use a dedicated service account and set 'automountServiceAccountToken: true'.",
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


kubernetes_service_not_exposed = RulePolicy(
    name="kubernetes-service-not-exposed",
    description="Services are ClusterIP (or internal load balancers); no NodePort or externalIPs.",
    validator=validate_service_exposure,
    resource_types={"kubernetes:core/v1:Service"},
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.cis_eks("5.4.5"), *fw.SECURITY),
    remediation="Use ClusterIP and expose through the private ingress tier; if a load balancer "
    "is needed, annotate 'service.beta.kubernetes.io/aws-load-balancer-scheme: internal'.",
)


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


def _is_namespaced_kubernetes(resource_type: str) -> bool:
    if resource_type.startswith("kubernetes:helm.sh/"):
        return True
    return (
        resource_type.startswith("kubernetes:")
        and resource_type not in CLUSTER_SCOPED_KINDS
        and not resource_type.startswith("kubernetes:apiextensions.k8s.io:")
        and not resource_type.endswith(("List", "Patch"))
        and "/v1:" in resource_type
    )


kubernetes_no_default_namespace = RulePolicy(
    name="kubernetes-no-default-namespace",
    description="No namespaced object is created in the 'default' namespace.",
    validator=validate_not_default_namespace,
    resource_types=None,
    type_predicate=_is_namespaced_kubernetes,
    severity=Severity.MEDIUM,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.cis_eks("4.6.4"), *fw.SECURITY),
    remediation="Set 'metadata.namespace' (Helm: 'namespace') to the tenant's or the "
    "platform's namespace.",
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


kubernetes_rbac_no_cluster_admin = RulePolicy(
    name="kubernetes-rbac-no-cluster-admin",
    description="No RoleBinding or ClusterRoleBinding grants cluster-admin.",
    validator=validate_rbac_binding,
    resource_types={
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    },
    severity=Severity.CRITICAL,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.cis_eks("4.1.1"), *fw.SECURITY),
    remediation="Bind a narrowly scoped Role in the tenant namespace instead; break-glass "
    "administration goes through EKS access entries, not in-cluster bindings.",
)


def validate_rbac_wildcards(check: ResourceCheck) -> None:
    """Roles use no '*' in apiGroups, resources or verbs."""
    rules = check.get("rules")
    if rules is UNKNOWN:
        check.violation("'rules' could not be determined (unknown during preview).")
        return
    for index, rule in enumerate(as_list(rules)):
        for field in ("apiGroups", "resources", "verbs", "nonResourceURLs"):
            values = dig(rule, field)
            if values is UNKNOWN:
                check.violation(f"Rule {index}: '{field}' could not be determined.")
            elif "*" in as_list(values):
                check.violation(f"Rule {index}: '{field}' contains '*'.")


kubernetes_rbac_no_wildcards = RulePolicy(
    name="kubernetes-rbac-no-wildcards",
    description="Roles and ClusterRoles name their API groups, resources and verbs; no '*'.",
    validator=validate_rbac_wildcards,
    resource_types={
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
    },
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.cis_eks("4.1.3"), *fw.SECURITY),
    remediation="List the exact apiGroups, resources and verbs the subject needs.",
)


_PSS_ENFORCE = "pod-security.kubernetes.io/enforce"


def validate_pod_security_label(check: ResourceCheck) -> None:
    """Namespaces enforce the Pod Security 'restricted' level."""
    labels = check.get("metadata.labels")
    if labels is UNKNOWN:
        check.violation("Namespace labels could not be determined (unknown during preview).")
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


kubernetes_namespace_pod_security_restricted = RulePolicy(
    name="kubernetes-namespace-pod-security-restricted",
    description="Every namespace enforces the Pod Security Standard 'restricted'.",
    validator=validate_pod_security_label,
    resource_types={"kubernetes:core/v1:Namespace"},
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.cis_eks("4.2.1", "4.6.1"), *fw.SECURITY),
    remediation="Label the namespace 'pod-security.kubernetes.io/enforce: restricted' (and "
    "'enforce-version' pinned to the cluster's minor version).",
)


def _is_default_deny(policy: Mapping[str, Any]) -> bool:
    selector = dig(policy, "spec.podSelector")
    types = [str(t) for t in as_list(dig(policy, "spec.policyTypes"))]
    empty_selector = isinstance(selector, Mapping) and not any(
        selector.get(k) for k in ("matchLabels", "matchExpressions")
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
        p
        for p in check.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if _is_default_deny(p.props)
    ]
    by_name = {
        target for p in policies if isinstance(target := dig(p.props, "metadata.namespace"), str)
    }
    by_dependency = {u for p in policies for u in p.property_dependencies.get("metadata", ())}
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


kubernetes_namespace_default_deny = StackRulePolicy(
    name="kubernetes-namespace-default-deny",
    description="Every namespace has a default-deny NetworkPolicy for ingress and egress.",
    validator=validate_default_deny,
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.cis_eks("4.3.2"), *fw.SECURITY),
    remediation="Add a NetworkPolicy with 'podSelector: {}', 'policyTypes: [Ingress, Egress]' "
    "and no rules to the namespace, then explicit allow policies for the flows it needs.",
)

RESOURCE_POLICIES = [
    kubernetes_pod_no_privileged,
    kubernetes_pod_no_host_access,
    kubernetes_pod_run_as_non_root,
    kubernetes_pod_no_privilege_escalation,
    kubernetes_pod_drop_capabilities,
    kubernetes_pod_seccomp,
    kubernetes_pod_read_only_root,
    kubernetes_pod_resource_limits,
    kubernetes_service_account_token,
    kubernetes_service_not_exposed,
    kubernetes_no_default_namespace,
    kubernetes_rbac_no_cluster_admin,
    kubernetes_rbac_no_wildcards,
    kubernetes_namespace_pod_security_restricted,
]
STACK_POLICIES = [kubernetes_namespace_default_deny]
