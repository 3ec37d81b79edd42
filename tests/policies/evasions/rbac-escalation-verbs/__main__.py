"""Evasion case: A Role that can bind roles and impersonate users (no wildcard anywhere)."""

import pulumi_kubernetes as k8s

k8s.rbac.v1.Role(
    "role-granter",
    metadata={"name": "role-granter", "namespace": "tenant-acme"},
    rules=[
        {
            "api_groups": ["rbac.authorization.k8s.io"],
            "resources": ["rolebindings"],
            "verbs": ["create", "bind"],
        },
        {"api_groups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]},
    ],
)
