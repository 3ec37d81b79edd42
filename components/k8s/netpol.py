"""NetworkPolicy builders: deny everything, then allow only the flows a namespace needs.

The building blocks (:func:`default_deny`, :func:`allow_dns`,
:func:`allow_same_namespace`, :func:`egress_to`, :func:`scrape_ingress`) serve both the
tenant namespaces (the tenant component) and the platform namespaces this layer creates
(monitoring, KServe, cert-manager). ``cluster_cidrs`` are the address ranges of the
Kubernetes API server and the nodes (on EKS the VPC CIDR: the private endpoint's ENIs and
the kubelets live there; on-prem the control-plane and node ranges): webhooks are called
from there, and controllers call the API server (443) there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.k8s.podspec import Manifest, object_meta

ALL_PODS: Mapping[str, Any] = {}

RESTRICTED_INGRESS_LABEL = "mlplatform.io/restricted-ingress"
"""Pod label: the pod admits only the peers its own NetworkPolicy names (the alert
receiver admits Alertmanager only), so :func:`allow_same_namespace` leaves it out."""

UNRESTRICTED_PODS: Mapping[str, Any] = {
    "matchExpressions": [{"key": RESTRICTED_INGRESS_LABEL, "operator": "DoesNotExist"}]
}
"""Every pod of the namespace except those labelled :data:`RESTRICTED_INGRESS_LABEL`."""


def ip_block_peers(cidrs: Sequence[str]) -> list[Manifest]:
    """``ipBlock`` peers for CIDR blocks, as given."""
    return [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]


def _cluster_peers(cidrs: Sequence[str]) -> list[Manifest]:
    if not cidrs:
        raise ValueError("cluster_cidrs must name at least one CIDR (API server and nodes)")
    for cidr in cidrs:
        if "/" not in cidr or cidr.endswith("/0"):
            raise ValueError(f"cluster CIDR {cidr!r} must be a bounded range, not the world")
    return ip_block_peers(cidrs)


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


def tcp_ports(ports: Sequence[int]) -> list[Manifest]:
    """NetworkPolicy ``ports`` entries for TCP ports."""
    return [{"protocol": "TCP", "port": port} for port in ports]


def default_deny(namespace: str, labels: Mapping[str, str]) -> Manifest:
    """Deny all ingress and egress of every pod in the namespace (allows are added to it)."""
    return _policy(
        "default-deny-all",
        namespace,
        labels,
        {"podSelector": dict(ALL_PODS), "policyTypes": ["Ingress", "Egress"]},
    )


def allow_dns(namespace: str, labels: Mapping[str, str]) -> Manifest:
    """DNS (UDP and TCP 53) to CoreDNS in kube-system."""
    return _policy(
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
    )


def allow_same_namespace(namespace: str, labels: Mapping[str, str]) -> Manifest:
    """Any traffic between the pods of the namespace, except to and from pods labelled
    :data:`RESTRICTED_INGRESS_LABEL` (NetworkPolicies only add: a policy selecting every
    pod would admit the whole namespace to a pod that should hear from one peer only)."""
    return _policy(
        "allow-same-namespace",
        namespace,
        labels,
        {
            "podSelector": dict(UNRESTRICTED_PODS),
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": dict(ALL_PODS)}]}],
            "egress": [{"to": [{"podSelector": dict(ALL_PODS)}]}],
        },
    )


def egress_to(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    peers: Sequence[Manifest],
    ports: Sequence[int],
) -> Manifest:
    """Egress from every pod of the namespace to ``peers`` on TCP ``ports``."""
    return _policy(
        name,
        namespace,
        labels,
        {
            "podSelector": dict(ALL_PODS),
            "policyTypes": ["Egress"],
            "egress": [{"to": list(peers), "ports": tcp_ports(ports)}],
        },
    )


def baseline_policies(
    namespace: str, labels: Mapping[str, str], cluster_cidrs: Sequence[str]
) -> list[Manifest]:
    """Default deny, DNS, traffic inside the namespace, HTTPS to the API server/AWS endpoints."""
    return [
        default_deny(namespace, labels),
        allow_dns(namespace, labels),
        allow_same_namespace(namespace, labels),
        egress_to(
            "allow-https-to-cluster", namespace, labels, _cluster_peers(cluster_cidrs), [443]
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
            "ingress": [{"from": _cluster_peers(cluster_cidrs), "ports": tcp_ports([port])}],
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
            "ingress": [{"from": [_ns_peer(monitoring_namespace)], "ports": tcp_ports(ports)}],
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
                    {"to": _cluster_peers(cluster_cidrs), "ports": tcp_ports([10250])},
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
                        "ports": tcp_ports([9093]),
                    }
                ],
            },
        ),
    ]
