"""Monitoring: kube-prometheus-stack for the platform, and per-tenant scraping, alerts, dashboards.

Platform part (:class:`MonitoringStack`): kube-prometheus-stack as a pinned Helm release
from the in-region mirror, every image overridden to the mirror, ClusterIP services
only, Grafana's admin password from a Secret, anonymous access and sign-up off, no
phone-home. The shared Prometheus (SMB tenants and the platform) keeps the platform's
retention; it ignores monitors and rules labelled for a dedicated Prometheus. The
namespace denies all traffic but the flows listed in :mod:`components.k8s.netpol`.

Tenant part (:class:`TenantMonitoring`): PodMonitors for the model servers (KServe
generates their Services, so their port names are not ours to rely on; the pods' are)
and the drift monitor, a ServiceMonitor for the Feast feature server, PrometheusRules on
the workloads' own metrics (p99 latency, error rate, PSI drift), an AlertmanagerConfig
sending ``CanaryDegraded`` and ``ModelInputDrift`` to the tenant's alert receiver
(``workloads/alerts``, deployed by :mod:`components.k8s.automation`) with a bearer
token, and a Grafana dashboard as JSON in a ConfigMap. Enterprise tenants get their own
``Prometheus`` (operator-managed) with their own retention, alerting through the shared
Alertmanager. The monitoring namespace enforces Pod Security ``restricted``, which is
why node-exporter (host network, PID and ``/proc``) is disabled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

import pulumi

from components.k8s._resources import pinned_release, register
from components.k8s.catalog import CHARTS, IMAGES, Registry, RegistryArgs, registry_of
from components.k8s.featurestore import COMPONENT as FEATURE_SERVER_COMPONENT
from components.k8s.netpol import monitoring_policies
from components.k8s.placement import Placement
from components.k8s.podspec import (
    Manifest,
    Resources,
    namespace,
    object_meta,
    pod_security_context,
)
from components.k8s.serving import MODEL_SERVER_COMPONENT, SERVER_PORT_NAME
from contracts.names import (
    INFERENCE_SERVICE_LABEL,
    ROLE_LABEL,
    TENANT_LABEL,
    Tier,
    labels,
    webhook_secret_name,
)
from contracts.telemetry import (
    CANARY_ALERT,
    DRIFT_ALERT,
    DRIFT_GAUGE,
    ERROR_STATUS,
    LATENCY_HISTOGRAM,
    REQUESTS_COUNTER,
    webhook_url,
)

RELEASE = "kps"
"""Release name and ``fullnameOverride``: gives stable Service names (``kps-alertmanager``)."""
DEDICATED_LABEL = "mlplatform.io/dedicated-prometheus"
"""On monitors and rules evaluated by a tenant's own Prometheus (the shared one skips them)."""
ALERTING_LABEL = "mlplatform.io/alerting"
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_FOLDER_ANNOTATION = "grafana_folder"

# --- platform ------------------------------------------------------------------------


