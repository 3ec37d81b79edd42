"""A tenant's alert rules, Alertmanager route to its alert receiver, and Grafana dashboard.

- ``ModelP99LatencyHigh`` and ``ModelErrorRateHigh`` per model (warning);
- ``CanaryDegraded`` (enterprise canaries: challenger pods only, critical): the
  receiver runs the canary analysis and rolls back;
- ``ModelInputDrift`` (per model and feature): the receiver queues a retraining.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypedDict

from components.k8s.monitoring import (
    ALERTING_LABEL,
    DASHBOARD_FOLDER_ANNOTATION,
    DASHBOARD_LABEL,
    monitor_labels,
)
from components.k8s.podspec import (
    Manifest,
    object_meta,
)
from contracts.names import labels
from contracts.telemetry import (
    CANARY_ALERT,
    DRIFT_ALERT,
    DRIFT_GAUGE,
    ERROR_STATUS,
    LATENCY_HISTOGRAM,
    REQUESTS_COUNTER,
)


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
        "metadata": object_meta(f"{tenant}-model-alerts", ns, monitor_labels(tenant, dedicated)),
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
