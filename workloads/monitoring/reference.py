"""Training reference statistics: what the drift monitor compares live inputs against.

The training job calls :func:`build_reference` on the frame it trained on and
:func:`save_reference` next to the model; the monitor calls :func:`load_reference`.

File format (JSON, ``version`` 1)::

    {"version": 1, "n_rows": int, "bins": int, "seed": int, "sample_size": int,
     "features": {
        name: {"kind": "numeric", "bin_edges": [...], "expected": [...],
               "sample": [...], "mean", "std", "min", "max", "null_fraction"},
        name: {"kind": "categorical", "categories": [...], "expected": [...],
               "null_fraction"}}}

Numeric binning: ``bin_edges`` are the training quantiles (duplicates from ties
removed), so each bin holds about the same share of training rows. A value ``x`` falls
in bin ``i`` when ``edges[i] <= x < edges[i + 1]``; values below the first edge go to
the first bin and values at or above the last inner edge to the last one, so live data
outside the training range is still counted (and shows up as drift in the end bins).
:func:`bin_index` is that rule, shared by the builder and the monitor.

``sample`` is a seeded subsample (sorted) of at most ``sample_size`` training values,
used for the two-sample Kolmogorov-Smirnov test; ``std`` is the population standard
deviation (``ddof=0``). Missing values are excluded from every statistic and reported
as ``null_fraction``. Categorical values are compared as strings after
:func:`canonical_categories`, so ``3``, ``3.0`` and ``"3"`` are the same category
whether they come from a parquet column or a JSON request log.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import pathlib
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

FORMAT_VERSION = 1
# Fractions in a stored reference must sum to 1 within this tolerance (JSON round-trip
# of float64 fractions is exact; the slack only absorbs hand-edited files).
_SUM_TOLERANCE = 1e-6


class ReferenceStatsError(ValueError):
    """A reference statistics file or input frame is unusable; the message is one line."""


def bin_index(values: np.ndarray, bin_edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return the bin of each value under the reference binning rule (see module doc).

    Works on any array shape; ``len(bin_edges) - 1`` bins (at least one).
    """
    edges = np.asarray(bin_edges, dtype=np.float64)
    inner = edges[1:-1]
    return np.searchsorted(inner, values, side="right")


def canonical_categories(values: pd.Series | np.ndarray | Sequence[Any]) -> np.ndarray:
    """Map categorical values to canonical strings; missing values become ``None``.

    Integral floats lose their ``.0`` so a category logged through JSON as ``3.0``
    matches the training value ``3``.
    """
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    out = np.empty(len(series), dtype=object)
    missing = series.isna().to_numpy()
    if pd.api.types.is_bool_dtype(series):
        strings = series.astype(str).to_numpy()
    elif pd.api.types.is_numeric_dtype(series):
        num = series.to_numpy(dtype=np.float64, na_value=np.nan)
        # Beyond 2**53 floats are not exact integers; leave those as written.
        integral = np.isfinite(num) & (np.floor(num) == num) & (np.abs(num) < 2.0**53)
        strings = np.where(
            integral,
            pd.Series(np.where(integral, num, 0)).astype(np.int64).astype(str).to_numpy(),
            series.astype(str).to_numpy(),
        )
    else:
        strings = np.array([_canonical_scalar(v) for v in series.to_numpy()], dtype=object)
    out[:] = strings
    out[missing] = None
    return out


