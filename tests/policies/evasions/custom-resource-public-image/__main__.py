"""Evasion case: A Prometheus custom resource pulling its image from quay.io."""

import pulumi_kubernetes as k8s

k8s.apiextensions.CustomResource(
    "tenant-prometheus",
    api_version="monitoring.coreos.com/v1",
    kind="Prometheus",
    metadata={"name": "tenant", "namespace": "tenant-acme"},
    spec={"image": "quay.io/prometheus/prometheus:v3.10.0", "replicas": 2},
)
