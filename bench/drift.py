"""Benchmark: drift of a 1M x 30 window, ours vs a per-column scipy.stats loop (and evidently).

    python bench/drift.py [--rows 1000000] [--features 30] [--categorical 4] [--rounds 5]

The baseline is what a straightforward monitor does per column: ``scipy.stats.ks_2samp``
against the reference sample plus a ``np.histogram`` PSI for numeric columns, and
``np.unique`` plus ``scipy.stats.chisquare`` for categorical ones. Both produce the
same numbers (checked here at the reported precision; mismatches are counted in the
output). evidently is optional: it is not a project dependency; if it is importable
(from the environment or ``--evidently-path``) its DataDriftPreset with the KS/chi2
and PSI methods is timed on the same data (once, outside the rounds).

Ours with two threads, ours with one, the scipy loop and the **sort floor** (one
``np.sort`` of every numeric column, single-threaded: what no exact sort-based method
can go below) run interleaved for ``--rounds`` rounds (``_harness.py``); times are
reported as median and spread, speed-ups per round. ``single_thread_sort_bound_speedup``
is the scipy loop over the sort floor: the most a single-threaded sort-based method can
gain. ``--quick``: 20,000 rows, 3 rounds. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from workloads.monitoring.drift import (
    PSI_EPSILON,
    compute_drift,
    prepare_reference,
    report_round,
)
from workloads.monitoring.reference import build_reference

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as harness


def make_data(
    rows: int, n_features: int, n_cat: int, seed: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray], list[str], list[str]]:
    """Training frame (100k rows) and a window with a shift in every fifth numeric feature."""
    rng = np.random.default_rng(seed)
    numeric = [f"f{i:02d}" for i in range(n_features - n_cat)]
    categorical = [f"c{i:02d}" for i in range(n_cat)]
    train_n = 100_000
    train: dict[str, np.ndarray] = {}
    window: dict[str, np.ndarray] = {}
    for i, name in enumerate(numeric):
        shift = 0.5 if i % 5 == 0 else 0.0
        if i % 3 == 0:
            train[name] = rng.lognormal(0.0, 1.0, train_n)
            window[name] = rng.lognormal(shift, 1.0, rows)
        elif i % 3 == 1:
            train[name] = rng.normal(0.0, 1.0, train_n)
            window[name] = rng.normal(shift, 1.0, rows)
        else:  # heavy ties
            train[name] = rng.integers(0, 20, train_n).astype(np.float64)
            window[name] = rng.integers(0, 20 + int(shift * 20), rows).astype(np.float64)
    for name in categorical:
        train[name] = rng.integers(0, 12, train_n).astype(np.float64)
        window[name] = rng.integers(0, 12, rows).astype(np.float64)
    return pd.DataFrame(train), window, numeric, categorical


def scipy_loop(ref: dict[str, Any], window: dict[str, np.ndarray]) -> dict[str, tuple]:
    """The per-column reference implementation (reference samples already arrays)."""
    out = {}
    for name, feat in ref["features"].items():
        col = window[name]
        if feat["kind"] == "numeric":
            res = stats.ks_2samp(feat["sample_array"], col)
            edges = np.asarray(feat["bin_edges"], dtype=np.float64)
            edges = np.concatenate(([-np.inf], edges[1:-1], [np.inf]))
            # np.histogram's bins are [a, b) except the last; -inf/inf outer edges
            # make it the monitor's "clip to the end bins" rule.
            counts, _ = np.histogram(col, bins=edges)
            a = np.maximum(counts / counts.sum(), PSI_EPSILON)
            e = np.maximum(np.asarray(feat["expected"]), PSI_EPSILON)
            psi = float(np.sum((a - e) * np.log(a / e)))
            out[name] = (psi, float(res.statistic), float(res.pvalue))
        else:
            cats = np.array([float(c) for c in feat["categories"]])
            values, counts = np.unique(col, return_counts=True)
            lookup = dict(zip(values.tolist(), counts.tolist(), strict=True))
            observed = np.array([lookup.get(c, 0) for c in cats], dtype=np.float64)
            res = stats.chisquare(observed, np.asarray(feat["expected"]) * len(col))
            a = np.maximum(observed / observed.sum(), PSI_EPSILON)
            e = np.maximum(np.asarray(feat["expected"]), PSI_EPSILON)
            psi = float(np.sum((a - e) * np.log(a / e)))
            out[name] = (psi, float(res.statistic), float(res.pvalue))
    return out


def run_evidently(
    train: pd.DataFrame, window: dict[str, np.ndarray], numeric: list[str], categorical: list[str]
) -> dict[str, Any]:
    """Time evidently's drift preset on the same data, if evidently imports."""
    os.environ.setdefault("DO_NOT_TRACK", "1")  # no telemetry attempts
    try:
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    except ImportError as exc:
        return {"status": f"not importable: {exc}"}
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    current = pd.DataFrame(window)
    ref_ds = Dataset.from_pandas(train, data_definition=definition)
    cur_ds = Dataset.from_pandas(current, data_definition=definition)
    results = {}
    for label, kwargs in {
        "ks_chi2": {"num_method": "ks", "cat_method": "chisquare"},
        "psi": {"method": "psi"},
    }.items():
        started = time.perf_counter()
        Report([DataDriftPreset(**kwargs)]).run(cur_ds, ref_ds)
        results[f"{label}_s"] = round(time.perf_counter() - started, 3)
    import evidently

    return {"status": "ok", "version": evidently.__version__, **results}


