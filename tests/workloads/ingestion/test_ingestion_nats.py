"""On-prem dead letters: the tenant's dead-letter stream on a real ``nats-server -js``.

The broker runs on 127.0.0.1 with the per-tenant accounts and permissions the cluster
gets (:func:`contracts.messaging.server_accounts`). The worker consumes the tenant's
ingestion stream and files rejected events, and messages that keep failing, in the
tenant's dead-letter stream, which it creates (limits retention, the tenant's
dead-letter age); other tenants cannot read it, and the tenant itself cannot take
letters out of it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest

from contracts.ingestion import MAX_DELIVERIES
from contracts.messaging import (
    DEAD_LETTERS,
    INGESTION,
    inbox_prefix,
    nats_dead_letter_spec,
    nats_queue_spec,
    server_accounts,
    stream_name,
    subject,
    tenant_user,
)
from tests.natsserver import running_nats
from workloads.common.objectstore import FileStore
from workloads.ingestion.events import malformed_events, valid_events
from workloads.ingestion.offline import PartitionedOfflineStore, read_view
from workloads.ingestion.queues import (
    IngestNatsQueue,
    NatsDeadLetters,
    open_ingest_queue,
)
from workloads.ingestion.schema import Event, ViewSchema
from workloads.ingestion.worker import IngestionWorker

START = datetime(2026, 3, 1, tzinfo=UTC)
TENANTS = {"acme": "acme-secret-1", "beta": "beta-secret-2", "gamma": "gamma-secret-3"}
DEAD_LETTER_DAYS = 14
QUEUE_DAYS = 4
LEASE = 2.0
"""Seconds a delivery is leased in the poison test (outlasts a poll on a busy machine)."""
DENIED = (nats.errors.TimeoutError, nats.errors.NoRespondersError)
"""What a request the broker's permissions refuse looks like to a client: no reply."""


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    accounts = server_accounts(TENANTS, max_file_bytes=64 << 20)
    with running_nats(tmp_path_factory.mktemp("nats-ingest"), accounts=accounts) as url:
        yield url


