"""Pure builders for the alerting side of the loop: the drift alert rule and the
Alertmanager receiver that calls the webhook.

They keep the names in one place: the rule fires on the monitor's gauges
(:mod:`workloads.monitoring.metrics`) with the ``alertname`` and labels that
:mod:`workloads.alerts.webhook` routes on. A canary alert must carry the labels
``namespace`` and ``inferenceservice=<model>-challenger`` (or ``modelName=<model>``);
the webhook rolls the model's router back to its champion. Its expression depends on
how the serving metrics are scraped, so the platform's monitoring component supplies it.

Use one retraining path per model: either the monitor sends triggers itself
(``--queue``) or this alert does, through the webhook; both at once would start two
retrainings for one drift (their dedupe keys differ).
"""

from __future__ import annotations

from typing import Any

DRIFT_ALERT = "ModelInputDrift"
CANARY_ALERT = "CanaryDegraded"


def drift_alert_rule(for_duration: str = "15m", severity: str = "warning") -> dict[str, Any]:
    """A Prometheus alerting rule: a model's last drift check asked for retraining.

    ``for_duration`` must cover at least two monitor runs, so one odd window does not
    page anyone.
    """
    return {
        "alert": DRIFT_ALERT,
        "expr": "max by (model) (mlplatform_drift_retraining_triggered) == 1",
        "for": for_duration,
        "labels": {"severity": severity, "mlplatform_action": "retrain"},
        "annotations": {
            "summary": "Input drift on model {{ $labels.model }}: retraining requested",
            "value": "{{ $value }}",
        },
    }


def prometheus_rule(namespace: str, name: str = "mlplatform-drift") -> dict[str, Any]:
    """The ``PrometheusRule`` object (prometheus-operator CRD) holding the drift rule."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"groups": [{"name": "mlplatform-drift", "rules": [drift_alert_rule()]}]},
    }


def alertmanager_receiver(
    url: str, credentials_file: str, name: str = "mlplatform-actions"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Alertmanager route and receiver that send drift and canary alerts to the webhook.

    The bearer token is read from ``credentials_file`` (a mounted Secret), never inlined.
    Returns ``(route, receiver)`` to merge into the Alertmanager configuration.
    """
    if not url.startswith(("https://", "http://")) or not url.endswith("/alerts"):
        raise ValueError(f"url {url!r}: must be the webhook's http(s)://.../alerts address")
    if not credentials_file.startswith("/"):
        raise ValueError(f"credentials_file {credentials_file!r}: must be an absolute path")
    route = {
        "receiver": name,
        "matchers": [f'alertname=~"{DRIFT_ALERT}|{CANARY_ALERT}"'],
        "group_by": ["alertname", "model", "namespace", "inferenceservice"],
        "continue": True,
    }
    receiver = {
        "name": name,
        "webhook_configs": [
            {
                "url": url,
                "send_resolved": True,
                "http_config": {
                    "authorization": {"type": "Bearer", "credentials_file": credentials_file}
                },
            }
        ],
    }
    return route, receiver
