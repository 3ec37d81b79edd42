"""Queues honour visibility timeouts and receipts; the handler acts once per trigger key.

The delivery contract and the handler tests run against every backend: in memory, files,
and NATS JetStream (a real ``nats-server -js`` on 127.0.0.1, started per module). The
in-process backends take a settable clock; the broker's leases run on real time, so its
visibility timeout is short and the tests wait it out.
"""

from __future__ import annotations

import itertools
import pathlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import nats.errors
import numpy as np
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from contracts.messaging import (
    NATS_PASSWORD_FILE_ENV,
    NATS_USER_FILE_ENV,
    RETRAINING,
    consumer_name,
    inbox_prefix,
    nats_queue_spec,
    server_accounts,
    stream_name,
    subject,
    tenant_user,
)
from tests.natsserver import running_nats
from workloads.monitoring.drift import compute_drift
from workloads.monitoring.queues import (
    FileQueue,
    InMemoryQueue,
    NatsQueue,
    SqsQueue,
    TriggerQueue,
    open_queue,
)
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


@dataclass
class Backend:
    """A queue under test, its lease length, and how to let leases run out."""

    queue: TriggerQueue
    visibility: float
    expire: Callable[[], None]
    dedupes_on_send: bool = False
    """True when the queue itself drops a resend of the same ``dedupe_key`` (JetStream)."""


BACKENDS = ["memory", "file", "nats"]
NATS_VISIBILITY = 2.5
"""Seconds of a broker lease in these tests: long enough not to end between two calls on a
busy machine, short enough to wait out."""
NATS_WAIT = 0.4
"""How long an empty receive waits (a long poll, well inside the lease)."""
_names = itertools.count()


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_nats(tmp_path_factory.mktemp("nats")) as url:
        yield url


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Backend]:
    kind = request.param
    if kind == "nats":
        url = request.getfixturevalue("nats_url")
        tenant = f"t{next(_names)}-{uuid.uuid4().hex[:6]}"
        spec = nats_queue_spec(url, tenant)
        opened = open_queue(spec)
        assert isinstance(opened, NatsQueue)
        opened.close()
        queue = NatsQueue.from_spec(spec.removeprefix("nats:"), env={}, wait_seconds=NATS_WAIT)
        try:
            yield Backend(queue, NATS_VISIBILITY, lambda: time.sleep(NATS_VISIBILITY + 0.3), True)
        finally:
            queue.close()
        return
    clock = Clock()

    def advance() -> None:
        clock.now += 31

    if kind == "memory":
        yield Backend(InMemoryQueue(clock=clock), 30, advance)
    else:
        yield Backend(FileQueue(tmp_path / "q", clock=clock), 30, advance)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_queue_delivery_contract(backend: Backend) -> None:
    queue, vt = backend.queue, backend.visibility
    first = queue.send({"n": 1})
    queue.send({"n": 2})
    got = queue.receive(max_messages=1, visibility_timeout=vt)
    assert [m.body for m in got] == [{"n": 1}]
    assert got[0].id == first
    assert got[0].receive_count == 1
    # Leased: the next receive gets only the other message.
    second = queue.receive(max_messages=5, visibility_timeout=vt)
    assert [m.body for m in second] == [{"n": 2}]
    assert queue.receive(max_messages=5, visibility_timeout=vt) == []
    assert queue.ack(second[0].receipt)
    backend.expire()  # not acknowledged in time: delivered again
    again = queue.receive(max_messages=5, visibility_timeout=vt)
    assert [m.body for m in again] == [{"n": 1}]
    assert again[0].id == first
    assert again[0].receive_count == 2
    assert not queue.ack(got[0].receipt)  # the old receipt is stale
    assert queue.ack(again[0].receipt)
    assert queue.receive(max_messages=5) == []
    assert len(queue) == 0  # type: ignore[arg-type]


def test_file_queue_persistence(tmp_path: pathlib.Path) -> None:
    FileQueue(tmp_path / "q2").send({"kept": True})
    reopened = FileQueue(tmp_path / "q2")
    assert [m.body for m in reopened.receive()] == [{"kept": True}]
    assert not reopened.ack("../../etc:x")


