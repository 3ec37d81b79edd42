"""Reading logged windows from JSON Lines and publishing reports as Prometheus gauges."""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from contracts.telemetry import DRIFT_GAUGE
from workloads.monitoring.drift import compute_drift
from workloads.monitoring.metrics import DriftMetrics
from workloads.monitoring.reference import build_reference
from workloads.monitoring.window import WindowError, read_window


def _record(ts: float, rows: list[list[object]], model: str = "fraud") -> str:
    return json.dumps(
        {
            "ts": ts,
            "model": model,
            "model_version": "1",
            "features": ["amount", "channel"],
            "inputs": rows,
            "outputs": [[0.1, 0.9]] * len(rows),
        }
    )


def test_read_window_filters_time_model_and_skips_bad_lines(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        "\n".join(
            [
                _record(10.0, [[1.0, 1], [2.0, 2]]),
                "{broken",
                _record(20.0, [[3.0, 1]]),
                _record(25.0, [[9.0, 1]], model="other"),
                _record(99.0, [[4.0, 2]]),
            ]
        )
        + "\n"
        + _record(30.0, [[5.0, 1]])  # no newline yet: still being written
    )
    (tmp_path / "ignored.txt").write_text(_record(15.0, [[7.0, 7]]) + "\n")
    window = read_window(tmp_path, model="fraud", start=10.0, end=50.0)
    assert window.n_rows == 3
    assert window.n_records == 2
    assert window.skipped_lines == 1
    assert window.feature_names == ["amount", "channel"]
    assert window.columns["amount"].tolist() == [1.0, 2.0, 3.0]
    assert (window.first_ts, window.last_ts) == (10.0, 20.0)
    assert window.files == ["a.jsonl"]


def test_read_window_skips_files_older_than_the_window(tmp_path: pathlib.Path) -> None:
    old = tmp_path / "old.jsonl"
    old.write_text(_record(100.0, [[1.0, 1]]) + "\n")
    os.utime(old, (50.0, 50.0))  # mtime before the window: cannot hold its records
    assert read_window(tmp_path, start=60.0).n_rows == 0


def test_read_window_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(WindowError, match="prediction log directory does not exist"):
        read_window(tmp_path / "nope")
    other = json.loads(_record(1.0, [[1.0]]))
    other["features"] = ["amount"]
    (tmp_path / "b.jsonl").write_text(_record(1.0, [[1.0, 1]]) + "\n" + json.dumps(other) + "\n")
    with pytest.raises(WindowError, match=r"b\.jsonl:2: features \['amount'\] differ"):
        read_window(tmp_path)


def test_window_feeds_drift_with_categorical_codes_from_json(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"amount": rng.normal(size=2_000), "channel": rng.integers(1, 3, 2_000)})
    ref = build_reference(train, ["amount"], ["channel"])
    amounts, codes = rng.normal(size=800), rng.integers(1, 3, 800)
    rows = [[float(a), float(c)] for a, c in zip(amounts, codes, strict=True)]
    (tmp_path / "log.jsonl").write_text(_record(1.0, rows) + "\n")
    window = read_window(tmp_path)
    report = compute_drift(window.columns, ref, model="fraud")
    cat = next(f for f in report.features if f.feature == "channel")
    assert cat.n == 800  # 1.0 from JSON matched training category 1
    assert not report.triggered


def test_metrics_expose_every_feature() -> None:
    rng = np.random.default_rng(0)
    ref = build_reference(
        pd.DataFrame({"x": rng.normal(size=3_000), "c": rng.choice(["a", "b"], 3_000)}),
        ["x"],
        ["c"],
    )
    report = compute_drift(
        {"x": rng.normal(2.0, 1.0, 1_000), "c": rng.choice(["a", "b"], 1_000)}, ref, model="m"
    )
    registry = CollectorRegistry()
    DriftMetrics(registry).observe(report)
    by = {f.feature: f for f in report.features}
    get = registry.get_sample_value
    assert get("mlplatform_drift_psi", {"model": "m", "feature": "x"}) == by["x"].psi
    assert get("mlplatform_drift_ks_statistic", {"model": "m", "feature": "x"}) == by["x"].statistic
    assert (
        get("mlplatform_drift_chi2_statistic", {"model": "m", "feature": "c"}) == by["c"].statistic
    )
    assert (
        get("mlplatform_drift_p_value", {"model": "m", "feature": "c", "test": "chi2"})
        == by["c"].p_value
    )
    assert get("mlplatform_drift_detected", {"model": "m", "feature": "x"}) == 1
    assert get("mlplatform_drift_detected", {"model": "m", "feature": "c"}) == 0
    assert get("mlplatform_drift_window_rows", {"model": "m"}) == 1_000
    assert get("mlplatform_drift_retraining_triggered", {"model": "m"}) == 1


def test_metrics_export_the_gauge_the_drift_alert_reads() -> None:
    # The platform's drift alert rule (components/k8s/monitoring.py) reads DRIFT_GAUGE
    # by model and feature; the monitor must export it under that name and those labels.
    rng = np.random.default_rng(0)
    ref = build_reference(pd.DataFrame({"x": rng.normal(size=2_000)}), ["x"])
    registry = CollectorRegistry()
    DriftMetrics(registry).observe(compute_drift({"x": rng.normal(size=600)}, ref, model="m"))
    assert f'{DRIFT_GAUGE}{{feature="x",model="m"}}' in generate_latest(registry).decode()
