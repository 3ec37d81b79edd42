"""Per-feature drift of a window of live inputs against the training reference.

For every feature the monitor reports the population stability index (PSI) over the
reference bins and a two-sample test: Kolmogorov-Smirnov against the reference sample
for numeric features, chi-squared against the reference frequencies for categorical
ones. Results equal ``scipy.stats.ks_2samp(reference_sample, window)`` and
``scipy.stats.chisquare(observed, expected)`` at the reported precision
(:data:`REPORT_DIGITS` significant digits); the tests check this on random data with
ties and empty bins.

How it stays fast on 1M rows x 30 features: each numeric window column is sorted once
(columns in parallel threads; numpy's sort releases the GIL), after which every count
the statistics need is a binary search of the few reference points (bin edges, sample
values) into the sorted column. The KS statistic is the largest gap between the two
empirical CDFs; between two consecutive reference values the reference CDF is flat, so
the gap is largest at the ends of each such interval and only those ends are
evaluated, using the same ``count / n`` divisions as scipy (so the statistic is the
same float). The p-value is Smirnov's distribution ``kstwo.sf(D, round(m n / (m + n)))``
as scipy computes it for large samples; when both samples have at most
:data:`KS_EXACT_MAX_N` values scipy uses its exact path, and so do we, by calling
``ks_2samp`` itself (cheap at that size).

PSI: ``sum((a - e) * ln(a / e))`` over bins, where ``a`` and ``e`` are the window and
reference fractions, each floored at :data:`PSI_EPSILON` so an empty bin gives a large
but finite term instead of infinity. Categorical values not seen in training form one
extra "unseen" bin (reference fraction 0, floored likewise); for the chi-squared test
any unseen value makes the statistic infinite and the p-value 0, as scipy does.

Decision: a feature has drifted when its PSI reaches ``psi_threshold`` **and** its
test's p-value is below ``alpha / n_features`` (Bonferroni). Both are needed: on a
large window the p-value alone flags shifts too small to matter, and on a small one
PSI alone moves with noise. Windows with fewer than ``min_rows`` rows are reported but
never drift.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import special, stats

from workloads.monitoring.reference import canonical_categories

REPORT_DIGITS = 6
PSI_EPSILON = 1e-4
# scipy.stats.ks_2samp(method="auto") is exact when both samples are at most this long.
KS_EXACT_MAX_N = 10_000


class DriftError(ValueError):
    """The window does not fit the reference (missing features, wrong types)."""


class DriftThresholds(BaseModel):
    """When a feature counts as drifted and when a window triggers retraining."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    psi_threshold: float = Field(
        default=0.2, gt=0, description="PSI at or above which a shift is large enough to act on."
    )
    alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Family-wise false-positive rate of the per-feature tests (Bonferroni).",
    )
    min_rows: int = Field(
        default=500, ge=1, description="Windows with fewer rows are reported but never drift."
    )
    min_drifted_features: int = Field(
        default=1, ge=1, description="Drifted features needed to trigger retraining."
    )


def report_round(value: float) -> float:
    """Round to the reported precision (:data:`REPORT_DIGITS` significant digits)."""
    if not math.isfinite(value) or value == 0.0:
        return float(value)
    return float(f"{value:.{REPORT_DIGITS}g}")


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature: PSI, the two-sample test and the decision."""

    feature: str
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "chi2"]
    n: int
    null_fraction: float
    psi: float
    statistic: float
    p_value: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    """Drift of every feature in one window, and whether it should trigger retraining."""

    model: str
    n_rows: int
    window_start: float | None
    window_end: float | None
    thresholds: DriftThresholds
    features: list[FeatureDrift]
    reference_sha256: str
    computed_seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features that drifted, in report order."""
        return [f.feature for f in self.features if f.drifted]

    @property
    def triggered(self) -> bool:
        """Whether enough features drifted to retrain."""
        return len(self.drifted_features) >= self.thresholds.min_drifted_features

    def dedupe_key(self) -> str:
        """Stable id of the trigger this report would emit (same window -> same key)."""
        basis = {
            "model": self.model,
            "window": [self.window_start, self.window_end],
            "features": sorted(self.drifted_features),
            "reference": self.reference_sha256,
        }
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """The JSON report; every statistic is rounded to the reported precision."""
        feats = []
        for f in self.features:
            row = asdict(f)
            for key in ("null_fraction", "psi", "statistic", "p_value"):
                value = report_round(row[key])
                # JSON has no infinity; an unseen category gives an unbounded statistic.
                row[key] = value if math.isfinite(value) else None
            feats.append(row)
        return {
            "model": self.model,
            "n_rows": self.n_rows,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "reference_sha256": self.reference_sha256,
            "thresholds": self.thresholds.model_dump(),
            "drifted_features": self.drifted_features,
            "triggered": self.triggered,
            "computed_seconds": round(self.computed_seconds, 4),
            "features": feats,
            **({"meta": self.meta} if self.meta else {}),
        }