def kube_prometheus_values(
    registry: Registry,
    *,
    retention_days: int,
    storage_size: str,
    storage_class: str,
    grafana_admin_secret: str,
) -> dict[str, Any]:
    """Values for kube-prometheus-stack 82.x (keys from its values.yaml)."""
    if retention_days < 1:
        raise ValueError(f"prometheus retention must be >= 1 day, got {retention_days}")
    img = registry.helm_image
    not_dedicated = {"matchExpressions": [{"key": DEDICATED_LABEL, "operator": "DoesNotExist"}]}
    return {
        "fullnameOverride": RELEASE,
        "crds": {"enabled": True},
        "defaultRules": {"create": True},
        "prometheusOperator": {
            "image": img(IMAGES["prometheus-operator"]),
            "prometheusConfigReloader": {"image": img(IMAGES["prometheus-config-reloader"])},
            "admissionWebhooks": {"patch": {"image": img(IMAGES["kube-webhook-certgen"])}},
            "service": {"type": "ClusterIP"},
        },
        "prometheus": {
            "service": {"type": "ClusterIP"},
            "prometheusSpec": {
                "image": img(IMAGES["prometheus"]),
                "retention": f"{retention_days}d",
                # Select across namespaces, but leave tenants' dedicated monitors alone.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "serviceMonitorSelector": not_dedicated,
                "podMonitorSelector": not_dedicated,
                "ruleSelector": not_dedicated,
                "serviceMonitorNamespaceSelector": {},
                "podMonitorNamespaceSelector": {},
                "ruleNamespaceSelector": {},
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "storageClassName": storage_class,
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": storage_size}},
                        }
                    }
                },
            },
        },
        "alertmanager": {
            "service": {"type": "ClusterIP"},
            "alertmanagerSpec": {
                "image": img(IMAGES["alertmanager"]),
                "alertmanagerConfigSelector": {"matchLabels": {ALERTING_LABEL: "true"}},
                "alertmanagerConfigNamespaceSelector": {},
                # Each tenant's routes only ever see alerts from the tenant's namespace.
                "alertmanagerConfigMatcherStrategy": {"type": "OnNamespace"},
            },
        },
        "grafana": {
            "image": img(IMAGES["grafana"]),
            "service": {"type": "ClusterIP"},
            "admin": {
                "existingSecret": grafana_admin_secret,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "grafana.ini": {
                "auth.anonymous": {"enabled": False},
                "users": {"allow_sign_up": False},
                "analytics": {"reporting_enabled": False, "check_for_updates": False},
                "security": {"cookie_secure": True, "disable_gravatar": True},
            },
            # The chown init container runs as root; without persistence it is not needed.
            "initChownData": {"enabled": False},
            "testFramework": {"enabled": False},
            "sidecar": {
                "image": img(IMAGES["grafana-sidecar"]),
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                    "searchNamespace": "ALL",
                    "folderAnnotation": DASHBOARD_FOLDER_ANNOTATION,
                    "provider": {"foldersFromFilesStructure": True},
                },
            },
        },
        "kube-state-metrics": {"image": img(IMAGES["kube-state-metrics"])},
        # node-exporter needs the host's network, PID namespace and /proc: it cannot run
        # under Pod Security ``restricted``. Container and pod metrics still come from
        # the kubelets (cAdvisor), node capacity from kube-state-metrics.
        "nodeExporter": {"enabled": False},
    }


class MonitoringStackArgs(RegistryArgs):
    """Inputs of :class:`MonitoringStack`."""

    retention_days: int
    """Shared Prometheus retention (platform setting; SMB tenants share it)."""
    grafana_admin_password: pulumi.Input[str]
    """Grafana admin password (a Pulumi config secret)."""
    namespace: NotRequired[str]
    """Namespace (default ``monitoring``)."""
    storage_size: NotRequired[str]
    """Prometheus volume size (default ``100Gi``)."""
    storage_class: NotRequired[str]
    """StorageClass of the Prometheus volume (default ``gp3``, encrypted by the cluster)."""
    cluster_cidrs: Sequence[str]
    """API server and node ranges (EKS: the VPC CIDR) for the namespace's NetworkPolicies."""


