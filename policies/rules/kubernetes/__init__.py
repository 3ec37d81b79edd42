"""Kubernetes workload-isolation rules (Pod Security ``restricted``, RBAC, exposure).

Served by the ``zero-trust`` pack. This module is the catalogue: every rule with its
name, description, severity, frameworks and remediation. The validators live in
:mod:`.pods` (every pod spec, service-account tokens) and :mod:`.cluster` (Services,
namespaces, RBAC, network policies).
"""

from pulumi_policy import Severity

from policies.rules import frameworks as fw
from policies.rules.declare import rule
from policies.rules.kubernetes.cluster import (
    is_namespaced_kubernetes,
    validate_default_deny,
    validate_not_default_namespace,
    validate_pod_security_label,
    validate_rbac_binding,
    validate_rbac_wildcards,
    validate_service_exposure,
)
from policies.rules.kubernetes.pods import (
    POD_TYPES,
    validate_capabilities,
    validate_host_namespaces,
    validate_privilege_escalation,
    validate_privileged,
    validate_read_only_root,
    validate_resource_limits,
    validate_run_as_non_root,
    validate_seccomp,
    validate_token_automount,
)

# --- pods ------------------------------------------------------------------------------

kubernetes_pod_no_privileged = rule(
    "kubernetes-pod-no-privileged",
    "Containers do not run privileged.",
    validate_privileged,
    types=POD_TYPES,
    severity=Severity.CRITICAL,
    frameworks=(*fw.cis_eks("4.2.1"), *fw.SECURITY),
    remediation="Remove 'securityContext.privileged: true'; grant a specific capability if one is "
    "needed.",
)
kubernetes_pod_no_host_access = rule(
    "kubernetes-pod-no-host-access",
    "Pods do not share the host's network, PID or IPC namespaces, mount hostPath volumes "
    "or bind host ports.",
    validate_host_namespaces,
    types=POD_TYPES,
    severity=Severity.CRITICAL,
    frameworks=(*fw.cis_eks("4.2.4"), *fw.SECURITY),
    remediation="Remove hostNetwork/hostPID/hostIPC, hostPath volumes (use a PVC, emptyDir or CSI "
    "volume) and hostPort.",
)
kubernetes_pod_run_as_non_root = rule(
    "kubernetes-pod-run-as-non-root",
    "Containers run as a non-root user.",
    validate_run_as_non_root,
    types=POD_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.2.6"), *fw.SECURITY),
    remediation="Set 'securityContext.runAsNonRoot: true' and a non-zero 'runAsUser' on the pod "
    "or container, and build the image with a numeric non-root USER.",
)
kubernetes_pod_no_privilege_escalation = rule(
    "kubernetes-pod-no-privilege-escalation",
    "Containers cannot gain more privileges than their parent process.",
    validate_privilege_escalation,
    types=POD_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.2.5"), *fw.SECURITY),
    remediation="Set 'securityContext.allowPrivilegeEscalation: false' on every container.",
)
kubernetes_pod_drop_capabilities = rule(
    "kubernetes-pod-drop-all-capabilities",
    "Containers drop all Linux capabilities (NET_BIND_SERVICE may be added back).",
    validate_capabilities,
    types=POD_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.2.8"), *fw.SECURITY),
    remediation="Set 'securityContext.capabilities: {drop: [ALL]}' and add back only "
    "NET_BIND_SERVICE.",
)
kubernetes_pod_seccomp = rule(
    "kubernetes-pod-seccomp-profile",
    "Containers run with the RuntimeDefault seccomp profile.",
    validate_seccomp,
    types=POD_TYPES,
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("4.6.2"), *fw.SECURITY),
    remediation="Set 'securityContext.seccompProfile: {type: RuntimeDefault}' on the pod.",
)
kubernetes_pod_read_only_root = rule(
    "kubernetes-pod-read-only-root-filesystem",
    "Containers have a read-only root filesystem.",
    validate_read_only_root,
    types=POD_TYPES,
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("4.6.3"), *fw.SECURITY),
    remediation="Set 'securityContext.readOnlyRootFilesystem: true' and mount an emptyDir for "
    "scratch paths (/tmp, caches).",
)
kubernetes_pod_resource_limits = rule(
    "kubernetes-pod-resource-limits",
    "Containers declare CPU and memory requests and limits.",
    validate_resource_limits,
    types=POD_TYPES,
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("4.6.1"), *fw.SECURITY),
    remediation="Set resources.requests and resources.limits (cpu and memory) on every container; "
    "the tenant LimitRange supplies defaults only at admission, which this check cannot see.",
)
kubernetes_service_account_token = rule(
    "kubernetes-service-account-token-automount",
    "Service accounts do not automount API tokens; pods opt in explicitly.",
    validate_token_automount,
    types={*POD_TYPES, "kubernetes:core/v1:ServiceAccount"},
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("4.1.6"), *fw.SECURITY),
    remediation="Set 'automountServiceAccountToken: false' on service accounts; pods that call "
    "the API use a dedicated service account and set 'automountServiceAccountToken: true'.",
)


