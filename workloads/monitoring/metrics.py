"""Prometheus gauges for drift reports, labelled by model and feature.

The gauges live in the registry passed in (a private one per monitor process or
test), never in the global default registry as a side effect of import.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from contracts.telemetry import DRIFT_PREFIX
from workloads.monitoring.drift import DriftReport


class DriftMetrics:
    """Publishes each :class:`DriftReport` as gauges in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["model", "feature"]
        prefix = DRIFT_PREFIX
        self.registry = registry
        self.psi = Gauge(f"{prefix}_psi", "Population stability index.", labels, registry=registry)
        self.ks = Gauge(
            f"{prefix}_ks_statistic",
            "Two-sample Kolmogorov-Smirnov statistic against the training sample.",
            labels,
            registry=registry,
        )
        self.chi2 = Gauge(
            f"{prefix}_chi2_statistic",
            "Chi-squared statistic against the training category frequencies.",
            labels,
            registry=registry,
        )
        self.p_value = Gauge(
            f"{prefix}_p_value",
            "p-value of the feature's two-sample test.",
            [*labels, "test"],
            registry=registry,
        )
        self.detected = Gauge(
            f"{prefix}_detected", "1 when the feature drifted.", labels, registry=registry
        )
        self.rows = Gauge(
            f"{prefix}_window_rows", "Rows in the last window.", ["model"], registry=registry
        )
        self.triggered = Gauge(
            f"{prefix}_retraining_triggered",
            "1 when the last window triggered retraining.",
            ["model"],
            registry=registry,
        )
        self.last_run = Gauge(
            f"{prefix}_last_run_timestamp_seconds",
            "Unix time of the last drift computation.",
            ["model"],
            registry=registry,
        )

    def observe_json(self, report: dict[str, Any], finished_at: float) -> None:
        """Set every gauge from a report as the monitor wrote it (``DriftReport.to_json``).

        How a periodic job's numbers reach Prometheus: the drift monitor is a CronJob, gone
        before any scrape, so it writes its report next to the model and the tenant's
        long-running retraining controller re-exports the latest report of each model
        with these gauges (``last_run`` is when the report was written, so a stale
        monitor is visible). No push gateway: it would be one more stateful service that
        keeps a dead job's series forever.
        """
        model = str(report["model"])
        for feature in report.get("features", []):
            name = str(feature["feature"])
            for gauge, value in (
                (self.psi, feature.get("psi")),
                (self.ks if feature.get("test") == "ks" else self.chi2, feature.get("statistic")),
            ):
                gauge.labels(model, name).set(float("inf") if value is None else float(value))
            p_value = feature.get("p_value")
            self.p_value.labels(model, name, str(feature.get("test"))).set(
                float("nan") if p_value is None else float(p_value)
            )
            self.detected.labels(model, name).set(1 if feature.get("drifted") else 0)
        self.rows.labels(model).set(float(report.get("n_rows") or 0))
        self.triggered.labels(model).set(1 if report.get("triggered") else 0)
        self.last_run.labels(model).set(finished_at)

    def observe(self, report: DriftReport) -> None:
        """Set every gauge from ``report``."""
        for feature in report.features:
            name = feature.feature
            self.psi.labels(report.model, name).set(feature.psi)
            stat_gauge = self.ks if feature.test == "ks" else self.chi2
            stat_gauge.labels(report.model, name).set(feature.statistic)
            self.p_value.labels(report.model, name, feature.test).set(feature.p_value)
            self.detected.labels(report.model, name).set(1 if feature.drifted else 0)
        self.rows.labels(report.model).set(report.n_rows)
        self.triggered.labels(report.model).set(1 if report.triggered else 0)
        self.last_run.labels(report.model).set(time.time())