class MonitoringStack(pulumi.ComponentResource):
    """kube-prometheus-stack, pinned and mirrored, with a secret Grafana admin password."""

    namespace: pulumi.Output[str]
    """Monitoring namespace."""
    alertmanager_service: pulumi.Output[str]
    """``<ns>/<service>`` of the shared Alertmanager (dedicated Prometheuses alert to it)."""

    def __init__(
        self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:monitoring:MonitoringStack", name, None, opts)
        registry = registry_of(args)
        ns_name = args.get("namespace", "monitoring")
        child = pulumi.ResourceOptions(parent=self)
        part_of = {"app.kubernetes.io/part-of": "mlplatform"}
        ns = register(
            f"{name}-ns",
            namespace(
                ns_name, "restricted", part_of, "every pod restricted (node-exporter disabled)"
            ),
            child,
        )
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        for policy in monitoring_policies(ns_name, part_of, args["cluster_cidrs"]):
            register(f"{name}-netpol-{policy['metadata']['name']}", policy, after_ns)
        secret_name = "grafana-admin"  # noqa: S105 (the Secret object name)
        secret = register(
            f"{name}-grafana-admin",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": object_meta(secret_name, ns_name, part_of),
                "type": "Opaque",
                "stringData": {
                    "admin-user": "admin",
                    "admin-password": pulumi.Output.secret(args["grafana_admin_password"]),
                },
            },
            pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )
        pin = CHARTS["kube-prometheus-stack"]
        pinned_release(
            f"{name}-kps",
            RELEASE,
            pin,
            registry,
            ns_name,
            pulumi.ResourceOptions(parent=self, depends_on=[ns, secret]),
            values=kube_prometheus_values(
                registry,
                retention_days=args["retention_days"],
                storage_size=args.get("storage_size", "100Gi"),
                storage_class=args.get("storage_class", "gp3"),
                grafana_admin_secret=secret_name,
            ),
            timeout=900,
        )
        self.namespace = pulumi.Output.from_input(ns_name)
        self.alertmanager_service = pulumi.Output.from_input(f"{ns_name}/{RELEASE}-alertmanager")
        self.register_outputs(
            {"namespace": self.namespace, "alertmanagerService": self.alertmanager_service}
        )


# --- tenant builders -----------------------------------------------------------------


class AlertThresholds(TypedDict):
    """When a tenant's alerts fire."""

    p99_latency_seconds: float
    """p99 request latency above this (5 min) -> CanaryDegraded on a challenger."""
    error_rate: float
    """Share of failed requests above this (5 min) -> CanaryDegraded on a challenger."""
    drift_psi: float
    """Population stability index of a feature above this (15 min) -> ModelInputDrift."""


DEFAULT_THRESHOLDS: AlertThresholds = {
    "p99_latency_seconds": 0.25,
    "error_rate": 0.05,
    # PSI > 0.2 is the usual "significant population shift" line.
    "drift_psi": 0.2,
}

DRIFT_MONITOR_COMPONENT = "drift-monitor"
"""``app.kubernetes.io/component`` of the drift monitor's pods (scraped on port ``metrics``)."""


def _monitor_labels(tenant: str, dedicated: bool) -> dict[str, str]:
    result = labels(tenant, "monitoring")
    if dedicated:
        result[DEDICATED_LABEL] = tenant
    return result


def _pod_label(label: str, target: str) -> dict[str, Any]:
    """Copy a pod label onto every series as ``target`` (what alerts and the webhook read)."""
    meta = "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)
    return {"sourceLabels": [meta], "targetLabel": target, "action": "replace"}


def model_pod_monitor(tenant: str, ns: str, dedicated: bool) -> Manifest:
    """Scrape every model-server pod of the tenant (champion and challenger alike).

    KServe generates the predictors' Services, so their port names are not ours to rely
    on; the pods' container port is (``http1`` in our ServingRuntime).
    """
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": object_meta(f"{tenant}-model-servers", ns, _monitor_labels(tenant, dedicated)),
        "spec": {
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/component": MODEL_SERVER_COMPONENT,
                    TENANT_LABEL: tenant,
                }
            },
            "namespaceSelector": {"matchNames": [ns]},
            "podMetricsEndpoints": [
                {
                    "port": SERVER_PORT_NAME,
                    "path": "/metrics",
                    "interval": "30s",
                    # ``namespace`` + ``inferenceservice`` is what the webhook acts on.
                    "relabelings": [
                        _pod_label(INFERENCE_SERVICE_LABEL, "inferenceservice"),
                        _pod_label(ROLE_LABEL, "role"),
                    ],
                }
            ],
        },
    }


