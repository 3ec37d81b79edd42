"""Kubernetes workload-isolation rules (Pod Security ``restricted``, RBAC, exposure).

Served by the ``zero-trust`` pack. This module is the catalogue: every rule with its
name, description, severity, frameworks and remediation. The validators live in
:mod:`.pods` (every pod spec of every object, found by walking it; service-account
tokens) and :mod:`.cluster` (Services, Ingresses, namespaces, RBAC, network policies).
"""

from pulumi_policy import EnforcementLevel, Severity

from policies.rules import frameworks as fw
from policies.rules.declare import Setting, rule
from policies.rules.kubernetes.cluster import (
    is_ingress,
    is_namespaced_kubernetes,
    is_network_policy,
    validate_default_deny,
    validate_ingress_internal,
    validate_network_policy_scope,
    validate_not_default_namespace,
    validate_pod_security_label,
    validate_rbac_binding,
    validate_rbac_escalation,
    validate_rbac_wildcards,
    validate_service_exposure,
)
from policies.rules.kubernetes.pods import (
    may_carry_pod_spec,
    validate_capabilities,
    validate_host_namespaces,
    validate_image_digest,
    validate_privilege_escalation,
    validate_privileged,
    validate_read_only_root,
    validate_resource_limits,
    validate_run_as_non_root,
    validate_seccomp,
    validate_token_automount,
)

CIDR_CONFIG = {
    "ipv4PublicPrefixLimit": Setting(
        16,
        {
            "type": "integer",
            "minimum": 0,
            "maximum": 32,
            "description": "Most public IPv4 addresses a rule may admit, as a prefix length "
            "(16: at most one /16).",
        },
    ),
    "ipv6PublicPrefixLimit": Setting(
        48,
        {
            "type": "integer",
            "minimum": 0,
            "maximum": 128,
            "description": "Most public IPv6 addresses a rule may admit, as a prefix length.",
        },
    ),
}
"""How much public address space a CIDR-based rule accepts (shared with security groups)."""

# --- pods ------------------------------------------------------------------------------

kubernetes_pod_no_privileged = rule(
    "kubernetes-pod-no-privileged",
    "Containers do not run privileged.",
    validate_privileged,
    types=may_carry_pod_spec,
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
    types=may_carry_pod_spec,
    severity=Severity.CRITICAL,
    frameworks=(*fw.cis_eks("4.2.4"), *fw.SECURITY),
    remediation="Remove hostNetwork/hostPID/hostIPC, hostPath volumes (use a PVC, emptyDir or CSI "
    "volume) and hostPort.",
)
kubernetes_pod_run_as_non_root = rule(
    "kubernetes-pod-run-as-non-root",
    "Containers run as a non-root user.",
    validate_run_as_non_root,
    types=may_carry_pod_spec,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.2.6"), *fw.SECURITY),
    remediation="Set 'securityContext.runAsNonRoot: true' and a non-zero 'runAsUser' on the pod "
    "or container, and build the image with a numeric non-root USER.",
)
kubernetes_pod_no_privilege_escalation = rule(
    "kubernetes-pod-no-privilege-escalation",
    "Containers cannot gain more privileges than their parent process.",
    validate_privilege_escalation,
    types=may_carry_pod_spec,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.2.5"), *fw.SECURITY),
    remediation="Set 'securityContext.allowPrivilegeEscalation: false' on every container.",
)
kubernetes_pod_drop_capabilities = rule(
    "kubernetes-pod-drop-all-capabilities",
    "Containers drop all Linux capabilities (NET_BIND_SERVICE may be added back).",
    validate_capabilities,
    types=may_carry_pod_spec,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.2.8"), *fw.SECURITY),
    remediation="Set 'securityContext.capabilities: {drop: [ALL]}' and add back only "
    "NET_BIND_SERVICE.",
)
kubernetes_pod_seccomp = rule(
    "kubernetes-pod-seccomp-profile",
    "Containers run with the RuntimeDefault seccomp profile.",
    validate_seccomp,
    types=may_carry_pod_spec,
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("4.6.2"), *fw.SECURITY),
    remediation="Set 'securityContext.seccompProfile: {type: RuntimeDefault}' on the pod.",
)
kubernetes_pod_read_only_root = rule(
    "kubernetes-pod-read-only-root-filesystem",
    "Containers have a read-only root filesystem.",
    validate_read_only_root,
    types=may_carry_pod_spec,
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("4.6.3"), *fw.SECURITY),
    remediation="Set 'securityContext.readOnlyRootFilesystem: true' and mount an emptyDir for "
    "scratch paths (/tmp, caches).",
)
kubernetes_pod_resource_limits = rule(
    "kubernetes-pod-resource-limits",
    "Containers declare CPU and memory requests and limits.",
    validate_resource_limits,
    types=may_carry_pod_spec,
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("4.6.1"), *fw.SECURITY),
    remediation="Set resources.requests and resources.limits (cpu and memory) on every container; "
    "the tenant LimitRange supplies defaults only at admission, which this check cannot see.",
)
kubernetes_service_account_token = rule(
    "kubernetes-service-account-token-automount",
    "Service accounts do not automount API tokens; pods opt in explicitly.",
    validate_token_automount,
    types=lambda resource_type: (
        may_carry_pod_spec(resource_type)
        or resource_type.startswith("kubernetes:core/v1:ServiceAccount")
    ),
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("4.1.6"), *fw.SECURITY),
    remediation="Set 'automountServiceAccountToken: false' on service accounts; pods that call "
    "the API use a dedicated service account and set 'automountServiceAccountToken: true'.",
)
kubernetes_image_digest = rule(
    "kubernetes-image-pinned-by-digest",
    "Container images (pod specs, custom resources and Helm values) are referenced by "
    "digest (image@sha256:...), not by a tag alone.",
    validate_image_digest,
    types=lambda resource_type: (
        may_carry_pod_spec(resource_type) or resource_type.startswith("kubernetes:helm.sh/")
    ),
    severity=Severity.HIGH,
    frameworks=(*fw.SECURITY,),
    remediation="Run 'mlplatform mirror' to copy the images into the in-region registry and "
    "record their digests in stacks/images.lock.json; the program then references "
    "image@sha256:<digest>. Advisory by default; a stack's policy config (prod) sets it "
    "mandatory once its lock is complete.",
    enforcement_level=EnforcementLevel.ADVISORY,
)


