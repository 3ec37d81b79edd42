"""A tenant's monitoring: what scrapes its pods, its own Prometheus (enterprise), and the
component that deploys them with its alert rules, routes and dashboard
(:mod:`components.k8s.alerting`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NotRequired

import pulumi

from components.k8s._resources import register
from components.k8s.alerting import (
    DEFAULT_THRESHOLDS,
    AlertThresholds,
    alert_rules,
    alertmanager_config,
    dashboard_config_map,
)
from components.k8s.catalog import IMAGES, Registry, RegistryArgs, registry_of
from components.k8s.featurestore import COMPONENT as FEATURE_SERVER_COMPONENT
from components.k8s.monitoring import (
    DEDICATED_LABEL,
    RELEASE,
    monitor_labels,
)
from components.k8s.placement import Placement
from components.k8s.podspec import (
    Manifest,
    Resources,
    object_meta,
    pod_security_context,
    role_binding,
    service_account_subject,
)
from components.k8s.podspec import (
    role as podspec_role,
)
from components.k8s.retraining import COMPONENT as CONTROLLER_COMPONENT
from components.k8s.serving import MODEL_SERVER_COMPONENT
from contracts.names import (
    INFERENCE_SERVICE_LABEL,
    ROLE_LABEL,
    TENANT_LABEL,
    Tier,
    labels,
    webhook_secret_name,
)
from contracts.serving import METRICS_PORT_NAME
from contracts.telemetry import webhook_url

# --- tenant builders -----------------------------------------------------------------


DRIFT_GAUGES_COMPONENT = CONTROLLER_COMPONENT
"""``app.kubernetes.io/component`` of the pods exporting the drift gauges (the retraining
controller; see :func:`drift_monitor_pod_monitor`)."""


def _pod_label(label: str, target: str) -> dict[str, Any]:
    """Copy a pod label onto every series as ``target`` (what alerts and the webhook read)."""
    meta = "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)
    return {"sourceLabels": [meta], "targetLabel": target, "action": "replace"}


def _monitor(
    kind: str,
    name: str,
    tenant: str,
    ns: str,
    dedicated: bool,
    component: str,
    endpoints: list[Manifest],
) -> Manifest:
    """A PodMonitor or ServiceMonitor of one component's objects in the tenant namespace."""
    endpoints_key = "podMetricsEndpoints" if kind == "PodMonitor" else "endpoints"
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": kind,
        "metadata": object_meta(name, ns, monitor_labels(tenant, dedicated)),
        "spec": {
            "selector": {
                "matchLabels": {"app.kubernetes.io/component": component, TENANT_LABEL: tenant}
            },
            "namespaceSelector": {"matchNames": [ns]},
            endpoints_key: endpoints,
        },
    }


def model_pod_monitor(tenant: str, ns: str, dedicated: bool) -> Manifest:
    """Scrape every model-server pod of the tenant (champion and challenger alike).

    KServe generates the predictors' Services, so their port names are not ours to rely
    on; the pods' container port is (``metrics`` in our ServingRuntime: the model server
    serves metrics on their own port, never next to inference).
    """
    endpoint = {
        "port": METRICS_PORT_NAME,
        "path": "/metrics",
        "interval": "30s",
        # ``namespace`` + ``inferenceservice`` is what the webhook acts on.
        "relabelings": [
            _pod_label(INFERENCE_SERVICE_LABEL, "inferenceservice"),
            _pod_label(ROLE_LABEL, "role"),
        ],
    }
    return _monitor(
        "PodMonitor", f"{tenant}-model-servers", tenant, ns, dedicated, MODEL_SERVER_COMPONENT,
        [endpoint],
    )  # fmt: skip


def drift_monitor_pod_monitor(tenant: str, ns: str, dedicated: bool) -> Manifest:
    """Scrape the drift gauges where they live between checks.

    The drift monitor is a CronJob (:mod:`components.k8s.drift_monitor`): gone before a
    scrape. It writes its report next to the model, and the tenant's retraining
    controller (a Deployment) re-exports each model's latest report as the
    ``mlplatform_drift_*`` gauges on its ``metrics`` port; this monitor scrapes that.
    """
    return _monitor(
        "PodMonitor", f"{tenant}-drift-monitor", tenant, ns, dedicated, DRIFT_GAUGES_COMPONENT,
        [{"port": "metrics", "path": "/metrics", "interval": "60s"}],
    )  # fmt: skip