def drift_monitor_pod_monitor(tenant: str, ns: str, dedicated: bool) -> Manifest:
    """Scrape the drift monitor (``workloads/monitoring``) wherever the tenant runs it."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": object_meta(f"{tenant}-drift-monitor", ns, _monitor_labels(tenant, dedicated)),
        "spec": {
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/component": DRIFT_MONITOR_COMPONENT,
                    TENANT_LABEL: tenant,
                }
            },
            "namespaceSelector": {"matchNames": [ns]},
            "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": "60s"}],
        },
    }


def feature_server_service_monitor(tenant: str, ns: str, dedicated: bool) -> Manifest:
    """Scrape the Feast feature server's ``--metrics`` endpoint through its Service."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": object_meta(f"{tenant}-feature-server", ns, _monitor_labels(tenant, dedicated)),
        "spec": {
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/component": FEATURE_SERVER_COMPONENT,
                    TENANT_LABEL: tenant,
                }
            },
            "namespaceSelector": {"matchNames": [ns]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
        },
    }


def _p99(sel: str, by: str) -> str:
    return (
        f"histogram_quantile(0.99, sum by (le, {by}) "
        f"(rate({LATENCY_HISTOGRAM}_bucket{{{sel}}}[5m])))"
    )


def _error_ratio(sel: str, by: str) -> str:
    errors = f'{sel},status=~"{ERROR_STATUS}"'
    return (
        f"sum by ({by}) (rate({REQUESTS_COUNTER}{{{errors}}}[5m])) "
        f"/ sum by ({by}) (rate({REQUESTS_COUNTER}{{{sel}}}[5m]))"
    )


def alert_rules(
    tenant: str,
    ns: str,
    dedicated: bool,
    *,
    canary: bool,
    thresholds: AlertThresholds = DEFAULT_THRESHOLDS,
) -> Manifest:
    """Latency, error-rate and drift alerts of one tenant.

    - ``ModelP99LatencyHigh``/``ModelErrorRateHigh`` (every model, warning): for people.
    - ``CanaryDegraded`` (enterprise canaries: challenger pods only, critical): the
      webhook runs the canary analysis and rolls the challenger back.
    - ``ModelInputDrift`` (per model and feature): the webhook queues a retraining.
    """
    sel = f'namespace="{ns}"'
    by = "namespace, inferenceservice"
    p99, err, psi = (
        thresholds["p99_latency_seconds"],
        thresholds["error_rate"],
        thresholds["drift_psi"],
    )
    common = {"tenant": tenant}
    rules: list[dict[str, Any]] = [
        {
            "alert": "ModelP99LatencyHigh",
            "expr": f"{_p99(sel, by)} > {p99}",
            "for": "10m",
            "labels": {**common, "severity": "warning"},
            "annotations": {
                "summary": "p99 latency of {{ $labels.inferenceservice }} is {{ $value }}s"
            },
        },
        {
            "alert": "ModelErrorRateHigh",
            "expr": f"{_error_ratio(sel, by)} > {err}",
            "for": "10m",
            "labels": {**common, "severity": "warning"},
            "annotations": {
                "summary": "error rate of {{ $labels.inferenceservice }} is {{ $value | humanizePercentage }}"
            },
        },
        {
            "alert": DRIFT_ALERT,
            "expr": f"max by (namespace, model, feature) ({DRIFT_GAUGE}{{{sel}}}) > {psi}",
            "for": "15m",
            "labels": {**common, "severity": "warning"},
            "annotations": {
                "summary": "PSI of {{ $labels.feature }} for {{ $labels.model }} is {{ $value }}"
            },
        },
    ]
    if canary:
        challenger = f'{sel},role="challenger"'
        for reason, expr in (
            ("p99-latency", f"{_p99(challenger, by)} > {p99}"),
            ("error-rate", f"{_error_ratio(challenger, by)} > {err}"),
        ):
            rules.append(
                {
                    "alert": CANARY_ALERT,
                    "expr": expr,
                    "for": "5m",
                    "labels": {**common, "severity": "critical", "reason": reason},
                    "annotations": {
                        "summary": "challenger {{ $labels.inferenceservice }} degraded: " + reason
                    },
                }
            )
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": object_meta(f"{tenant}-model-alerts", ns, _monitor_labels(tenant, dedicated)),
        "spec": {"groups": [{"name": f"{tenant}.models", "rules": rules}]},
    }


