"""Prometheus metrics of the model server (exposed on ``GET /metrics``).

- ``mlplatform_inference_requests_total{model,protocol,status}``: requests by HTTP status
  (gRPC requests count under ``protocol="grpc"`` with status ``ok``/``error``);
- ``mlplatform_inference_request_duration_seconds{model,protocol}``: latency histogram
  measured from the first byte the server handles to the last byte it sends;
- ``mlplatform_prediction_score{model}``: distribution of the positive-class
  probability, a cheap live signal of prediction drift (filled in bulk with numpy, so
  a 1,000-row batch costs one call, not 1,000);
- ``mlplatform_prediction_log_{records,dropped}_total{model}``: prediction log writes and
  drops (the queue was full).

With ``--workers N`` each process has its own registry, so a scrape sees one worker.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator

import numpy as np
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from contracts import telemetry

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 10))

REQUESTS = Counter(
    telemetry.REQUESTS_COUNTER,
    "Inference requests by model, protocol and status.",
    ["model", "protocol", "status"],
)
LATENCY = Histogram(
    telemetry.LATENCY_HISTOGRAM,
    "Inference request latency in seconds.",
    ["model", "protocol"],
    buckets=LATENCY_BUCKETS,
)
PREDICTION_LOG_WRITTEN = Counter(
    telemetry.PREDICTION_LOG_RECORDS,
    "Prediction log records written.",
    ["model"],
)
PREDICTION_LOG_DROPPED = Counter(
    telemetry.PREDICTION_LOG_DROPPED,
    "Prediction log records dropped because the queue was full.",
    ["model"],
)


class PredictionDistribution(Collector):
    """Histogram of predicted scores per model, updated with whole arrays."""

    def __init__(self, buckets: tuple[float, ...] = SCORE_BUCKETS) -> None:
        self._edges = np.asarray(buckets, dtype=np.float64)
        self._edge_list = [float(bound) for bound in buckets]
        self._lock = threading.Lock()
        self._counts: dict[str, np.ndarray] = {}
        self._sums: dict[str, float] = {}

    def observe(self, model: str, scores: np.ndarray) -> None:
        """Add every score of ``scores`` to ``model``'s histogram."""
        if model not in self._counts:
            with self._lock:
                self._counts.setdefault(model, np.zeros(len(self._edges) + 1, dtype=np.int64))
                self._sums.setdefault(model, 0.0)
        if len(scores) == 1:
            # Batch-1 fast path: bisect on a Python float beats numpy's call overhead.
            score = float(scores[0])
            with self._lock:
                self._counts[model][bisect.bisect_left(self._edge_list, score)] += 1
                self._sums[model] += score
            return
        # side="left" puts a score equal to an edge in that edge's bucket (le semantics).
        bucket = np.searchsorted(self._edges, scores, side="left")
        counts = np.bincount(bucket, minlength=len(self._edges) + 1)
        total = float(np.sum(scores, dtype=np.float64))
        with self._lock:
            self._counts[model] += counts
            self._sums[model] += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """Yield the Prometheus histogram family."""
        family = HistogramMetricFamily(
            telemetry.PREDICTION_SCORE,
            "Distribution of the predicted positive-class probability.",
            labels=["model"],
        )
        with self._lock:
            for model, counts in self._counts.items():
                cumulative = np.cumsum(counts)
                buckets = [
                    (str(edge), float(count))
                    for edge, count in zip(self._edges, cumulative, strict=False)
                ]
                buckets.append(("+Inf", float(cumulative[-1])))
                family.add_metric([model], buckets, self._sums[model])
        yield family


PREDICTIONS = PredictionDistribution()
REGISTRY.register(PREDICTIONS)
