"""Where the canary analysis gets its numbers in the cluster: per-arm traffic from the
model servers' own metrics, per-version accuracy from labelled feedback.

- **Requests, errors, latency** per arm come from the metrics every model server exports
  (:mod:`workloads.serving.metrics`, names in :mod:`contracts.telemetry`), told apart by
  the ``inferenceservice`` label the tenant's PodMonitor adds (``<model>-champion`` and
  ``<model>-challenger``). :class:`PrometheusReader` asks the tenant's Prometheus for
  their increase since the canary started; :class:`ScrapeReader` reads the servers'
  ``/metrics`` directly (the local lifecycle, which runs no Prometheus) and counts from
  its first read. Latency is the server's histogram, each bucket's requests spread
  evenly inside it (the same resolution for both arms).
- **Accuracy** comes from labelled feedback: the tenant's application, which received
  each prediction with its ``model_version`` (KServe V2 responses carry it), writes the
  outcome once it is known as JSON Lines under ``s3://<bucket>/feedback/<model>/``
  (``{"ts": ..., "model_version": ..., "score": ..., "label": 0|1}``). :func:`feedback_counts`
  counts labelled and correct predictions per version.

:class:`CanaryObservations` joins both into the ``(champion, challenger)``
:class:`~workloads.rollout.canary.ArmObservations` the analysis decides on.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client.parser import text_string_to_metric_families

from contracts.names import challenger_of, champion_of
from contracts.telemetry import ERROR_STATUS, LATENCY_HISTOGRAM, REQUESTS_COUNTER
from workloads.common.objectstore import ObjectStore
from workloads.rollout.canary import ArmObservations

MAX_SAMPLES = 50_000
"""Latency samples per arm at most (larger counts are scaled down, shape kept)."""
THRESHOLD = 0.5
"""A prediction is positive at or above this score (as the quality gate counts it)."""


class ObservationError(RuntimeError):
    """The metrics source could not be read (one line)."""


@dataclass
class ArmCounts:
    """Cumulative counters of one arm: requests, server errors, latency buckets."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    """Cumulative count per upper bound in seconds (``inf`` included)."""

    def minus(self, base: ArmCounts) -> ArmCounts:
        """Counts since ``base`` (a counter reset counts from zero)."""
        if self.requests < base.requests:
            return self
        return ArmCounts(
            self.requests - base.requests,
            self.errors - base.errors,
            {le: n - base.buckets.get(le, 0.0) for le, n in self.buckets.items()},
        )

    def latency_ms(self) -> list[float]:
        """One sample per request (ms), spread evenly inside its bucket, as Prometheus'
        ``histogram_quantile`` interpolates; ``+Inf`` counts at twice the largest finite
        bound (a conservative stand-in for "slower than every bucket")."""
        bounds = sorted(self.buckets)
        finite = [b for b in bounds if math.isfinite(b)]
        top = 2 * finite[-1] if finite else 0.0
        spans, previous, lower = [], 0.0, 0.0
        for bound in bounds:
            cumulative = self.buckets[bound]
            upper = bound if math.isfinite(bound) else top
            spans.append((lower if math.isfinite(bound) else upper, upper,
                          max(cumulative - previous, 0)))  # fmt: skip
            previous, lower = cumulative, upper
        total = sum(n for _, _, n in spans)
        scale = min(1.0, MAX_SAMPLES / total) if total else 1.0
        samples: list[float] = []
        for low, high, n in spans:
            k = round(n * scale)
            samples += [(low + (high - low) * (i + 0.5) / k) * 1000.0 for i in range(k)]
        return samples


class MetricsReader(Protocol):
    """Cumulative per-arm counters of a model's two InferenceServices."""

    def arms(self, model: str, since: float) -> dict[str, ArmCounts]:
        """``{inferenceservice: counts since ``since``}`` (Unix time)."""
        ...


def _sample_counts(samples: list[tuple[str, dict[str, str], float]]) -> dict[str, ArmCounts]:
    """Per-``inferenceservice`` counts from (name, labels, value) samples."""
    import re

    errors = re.compile(f"^(?:{ERROR_STATUS})$")
    arms: dict[str, ArmCounts] = {}
    for name, labels, value in samples:
        service = labels.get("inferenceservice", "")
        arm = arms.setdefault(service, ArmCounts())
        if name == REQUESTS_COUNTER + "_total" or name == REQUESTS_COUNTER:
            arm.requests += value
            if errors.match(labels.get("status", "")):
                arm.errors += value
        elif name == LATENCY_HISTOGRAM + "_bucket":
            le = float(labels["le"])
            arm.buckets[le] = arm.buckets.get(le, 0.0) + value
    return arms