def alertmanager_config(tenant: str, ns: str, url: str, token_secret: str) -> Manifest:
    """Send the tenant's canary and drift alerts to its automation, with a bearer token.

    The receiver (``workloads/alerts``) routes by ``alertname`` and refuses calls without
    ``Authorization: Bearer <token>``; the token is read from a Secret in this namespace.
    """
    if not url.startswith(("http://", "https://")) or ".svc" not in url:
        raise ValueError(f"alert webhook {url!r} must be an in-cluster service URL")
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": object_meta(
            f"{tenant}-automation", ns, {**labels(tenant, "monitoring"), ALERTING_LABEL: "true"}
        ),
        "spec": {
            "route": {
                "receiver": "automation",
                "groupBy": ["alertname", "inferenceservice", "model", "feature"],
                "groupWait": "30s",
                "groupInterval": "5m",
                "repeatInterval": "4h",
                "matchers": [
                    {
                        "name": "alertname",
                        "value": f"{CANARY_ALERT}|{DRIFT_ALERT}",
                        "matchType": "=~",
                    }
                ],
            },
            "receivers": [
                {
                    "name": "automation",
                    "webhookConfigs": [
                        {
                            "url": url,
                            # Resolutions are audited by the receiver, never acted on.
                            "sendResolved": True,
                            "httpConfig": {
                                "authorization": {
                                    "type": "Bearer",
                                    "credentials": {"name": token_secret, "key": "token"},
                                }
                            },
                        }
                    ],
                }
            ],
        },
    }


def dashboard(tenant: str, ns: str, models: Sequence[str]) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) for one tenant: latency, traffic, errors, drift."""

    def panel(
        pid: int, title: str, expr: str, unit: str, y: int, x: int, legend: str
    ) -> dict[str, Any]:
        return {
            "id": pid,
            "type": "timeseries",
            "title": title,
            "datasource": {"type": "prometheus", "uid": "prometheus"},
            "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
        }

    sel = f'namespace="{ns}"'
    by = "namespace, inferenceservice"
    isvc = "{{inferenceservice}}"
    return {
        "uid": f"mlp-{tenant}"[:40],
        "title": f"{tenant}: models",
        "tags": ["mlplatform", tenant],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "description": f"Models: {', '.join(models) or 'none'}",
        "panels": [
            panel(1, "p99 latency", _p99(sel, by), "s", 0, 0, isvc),
            panel(
                2,
                "Requests/s",
                f"sum by ({by}) (rate({REQUESTS_COUNTER}{{{sel}}}[5m]))",
                "reqps",
                0,
                12,
                isvc,
            ),
            panel(3, "Error rate", _error_ratio(sel, by), "percentunit", 8, 0, isvc),
            panel(
                4,
                "Drift (PSI) by feature",
                f"max by (model, feature) ({DRIFT_GAUGE}{{{sel}}})",
                "none",
                8,
                12,
                "{{model}} {{feature}}",
            ),
        ],
    }


def dashboard_config_map(
    tenant: str, monitoring_ns: str, ns: str, models: Sequence[str]
) -> Manifest:
    """The dashboard as a ConfigMap the Grafana sidecar loads (in the tenant's folder)."""
    body = json.dumps(dashboard(tenant, ns, models), indent=1, sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(
            f"dashboard-{tenant}",
            monitoring_ns,
            {**labels(tenant, "monitoring"), DASHBOARD_LABEL: "1"},
            annotations={DASHBOARD_FOLDER_ANNOTATION: tenant},
        ),
        "data": {f"{tenant}-models.json": body},
    }


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
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": object_meta(name, ns, meta_labels),
        "rules": [
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
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": object_meta(name, ns, meta_labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
    }
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
