"""Corpus case: a tenant namespace with no default-deny NetworkPolicy."""

import pulumi_kubernetes as k8s

k8s.core.v1.Namespace(
    "tenant-acme",
    metadata={
        "name": "tenant-acme",
        "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
    },
)
