"""Ingestion: moto's SQS server on 127.0.0.1 -> validation -> partitioned parquet + Feast
online store, dead letters with reasons, counts that balance, idempotent redelivery."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from contracts.feature_store import ACTIVITY_VIEW, FEATURE_VIEWS, PROFILE_VIEW
from workloads.common.objectstore import FileStore, S3Store
from workloads.features.repo import view_path
from workloads.ingestion.events import malformed_events, valid_events
from workloads.ingestion.offline import PartitionedOfflineStore, partition_keys, read_view
from workloads.ingestion.queues import IngestFileQueue, IngestSqsQueue
from workloads.ingestion.schema import Event, Rejection, ViewSchema, validate_event
from workloads.ingestion.worker import Counts, FeastOnlineWriter, IngestionWorker

REGION = "me-central-1"
START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server on 127.0.0.1 (SQS, S3, KMS), stopped at the end of the module."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Repo:
    """A private copy of the shared feature repo (its online store gets written)."""

    path: Path
    store: Any
    schemas: dict[str, ViewSchema]
    entities: list[int]


@pytest.fixture(scope="module")
def repo(feature_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Repo:
    import pandas as pd
    from feast import FeatureStore

    from workloads.ingestion.schema import schemas_from_store

    path = tmp_path_factory.mktemp("ingest") / "repo"
    shutil.copytree(feature_repo, path)
    store = FeatureStore(repo_path=str(path))
    profile = pd.read_parquet(view_path(path, "customer_profile"))
    return Repo(
        path, store, schemas_from_store(store, FEATURE_VIEWS), sorted(profile["customer_id"])[:50]
    )


def _queues(moto: str, name: str) -> tuple[IngestSqsQueue, IngestSqsQueue]:
    sqs = _client("sqs", moto)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    return IngestSqsQueue(sqs, url), IngestSqsQueue(sqs, dlq)


def _online(repo: Repo, view: str, entity: int) -> dict[str, Any]:
    schema = repo.schemas[view]
    refs = [f"{view}:{name}" for name in schema.field_names]
    got = repo.store.get_online_features(refs, [{schema.entity_key: entity}]).to_dict()
    return {name: got[name][0] for name in schema.field_names}


def test_validation_names_the_field_and_what_is_allowed(repo: Repo) -> None:
    good = valid_events(repo.schemas, repo.entities, 2, start=START)
    for body in good:
        event = validate_event(body, repo.schemas, now=START + timedelta(days=30))
        assert isinstance(event, Event), event
        assert set(event.features) == set(repo.schemas[event.view].field_names)
    cases = malformed_events(repo.schemas, repo.entities[0], start=START)
    assert len(cases) >= 10
    for body, reason in cases:
        parsed: Any = body
        if isinstance(body, str):
            parsed = {"_unreadable": body}
        result = validate_event(parsed, repo.schemas, now=START + timedelta(days=30))
        assert isinstance(result, Rejection), body
        assert result.reason.startswith(reason), (result.reason, reason)
        assert "\n" not in result.reason
    # Booleans are not integers, NaN is not a float32.
    profile = repo.schemas[PROFILE_VIEW]
    activity = repo.schemas[ACTIVITY_VIEW]
    body = valid_events({PROFILE_VIEW: profile}, repo.entities, 1, start=START)[0]
    body["features"]["age"] = True
    assert validate_event(body, repo.schemas).reason.startswith("features.age: must be an integer")  # type: ignore[union-attr]
    body = valid_events({ACTIVITY_VIEW: activity}, repo.entities, 1, start=START)[0]
    body["features"]["balance_aed"] = float("nan")
    assert "finite" in validate_event(body, repo.schemas).reason  # type: ignore[union-attr]


def test_queue_to_both_stores_counts_balance_and_dead_letters_carry_reasons(
    moto: str, repo: Repo, tmp_path: Path
) -> None:
    queue, dlq = _queues(moto, "tenant-a-ingestion")
    good = valid_events(repo.schemas, repo.entities, 60, start=START, prefix="a")
    bad = malformed_events(repo.schemas, repo.entities[0], start=START)
    assert queue.send_many([*good[:30], *(b for b, _ in bad), *good[30:]]) == 60 + len(bad)

    offline = PartitionedOfflineStore(FileStore(tmp_path / "offline"))
    worker = IngestionWorker(repo.schemas, offline, FeastOnlineWriter(repo.store), dlq)
    counts = worker.drain(queue, batch_size=25)

    assert counts.received == 60 + len(bad)
    assert (counts.accepted, counts.rejected, counts.duplicates) == (60, len(bad), 0)
    assert counts.balanced and counts.written_offline == 60
    assert queue.depth() == 0  # everything acknowledged, nothing left behind

    # Dead letters: one per malformed event, each with its reason and the original body.
    letters = [m.body for m in dlq.receive(10, 30) + dlq.receive(10, 30)]
    assert sorted(letter["reason"].split(":")[0] for letter in letters) == sorted(
        reason.split(":")[0] for _, reason in bad
    )
    unreadable = next(letter for letter in letters if letter["reason"] == "body: not valid JSON")
    assert unreadable["body"] == {"_unreadable": bad[0][0]}

    # Offline: day partitions per view, every accepted event exactly once, typed columns.
    keys = partition_keys(offline.store)
    assert keys and all("/date=2026-03-" in key for key in keys)
    rows = {view: read_view(offline.store, view) for view in FEATURE_VIEWS}
    stored = sorted(eid for frame in rows.values() for eid in frame["event_id"])
    assert stored == sorted(e["event_id"] for e in good)
    assert str(rows[ACTIVITY_VIEW]["balance_aed"].dtype) == "float32"
    assert str(rows[PROFILE_VIEW]["age"].dtype) == "int64"

    # Online: the newest event per entity is what Feast serves.
    newest: dict[tuple[str, int], dict[str, Any]] = {}
    for event in good:
        key = (event["feature_view"], event["customer_id"])
        if key not in newest or event["event_timestamp"] >= newest[key]["event_timestamp"]:
            newest[key] = event
    for (view, entity), event in list(newest.items())[:8]:
        served = _online(repo, view, entity)
        for name, value in event["features"].items():
            assert served[name] == pytest.approx(value, rel=1e-6), (view, entity, name)

    # Resending the same events (a producer retry): accepted, stored once.
    queue.send_many(good[:20])
    again = worker.drain(queue)
    assert (again.received, again.accepted, again.duplicates, again.written_offline) == (
        20,
        20,
        20,
        0,
    )
    assert sum(len(read_view(offline.store, v)) for v in FEATURE_VIEWS) == 60
    assert worker.totals.balanced and worker.totals.received == 80 + len(bad)


class FlakyOnline:
    """Fails the first ``failures`` writes (down between the offline and the online write)."""

    def __init__(self, inner: FeastOnlineWriter, failures: int = 1) -> None:
        self.inner = inner
        self.failures = failures
        self.calls = 0

    def write(self, schema: ViewSchema, events: Any) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("online store unreachable")
        return self.inner.write(schema, events)


def test_a_failed_batch_is_redelivered_and_completed_once(
    moto: str, repo: Repo, tmp_path: Path
) -> None:
    queue, dlq = _queues(moto, "tenant-b-ingestion")
    events = valid_events(
        {PROFILE_VIEW: repo.schemas[PROFILE_VIEW]}, repo.entities[-5:], 12, start=START, prefix="b"
    )
    queue.send_many(events)
    offline = PartitionedOfflineStore(FileStore(tmp_path / "offline"))
    # Down for the batch and for the retry of each of its 12 messages on its own.
    flaky = FlakyOnline(FeastOnlineWriter(repo.store), failures=13)
    worker = IngestionWorker(repo.schemas, offline, flaky, dlq)
    with pytest.raises(ConnectionError):
        worker.poll(queue, batch_size=50, visibility_timeout=1)
    assert flaky.calls == 13
    assert len(read_view(offline.store, PROFILE_VIEW)) == 12  # written before the failure
    # Not acknowledged: the messages come back after the visibility timeout.
    import time

    time.sleep(1.2)
    counts = worker.drain(queue, batch_size=50)
    assert (counts.received, counts.accepted, counts.duplicates) == (12, 12, 12)
    assert counts.pushed_online > 0 and counts.balanced
    assert len(read_view(offline.store, PROFILE_VIEW)) == 12  # not twice
    assert queue.depth() == 0


def test_offline_objects_on_s3_carry_sse_kms_with_the_tenant_key(
    moto: str, repo: Repo, tmp_path: Path
) -> None:
    s3, kms = _client("s3", moto), _client("kms", moto)
    key = kms.create_key(Description="tenant-c")["KeyMetadata"]["Arn"]
    s3.create_bucket(
        Bucket="tenant-c-data", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    store = S3Store("tenant-c-data", "offline/ingested", key, s3)
    offline = PartitionedOfflineStore(store)
    worker = IngestionWorker(repo.schemas, offline, None, IngestFileQueue(tmp_path / "dlq"))
    events = valid_events(repo.schemas, repo.entities, 10, start=START, prefix="c")
    counts = worker.handle([(e["event_id"], e) for e in events], "test")
    assert counts.written_offline == 10
    keys = partition_keys(store)
    assert keys
    for k in keys:
        head = s3.head_object(Bucket="tenant-c-data", Key=f"offline/ingested/{k}")
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == key


def test_landing_files_are_ingested_once_with_a_receipt(repo: Repo, tmp_path: Path) -> None:
    landing, done = FileStore(tmp_path / "landing"), FileStore(tmp_path / "done")
    events = valid_events(repo.schemas, repo.entities, 7, start=START, prefix="d")
    lines = [json.dumps(e) for e in events] + ["not json", json.dumps({"event_id": "d-x"})]
    landing.put("crm/2026-03-01.jsonl", ("\n".join(lines) + "\n").encode())
    dead = IngestFileQueue(tmp_path / "dead")
    offline = PartitionedOfflineStore(FileStore(tmp_path / "offline"))
    worker = IngestionWorker(repo.schemas, offline, None, dead)
    counts = worker.ingest_landing(landing, done)
    assert (counts.received, counts.accepted, counts.rejected) == (9, 7, 2)
    receipt = json.loads(done.get("crm/2026-03-01.jsonl.receipt.json") or b"{}")
    assert receipt["balanced"] and receipt["received"] == 9
    assert [m.body["message_id"] for m in dead.receive(10, 30)] == [
        "crm/2026-03-01.jsonl:8",
        "crm/2026-03-01.jsonl:9",
    ]
    assert worker.ingest_landing(landing, done) == Counts()  # the receipt marks it done


def test_cli_once_drains_file_queues_and_prints_balanced_counts(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workloads.ingestion.__main__ import main

    queue = IngestFileQueue(tmp_path / "q")
    events = valid_events(repo.schemas, repo.entities, 5, start=START, prefix="e")
    queue.send_many([*events, "{broken"])
    code = main(
        [
            f"--repo={repo.path}",
            f"--queue=file:{tmp_path / 'q'}",
            f"--dlq=file:{tmp_path / 'dlq'}",
            f"--offline_uri={tmp_path / 'offline'}",
            "--once",
        ]
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert (out["received"], out["accepted"], out["rejected"], out["balanced"]) == (6, 5, 1, True)
    assert (
        main(
            [
                "--repo",
                str(tmp_path / "nowhere"),
                "--queue=file:x",
                "--dlq=file:y",
                "--offline_uri=z",
                "--once",
            ]
        )
        == 2
    )
    assert "no feature_store.yaml" in capsys.readouterr().err


def test_batch_messages_are_unpacked_and_each_event_counts(
    moto: str, repo: Repo, tmp_path: Path
) -> None:
    queue, dlq = _queues(moto, "tenant-f-ingestion")
    good = valid_events(repo.schemas, repo.entities, 5, start=START, prefix="f")
    bad = {**good[0], "event_id": "f-bad", "feature_view": "nope"}
    oversize = valid_events(repo.schemas, repo.entities, 1001, start=START, prefix="g")
    queue.send_many([{"events": [*good, bad]}, {"events": oversize}, {"events": []}])
    worker = IngestionWorker(
        repo.schemas, PartitionedOfflineStore(FileStore(tmp_path / "off")), None, dlq
    )
    counts = worker.drain(queue)
    assert (counts.received, counts.accepted, counts.rejected) == (8, 5, 3)
    letters = [m.body for m in dlq.receive(10, 30)]
    reasons = sorted(letter["reason"].split(":")[0] for letter in letters)
    assert reasons == ["body", "body", "feature_view"]
    assert any(letter["message_id"].endswith(":5") for letter in letters)  # index in batch


def test_a_started_batch_does_not_wait_for_more_messages(
    moto: str, repo: Repo, tmp_path: Path
) -> None:
    import time

    queue, dlq = _queues(moto, "tenant-h-ingestion")
    queue.wait_seconds = 3  # the deployed worker long-polls (20 s)
    queue.send_many(valid_events(repo.schemas, repo.entities, 4, start=START, prefix="h"))
    worker = IngestionWorker(
        repo.schemas, PartitionedOfflineStore(FileStore(tmp_path / "off")), None, dlq
    )
    began = time.monotonic()
    counts = worker.poll(queue, batch_size=50)
    assert counts.received == 4
    assert time.monotonic() - began < 2.5  # no second long poll once messages arrived
    assert queue.wait_seconds == 3
