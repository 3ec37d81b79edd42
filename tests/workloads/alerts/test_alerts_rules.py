"""The alert rule and receiver agree with the monitor's gauges and the webhook's routing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from workloads.alerts.rules import (
    CANARY_ALERT,
    DRIFT_ALERT,
    alertmanager_receiver,
    drift_alert_rule,
    prometheus_rule,
)
from workloads.alerts.webhook import WebhookConfig
from workloads.monitoring.drift import compute_drift
from workloads.monitoring.metrics import DriftMetrics
from workloads.monitoring.reference import build_reference


def test_rule_names_a_gauge_the_monitor_exports_and_the_webhook_routes() -> None:
    rng = np.random.default_rng(0)
    ref = build_reference(pd.DataFrame({"x": rng.normal(size=2_000)}), ["x"])
    registry = CollectorRegistry()
    DriftMetrics(registry).observe(compute_drift({"x": rng.normal(size=600)}, ref, model="m"))
    exported = generate_latest(registry).decode()
    rule = drift_alert_rule()
    metric = rule["expr"].split("(")[2].split(")")[0]
    assert f"{metric}{{" in exported
    assert rule["alert"] in WebhookConfig().drift_alertnames
    assert CANARY_ALERT in WebhookConfig().canary_alertnames
    obj = prometheus_rule("monitoring")
    assert obj["kind"] == "PrometheusRule"
    assert obj["spec"]["groups"][0]["rules"] == [rule]


def test_receiver_reads_the_token_from_a_file() -> None:
    route, receiver = alertmanager_receiver(
        "https://alert-actions.team-a.svc:9095/alerts", "/etc/alertmanager/secrets/hook/token"
    )
    assert route["receiver"] == receiver["name"]
    assert DRIFT_ALERT in route["matchers"][0] and CANARY_ALERT in route["matchers"][0]
    auth = receiver["webhook_configs"][0]["http_config"]["authorization"]
    assert auth == {"type": "Bearer", "credentials_file": "/etc/alertmanager/secrets/hook/token"}
    assert "credentials" not in auth  # never an inline secret


@pytest.mark.parametrize(
    ("url", "path", "message"),
    [
        ("ftp://x/alerts", "/t", "must be the webhook's"),
        ("https://x/other", "/t", "must be the webhook's"),
        ("https://x/alerts", "token", "must be an absolute path"),
    ],
)
def test_receiver_rejects_bad_input(url: str, path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        alertmanager_receiver(url, path)
