"""The platform's monitoring stack, shared by every tenant.

:class:`MonitoringStack`: kube-prometheus-stack as a pinned Helm release
from the in-region mirror, every image overridden to the mirror, ClusterIP services
only, Grafana's admin password from a Secret, anonymous access and sign-up off, no
phone-home. The shared Prometheus (SMB tenants and the platform) keeps the platform's
retention; it ignores monitors and rules labelled for a dedicated Prometheus. The
namespace denies all traffic but the flows listed in :mod:`components.k8s.netpol`.

Per tenant (:class:`components.k8s.tenant_monitoring.TenantMonitoring`): PodMonitors for the model servers (KServe
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

from collections.abc import Sequence
from typing import Any, NotRequired

import pulumi

from components.k8s._resources import namespace_with_policies, pinned_release, register
from components.k8s.catalog import CHARTS, IMAGES, Registry, RegistryArgs, registry_of
from components.k8s.netpol import monitoring_policies
from components.k8s.podspec import (
    namespace,
    object_meta,
)
from contracts.names import labels

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
        part_of = {"app.kubernetes.io/part-of": "mlplatform"}
        ns = namespace_with_policies(
            name,
            namespace(
                ns_name, "restricted", part_of, "every pod restricted (node-exporter disabled)"
            ),
            monitoring_policies(ns_name, part_of, args["cluster_cidrs"]),
            self,
        )
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


def monitor_labels(tenant: str, dedicated: bool) -> dict[str, str]:
    """Labels of a tenant's monitors and rules (plus the dedicated Prometheus's selector)."""
    result = labels(tenant, "monitoring")
    if dedicated:
        result[DEDICATED_LABEL] = tenant
    return result