def feature_server_service_monitor(tenant: str, ns: str, dedicated: bool) -> Manifest:
    """Scrape the Feast feature server's ``--metrics`` endpoint through its Service."""
    return _monitor(
        "ServiceMonitor", f"{tenant}-feature-server", tenant, ns, dedicated,
        FEATURE_SERVER_COMPONENT, [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
    )  # fmt: skip


def dedicated_prometheus(
    tenant: str,
    ns: str,
    registry: Registry,
    *,
    retention_days: int,
    storage_size: str,
    storage_class: str,
    alertmanager_namespace: str,
) -> list[Manifest]:
    """An enterprise tenant's own Prometheus: SA + namespaced RBAC + the Prometheus CR."""
    if retention_days < 1:
        raise ValueError(f"tenant {tenant}: retention_days must be >= 1, got {retention_days}")
    name = f"{tenant}-prometheus"
    meta_labels = labels(tenant, "prometheus", name=name)
    own = {"matchLabels": {DEDICATED_LABEL: tenant}}
    same_ns = {"matchLabels": {"kubernetes.io/metadata.name": ns}}
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(name, ns, meta_labels),
        # Off on the account; the Prometheus pods opt in (spec below): they discover
        # targets through the Kubernetes API.
        "automountServiceAccountToken": False,
    }
    role = podspec_role(
        name,
        ns,
        meta_labels,
        [
            {
                "apiGroups": [""],
                "resources": ["pods", "services", "endpoints"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["discovery.k8s.io"],
                "resources": ["endpointslices"],
                "verbs": ["get", "list", "watch"],
            },
        ],
    )
    binding = role_binding(name, ns, meta_labels, name, [service_account_subject(name, ns)])
    pin = IMAGES["prometheus"]
    prometheus = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": object_meta(name, ns, meta_labels),
        "spec": {
            "image": registry.image(pin),
            "version": pin.tag,
            "replicas": 2,
            "retention": f"{retention_days}d",
            "serviceAccountName": name,
            "automountServiceAccountToken": True,
            "securityContext": pod_security_context(),
            "resources": Resources("250m", "1Gi", cpu_limit="1", memory_limit="4Gi").to_manifest(),
            "serviceMonitorSelector": own,
            "podMonitorSelector": own,
            "ruleSelector": own,
            "serviceMonitorNamespaceSelector": same_ns,
            "podMonitorNamespaceSelector": same_ns,
            "ruleNamespaceSelector": same_ns,
            "alerting": {
                "alertmanagers": [
                    {
                        "namespace": alertmanager_namespace,
                        "name": f"{RELEASE}-alertmanager",
                        "port": "http-web",
                        "apiVersion": "v2",
                    }
                ]
            },
            "storage": {
                "volumeClaimTemplate": {
                    "spec": {
                        "storageClassName": storage_class,
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": storage_size}},
                    }
                }
            },
        },
    }
    # Tenant namespaces deny egress by default; the dedicated Prometheus must reach the
    # shared Alertmanager (the API server allow is the tenant component's, see report).
    to_alertmanager = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(f"{name}-to-alertmanager", ns, meta_labels),
        "spec": {
            "podSelector": {"matchLabels": {"operator.prometheus.io/name": name}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {
                                    "kubernetes.io/metadata.name": alertmanager_namespace
                                }
                            },
                            "podSelector": {
                                "matchLabels": {"app.kubernetes.io/name": "alertmanager"}
                            },
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": 9093}],
                }
            ],
        },
    }
    return [sa, role, binding, prometheus, to_alertmanager]


