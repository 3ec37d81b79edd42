"""The drift monitor's view of the tenant bucket: log segments, the champion, its reference.

Model servers ship their prediction log to ``predictions/<model>/<UTC hour>/*.jsonl``
(:mod:`workloads.serving.shipping`). A check over ``[start, end)`` downloads only the
hour folders that overlap the window (bounded by ``max_bytes``) into a scratch folder and
reads them with :func:`~workloads.monitoring.window.read_window`, so the statistics are
exactly those of a local run.

The model a monitor checks is the registry's champion (the loop changes it at run time:
:mod:`workloads.registry.index`), else the version the stack deployed. Its reference
statistics and its reports live next to the model:
``models/<model>/<version>/reference_stats.json`` and ``.../drift/latest.json`` (plus
one ``drift/<window end>.json`` per check).
"""

from __future__ import annotations

import json
import pathlib
import time
from dataclasses import dataclass
from typing import Any

from workloads.common.objectstore import ObjectStore
from workloads.monitoring.reference import validate_reference
from workloads.monitoring.window import WindowError

HOUR = 3600


def hours(start: float, end: float) -> list[str]:
    """UTC hour folders (``YYYYmmddTHH``) that overlap ``[start, end)``."""
    if end <= start:
        return []
    first = int(start // HOUR) * HOUR
    return [
        time.strftime("%Y%m%dT%H", time.gmtime(ts))
        for ts in range(first, int(end) + 1, HOUR)
        if ts < end
    ]


@dataclass(frozen=True)
class Fetched:
    """What a window download brought in."""

    segments: int
    bytes: int
    truncated: bool


def fetch_window(
    store: ObjectStore,
    model: str,
    start: float,
    end: float,
    dest: pathlib.Path,
    *,
    max_bytes: int = 512 * 1024 * 1024,
) -> Fetched:
    """Download the model's log segments of the hours overlapping the window into ``dest``.

    Newest hours first, so when the window holds more than ``max_bytes`` the check runs
    on its most recent part (``truncated``) instead of exhausting the pod's scratch space.
    """
    dest.mkdir(parents=True, exist_ok=True)
    total = segments = 0
    truncated = False
    for hour in reversed(hours(start, end)):
        for key in reversed(store.list(f"{model}/{hour}/")):
            data = store.get(key)
            if data is None:
                continue
            if total + len(data) > max_bytes:
                truncated = True
                break
            (dest / key.replace("/", "_")).write_bytes(data)
            total += len(data)
            segments += 1
        if truncated:
            break
    return Fetched(segments, total, truncated)


def champion_version(registry: ObjectStore | None, model: str, default: str | None) -> str:
    """The registry's champion of ``model``, else ``default`` (the deployed version)."""
    if registry is not None:
        raw = registry.get(f"{model}.json")
        if raw is not None:
            champion = json.loads(raw).get("champion")
            if champion:
                return str(champion)
    if not default:
        raise WindowError(f"{model}: no champion in the registry and no --default_version")
    return default


def load_remote_reference(models: ObjectStore, model: str, version: str) -> dict[str, Any]:
    """``models/<model>/<version>/reference_stats.json``, validated."""
    key = f"{model}/{version}/reference_stats.json"
    raw = models.get(key)
    if raw is None:
        raise WindowError(f"{models.describe(key)}: no reference statistics next to the model")
    reference = json.loads(raw)
    validate_reference(reference, source=models.describe(key))
    return dict(reference)


def report_keys(model: str, version: str, window_end: float) -> list[str]:
    """Where a check's report goes: ``latest.json`` and one file per window."""
    base = f"{model}/{version}/drift"
    return [f"{base}/{int(window_end)}.json", f"{base}/latest.json"]