# --- cluster ---------------------------------------------------------------------------

kubernetes_service_not_exposed = rule(
    "kubernetes-service-not-exposed",
    "Services are ClusterIP (or internal load balancers); no NodePort or externalIPs.",
    validate_service_exposure,
    types={"kubernetes:core/v1:Service", "kubernetes:core/v1:ServicePatch"},
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
_BINDING_TYPES = {
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBindingPatch",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBindingPatch",
}
_ROLE_TYPES = {
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRolePatch",
    "kubernetes:rbac.authorization.k8s.io/v1:RolePatch",
}

kubernetes_rbac_no_cluster_admin = rule(
    "kubernetes-rbac-no-cluster-admin",
    "No binding grants cluster-admin, the built-in admin/edit roles cluster-wide, or any "
    "role to anonymous users, all authenticated users or all service accounts.",
    validate_rbac_binding,
    types=_BINDING_TYPES,
    severity=Severity.CRITICAL,
    frameworks=(*fw.cis_eks("4.1.1", "4.1.8"), *fw.SECURITY),
    remediation="Bind a narrowly scoped Role in the tenant namespace to named users, groups or "
    "service accounts; break-glass administration goes through EKS access entries, not "
    "in-cluster bindings.",
)
kubernetes_rbac_no_wildcards = rule(
    "kubernetes-rbac-no-wildcards",
    "Roles and ClusterRoles name their API groups, resources and verbs; no '*'.",
    validate_rbac_wildcards,
    types=_ROLE_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.1.3"), *fw.SECURITY),
    remediation="List the exact apiGroups, resources and verbs the subject needs.",
)
kubernetes_rbac_no_escalation = rule(
    "kubernetes-rbac-no-escalation-verbs",
    "Roles grant no privilege-escalation verbs: bind, escalate, impersonate, creating "
    "service-account tokens, approving certificates or the nodes/proxy API.",
    validate_rbac_escalation,
    types=_ROLE_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.1.8"), *fw.SECURITY),
    remediation="Remove the verbs; a controller that must grant roles gets 'bind' only with "
    "'resourceNames' naming the roles it may bind, in its own namespace, after a review.",
)
kubernetes_network_policy_no_allow_all = rule(
    "kubernetes-network-policy-no-allow-all",
    "NetworkPolicy rules name their peers: no rule without peers (allow-all) and no ipBlock "
    "that admits the internet.",
    validate_network_policy_scope,
    types=is_network_policy,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("4.3.2"), *fw.SECURITY),
    remediation="Give every ingress rule a 'from' and every egress rule a 'to' with pod or "
    "namespace selectors, or ipBlocks limited to the VPC and named partner ranges.",
    config=CIDR_CONFIG,
)
kubernetes_ingress_internal = rule(
    "kubernetes-ingress-not-internet-facing",
    "Ingress objects and ALB IngressClassParams do not request an internet-facing load balancer.",
    validate_ingress_internal,
    types=is_ingress,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("5.4.5"), *fw.SECURITY),
    remediation="Remove 'alb.ingress.kubernetes.io/scheme: internet-facing' (the controller "
    "defaults to 'internal') or set it to 'internal'.",
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
    kubernetes_image_digest,
    kubernetes_service_not_exposed,
    kubernetes_no_default_namespace,
    kubernetes_rbac_no_cluster_admin,
    kubernetes_rbac_no_wildcards,
    kubernetes_rbac_no_escalation,
    kubernetes_network_policy_no_allow_all,
    kubernetes_ingress_internal,
    kubernetes_namespace_pod_security_restricted,
]
STACK_POLICIES = [kubernetes_namespace_default_deny]