def test_nats_queue_survives_reconnect_and_rejects_forged_receipts(nats_url: str) -> None:
    spec = nats_queue_spec(nats_url, f"p{uuid.uuid4().hex[:8]}")
    writer = open_queue(spec)
    msg_id = writer.send({"kept": True})
    writer.close()  # type: ignore[attr-defined]
    reader = open_queue(spec)  # another process in practice: the stream is durable
    try:
        got = reader.receive(max_messages=10, visibility_timeout=30)
        assert [(m.id, m.body) for m in got] == [(msg_id, {"kept": True})]
        assert not reader.ack("$JS.ACK.OTHER_STREAM.x.1.1.1.1.0 99999999999999999999")
        assert not reader.ack("not a receipt")
        assert reader.ack(got[0].receipt)
    finally:
        reader.close()  # type: ignore[attr-defined]


def test_nats_queue_spec_carries_the_stream_replicas() -> None:
    spec = nats_queue_spec("tls://nats.example:4222", "acme", replicas=3)
    assert spec.endswith("?consumer=acme-retraining-workers&replicas=3")
    queue = NatsQueue.from_spec(spec.removeprefix("nats:"), env={})
    try:
        assert (queue.stream, queue.subject, queue.replicas) == (
            "ACME_RETRAINING",
            "acme.retraining",
            3,
        )
    finally:
        queue.close()
    with pytest.raises(ValueError, match="replicas must be 1-5"):
        open_queue(spec.replace("replicas=3", "replicas=9"))


def test_nats_queue_spec_errors_name_the_format() -> None:
    with pytest.raises(ValueError, match="nats://host:port/STREAM/subject"):
        open_queue("nats:nats://127.0.0.1:4222/only-a-stream")
    with pytest.raises(ValueError, match="expected 'file:<directory>'"):
        open_queue("amqp://somewhere")


def test_nats_tenant_accounts_isolate_tenants(tmp_path: pathlib.Path) -> None:
    """Under the accounts the cluster's broker gets, a tenant's user works its own queue
    and cannot see another tenant's or create a stream that is not its own."""
    accounts = server_accounts({"acme": "pw-acme", "beta": "pw-beta"}, max_file_bytes=1 << 26)
    # acme's credentials as the pod gets them: files of the mounted Secret (a trailing
    # newline, as `kubectl create secret --from-file` often leaves one), named by env.
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "user").write_text(tenant_user("acme") + "\n")
    (secret_dir / "password").write_text("pw-acme\n")
    with running_nats(tmp_path / "nats", accounts=accounts) as url:
        spec = nats_queue_spec(url, "acme")
        acme = NatsQueue.from_spec(
            spec.removeprefix("nats:"),
            env={
                NATS_USER_FILE_ENV: str(secret_dir / "user"),
                NATS_PASSWORD_FILE_ENV: str(secret_dir / "password"),
                # The files win over plain variables (left over from a local run).
                "NATS_PASSWORD": "not-the-password",
                "NATS_INBOX_PREFIX": inbox_prefix("acme"),
            },
        )
        beta_env = {
            "NATS_USER": tenant_user("beta"),
            "NATS_PASSWORD": "pw-beta",
            "NATS_INBOX_PREFIX": inbox_prefix("beta"),
        }
        # beta's user, pointed at acme's stream and subject: not allowed to create it or
        # publish there, and the stream does not exist in beta's account.
        intruder = NatsQueue(
            url,
            stream_name("acme", RETRAINING),
            subject("acme", RETRAINING),
            consumer_name("acme", RETRAINING),
            user=beta_env["NATS_USER"],
            password=beta_env["NATS_PASSWORD"],
            inbox_prefix=beta_env["NATS_INBOX_PREFIX"],
            timeout=2.0,
        )
        try:
            # The broker enforces the accounts: this works only with the files' user and
            # password (the plain NATS_PASSWORD above is wrong).
            acme.send({"n": 1})
            # The server drops the denied API request; the client sees no answer.
            with pytest.raises(nats.errors.Error):
                intruder.receive(max_messages=10, visibility_timeout=5)
            got = acme.receive(max_messages=10, visibility_timeout=5)
            assert [m.body for m in got] == [{"n": 1}]
            assert acme.ack(got[0].receipt)
        finally:
            acme.close()
            intruder.close()