def sort_floor(prepared: Any, window: dict[str, np.ndarray]) -> None:
    """What no sort-based method can go below: one sorted copy of every numeric column."""
    for name, plan in prepared.features.items():
        if hasattr(plan, "grid"):
            np.sort(window[name])


def main() -> int:
    """Run the comparison and print the JSON summary last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--categorical", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--evidently-path", help="extra directory holding evidently")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--quick", action="store_true", help="20k rows, 3 rounds, no evidently")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.rounds, args.skip_evidently = 20_000, 3, True

    summary: dict[str, Any] = {
        "bench": "drift",
        "rows": args.rows,
        "features": args.features,
        "categorical": args.categorical,
        "rounds": args.rounds,
        "report_digits": 6,
    }
    with harness.recorded(summary):
        train, window, numeric, categorical = make_data(
            args.rows, args.features, args.categorical, args.seed
        )
        ref = build_reference(train, numeric, categorical, sample_size=10_000, seed=args.seed)
        # Both sides convert the reference once, as a monitor checking many windows does.
        prepared = prepare_reference(ref)
        for feat in ref["features"].values():
            if feat["kind"] == "numeric":
                feat["sample_array"] = np.asarray(feat["sample"])

        reports: dict[str, Any] = {}

        def timed(label: str, fn: Any) -> Any:
            def run() -> float:
                started = time.perf_counter()
                reports[label] = fn()
                return time.perf_counter() - started

            return run

        seconds = harness.interleaved(
            {
                "ours_threads2": timed("ours2", lambda: compute_drift(window, prepared, threads=2)),
                "ours_threads1": timed("ours1", lambda: compute_drift(window, prepared, threads=1)),
                "scipy_loop": timed("scipy", lambda: scipy_loop(ref, window)),
                "sort_floor_threads1": timed("floor", lambda: sort_floor(prepared, window)),
            },
            args.rounds,
        )
        report, baseline = reports["ours1"], reports["scipy"]
        mismatches = []
        for which in ("ours1", "ours2"):
            for f in reports[which].features:
                want = baseline[f.feature]
                got = (f.psi, f.statistic, f.p_value)
                for label, a, b in zip(("psi", "statistic", "p_value"), got, want, strict=True):
                    if report_round(a) != report_round(b) and not (math.isnan(a) and math.isnan(b)):
                        mismatches.append(f"{which} {f.feature}.{label}: {a!r} vs {b!r}")
        for line in mismatches:
            print("MISMATCH", line)

        if args.skip_evidently:
            evidently: dict[str, Any] = {"status": "skipped"}
        else:
            if args.evidently_path:
                sys.path.append(args.evidently_path)  # after the project's own packages
            evidently = run_evidently(train, window, numeric, categorical)
            print(f"evidently: {evidently}")

        summary["seconds"] = {k: harness.summary(v) for k, v in seconds.items()}
        base = seconds["scipy_loop"]
        summary["speedup_vs_scipy_loop"] = {
            # scipy / ours per round: > 1 is faster; the verdict compares the time ranges.
            f"threads{t}": {
                "speedup": harness.summary(
                    [b / a for a, b in zip(seconds[f"ours_threads{t}"], base, strict=True)]
                ),
                "verdict": harness.compare(
                    seconds[f"ours_threads{t}"], base, higher_is_better=False
                )["verdict"],
            }
            for t in (2, 1)
        }
        floor = [b / a for a, b in zip(seconds["sort_floor_threads1"], base, strict=True)]
        summary["single_thread_sort_bound_speedup"] = harness.summary(floor)
        summary["drifted_features"] = len(report.drifted_features)
        summary["digit_mismatches"] = len(mismatches)
        summary["evidently"] = evidently
        summary["targets"] = {
            "ge_10x_threads2": harness.target(
                [b / a for a, b in zip(seconds["ours_threads2"], base, strict=True)],
                10.0,
                at_least=True,
            ),
            "ge_10x_threads1": harness.target(
                [b / a for a, b in zip(seconds["ours_threads1"], base, strict=True)],
                10.0,
                at_least=True,
            ),
            "under_2s": harness.target(seconds["ours_threads2"], 2.0, at_least=False),
        }
    harness.emit(summary)
    return 0 if not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