# --- cluster ---------------------------------------------------------------------------

kubernetes_service_not_exposed = rule(
    "kubernetes-service-not-exposed",
    "Services are ClusterIP (or internal load balancers); no NodePort or externalIPs.",
    validate_service_exposure,
    types={"kubernetes:core/v1:Service"},
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("5.4.5"), *fw.SECURITY),
    remediation="Use ClusterIP and expose through the private ingress tier; if a load balancer is "
    "needed, annotate 'service.beta.kubernetes.io/aws-load-balancer-scheme: internal'.",
)
kubernetes_no_default_namespace = rule(
    "kubernetes-no-default-namespace",
    "No namespaced object is created in the 'default' namespace.",
    validate_not_default_namespace,
    types=is_namespaced_kubernetes,
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("4.6.4"), *fw.SECURITY),
    remediation="Set 'metadata.namespace' (Helm: 'namespace') to the tenant's or the platform's "
    "namespace.",
)
kubernetes_rbac_no_cluster_admin = rule(
    "kubernetes-rbac-no-cluster-admin",
    "No RoleBinding or ClusterRoleBinding grants cluster-admin.",
    validate_rbac_binding,
    types={
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    },
    severity=Severity.CRITICAL,
    frameworks=(*fw.cis_eks("4.1.1"), *fw.SECURITY),
    remediation="Bind a narrowly scoped Role in the tenant namespace instead; break-glass "
    "administration goes through EKS access entries, not in-cluster bindings.",
)
kubernetes_rbac_no_wildcards = rule(
    "kubernetes-rbac-no-wildcards",
    "Roles and ClusterRoles name their API groups, resources and verbs; no '*'.",
    validate_rbac_wildcards,
    types={
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
    },
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.1.3"), *fw.SECURITY),
    remediation="List the exact apiGroups, resources and verbs the subject needs.",
)
kubernetes_namespace_pod_security_restricted = rule(
    "kubernetes-namespace-pod-security-restricted",
    "Every namespace enforces the Pod Security Standard 'restricted'.",
    validate_pod_security_label,
    types={"kubernetes:core/v1:Namespace"},
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.2.1", "4.6.1"), *fw.SECURITY),
    remediation="Label the namespace 'pod-security.kubernetes.io/enforce: restricted' (and "
    "'enforce-version' pinned to the cluster's minor version).",
)
kubernetes_namespace_default_deny = rule(
    "kubernetes-namespace-default-deny",
    "Every namespace has a default-deny NetworkPolicy for ingress and egress.",
    validate_default_deny,
    stack=True,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.3.2"), *fw.SECURITY),
    remediation="Add a NetworkPolicy with 'podSelector: {}', 'policyTypes: [Ingress, Egress]' and "
    "no rules to the namespace, then explicit allow policies for the flows it needs.",
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