class TenantMonitoringArgs(RegistryArgs):
    """Inputs of :class:`TenantMonitoring`."""

    tenant: str
    """Tenant name."""
    namespace: str
    """Tenant namespace."""
    tier: Tier
    """``smb`` (shared Prometheus) or ``enterprise`` (dedicated Prometheus)."""
    models: Sequence[str]
    """Model names (dashboard description)."""
    canary: NotRequired[bool]
    """Any champion/challenger model (adds the ``CanaryDegraded`` rules; default: enterprise)."""
    webhook_url: NotRequired[str]
    """Alert receiver URL (default: the ``TenantAutomation`` service of the tenant)."""
    automation: NotRequired[bool]
    """Route alerts to the tenant's automation (default true; false when the tenant has
    no ``TenantAutomation``, e.g. ``drift_automation: false``: the alerts still fire)."""
    thresholds: NotRequired[AlertThresholds]
    """Alert thresholds (default :data:`DEFAULT_THRESHOLDS`)."""
    retention_days: NotRequired[int]
    """Dedicated Prometheus retention (enterprise; default 90)."""
    storage_size: NotRequired[str]
    """Dedicated Prometheus volume (default ``50Gi``)."""
    storage_class: NotRequired[str]
    """StorageClass (default ``gp3``)."""
    monitoring_namespace: NotRequired[str]
    """Namespace of the shared stack (dashboards and Alertmanager; default ``monitoring``)."""
    placement: NotRequired[Placement]
    """Node pools of the tenant's pods (enterprise: its dedicated, tainted pools)."""


def tenant_monitoring_manifests(args: TenantMonitoringArgs) -> list[Manifest]:
    """Every object of a tenant's monitoring (pure)."""
    tenant, ns, tier = args["tenant"], args["namespace"], args["tier"]
    if tier not in ("smb", "enterprise"):
        raise ValueError(f"monitoring {tenant}: tier must be smb or enterprise, got {tier!r}")
    dedicated = tier == "enterprise"
    mon_ns = args.get("monitoring_namespace", "monitoring")
    manifests: list[Manifest] = []
    if dedicated:
        manifests += dedicated_prometheus(
            tenant,
            ns,
            registry_of(args),
            retention_days=args.get("retention_days", 90),
            storage_size=args.get("storage_size", "50Gi"),
            storage_class=args.get("storage_class", "gp3"),
            alertmanager_namespace=mon_ns,
        )
    manifests += [
        model_pod_monitor(tenant, ns, dedicated),
        drift_monitor_pod_monitor(tenant, ns, dedicated),
        feature_server_service_monitor(tenant, ns, dedicated),
        alert_rules(
            tenant,
            ns,
            dedicated,
            canary=args.get("canary", dedicated),
            thresholds=args.get("thresholds", DEFAULT_THRESHOLDS),
        ),
        dashboard_config_map(tenant, mon_ns, ns, args["models"]),
    ]
    if args.get("automation", True):
        manifests.append(
            alertmanager_config(
                tenant,
                ns,
                args.get("webhook_url", webhook_url(tenant, ns)),
                webhook_secret_name(tenant),
            )
        )
    if "placement" in args:
        for manifest in manifests:
            args["placement"].apply(manifest)
    return manifests


class TenantMonitoring(pulumi.ComponentResource):
    """A tenant's monitors, alert rules and routes, dashboard (and own Prometheus if enterprise)."""

    rule_name: pulumi.Output[str]
    """Name of the tenant's PrometheusRule."""
    dedicated_prometheus: bool
    """Whether the tenant has its own Prometheus."""

    def __init__(
        self, name: str, args: TenantMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:monitoring:TenantMonitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        used: set[str] = set()
        for manifest in tenant_monitoring_manifests(args):
            resource_name = f"{name}-{manifest['kind'].lower()}"
            if resource_name in used:
                # A second object of a kind (the drift monitor's PodMonitor beside the
                # model servers'): its own name keeps the URNs unique.
                object_name = manifest["metadata"]["name"].removeprefix(f"{args['tenant']}-")
                resource_name = f"{resource_name}-{object_name}"
            used.add(resource_name)
            register(resource_name, manifest, child)
        self.rule_name = pulumi.Output.from_input(f"{args['tenant']}-model-alerts")
        self.dedicated_prometheus = args["tier"] == "enterprise"
        self.register_outputs(
            {"ruleName": self.rule_name, "dedicatedPrometheus": self.dedicated_prometheus}
        )
