"""Evasion case: An allow-all NetworkPolicy next to the namespace's default-deny policy."""

import pulumi_kubernetes as k8s

k8s.core.v1.Namespace(
    "tenant-acme",
    metadata={
        "name": "tenant-acme",
        "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
    },
)
k8s.networking.v1.NetworkPolicy(
    "default-deny",
    metadata={"name": "default-deny", "namespace": "tenant-acme"},
    spec={"pod_selector": {}, "policy_types": ["Ingress", "Egress"]},
)
k8s.networking.v1.NetworkPolicy(
    "allow-everything",
    metadata={"name": "allow-everything", "namespace": "tenant-acme"},
    spec={
        "pod_selector": {},
        "policy_types": ["Ingress"],
        "ingress": [{"ports": [{"port": 8080}]}],
    },
)
