"""The shared measuring discipline of the benchmarks.

Figures on a shared machine move with its load, so every benchmark here:

- runs its configurations **interleaved**: round 1 measures A, B, C; round 2 B, C, A; and
  so on (the order rotates, so no configuration always runs first or last), instead of
  all rounds of A and then all rounds of B;
- repeats that for several rounds and reports, per figure, the **median** and the
  **spread** (min, max and the interquartile range) over the rounds;
- records the **load average** at the start and at the end in its JSON;
- calls a comparison a ``win`` or a ``loss`` only when the ranges (min..max over the
  rounds) of the two configurations do not overlap, ``inconclusive`` otherwise;
- checks a target ratio against every round: a round measures both sides back to back,
  so its ratio is a paired figure; a target is ``met`` when the worst round meets it,
  ``missed`` when even the best round misses it, ``inconclusive`` in between.

Only the standard library and numpy: the plain-SDK baseline of ``plan_scale.py`` imports
this module too, and must not import anything of the project.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

Verdict = Literal["win", "loss", "inconclusive"]


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (rounded), or [] where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def summary(samples: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Median and spread of one figure over the rounds."""
    values = sorted(float(x) for x in samples)
    if not values:
        raise ValueError("summary of no samples")
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]

    def r(x: float) -> float:
        return float(f"{x:.{digits}g}")

    return {
        "median": r(statistics.median(values)),
        "min": r(values[0]),
        "max": r(values[-1]),
        "iqr": [r(q1), r(q3)],
        "rounds": len(values),
    }


def compare(
    ours: Sequence[float], other: Sequence[float], *, higher_is_better: bool
) -> dict[str, Any]:
    """``ours`` against ``other`` over the same rounds: paired ratios and a verdict.

    ``ratio`` is ours / other per round (a speed-up when higher is better, a slow-down
    when lower is); the verdict is ``win``/``loss`` only when the min..max ranges do not
    overlap. ``rounds_ahead`` says in how many rounds ours was the better one.
    """
    if len(ours) != len(other) or not ours:
        raise ValueError("compare needs the same, non-zero number of rounds on both sides")
    ratios = [a / b if b else float("inf") for a, b in zip(ours, other, strict=True)]
    better_lo, better_hi = (max(other), min(ours)) if higher_is_better else (max(ours), min(other))
    worse_lo, worse_hi = (max(ours), min(other)) if higher_is_better else (max(other), min(ours))
    verdict: Verdict = "inconclusive"
    if better_hi > better_lo:
        verdict = "win"
    elif worse_hi > worse_lo:
        verdict = "loss"
    better = sum((a > b) if higher_is_better else (a < b) for a, b in zip(ours, other, strict=True))
    # Context only, never the verdict: in how many rounds (paired) ours came out ahead.
    return {"ratio": summary(ratios), "verdict": verdict, "rounds_ahead": f"{better}/{len(ours)}"}


def target(per_round: Sequence[float], threshold: float, *, at_least: bool) -> str:
    """``met`` when every round meets ``threshold``, ``missed`` when none does."""
    ok = [(x >= threshold) if at_least else (x <= threshold) for x in per_round]
    if all(ok):
        return "met"
    if not any(ok):
        return "missed"
    return "inconclusive"


def interleaved(
    configs: Mapping[str, Callable[[], Any]], rounds: int, *, warmup: bool = True
) -> dict[str, list[Any]]:
    """Run each configuration once per round, rotating the order; return each one's results.

    With ``warmup`` every configuration runs once, unrecorded, before the first round.
    """
    names = list(configs)
    if warmup:
        for name in names:
            configs[name]()
    results: dict[str, list[Any]] = {name: [] for name in names}
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(configs[name]())
    return results


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


@contextmanager
def recorded(result: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Adds the machine and the load average at start and end (and wall time) to ``result``."""
    result.setdefault("machine", machine())
    result["load_average_start"] = load_average()
    started = time.perf_counter()
    try:
        yield result
    finally:
        result["load_average_end"] = load_average()
        result["wall_s"] = round(time.perf_counter() - started, 1)


def emit(result: Mapping[str, Any]) -> None:
    """Print the result as the one JSON object on the last stdout line."""
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
