"""Read a window of logged model inputs from the model server's JSON Lines files.

One record per request: ``{"ts": float, "model": str, "model_version": str,
"features": [names], "inputs": [[row values]...], "outputs": [[...]]}``, in ``*.jsonl``
files in one directory. A file whose modification time is before the window start
cannot hold a record of the window and is not opened, so a long-running server's old
files cost nothing. A trailing line without a newline is a record still being written
and is left for the next window; other unreadable lines are skipped and counted
(``skipped_lines``), so one bad record cannot blind the monitor.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

import numpy as np
import orjson


class WindowError(ValueError):
    """The log directory is unusable or its records disagree on the feature list."""


@dataclass
class Window:
    """Inputs of the requests in ``[start, end)``, one column per feature."""

    model: str | None
    feature_names: list[str]
    columns: dict[str, np.ndarray]
    n_rows: int
    n_records: int
    start: float | None
    end: float | None
    first_ts: float | None
    last_ts: float | None
    model_versions: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    skipped_lines: int = 0


def read_window(
    log_dir: pathlib.Path,
    *,
    model: str | None = None,
    start: float | None = None,
    end: float | None = None,
) -> Window:
    """Collect every logged input row with ``start <= ts < end`` (bounds optional)."""
    log_dir = pathlib.Path(log_dir)
    if not log_dir.is_dir():
        raise WindowError(f"{log_dir}: prediction log directory does not exist")
    rows: list[list[object]] = []
    names: list[str] | None = None
    names_from = ""
    versions: set[str] = set()
    used: list[str] = []
    skipped = 0
    n_records = 0
    first_ts = last_ts = None
    for path in sorted(log_dir.glob("*.jsonl")):
        try:
            if start is not None and path.stat().st_mtime < start:
                continue
            data = path.read_bytes()
        except FileNotFoundError:  # rotated away while listing
            continue
        lines = data.split(b"\n")
        if lines and lines[-1] != b"":
            lines = lines[:-1]  # partial record, still being written
        took = False
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
                ts = float(rec["ts"])
                rec_model = rec["model"]
                feats = rec["features"]
                inputs = rec["inputs"]
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                skipped += 1
                continue
            if (start is not None and ts < start) or (end is not None and ts >= end):
                continue
            if model is not None and rec_model != model:
                continue
            if names is None:
                names, names_from = list(feats), f"{path.name}:{lineno}"
            elif feats != names:
                raise WindowError(
                    f"{path}:{lineno}: features {feats} differ from {names} "
                    f"(first seen at {names_from}); read one model version per window"
                )
            if not isinstance(inputs, list) or any(
                not isinstance(r, list) or len(r) != len(names) for r in inputs
            ):
                skipped += 1
                continue
            rows.extend(inputs)
            n_records += 1
            took = True
            versions.add(str(rec.get("model_version", "")))
            first_ts = ts if first_ts is None else min(first_ts, ts)
            last_ts = ts if last_ts is None else max(last_ts, ts)
        if took:
            used.append(path.name)
    names = names or []
    columns: dict[str, np.ndarray] = {}
    if rows:
        try:
            matrix = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError):
            # Mixed strings/numbers (categorical features): keep Python objects,
            # the drift code converts per feature kind.
            matrix = np.asarray(rows, dtype=object)
        columns = {name: matrix[:, i] for i, name in enumerate(names)}
    else:
        columns = {name: np.empty(0) for name in names}
    return Window(
        model=model,
        feature_names=names,
        columns=columns,
        n_rows=len(rows),
        n_records=n_records,
        start=start,
        end=end,
        first_ts=first_ts,
        last_ts=last_ts,
        model_versions=sorted(versions),
        files=used,
        skipped_lines=skipped,
    )