def reference_digest(reference: Mapping[str, Any]) -> str:
    """SHA-256 of the reference in canonical JSON (ties a trigger to its baseline)."""
    return hashlib.sha256(
        json.dumps(reference, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


@dataclass
class _NumericPlan:
    name: str
    inner_edges: np.ndarray
    expected: np.ndarray
    sample: np.ndarray  # sorted reference sample
    grid: np.ndarray  # distinct sample values
    ref_le: np.ndarray  # count of sample values <= grid[i], as float64 / m


def _numeric_plan(name: str, feat: Mapping[str, Any]) -> _NumericPlan:
    edges = np.asarray(feat["bin_edges"], dtype=np.float64)
    sample = np.sort(np.asarray(feat["sample"], dtype=np.float64))
    grid = np.unique(sample)
    ref_le = np.searchsorted(sample, grid, side="right") / sample.size
    return _NumericPlan(
        name=name,
        inner_edges=edges[1:-1],
        expected=np.asarray(feat["expected"], dtype=np.float64),
        sample=sample,
        grid=grid,
        ref_le=ref_le,
    )


def psi(actual_counts: np.ndarray, expected_fractions: np.ndarray) -> float:
    """PSI of observed counts against reference fractions (floored at PSI_EPSILON)."""
    total = actual_counts.sum()
    if total == 0:
        return float("nan")
    a = np.maximum(actual_counts / total, PSI_EPSILON)
    e = np.maximum(expected_fractions, PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def _ks_from_sorted(plan: _NumericPlan, col_sorted: np.ndarray, n: int) -> tuple[float, float]:
    """Two-sided KS statistic and p-value of the sorted window against the reference."""
    m = plan.sample.size
    if max(m, n) <= KS_EXACT_MAX_N:
        res = stats.ks_2samp(plan.sample, col_sorted[:n])
        return float(res.statistic), float(res.pvalue)
    win = col_sorted[:n]
    win_le = np.searchsorted(win, plan.grid, side="right") / n
    win_lt = np.searchsorted(win, plan.grid, side="left") / n
    # Signed gaps reference CDF minus window CDF, at each reference value and just
    # before the next one (where the window CDF is highest on that flat stretch).
    at_points = plan.ref_le - win_le
    before_next = np.concatenate(([0.0], plan.ref_le)) - np.concatenate((win_lt, [1.0]))
    max_s = max(float(at_points.max()), float(before_next.max()))
    min_s = min(0.0, float(at_points.min()), float(before_next.min()))
    d = max(max_s, min(max(-min_s, 0.0), 1.0))
    big, small = max(float(m), float(n)), min(float(m), float(n))
    p = float(np.clip(stats.kstwo.sf(d, np.round(big * small / (big + small))), 0.0, 1.0))
    return d, p


def _chi2(observed: np.ndarray, expected_counts: np.ndarray) -> tuple[float, float]:
    """Pearson chi-squared, computed as scipy.stats.chisquare does."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (observed - expected_counts) ** 2 / expected_counts
    stat = float(np.sum(terms))
    return stat, float(special.chdtrc(observed.size - 1, stat))


def _as_float_column(name: str, values: Any) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        try:
            arr = pd.to_numeric(pd.Series(values, dtype=object), errors="raise").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
        except (TypeError, ValueError):
            raise DriftError(
                f"feature {name!r}: numeric in the reference but the window has non-numeric values"
            ) from None
    if arr.ndim != 1:
        raise DriftError(f"feature {name!r}: expected a 1-D column, got shape {arr.shape}")
    return arr


def compute_drift(
    columns: Mapping[str, Any],
    reference: Mapping[str, Any],
    *,
    model: str = "model",
    thresholds: DriftThresholds | None = None,
    window_start: float | None = None,
    window_end: float | None = None,
    threads: int = 2,
) -> DriftReport:
    """Drift of every reference feature in ``columns`` (name -> 1-D values).

    Features in ``columns`` that the reference does not know are ignored; reference
    features missing from ``columns`` are an error. Missing values (NaN/None) are
    excluded from the tests and reported as ``null_fraction``.
    """
    started = time.perf_counter()
    thresholds = thresholds or DriftThresholds()
    ref_feats: Mapping[str, Any] = reference["features"]
    missing = [n for n in ref_feats if n not in columns]
    if missing:
        raise DriftError(
            f"window lacks reference features: {', '.join(missing)} "
            f"(window has: {', '.join(map(str, columns))})"
        )
    lengths = {len(columns[n]) for n in ref_feats}
    if len(lengths) != 1:
        raise DriftError(f"window columns differ in length: {sorted(lengths)}")
    n_rows = lengths.pop()
    n_features = len(ref_feats)
    per_test_alpha = thresholds.alpha / n_features
    enough_rows = n_rows >= thresholds.min_rows

    numeric = [n for n, f in ref_feats.items() if f["kind"] == "numeric"]
    results: dict[str, FeatureDrift] = {}
    if numeric and n_rows:
        plans = [_numeric_plan(n, ref_feats[n]) for n in numeric]
        matrix = np.empty((len(numeric), n_rows), dtype=np.float64)
        for i, name in enumerate(numeric):
            matrix[i] = _as_float_column(name, columns[name])

        def one(i: int) -> FeatureDrift:
            plan = plans[i]
            col = np.sort(matrix[i])  # NaN sorts last
            n = int(np.searchsorted(col, np.inf, side="right"))  # non-missing values
            if n == 0:
                return FeatureDrift(plan.name, "numeric", "ks", 0, 1.0, *([math.nan] * 3), False)
            below = np.searchsorted(col[:n], plan.inner_edges, side="left")
            counts = np.diff(np.concatenate(([0], below, [n])))
            value_psi = psi(counts, plan.expected)
            d, p = _ks_from_sorted(plan, col, n)
            drifted = enough_rows and value_psi >= thresholds.psi_threshold and p < per_test_alpha
            return FeatureDrift(
                plan.name, "numeric", "ks", n, 1.0 - n / n_rows, value_psi, d, p, drifted
            )

        if threads > 1 and len(numeric) > 1:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                for res in pool.map(one, range(len(numeric))):
                    results[res.feature] = res
        else:
            for i in range(len(numeric)):
                res = one(i)
                results[res.feature] = res

    for name, feat in ref_feats.items():
        if feat["kind"] != "categorical":
            continue
        results[name] = _categorical_drift(
            name, feat, columns[name], n_rows, enough_rows, thresholds, per_test_alpha
        )
    for name in numeric:
        if name not in results:  # empty window
            results[name] = FeatureDrift(name, "numeric", "ks", 0, 0.0, *([math.nan] * 3), False)

    return DriftReport(
        model=model,
        n_rows=n_rows,
        window_start=window_start,
        window_end=window_end,
        thresholds=thresholds,
        features=[results[n] for n in ref_feats],
        reference_sha256=reference_digest(reference),
        computed_seconds=time.perf_counter() - started,
    )


def _numeric_categories(categories: Sequence[str]) -> np.ndarray | None:
    """The categories as floats when every one is a canonical number, else None."""
    try:
        values = np.array([float(c) for c in categories], dtype=np.float64)
    except ValueError:
        return None
    if not np.isfinite(values).all():
        return None
    canon = canonical_categories(values)
    return values if list(canon) == list(categories) else None


def _category_counts(values: Any, categories: Sequence[str]) -> tuple[np.ndarray, float, int]:
    """Counts per reference category, count of unseen values, and non-missing total."""
    arr = np.asarray(values)
    numeric_cats = _numeric_categories(categories) if arr.dtype.kind in "fiu" else None
    if numeric_cats is not None:
        # Integer-coded categories (the usual case in model inputs): match numbers
        # directly instead of formatting a million strings.
        x = arr.astype(np.float64, copy=False)
        x = x[~np.isnan(x)]
        order = np.argsort(numeric_cats)
        sorted_cats = numeric_cats[order]
        idx = np.minimum(np.searchsorted(sorted_cats, x), sorted_cats.size - 1)
        hit = sorted_cats[idx] == x
        counts_sorted = np.bincount(idx[hit], minlength=sorted_cats.size)
        counts = np.empty(sorted_cats.size, dtype=np.float64)
        counts[order] = counts_sorted
        return counts, float(x.size - np.count_nonzero(hit)), int(x.size)
    canon = canonical_categories(np.asarray(values, dtype=object))
    present = canon[pd.notna(canon)].astype(str)
    codes = pd.Categorical(present, categories=list(categories)).codes  # unseen -> -1
    counts = np.bincount(codes[codes >= 0], minlength=len(categories)).astype(np.float64)
    return counts, float(np.count_nonzero(codes < 0)), int(present.size)


def _categorical_drift(
    name: str,
    feat: Mapping[str, Any],
    values: Any,
    n_rows: int,
    enough_rows: bool,
    thresholds: DriftThresholds,
    per_test_alpha: float,
) -> FeatureDrift:
    cats = feat["categories"]
    counts, unseen, n = _category_counts(values, cats) if n_rows else (np.zeros(0), 0.0, 0)
    null_fraction = 1.0 - n / n_rows if n_rows else 0.0
    if n == 0:
        return FeatureDrift(name, "categorical", "chi2", 0, null_fraction, *([math.nan] * 3), False)
    expected = np.asarray(feat["expected"], dtype=np.float64)
    value_psi = psi(np.append(counts, unseen), np.append(expected, 0.0))
    observed = np.append(counts, unseen) if unseen else counts
    exp_counts = (np.append(expected, 0.0) if unseen else expected) * n
    stat, p = _chi2(observed, exp_counts)
    drifted = enough_rows and value_psi >= thresholds.psi_threshold and p < per_test_alpha
    return FeatureDrift(name, "categorical", "chi2", n, null_fraction, value_psi, stat, p, drifted)


def columns_from_rows(feature_names: Sequence[str], rows: Any) -> dict[str, np.ndarray]:
    """Split a row-major window (list of rows or 2-D array) into named columns."""
    arr = np.asarray(rows) if not isinstance(rows, np.ndarray) else rows
    if arr.ndim != 2 or arr.shape[1] != len(feature_names):
        raise DriftError(
            f"window rows must have {len(feature_names)} values each "
            f"({', '.join(feature_names)}), got shape {arr.shape}"
        )
    return {name: arr[:, i] for i, name in enumerate(feature_names)}