@pytest.mark.parametrize("variable", ["NATS_USER_FILE", "NATS_PASSWORD_FILE"])
def test_nats_credential_file_that_cannot_be_read_is_a_one_line_error(
    tmp_path: pathlib.Path, variable: str
) -> None:
    (tmp_path / "user").write_text("acme-workloads\n")
    (tmp_path / "password").write_text("pw\n")
    env = {NATS_USER_FILE_ENV: str(tmp_path / "user"),
           NATS_PASSWORD_FILE_ENV: str(tmp_path / "password")}  # fmt: skip
    env[variable] = str(tmp_path / "missing")
    spec = nats_queue_spec("nats://127.0.0.1:4222", "acme").removeprefix("nats:")
    with pytest.raises(ValueError, match=f"^{variable}=") as err:
        NatsQueue.from_spec(spec, env=env)
    message = str(err.value)
    assert message == f"{variable}={tmp_path / 'missing'}: cannot read: No such file or directory"
    (tmp_path / "missing").write_text("\n")
    with pytest.raises(ValueError, match=f"^{variable}=.*: the file is empty$"):
        NatsQueue.from_spec(spec, env=env)


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


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("store_kind", ["memory", "file"])
def test_redelivered_trigger_starts_one_retraining(
    tmp_path: pathlib.Path, store_kind: str, backend: Backend
) -> None:
    queue = backend.queue
    report = _firing_report()
    assert report.triggered
    # The monitor resends after a crash: two messages with the same key.
    emit_retraining_trigger(report, queue, model_version="3")
    emit_retraining_trigger(report, queue, model_version="3")
    started: list[dict[str, Any]] = []
    store = InMemoryDedupeStore() if store_kind == "memory" else FileDedupeStore(tmp_path / "d")
    handler = RetrainingHandler(queue, started.append, store, visibility_timeout=backend.visibility)
    outcomes = [h.outcome for h in handler.poll_once()]
    # A broker that dedupes on the key drops the resend itself; otherwise the handler does.
    assert outcomes == (["started"] if backend.dedupes_on_send else ["started", "duplicate"])
    assert len(started) == 1
    assert started[0]["drifted_features"] == ["x"]
    assert started[0]["model_version"] == "3"
    assert len(queue) == 0  # type: ignore[arg-type]


class LosesFirstAck:
    """The consumer dies after acting, before its acknowledgement reaches the queue."""

    def __init__(self, queue: TriggerQueue) -> None:
        self.queue = queue
        self.lost = False

    def send(self, body: dict[str, Any]) -> str:
        return self.queue.send(body)

    def receive(self, max_messages: int = 1, visibility_timeout: float = 60.0) -> list[Any]:
        return self.queue.receive(max_messages, visibility_timeout)

    def ack(self, receipt: str) -> bool:
        if not self.lost:
            self.lost = True
            return False
        return self.queue.ack(receipt)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_redelivery_after_the_action_ran_starts_nothing(backend: Backend) -> None:
    queue = LosesFirstAck(backend.queue)
    emit_retraining_trigger(_firing_report(), queue)
    started: list[dict[str, Any]] = []
    handler = RetrainingHandler(
        queue, started.append, InMemoryDedupeStore(), visibility_timeout=backend.visibility
    )
    assert [h.outcome for h in handler.poll_once()] == ["started"]
    backend.expire()
    assert [h.outcome for h in handler.poll_once()] == ["duplicate"]
    assert len(started) == 1
    assert len(backend.queue) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_failed_action_is_retried_after_visibility_timeout(backend: Backend) -> None:
    queue = backend.queue
    emit_retraining_trigger(_firing_report(), queue)
    calls: list[str] = []

    def flaky(body: dict[str, Any]) -> None:
        calls.append(body["dedupe_key"])
        if len(calls) == 1:
            raise RuntimeError("cluster busy")

    handler = RetrainingHandler(
        queue, flaky, InMemoryDedupeStore(), visibility_timeout=backend.visibility
    )
    first = handler.poll_once()
    assert [h.outcome for h in first] == ["failed"]
    assert "cluster busy" in first[0].detail
    assert handler.poll_once() == []  # still invisible
    backend.expire()
    assert [h.outcome for h in handler.poll_once()] == ["started"]
    assert len(calls) == 2
    assert len(queue) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_non_trigger_message_is_rejected_not_looped(backend: Backend) -> None:
    queue = backend.queue
    queue.send({"type": "something-else"})
    queue.send({"type": "retraining-trigger", "dedupe_key": "../../x"})
    handler = RetrainingHandler(queue, lambda body: None, InMemoryDedupeStore())
    assert [h.outcome for h in handler.poll_once()] == ["rejected", "rejected"]
    assert len(queue) == 0  # type: ignore[arg-type]


def test_quiet_report_emits_nothing() -> None:
    rng = np.random.default_rng(0)
    ref = build_reference(pd.DataFrame({"x": rng.normal(size=5_000)}), ["x"])
    report = compute_drift({"x": rng.normal(size=2_000)}, ref)
    queue = InMemoryQueue()
    assert emit_retraining_trigger(report, queue) is None
    assert len(queue) == 0
