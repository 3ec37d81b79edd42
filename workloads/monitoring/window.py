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
    collector = _Collector(model, start, end)
    for path in sorted(log_dir.glob("*.jsonl")):
        try:
            if start is not None and path.stat().st_mtime < start:
                continue
            data = path.read_bytes()
        except FileNotFoundError:  # rotated away while listing
            continue
        collector.read_file(path, data)
    return collector.window()


@dataclass
class _Collector:
    """The window's rows and bookkeeping, filled one log file at a time."""

    model: str | None
    start: float | None
    end: float | None
    rows: list[list[object]] = field(default_factory=list)
    names: list[str] | None = None
    names_from: str = ""
    versions: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)
    skipped: int = 0
    n_records: int = 0
    first_ts: float | None = None
    last_ts: float | None = None

    def read_file(self, path: pathlib.Path, data: bytes) -> None:
        """Take the file's records that fall in the window."""
        lines = data.split(b"\n")
        if lines and lines[-1] != b"":
            lines = lines[:-1]  # partial record, still being written
        took = False
        for lineno, line in enumerate(lines, start=1):
            if line.strip() and self._take(path, lineno, line):
                took = True
        if took:
            self.files.append(path.name)

    def _take(self, path: pathlib.Path, lineno: int, line: bytes) -> bool:
        """Add one record's rows; False when it is skipped or outside the window."""
        try:
            record = orjson.loads(line)
            ts = float(record["ts"])
            record_model = record["model"]
            features = record["features"]
            inputs = record["inputs"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.skipped += 1
            return False
        if (self.start is not None and ts < self.start) or (
            self.end is not None and ts >= self.end
        ):
            return False
        if self.model is not None and record_model != self.model:
            return False
        if self.names is None:
            self.names, self.names_from = list(features), f"{path.name}:{lineno}"
        elif features != self.names:
            raise WindowError(
                f"{path}:{lineno}: features {features} differ from {self.names} "
                f"(first seen at {self.names_from}); read one model version per window"
            )
        width = len(self.names)
        if not isinstance(inputs, list) or any(
            not isinstance(row, list) or len(row) != width for row in inputs
        ):
            self.skipped += 1
            return False
        self.rows.extend(inputs)
        self.n_records += 1
        self.versions.add(str(record.get("model_version", "")))
        self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
        self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        return True

    def window(self) -> Window:
        """The collected window, one column per feature."""
        names = self.names or []
        return Window(
            model=self.model,
            feature_names=names,
            columns=_columns(self.rows, names),
            n_rows=len(self.rows),
            n_records=self.n_records,
            start=self.start,
            end=self.end,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            model_versions=sorted(self.versions),
            files=self.files,
            skipped_lines=self.skipped,
        )


def _columns(rows: list[list[object]], names: list[str]) -> dict[str, np.ndarray]:
    if not rows:
        return {name: np.empty(0) for name in names}
    try:
        matrix = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        # Mixed strings/numbers (categorical features): keep Python objects,
        # the drift code converts per feature kind.
        matrix = np.asarray(rows, dtype=object)
    return {name: matrix[:, index] for index, name in enumerate(names)}
