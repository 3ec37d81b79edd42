"""The canary's in-cluster numbers: per-arm traffic from the model servers' metrics
(scraped directly, or through the tenant Prometheus' HTTP API), accuracy per version
from labelled feedback, joined into the analysis' observations."""

from __future__ import annotations

import json
import pathlib
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from contracts.telemetry import LATENCY_HISTOGRAM, REQUESTS_COUNTER
from workloads.common.objectstore import FileStore
from workloads.rollout.canary import CanaryPolicy, decide
from workloads.rollout.observations import (
    CanaryObservations,
    ObservationError,
    PrometheusReader,
    ScrapeReader,
    feedback_counts,
)
from workloads.serving.metrics import LATENCY_BUCKETS


class Arm:
    """A model server's request metrics (the same names and buckets), served on HTTP."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            REQUESTS_COUNTER, "r", ["model", "protocol", "status"], registry=self.registry
        )
        self.latency = Histogram(
            LATENCY_HISTOGRAM, "l", ["model", "protocol"], buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        server, thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.server, self.thread = server, thread
        self.url = f"http://127.0.0.1:{server.server_address[1]}/metrics"

    def serve(self, n: int, seconds: float, status: str = "200") -> None:
        for _ in range(n):
            self.requests.labels("churn", "v2", status).inc()
            self.latency.labels("churn", "v2").observe(seconds)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def arms() -> Iterator[tuple[Arm, Arm]]:
    champion, challenger = Arm(), Arm()
    yield champion, challenger
    champion.close()
    challenger.close()


def _feedback(store: FileStore, version: str, n: int, correct: int, ts: float = 10.0) -> None:
    lines = [
        {"ts": ts, "model_version": version, "score": 0.9, "label": 1 if i < correct else 0}
        for i in range(n)
    ]
    store.put(f"churn/{version}-{ts}.jsonl", "\n".join(map(json.dumps, lines)).encode())


def test_scraped_counts_start_at_the_first_read(arms: tuple[Arm, Arm]) -> None:
    champion, challenger = arms
    champion.serve(1000, 0.003)  # before the canary: not counted
    reader = ScrapeReader({"churn-champion": champion.url, "churn-challenger": challenger.url})
    assert reader.arms("churn", 0)["churn-champion"].requests == 0
    champion.serve(600, 0.003)
    champion.serve(4, 0.003, status="503")
    challenger.serve(500, 0.04)
    counts = reader.arms("churn", 0)
    assert counts["churn-champion"].requests == 604 and counts["churn-champion"].errors == 4
    assert counts["churn-challenger"].requests == 500
    slow, fast = counts["churn-challenger"].latency_ms(), counts["churn-champion"].latency_ms()
    assert len(slow) == 500 and min(slow) > 25.0 and max(slow) < 50.0  # the (25, 50] ms bucket
    assert len(fast) == 604 and min(fast) > 2.0 and max(fast) < 5.0


def test_feedback_counts_per_version_since_the_canary(tmp_path: pathlib.Path) -> None:
    store = FileStore(tmp_path)
    _feedback(store, "1", 300, 200, ts=1.0)  # before the canary started
    _feedback(store, "1", 400, 320)
    _feedback(store, "rt-1", 400, 360)
    store.put("churn/junk.jsonl", b'not json\n{"model_version": "1", "label": 1}\n')
    assert feedback_counts(store, "churn", since=5.0) == {"1": (400, 320), "rt-1": (400, 360)}
    assert feedback_counts(store, "churn")["1"] == (700, 520)


@pytest.mark.parametrize(("correct", "action"), [(380, "promote"), (240, "rollback")])
def test_observations_decide_on_accuracy(
    arms: tuple[Arm, Arm], tmp_path: pathlib.Path, correct: int, action: str
) -> None:
    champion, challenger = arms
    store = FileStore(tmp_path)
    observe = CanaryObservations(
        ScrapeReader({"churn-champion": champion.url, "churn-challenger": challenger.url}),
        store,
        lambda model: ("1", "rt-1", 5.0),
    )
    assert observe("churn") is None  # no traffic yet
    champion.serve(3000, 0.003)
    challenger.serve(3000, 0.003)
    _feedback(store, "1", 400, 320)
    _feedback(store, "rt-1", 400, correct)
    observed = observe("churn")
    assert observed is not None
    assert (observed[0].labelled, observed[1].correct) == (400, correct)
    decision = decide(*observed, CanaryPolicy(min_requests=500, min_labelled=200))
    assert decision.action.value == action, decision.reasons


def test_an_unreachable_server_is_one_error(arms: tuple[Arm, Arm]) -> None:
    reader = ScrapeReader({"churn-champion": "http://127.0.0.1:9/metrics"}, timeout=1)
    with pytest.raises(ObservationError, match="cannot read metrics"):
        reader.arms("churn", 0)


class _Prometheus(ThreadingHTTPServer):
    """A loopback stand-in for the Prometheus HTTP API (instant vector queries)."""

    queries: list[str]


def test_prometheus_reader_asks_for_the_canary_window_of_both_arms() -> None:
    results: dict[str, list[dict[str, Any]]] = {
        "requests": [
            {"metric": {"inferenceservice": "churn-champion", "status": "200"}, "value": [0, "900"]},
            {"metric": {"inferenceservice": "churn-champion", "status": "500"}, "value": [0, "9"]},
            {"metric": {"inferenceservice": "churn-challenger", "status": "200"}, "value": [0, "100"]},
        ],
        "bucket": [
            {"metric": {"inferenceservice": "churn-challenger", "le": "0.01"}, "value": [0, "60"]},
            {"metric": {"inferenceservice": "churn-challenger", "le": "+Inf"}, "value": [0, "100"]},
        ],
    }  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["query"][0]
            server.queries.append(query)
            kind = "bucket" if "_bucket" in query else "requests"
            body = json.dumps(
                {"status": "success", "data": {"resultType": "vector", "result": results[kind]}}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = _Prometheus(("127.0.0.1", 0), Handler)
    server.queries = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        reader = PrometheusReader(
            f"http://127.0.0.1:{server.server_address[1]}", "tenant-a", clock=lambda: 1000.0
        )
        arms = reader.arms("churn", since=400.0)
    finally:
        server.shutdown()
        server.server_close()
    assert all('namespace="tenant-a"' in q and "[600s]" in q for q in server.queries)
    assert all('inferenceservice=~"churn-champion|churn-challenger"' in q for q in server.queries)
    assert (arms["churn-champion"].requests, arms["churn-champion"].errors) == (909, 9)
    latency = arms["churn-challenger"].latency_ms()
    assert len([v for v in latency if 0 < v < 10.0]) == 60
    assert latency.count(20.0) == 40  # +Inf: twice the largest bound (0.01 s)
