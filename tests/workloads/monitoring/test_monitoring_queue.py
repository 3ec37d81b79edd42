"""Queues honour visibility timeouts and receipts; the handler acts once per trigger key."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from workloads.monitoring.drift import compute_drift
from workloads.monitoring.queues import FileQueue, InMemoryQueue, SqsQueue, TriggerQueue
from workloads.monitoring.reference import build_reference
from workloads.monitoring.trigger import (
    FileDedupeStore,
    InMemoryDedupeStore,
    RetrainingHandler,
    emit_retraining_trigger,
)


class Clock:
    """A settable clock so visibility timeouts need no sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _contract(queue: TriggerQueue, clock: Clock | None) -> None:
    first = queue.send({"n": 1})
    queue.send({"n": 2})
    got = queue.receive(max_messages=1, visibility_timeout=30)
    assert [m.body for m in got] == [{"n": 1}]
    assert got[0].id == first
    assert got[0].receive_count == 1
    # Leased: the next receive gets only the other message.
    second = queue.receive(max_messages=5, visibility_timeout=30)
    assert [m.body for m in second] == [{"n": 2}]
    assert queue.receive(max_messages=5, visibility_timeout=30) == []
    assert queue.ack(second[0].receipt)
    if clock is not None:
        clock.now += 31  # not acknowledged in time: delivered again
        again = queue.receive(max_messages=5, visibility_timeout=30)
        assert [m.body for m in again] == [{"n": 1}]
        assert again[0].receive_count == 2
        assert not queue.ack(got[0].receipt)  # the old receipt is stale
        assert queue.ack(again[0].receipt)
        assert queue.receive(max_messages=5) == []


def test_in_memory_queue_contract() -> None:
    clock = Clock()
    _contract(InMemoryQueue(clock=clock), clock)


def test_file_queue_contract_and_persistence(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    _contract(FileQueue(tmp_path / "q", clock=clock), clock)
    FileQueue(tmp_path / "q2").send({"kept": True})
    reopened = FileQueue(tmp_path / "q2")
    assert [m.body for m in reopened.receive()] == [{"kept": True}]
    assert not reopened.ack("../../etc:x")


@pytest.fixture(scope="module")
def sqs_client() -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield boto3.client(
            "sqs",
            region_name="me-central-1",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()


def test_sqs_queue_against_moto(sqs_client: Any) -> None:
    url = sqs_client.create_queue(QueueName="triggers")["QueueUrl"]
    queue = SqsQueue(sqs_client, url)
    # Visibility expiry is real time in moto; check delivery, lease and ack here.
    queue.send({"n": 1})
    got = queue.receive(max_messages=10, visibility_timeout=30)
    assert [m.body for m in got] == [{"n": 1}]
    assert got[0].receive_count == 1
    assert queue.receive(max_messages=10, visibility_timeout=30) == []
    assert queue.ack(got[0].receipt)
    # A zero visibility timeout makes it visible at once: at-least-once redelivery.
    queue.send({"n": 2})
    one = queue.receive(visibility_timeout=0)
    two = queue.receive(visibility_timeout=30)
    assert one[0].id == two[0].id
    assert two[0].receive_count == 2
    assert queue.ack(two[0].receipt)


def test_sqs_fifo_deduplicates_on_trigger_key(sqs_client: Any) -> None:
    url = sqs_client.create_queue(QueueName="triggers.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    queue = SqsQueue(sqs_client, url)
    body = {"type": "retraining-trigger", "dedupe_key": "ab" * 16, "model": "m"}
    queue.send(body)
    queue.send(body)
    got = queue.receive(max_messages=10)
    assert len(got) == 1


def _firing_report() -> Any:
    rng = np.random.default_rng(0)
    ref = build_reference(pd.DataFrame({"x": rng.normal(size=5_000)}), ["x"])
    return compute_drift(
        {"x": rng.normal(2.0, 1.0, 2_000)}, ref, model="fraud", window_start=0, window_end=60
    )


@pytest.mark.parametrize("store_kind", ["memory", "file"])
def test_redelivered_trigger_starts_one_retraining(tmp_path: pathlib.Path, store_kind: str) -> None:
    clock = Clock()
    queue = InMemoryQueue(clock=clock)
    report = _firing_report()
    assert report.triggered
    # The monitor resends after a crash: two messages with the same key.
    emit_retraining_trigger(report, queue, model_version="3")
    emit_retraining_trigger(report, queue, model_version="3")
    started: list[dict[str, Any]] = []
    store = InMemoryDedupeStore() if store_kind == "memory" else FileDedupeStore(tmp_path / "d")
    handler = RetrainingHandler(queue, started.append, store, visibility_timeout=10)
    outcomes = [h.outcome for h in handler.poll_once()]
    assert outcomes == ["started", "duplicate"]
    assert len(started) == 1
    assert started[0]["drifted_features"] == ["x"]
    assert started[0]["model_version"] == "3"
    assert len(queue) == 0


def test_failed_action_is_retried_after_visibility_timeout() -> None:
    clock = Clock()
    queue = InMemoryQueue(clock=clock)
    emit_retraining_trigger(_firing_report(), queue)
    calls: list[str] = []

    def flaky(body: dict[str, Any]) -> None:
        calls.append(body["dedupe_key"])
        if len(calls) == 1:
            raise RuntimeError("cluster busy")

    handler = RetrainingHandler(queue, flaky, InMemoryDedupeStore(), visibility_timeout=10)
    first = handler.poll_once()
    assert [h.outcome for h in first] == ["failed"]
    assert "cluster busy" in first[0].detail
    assert handler.poll_once() == []  # still invisible
    clock.now += 11
    assert [h.outcome for h in handler.poll_once()] == ["started"]
    assert len(calls) == 2
    assert len(queue) == 0


def test_non_trigger_message_is_rejected_not_looped() -> None:
    queue = InMemoryQueue()
    queue.send({"type": "something-else"})
    queue.send({"type": "retraining-trigger", "dedupe_key": "../../x"})
    handler = RetrainingHandler(queue, lambda body: None, InMemoryDedupeStore())
    assert [h.outcome for h in handler.poll_once()] == ["rejected", "rejected"]
    assert len(queue) == 0


def test_quiet_report_emits_nothing() -> None:
    rng = np.random.default_rng(0)
    ref = build_reference(pd.DataFrame({"x": rng.normal(size=5_000)}), ["x"])
    report = compute_drift({"x": rng.normal(size=2_000)}, ref)
    queue = InMemoryQueue()
    assert emit_retraining_trigger(report, queue) is None
    assert len(queue) == 0
