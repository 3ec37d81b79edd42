"""Evasion case: The built-in 'edit' ClusterRole bound cluster-wide to every authenticated identity."""

import pulumi_kubernetes as k8s

k8s.rbac.v1.ClusterRoleBinding(
    "everyone-edits",
    metadata={"name": "everyone-edits"},
    role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
    subjects=[
        {"kind": "Group", "name": "system:authenticated", "api_group": "rbac.authorization.k8s.io"}
    ],
)
