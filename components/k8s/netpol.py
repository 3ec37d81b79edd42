"""NetworkPolicies of the platform namespaces this layer creates (monitoring, KServe, cert-manager).

Same shape as the tenant namespaces: deny everything, then allow only the flows the
namespace needs. ``cluster_cidrs`` are the address ranges of the Kubernetes API server
and the nodes (on EKS the VPC CIDR: the private endpoint's ENIs and the kubelets live
there; on-prem the control-plane and node ranges): webhooks are called from there, and
controllers call the API server (443) there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.k8s.podspec import Manifest, object_meta

ALL_PODS: Mapping[str, Any] = {}


def _cidr_peers(cidrs: Sequence[str]) -> list[Manifest]:
    if not cidrs:
        raise ValueError("cluster_cidrs must name at least one CIDR (API server and nodes)")
    for cidr in cidrs:
        if "/" not in cidr or cidr.endswith("/0"):
            raise ValueError(f"cluster CIDR {cidr!r} must be a bounded range, not the world")
    return [{"ipBlock": {"cidr": c}} for c in cidrs]


def _policy(name: str, namespace: str, labels: Mapping[str, str], spec: Manifest) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(name, namespace, labels),
        "spec": spec,
    }


def _ns_peer(name: str, pod_labels: Mapping[str, str] | None = None) -> Manifest:
    peer: Manifest = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
    if pod_labels:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


def _tcp(*ports: int) -> list[Manifest]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def baseline_policies(
    namespace: str, labels: Mapping[str, str], cluster_cidrs: Sequence[str]
) -> list[Manifest]:
    """Default deny, DNS, traffic inside the namespace, HTTPS to the API server/AWS endpoints."""
    peers = _cidr_peers(cluster_cidrs)
    return [
        _policy(
            "default-deny-all",
            namespace,
            labels,
            {"podSelector": dict(ALL_PODS), "policyTypes": ["Ingress", "Egress"]},
        ),
        _policy(
            "allow-dns",
            namespace,
            labels,
            {
                "podSelector": dict(ALL_PODS),
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [_ns_peer("kube-system", {"k8s-app": "kube-dns"})],
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ],
                    }
                ],
            },
        ),
        _policy(
            "allow-same-namespace",
            namespace,
            labels,
            {
                "podSelector": dict(ALL_PODS),
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": dict(ALL_PODS)}]}],
                "egress": [{"to": [{"podSelector": dict(ALL_PODS)}]}],
            },
        ),
        _policy(
            "allow-https-to-cluster",
            namespace,
            labels,
            {
                "podSelector": dict(ALL_PODS),
                "policyTypes": ["Egress"],
                "egress": [{"to": peers, "ports": _tcp(443)}],
            },
        ),
    ]


def webhook_ingress(
    namespace: str,
    labels: Mapping[str, str],
    cluster_cidrs: Sequence[str],
    pod_labels: Mapping[str, str],
    port: int,
    name: str,
) -> Manifest:
    """Admit the API server to an admission webhook's pods."""
    return _policy(
        name,
        namespace,
        labels,
        {
            "podSelector": {"matchLabels": dict(pod_labels)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": _cidr_peers(cluster_cidrs), "ports": _tcp(port)}],
        },
    )


def scrape_ingress(
    namespace: str, labels: Mapping[str, str], monitoring_namespace: str, ports: Sequence[int]
) -> Manifest:
    """Admit the monitoring namespace's Prometheus to this namespace's metrics ports."""
    return _policy(
        "allow-monitoring-scrape",
        namespace,
        labels,
        {
            "podSelector": dict(ALL_PODS),
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [_ns_peer(monitoring_namespace)], "ports": _tcp(*ports)}],
        },
    )


def monitoring_policies(
    namespace: str, labels: Mapping[str, str], cluster_cidrs: Sequence[str]
) -> list[Manifest]:
    """What the monitoring stack needs beyond the baseline.

    - Prometheus scrapes pods in every namespace and the kubelets (10250) on the nodes;
      Alertmanager posts to the tenants' alert receivers: egress to all namespaces.
    - Tenants' dedicated Prometheuses send alerts to Alertmanager (9093).
    """
    return [
        *baseline_policies(namespace, labels, cluster_cidrs),
        _policy(
            "allow-scrape-and-alert-egress",
            namespace,
            labels,
            {
                "podSelector": dict(ALL_PODS),
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"namespaceSelector": dict(ALL_PODS)}]},
                    {"to": _cidr_peers(cluster_cidrs), "ports": _tcp(10250)},
                ],
            },
        ),
        _policy(
            "allow-alerts-from-tenant-prometheus",
            namespace,
            labels,
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": dict(ALL_PODS),
                                "podSelector": {
                                    "matchLabels": {"app.kubernetes.io/name": "prometheus"}
                                },
                            }
                        ],
                        "ports": _tcp(9093),
                    }
                ],
            },
        ),
    ]