@dataclass
class ScrapeReader:
    """Reads each arm's server ``/metrics`` directly; counts from the first read."""

    targets: Mapping[str, str]
    """``{inferenceservice: http://host:port/metrics}``."""
    timeout: float = 5.0
    _base: dict[str, ArmCounts] = field(default_factory=dict)

    def _scrape(self, service: str, url: str) -> ArmCounts:
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as reply:  # noqa: S310
                text = reply.read().decode()
        except OSError as exc:
            raise ObservationError(f"{url}: cannot read metrics: {exc}") from None
        samples = [
            (s.name, {**s.labels, "inferenceservice": service}, s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]
        return _sample_counts(samples).get(service, ArmCounts())

    def arms(self, model: str, since: float) -> dict[str, ArmCounts]:
        """Counts of each target since this reader first read it."""
        out = {}
        for service in (champion_of(model), challenger_of(model)):
            url = self.targets.get(service)
            if url is None:
                continue
            now = self._scrape(service, url)
            base = self._base.setdefault(service, now)
            out[service] = now.minus(base)
        return out


@dataclass
class PrometheusReader:
    """Asks the tenant's Prometheus (HTTP API) for each arm's increase since the start."""

    url: str
    """Base URL, e.g. ``http://prometheus-operated.<namespace>.svc:9090``."""
    namespace: str
    timeout: float = 10.0
    clock: Callable[[], float] = time.time

    def _query(self, expr: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"query": expr})
        target = f"{self.url.rstrip('/')}/api/v1/query?{query}"
        try:
            with urllib.request.urlopen(target, timeout=self.timeout) as reply:  # noqa: S310
                body = json.loads(reply.read())
        except (OSError, ValueError) as exc:
            raise ObservationError(f"{self.url}: query failed: {exc}") from None
        if body.get("status") != "success":
            raise ObservationError(f"{self.url}: {body.get('error') or 'query failed'}")
        return list(body["data"]["result"])

    def arms(self, model: str, since: float) -> dict[str, ArmCounts]:
        """Increase of requests, errors and latency buckets over ``[since, now]``."""
        window = f"{max(int(self.clock() - since), 60)}s"
        services = f"{champion_of(model)}|{challenger_of(model)}"
        selector = f'namespace="{self.namespace}",inferenceservice=~"{services}"'
        samples: list[tuple[str, dict[str, str], float]] = []
        exprs = {
            REQUESTS_COUNTER: f"sum by (inferenceservice, status) "
            f"(increase({REQUESTS_COUNTER}{{{selector}}}[{window}]))",
            LATENCY_HISTOGRAM + "_bucket": f"sum by (inferenceservice, le) "
            f"(increase({LATENCY_HISTOGRAM}_bucket{{{selector}}}[{window}]))",
        }
        for name, expr in exprs.items():
            for row in self._query(expr):
                samples.append((name, dict(row["metric"]), float(row["value"][1])))
        return _sample_counts(samples)


def feedback_counts(
    store: ObjectStore, model: str, since: float = 0.0
) -> dict[str, tuple[int, int]]:
    """``{model_version: (labelled, correct)}`` from ``feedback/<model>/*.jsonl``.

    ``store`` is the tenant bucket's ``feedback/`` prefix. Lines with a ``ts`` (Unix
    time of the prediction) before ``since`` are left out, so the champion is judged on
    the canary's window like the challenger; lines that are not labelled feedback are
    skipped.
    """
    counts: dict[str, list[int]] = {}
    prefix = f"{model}/"
    for key in store.list(prefix):
        raw = store.get(key) or b""
        for line in raw.splitlines():
            try:
                item = json.loads(line)
                version, score, label = str(item["model_version"]), item["score"], item["label"]
            except (ValueError, KeyError, TypeError):
                continue
            if label not in (0, 1) or not isinstance(score, int | float):
                continue
            if isinstance(item.get("ts"), int | float) and item["ts"] < since:
                continue
            entry = counts.setdefault(version, [0, 0])
            entry[0] += 1
            entry[1] += int((score >= THRESHOLD) == bool(label))
    return {version: (n, k) for version, (n, k) in counts.items()}


@dataclass
class CanaryObservations:
    """``model -> (champion, challenger)`` for the analysis, or None before traffic."""

    metrics: MetricsReader
    feedback: ObjectStore | None
    """The tenant's ``feedback/`` prefix (None: decide on traffic only)."""
    versions: Callable[[str], tuple[str | None, str | None, float]]
    """model -> (champion version, challenger version, canary start time)."""

    def __call__(self, model: str) -> tuple[ArmObservations, ArmObservations] | None:
        champion, challenger, since = self.versions(model)
        if champion is None or challenger is None:
            return None
        arms = self.metrics.arms(model, since)
        labelled = feedback_counts(self.feedback, model, since) if self.feedback is not None else {}
        out = []
        for service, version in (
            (champion_of(model), champion),
            (challenger_of(model), challenger),
        ):
            counts = arms.get(service)
            if counts is None or counts.requests <= 0:
                return None
            n, k = labelled.get(version, (0, 0))
            out.append(
                ArmObservations(
                    requests=round(counts.requests),
                    errors=round(counts.errors),
                    latency_ms=counts.latency_ms(),
                    labelled=n,
                    correct=k,
                )
            )
        return out[0], out[1]