@pytest.fixture(scope="module")
def schemas(feature_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Schemas:
    import pandas as pd
    from feast import FeatureStore

    from contracts.feature_store import FEATURE_VIEWS
    from workloads.ingestion.schema import schemas_from_store

    path = tmp_path_factory.mktemp("ingest-nats") / "repo"
    shutil.copytree(feature_repo, path)
    store = FeatureStore(repo_path=str(path))
    labels = pd.read_parquet(path / "data" / "churn_labels.parquet")
    customers = sorted(set(labels["customer_id"].tolist()))[:40]
    return Schemas(schemas_from_store(store, FEATURE_VIEWS), customers)


@dataclass
class Schemas:
    """The feature views' schemas and some known customers."""

    views: dict[str, ViewSchema]
    entities: list[int]


def _as(monkeypatch: pytest.MonkeyPatch, tenant: str) -> None:
    """The environment a tenant's pod gets (plain variables instead of mounted files)."""
    monkeypatch.setenv("NATS_USER", tenant_user(tenant))
    monkeypatch.setenv("NATS_PASSWORD", TENANTS[tenant])
    monkeypatch.setenv("NATS_INBOX_PREFIX", inbox_prefix(tenant))
    for name in ("NATS_USER_FILE", "NATS_PASSWORD_FILE", "NATS_CA_FILE"):
        monkeypatch.delenv(name, raising=False)


def _open(broker: str, tenant: str) -> tuple[IngestNatsQueue, NatsDeadLetters]:
    queue = open_ingest_queue(nats_queue_spec(broker, tenant, INGESTION, max_age_days=QUEUE_DAYS))
    dlq = open_ingest_queue(nats_dead_letter_spec(broker, tenant, max_age_days=DEAD_LETTER_DAYS))
    assert isinstance(queue, IngestNatsQueue) and isinstance(dlq, NatsDeadLetters)
    queue.wait_seconds = 0.3  # a short pull: the leases below last a few seconds
    return queue, dlq


async def _request(broker: str, tenant: str, api: str) -> dict[str, Any]:
    """One JetStream API request as ``tenant``'s user (its JSON reply)."""
    nc = await nats.connect(
        broker,
        user=tenant_user(tenant),
        password=TENANTS[tenant],
        inbox_prefix=inbox_prefix(tenant),
        max_reconnect_attempts=0,
    )
    try:
        reply = await nc.request(api, b"", timeout=5)
        return dict(json.loads(reply.data))
    finally:
        await nc.close()


async def _refused(broker: str, tenant: str, subject_: str, *, subscribe: bool = False) -> bool:
    """Whether the broker refuses ``tenant``'s user a request to (or a subscription on)
    ``subject_``: it answers a permissions violation naming the subject, and no reply."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    nc = await nats.connect(
        broker,
        user=tenant_user(tenant),
        password=TENANTS[tenant],
        inbox_prefix=inbox_prefix(tenant),
        max_reconnect_attempts=0,
        error_cb=on_error,
    )
    answered = False
    try:
        if subscribe:
            await nc.subscribe(subject_)
            await nc.flush(timeout=2)
            await asyncio.sleep(0.3)
        else:
            try:
                await nc.request(subject_, b'{"seq": 1}', timeout=0.8)
                answered = True
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                pass
    finally:
        await nc.close()
    kind = "subscription to" if subscribe else "publish to"
    wanted = f'permissions violation for {kind} "{subject_.lower()}"'
    return not answered and any(wanted in e for e in errors)


def test_malformed_events_become_letters_in_the_tenant_dead_letter_stream(
    broker: str, schemas: Schemas, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "acme")
    queue, dlq = _open(broker, "acme")
    try:
        good = valid_events(schemas.views, schemas.entities, 30, start=START, prefix="n")
        bad = malformed_events(schemas.views, schemas.entities[0], start=START)
        assert queue.send_many([*good[:15], *(b for b, _ in bad), *good[15:]]) == 30 + len(bad)
        offline = PartitionedOfflineStore(FileStore(tmp_path / "offline"))
        worker = IngestionWorker(schemas.views, offline, None, dlq)
        counts = worker.drain(queue, batch_size=20)

        assert (counts.received, counts.accepted, counts.rejected) == (30 + len(bad), 30, len(bad))
        assert counts.balanced and queue.depth() == 0
        letters = dlq.letters()
        assert dlq.depth() == len(letters) == len(bad)
        assert sorted(letter["reason"].split(":")[0] for letter in letters) == sorted(
            reason.split(":")[0] for _, reason in bad
        )
        assert all(letter["source"] == "queue" and letter["message_id"] for letter in letters)
        # The worker created the stream: limits retention, the tenant's dead-letter age.
        info = asyncio.run(
            _request(broker, "acme", f"$JS.API.STREAM.INFO.{stream_name('acme', DEAD_LETTERS)}")
        )
        config = info["config"]
        assert config["retention"] == "limits" and config["discard"] == "new"
        assert config["max_age"] == DEAD_LETTER_DAYS * 86400 * 10**9  # nanoseconds
        assert config["subjects"] == [subject("acme", DEAD_LETTERS)]
        # The queue's stream: a work queue whose messages expire with the queue retention.
        queue_stream = asyncio.run(
            _request(broker, "acme", f"$JS.API.STREAM.INFO.{stream_name('acme', INGESTION)}")
        )["config"]
        assert queue_stream["retention"] == "workqueue"
        assert queue_stream["max_age"] == QUEUE_DAYS * 86400 * 10**9
        # A batch filed again (a retry after a failure) does not duplicate its letters.
        dlq.send_many(letters)
        assert dlq.depth() == len(bad)
    finally:
        queue.close()
        dlq.close()


class PoisonedOnline:
    """An online store that always fails on one customer's rows (a poison message)."""

    def __init__(self, poison: int) -> None:
        self.poison = poison
        self.rows = 0

    def write(self, schema: ViewSchema, events: Sequence[Event]) -> int:
        if any(e.entity == self.poison for e in events):
            raise ValueError(f"row of customer {self.poison} rejected by the online store")
        self.rows += len(events)
        return len(events)


def test_a_message_that_keeps_failing_is_dead_lettered_after_max_deliveries(
    broker: str, schemas: Schemas, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "gamma")
    queue, dlq = _open(broker, "gamma")
    poison = schemas.entities[-1]
    others = [e for e in schemas.entities if e != poison]
    good = valid_events(schemas.views, others, 12, start=START, prefix="g")
    bad = {**valid_events(schemas.views, [poison], 1, start=START, prefix="p")[0]}
    try:
        queue.send_many([*good[:6], bad, *good[6:]])
        offline = PartitionedOfflineStore(FileStore(tmp_path / "offline"))
        online = PoisonedOnline(poison)
        worker = IngestionWorker(schemas.views, offline, online, dlq, max_deliveries=3)
        failures: list[str] = []
        deadline = time.monotonic() + 40
        while queue.depth() and time.monotonic() < deadline:
            try:
                worker.poll(queue, batch_size=20, visibility_timeout=LEASE)
            except ValueError as exc:
                failures.append(str(exc))
                time.sleep(LEASE + 0.2)  # the lease ends; the broker delivers it again
        # Delivered three times: two failures re-raised, the third filed as a letter.
        assert len(failures) == 2 and queue.depth() == 0
        assert all("rejected by the online store" in failure for failure in failures)
        totals = worker.totals
        assert (totals.received, totals.accepted, totals.rejected) == (13, 12, 1)
        assert totals.balanced and online.rows == 12
        assert sum(len(read_view(offline.store, v)) for v in schemas.views) >= 12
        (letter,) = dlq.letters()
        assert letter["event_id"] is None and letter["body"]["event_id"] == bad["event_id"]
        assert letter["reason"].startswith("delivery: failed 3 deliveries (at most 3)")
        assert "ValueError" in letter["reason"] and str(poison) in letter["reason"]
    finally:
        queue.close()
        dlq.close()


def test_the_default_gives_up_on_the_deliveries_sqs_would(tmp_path: Path) -> None:
    worker = IngestionWorker({}, PartitionedOfflineStore(FileStore(tmp_path)), None, None)  # type: ignore[arg-type]
    assert worker.max_deliveries == MAX_DELIVERIES == 5
    with pytest.raises(ValueError, match="max_deliveries must be >= 1"):
        IngestionWorker({}, worker.offline, None, None, max_deliveries=0)  # type: ignore[arg-type]


def test_only_the_tenant_reads_its_dead_letters_and_nobody_takes_them_out(
    broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "acme")
    acme_dlq = stream_name("acme", DEAD_LETTERS)
    dlq = open_ingest_queue(nats_dead_letter_spec(broker, "acme", max_age_days=DEAD_LETTER_DAYS))
    assert isinstance(dlq, NatsDeadLetters)
    try:
        dlq.send({"reason": "features: probe", "message_id": f"probe-{time.time_ns()}"})
        assert any(letter["reason"] == "features: probe" for letter in dlq.letters())
    finally:
        dlq.close()
    # The tenant itself may not delete, purge or consume its letters; another tenant may
    # not read them (the stream, a message of it, its subject).
    checks = [
        *(
            ("acme", f"$JS.API.{api}.{acme_dlq}", False)
            for api in (
                "STREAM.PURGE",
                "STREAM.DELETE",
                "STREAM.MSG.DELETE",
                "STREAM.UPDATE",
                "CONSUMER.CREATE",
                "CONSUMER.DURABLE.CREATE",
            )
        ),
        ("beta", f"$JS.API.STREAM.INFO.{acme_dlq}", False),
        ("beta", f"$JS.API.STREAM.MSG.GET.{acme_dlq}", False),
        ("beta", subject("acme", DEAD_LETTERS), True),
    ]

    async def all_refused() -> list[bool]:
        return await asyncio.gather(
            *(_refused(broker, who, what, subscribe=sub) for who, what, sub in checks)
        )

    assert dict(zip(checks, asyncio.run(all_refused()), strict=True)) == dict.fromkeys(checks, True)
    # Nor through the worker's own client with another tenant's credentials.
    spy = NatsDeadLetters(
        broker,
        acme_dlq,
        subject("acme", DEAD_LETTERS),
        max_age_days=DEAD_LETTER_DAYS,
        user=tenant_user("beta"),
        password=TENANTS["beta"],
        inbox_prefix=inbox_prefix("beta"),
        timeout=1.0,
    )
    try:
        with pytest.raises(DENIED):
            spy.letters()
    finally:
        spy.close()


def test_swapped_broker_queue_and_dead_letter_specs_are_usage_errors(
    feature_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workloads.ingestion.__main__ import main

    queue = nats_queue_spec("nats://127.0.0.1:4222", "acme", INGESTION)
    dead = nats_dead_letter_spec("nats://127.0.0.1:4222", "acme", max_age_days=14)
    common = [f"--repo={feature_repo}", "--offline_uri=unused", "--once"]
    assert main([*common, f"--queue={dead}", f"--dlq={dead}"]) == 2
    assert "a broker queue needs '?consumer=NAME'" in capsys.readouterr().err
    assert main([*common, f"--queue={queue}", f"--dlq={queue}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --dlq nats:") and "stream without a consumer" in err
    assert len(err.strip().splitlines()) == 1
