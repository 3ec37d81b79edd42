"""Drift statistics equal scipy's at the reported precision; noise does not fire, shift does."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workloads.monitoring.drift import (
    PSI_EPSILON,
    DriftError,
    DriftThresholds,
    compute_drift,
    report_round,
)
from workloads.monitoring.reference import bin_index, build_reference


def _psi_loop(actual: list[float], expected: list[float]) -> float:
    """The textbook formula, one bin at a time."""
    total = sum(actual)
    out = 0.0
    for a_count, e in zip(actual, expected, strict=True):
        a = max(a_count / total, PSI_EPSILON)
        e = max(e, PSI_EPSILON)
        out += (a - e) * math.log(a / e)
    return out


def _training(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(0.0, 1.0, n),
            "skewed": rng.lognormal(0.0, 1.5, n),
            "ties": rng.integers(0, 8, n).astype(float),
            "cat": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


@pytest.mark.parametrize("n_window", [400, 3_000, 25_000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scipy_at_reported_precision(n_window: int, seed: int) -> None:
    train = _training(20_000, seed)
    ref = build_reference(train, ["x", "skewed", "ties"], ["cat"], sample_size=12_000, seed=seed)
    rng = np.random.default_rng(100 + seed)
    window = {
        "x": rng.normal(0.1 * seed, 1.0, n_window),
        # Values beyond the training range fill the end bins; one bin stays empty.
        "skewed": rng.lognormal(0.3, 1.0, n_window),
        "ties": rng.integers(0, 10, n_window).astype(float),
        "cat": rng.choice(["a", "b", "c", "d"], n_window, p=[0.25, 0.25, 0.25, 0.25]),
    }
    window["ties"][:5] = np.nan
    report = compute_drift(window, ref, thresholds=DriftThresholds(min_rows=1))
    by_name = {f.feature: f for f in report.features}
    for name in ("x", "skewed", "ties"):
        col = window[name][~np.isnan(window[name])]
        expected = stats.ks_2samp(ref["features"][name]["sample"], col)
        got = by_name[name]
        assert report_round(got.statistic) == report_round(float(expected.statistic)), name
        assert report_round(got.p_value) == report_round(float(expected.pvalue)), name
        edges = ref["features"][name]["bin_edges"]
        counts = np.bincount(bin_index(col, edges), minlength=len(edges) - 1)
        assert report_round(got.psi) == report_round(
            _psi_loop(counts.tolist(), ref["features"][name]["expected"])
        )
    assert by_name["ties"].n == n_window - 5
    assert by_name["ties"].null_fraction == pytest.approx(5 / n_window)
    cat = ref["features"]["cat"]
    observed = [int(np.sum(window["cat"] == c)) for c in cat["categories"]]
    expected_chi = stats.chisquare(observed, np.asarray(cat["expected"]) * n_window)
    assert report_round(by_name["cat"].statistic) == report_round(float(expected_chi.statistic))
    assert report_round(by_name["cat"].p_value) == report_round(float(expected_chi.pvalue))


def test_large_window_uses_asymptotic_path_and_matches_scipy() -> None:
    train = _training(30_000, 5)
    ref = build_reference(train, ["x", "ties"], sample_size=10_000)
    rng = np.random.default_rng(9)
    window = {"x": rng.normal(0.02, 1.0, 200_000), "ties": rng.integers(0, 8, 200_000) * 1.0}
    report = compute_drift(window, ref)
    for f in report.features:
        expected = stats.ks_2samp(ref["features"][f.feature]["sample"], window[f.feature])
        assert f.statistic == float(expected.statistic)  # same float, not just close
        assert report_round(f.p_value) == report_round(float(expected.pvalue))


def test_unseen_category_is_infinite_chi2_and_empty_bin_psi_is_finite() -> None:
    ref = build_reference(_training(5_000, 1), [], ["cat"])
    window = {"cat": np.array(["a"] * 600 + ["zz"] * 10)}
    f = compute_drift(window, ref).features[0]
    assert math.isinf(f.statistic)
    assert f.p_value == 0.0
    expected_psi = _psi_loop([600, 0, 0, 0, 10], [*ref["features"]["cat"]["expected"], 0.0])
    assert f.psi == pytest.approx(expected_psi)
    assert math.isfinite(f.psi)
    assert compute_drift(window, ref).to_json()["features"][0]["statistic"] is None


def test_noise_does_not_trigger_beyond_false_positive_rate() -> None:
    train = _training(20_000, 0)
    ref = build_reference(train, ["x", "skewed", "ties"], ["cat"])
    thresholds = DriftThresholds(psi_threshold=0.1, alpha=0.05, min_rows=500)
    fired = 0
    trials = 40
    for seed in range(trials):
        window = _training(2_000, 1_000 + seed)  # same distribution, fresh noise
        fired += compute_drift(window.to_dict("series"), ref, thresholds=thresholds).triggered
    # alpha=0.05 family-wise, and PSI must agree: noise essentially never fires.
    assert fired <= 2


def test_real_shift_triggers_on_the_shifted_feature_only() -> None:
    ref = build_reference(_training(20_000, 0), ["x", "skewed", "ties"], ["cat"])
    window = _training(2_000, 77)
    window["x"] = window["x"] + 1.0
    report = compute_drift(window.to_dict("series"), ref)
    assert report.triggered
    assert report.drifted_features == ["x"]
    psi_x = next(f.psi for f in report.features if f.feature == "x")
    assert psi_x > 0.5


def test_small_window_never_triggers() -> None:
    ref = build_reference(_training(5_000, 0), ["x"])
    rng = np.random.default_rng(1)
    report = compute_drift({"x": rng.normal(3.0, 1.0, 100)}, ref)
    assert not report.triggered
    assert report.features[0].psi > 1.0  # it is reported, just not acted on


def test_dedupe_key_depends_on_window_and_features() -> None:
    ref = build_reference(_training(5_000, 0), ["x"])
    rng = np.random.default_rng(1)
    window = {"x": rng.normal(2.0, 1.0, 1_000)}
    a = compute_drift(window, ref, window_start=0.0, window_end=60.0)
    b = compute_drift(window, ref, window_start=0.0, window_end=60.0)
    c = compute_drift(window, ref, window_start=60.0, window_end=120.0)
    assert a.dedupe_key() == b.dedupe_key() != c.dedupe_key()


def test_window_errors_name_the_problem() -> None:
    ref = build_reference(_training(1_000, 0), ["x"], ["cat"])
    with pytest.raises(DriftError, match="window lacks reference features: cat"):
        compute_drift({"x": np.zeros(3)}, ref)
    with pytest.raises(DriftError, match="feature 'x': numeric in the reference"):
        compute_drift({"x": np.array(["a", "b"], dtype=object), "cat": ["a", "b"]}, ref)
    with pytest.raises(DriftError, match="differ in length"):
        compute_drift({"x": np.zeros(3), "cat": ["a"]}, ref)


def test_integer_coded_categories_take_the_numeric_path_with_same_result() -> None:
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 5, 4_000)
    ref = build_reference(pd.DataFrame({"c": codes}), [], ["c"])
    window_codes = np.append(rng.integers(0, 6, 3_000), [np.nan, np.nan])
    fast = compute_drift({"c": window_codes}, ref).features[0]
    as_text = np.array([None if np.isnan(v) else str(int(v)) for v in window_codes], dtype=object)
    slow = compute_drift({"c": as_text}, ref).features[0]
    assert fast == slow
    assert fast.n == 3_000
    assert math.isinf(fast.statistic)  # code 5 never seen in training
