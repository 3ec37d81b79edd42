"""Corpus case: a Helm chart pulled from a public repository."""

import pulumi_kubernetes as k8s

k8s.helm.v3.Release(
    "redis",
    chart="redis",
    version="20.6.0",
    namespace="platform",
    repository_opts={"repo": "https://charts.bitnami.com/bitnami"},
)