def _canonical_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def build_reference(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str] = (),
    *,
    bins: int = 10,
    sample_size: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compute the reference statistics of ``frame`` for the named columns.

    Raises :class:`ReferenceStatsError` for an empty frame, a missing or non-numeric
    column, a column listed twice, a column with no values, or bad parameters.
    """
    if bins < 2:
        raise ReferenceStatsError(f"bins: must be an integer >= 2, got {bins!r}")
    if sample_size < 1:
        raise ReferenceStatsError(f"sample_size: must be an integer >= 1, got {sample_size!r}")
    names = [*numeric, *categorical]
    if not names:
        raise ReferenceStatsError("no feature columns given: pass numeric and/or categorical names")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ReferenceStatsError(f"columns listed more than once: {', '.join(duplicates)}")
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ReferenceStatsError(
            f"columns not in the frame: {', '.join(missing)} "
            f"(frame has: {', '.join(map(str, frame.columns))})"
        )
    if len(frame) == 0:
        raise ReferenceStatsError("the frame has no rows")

    rng = np.random.default_rng(seed)
    features: dict[str, Any] = {}
    for name in numeric:
        if not pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(
            frame[name]
        ):
            raise ReferenceStatsError(
                f"column {name!r}: numeric feature has dtype {frame[name].dtype}; "
                "list it under categorical instead"
            )
        features[name] = _numeric_stats(name, frame[name], bins, sample_size, rng)
    for name in categorical:
        features[name] = _categorical_stats(name, frame[name])
    return {
        "version": FORMAT_VERSION,
        "n_rows": len(frame),
        "bins": bins,
        "seed": seed,
        "sample_size": sample_size,
        "features": features,
    }


def _numeric_stats(
    name: str, column: pd.Series, bins: int, sample_size: int, rng: np.random.Generator
) -> dict[str, Any]:
    raw = column.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(raw)
    if np.isinf(raw).any():
        raise ReferenceStatsError(f"column {name!r}: contains infinite values")
    values = raw[finite]
    if values.size == 0:
        raise ReferenceStatsError(f"column {name!r}: has no non-missing values")
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size == 1:
        # A constant column: one bin. PSI cannot move; the KS test still sees a shift.
        edges = np.array([edges[0], edges[0]])
    counts = np.bincount(bin_index(values, edges), minlength=edges.size - 1)
    if values.size > sample_size:
        sample = rng.choice(values, size=sample_size, replace=False)
    else:
        sample = values.copy()
    sample.sort()
    return {
        "kind": "numeric",
        "bin_edges": edges.tolist(),
        "expected": (counts / values.size).tolist(),
        "sample": sample.tolist(),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
        "null_fraction": float(1.0 - values.size / raw.size),
    }


def _categorical_stats(name: str, column: pd.Series) -> dict[str, Any]:
    canon = canonical_categories(column)
    present = canon[pd.notna(canon)]
    if present.size == 0:
        raise ReferenceStatsError(f"column {name!r}: has no non-missing values")
    categories, counts = np.unique(present.astype(str), return_counts=True)
    return {
        "kind": "categorical",
        "categories": categories.tolist(),
        "expected": (counts / present.size).tolist(),
        "null_fraction": float(1.0 - present.size / canon.size),
    }


def save_reference(ref: dict[str, Any], path: pathlib.Path) -> None:
    """Validate ``ref`` and write it to ``path`` atomically (no half-written file)."""
    path = pathlib.Path(path)
    validate_reference(ref, source=str(path))
    text = json.dumps(ref, allow_nan=False, separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def load_reference(path: pathlib.Path) -> dict[str, Any]:
    """Read and validate a reference file; :class:`ReferenceStatsError` names the file."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReferenceStatsError(
            f"{path}: cannot read reference statistics: {exc.strerror}"
        ) from None
    try:
        ref = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReferenceStatsError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    validate_reference(ref, source=str(path))
    return ref


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_fractions(source: str, where: str, values: Any, length: int) -> None:
    if not isinstance(values, list) or len(values) != length:
        raise ReferenceStatsError(f"{source}: {where}: must be a list of {length} fractions")
    if not all(_is_number(v) and 0.0 <= v <= 1.0 for v in values):
        raise ReferenceStatsError(f"{source}: {where}: every entry must be a number in [0, 1]")
    if abs(sum(values) - 1.0) > _SUM_TOLERANCE:
        raise ReferenceStatsError(f"{source}: {where}: fractions sum to {sum(values)!r}, not 1")


def validate_reference(ref: Any, *, source: str = "reference") -> None:
    """Check the structure of a reference dict; raise :class:`ReferenceStatsError` if bad."""
    if not isinstance(ref, dict):
        raise ReferenceStatsError(f"{source}: top level must be a JSON object")
    if ref.get("version") != FORMAT_VERSION:
        raise ReferenceStatsError(
            f"{source}: version: unsupported value {ref.get('version')!r} "
            f"(this monitor reads version {FORMAT_VERSION})"
        )
    n_rows = ref.get("n_rows")
    if not isinstance(n_rows, int) or isinstance(n_rows, bool) or n_rows < 1:
        raise ReferenceStatsError(f"{source}: n_rows: must be a positive integer, got {n_rows!r}")
    features = ref.get("features")
    if not isinstance(features, dict) or not features:
        raise ReferenceStatsError(f"{source}: features: must be a non-empty object")
    for name, feat in features.items():
        where = f"features.{name}"
        if not isinstance(feat, dict):
            raise ReferenceStatsError(f"{source}: {where}: must be an object")
        kind = feat.get("kind")
        if kind == "numeric":
            edges = feat.get("bin_edges")
            if (
                not isinstance(edges, list)
                or len(edges) < 2
                or not all(_is_number(edge) for edge in edges)
                or any(high < low for low, high in itertools.pairwise(edges))
            ):
                raise ReferenceStatsError(
                    f"{source}: {where}.bin_edges: must be >= 2 finite, non-decreasing numbers"
                )
            _check_fractions(source, f"{where}.expected", feat.get("expected"), len(edges) - 1)
            sample = feat.get("sample")
            if (
                not isinstance(sample, list)
                or not sample
                or not all(_is_number(value) for value in sample)
            ):
                raise ReferenceStatsError(
                    f"{source}: {where}.sample: must be a non-empty list of finite numbers"
                )
            for stat in ("mean", "std", "min", "max"):
                if not _is_number(feat.get(stat)):
                    raise ReferenceStatsError(f"{source}: {where}.{stat}: must be a finite number")
        elif kind == "categorical":
            categories = feat.get("categories")
            if (
                not isinstance(categories, list)
                or not categories
                or not all(isinstance(category, str) for category in categories)
                or len(set(categories)) != len(categories)
            ):
                raise ReferenceStatsError(
                    f"{source}: {where}.categories: must be a non-empty list of distinct strings"
                )
            _check_fractions(source, f"{where}.expected", feat.get("expected"), len(categories))
        else:
            raise ReferenceStatsError(
                f"{source}: {where}.kind: must be 'numeric' or 'categorical', got {kind!r}"
            )
