"""Erasure: the customer disappears from every store, every other row stays as it was,
and the receipt is in the audit log."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd
import pytest

from contracts.feature_store import FEATURE_VIEWS
from workloads.common.objectstore import FileStore
from workloads.erasure.erase import (
    Targets,
    erase_rows_jsonl,
    erase_rows_parquet,
    find_entity,
    subject_digest,
)
from workloads.features.repo import offline_root, view_path
from workloads.ingestion.events import valid_events
from workloads.ingestion.offline import PartitionedOfflineStore, read_view
from workloads.ingestion.queues import IngestFileQueue
from workloads.ingestion.schema import schemas_from_store
from workloads.ingestion.worker import FeastOnlineWriter, IngestionWorker

START = datetime(2026, 3, 1, tzinfo=UTC)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): _sha(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and p.suffix in {".parquet", ".jsonl"}
    }


def _log_record(ts: float, ids: list[int] | None, n_features: int = 3) -> dict[str, Any]:
    rows = len(ids) if ids else 2
    record: dict[str, Any] = {
        "ts": ts,
        "model": "churn",
        "model_version": "sha-1",
        "features": [f"f{i}" for i in range(n_features)],
        "inputs": [[float(r + i) for i in range(n_features)] for r in range(rows)],
        "outputs": [[0.1 * r, 1 - 0.1 * r] for r in range(rows)],
    }
    if ids is not None:
        record["entity_ids"] = ids
    return record


def test_parquet_and_jsonl_rewrites_keep_every_other_row() -> None:
    import io

    frame = pd.DataFrame({"customer_id": [1, 2, 1, 3], "x": [0.5, 1.5, 2.5, 3.5]})
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    new, removed = erase_rows_parquet(buf.getvalue(), "customer_id", 1)
    assert removed == 2 and new is not None
    assert pd.read_parquet(io.BytesIO(new)).equals(
        frame[frame.customer_id != 1].reset_index(drop=True)
    )
    same, none = erase_rows_parquet(buf.getvalue(), "customer_id", 9)
    assert none == 0 and same == buf.getvalue()
    lines = [
        _log_record(1.0, [1, 2]),
        _log_record(2.0, [3]),
        _log_record(3.0, None),
        _log_record(4.0, [1]),
    ]
    data = b"".join(json.dumps(r).encode() + b"\n" for r in lines)
    out, removed, unattributed = erase_rows_jsonl(data, 1)
    assert (removed, unattributed) == (2, 1)
    kept = [json.loads(line) for line in out.splitlines()]
    assert [r["ts"] for r in kept] == [1.0, 2.0, 3.0]
    assert kept[0]["entity_ids"] == [2] and kept[0]["inputs"] == [lines[0]["inputs"][1]]
    assert out.splitlines()[1:] == data.splitlines()[1:3]  # untouched lines keep their bytes


def test_erasure_removes_the_customer_everywhere_and_writes_a_receipt(
    feature_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from feast import FeatureStore

    from workloads.alerts.audit import AuditLog, verify_audit_log
    from workloads.erasure.__main__ import main

    repo = tmp_path / "repo"
    shutil.copytree(feature_repo, repo)
    fs = FeatureStore(repo_path=str(repo))
    schemas = schemas_from_store(fs, FEATURE_VIEWS)
    root = offline_root(repo)
    profile = pd.read_parquet(view_path(repo, "customer_profile"))
    ids = sorted(int(i) for i in profile["customer_id"])
    victim, others = ids[3], ids[:3] + ids[4:12]

    # Ingest events for the victim and others into the views' partitioned store (where
    # the seed history lives too) and online.
    offline = PartitionedOfflineStore(FileStore(root))
    worker = IngestionWorker(
        schemas, offline, FeastOnlineWriter(fs), IngestFileQueue(tmp_path / "dlq")
    )
    events = valid_events(schemas, [victim, *others], 120, start=START, seed=3)
    counts = worker.handle([(e["event_id"], e) for e in events], "test")
    assert counts.accepted == 120 and any(e["customer_id"] == victim for e in events)

    # Prediction logs and a drift window (the same JSON Lines format).
    logs, windows = tmp_path / "predictions", tmp_path / "windows"
    for folder in (logs, windows):
        folder.mkdir()
        records = [
            _log_record(1.0, [others[0], victim]),
            _log_record(2.0, [others[1]]),
            _log_record(3.0, [victim]),
            _log_record(4.0, None),
        ]
        (folder / "predictions-20260301T10-1.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in records)
        )
        (folder / "predictions-20260301T11-1.jsonl").write_text(
            json.dumps(_log_record(5.0, [others[2]])) + "\n"
        )

    labels = repo / "data" / "churn_labels.parquet"
    targets = Targets(
        repo=repo,
        views=FEATURE_VIEWS,
        extra_parquet=(str(labels),),
        prediction_logs_uri=str(logs),
        drift_windows_uri=str(windows),
    )
    before_found = find_entity(targets, victim)
    assert {r.store for r in before_found if r.found} == {
        "online",
        "offline",
        "prediction-logs",
        "drift-windows",
    }
    # Everything about the other customers, before.
    frames_before = {"churn_labels.parquet": pd.read_parquet(labels)}
    # Seed history and ingested events, one dataset per view.
    views_before = {v: read_view(offline.store, v) for v in FEATURE_VIEWS}
    for frame in views_before.values():
        hits = frame.loc[frame["customer_id"] == victim, "event_id"]
        assert hits.str.startswith("seed:").any() and (~hits.str.startswith("seed:")).any()
    refs = [f"{v}:{f}" for v in FEATURE_VIEWS for f in schemas[v].field_names]
    online_before = fs.get_online_features(refs, [{"customer_id": i} for i in others]).to_dict()
    files_before = {folder: _files(folder) for folder in (root, logs, windows)}

    audit = tmp_path / "audit" / "erasure.jsonl"
    code = main(
        [
            "--tenant", "gulf-bank", "--entity_key", str(victim), "--repo", str(repo),
            "--extra_parquet", str(labels),
            "--prediction_logs_uri", str(logs), "--drift_windows_uri", str(windows),
            "--audit_log", str(audit), "--who", "dpo@gulf-bank.example", "--reason", "PDPL request 42",
        ]
    )  # fmt: skip
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, printed

    # Gone everywhere.
    assert sum(r.found for r in find_entity(targets, victim)) == 0
    fresh = FeatureStore(repo_path=str(repo))
    gone = fresh.get_online_features(refs, [{"customer_id": victim}]).to_dict()
    assert all(gone[f.split(":")[1]][0] is None for f in refs)
    for frame in [
        pd.read_parquet(labels),
        *(read_view(offline.store, v) for v in FEATURE_VIEWS),
    ]:
        assert victim not in set(frame["customer_id"])
    for folder in (logs, windows):
        for path in folder.glob("*.jsonl"):
            for line in path.read_text().splitlines():
                assert victim not in json.loads(line).get("entity_ids", [])

    # Every other row unchanged (values, types and order).
    for name, frame in frames_before.items():
        after = pd.read_parquet(repo / "data" / name)
        expected = frame[frame["customer_id"] != victim].reset_index(drop=True)
        pd.testing.assert_frame_equal(after, expected)
    for view, frame in views_before.items():
        after = read_view(offline.store, view).sort_values("event_id").reset_index(drop=True)
        expected = (
            frame[frame["customer_id"] != victim].sort_values("event_id").reset_index(drop=True)
        )
        pd.testing.assert_frame_equal(after, expected)
    assert (
        fresh.get_online_features(refs, [{"customer_id": i} for i in others]).to_dict()
        == online_before
    )
    # Objects without the customer were not rewritten (same bytes).
    rewritten = {
        Path(o["object"].removeprefix("file://")).name
        for r in printed["stores"]
        for o in r["objects"]
        if "object" in o
    }
    for folder, digests in files_before.items():
        after = _files(folder)
        for rel, digest in digests.items():
            if Path(rel).name not in rewritten:
                assert after.get(rel) == digest, rel
    assert (logs / "predictions-20260301T11-1.jsonl").exists()

    # The receipt: who, when, what was found and removed where; no raw key.
    records = AuditLog(audit).records()
    assert len(records) == 1 and verify_audit_log(audit).ok
    receipt = records[0]["receipt"]
    assert receipt["subject_sha256"] == subject_digest("gulf-bank", victim)
    assert receipt["requested_by"] == "dpo@gulf-bank.example" and receipt["at"].endswith("Z")
    assert receipt["found"] == receipt["removed"] > 0 and receipt["remaining_after"] == 0
    by_store = {r["store"]: r for r in receipt["stores"]}
    assert by_store["online"]["removed"] == 2
    # Offline: every row of the customer, seed partitions and ingested ones, and labels.
    victim_rows = sum(int((f["customer_id"] == victim).sum()) for f in views_before.values())
    labelled = int((frames_before["churn_labels.parquet"]["customer_id"] == victim).sum())
    assert by_store["offline"]["removed"] == victim_rows + labelled
    assert any(
        "/customer_activity/date=2026-01-" in unquote(o["object"])
        for o in by_store["offline"]["objects"]
    )
    assert by_store["prediction-logs"]["removed"] == 2
    assert by_store["prediction-logs"]["unattributed_records"] == 1
    assert all(
        "sha256_before" in o
        for r in receipt["stores"]
        if r["store"] != "online"
        for o in r["objects"]
    )
    assert str(victim) not in json.dumps(records[0]).replace(receipt["subject_sha256"], "")

    # Erasing again finds nothing and still writes a receipt.
    assert (
        main(
            [
                "--tenant",
                "gulf-bank",
                "--entity_key",
                str(victim),
                "--repo",
                str(repo),
                "--audit_log",
                str(audit),
                "--who",
                "dpo",
                "--reason",
                "repeat",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.strip())["found"] == 0
    assert (
        main(
            [
                "--tenant",
                "t",
                "--entity_key",
                "abc",
                "--repo",
                str(repo),
                "--audit_log",
                str(audit),
                "--who",
                "x",
                "--reason",
                "y",
            ]
        )
        == 2
    )
    assert "--entity_key must be an integer" in capsys.readouterr().err


def test_erasure_on_a_versioned_s3_bucket_leaves_no_old_copy(
    feature_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from feast import FeatureStore
    from moto.server import ThreadedMotoServer

    from workloads.common.objectstore import S3Store
    from workloads.erasure.erase import erase_entity
    from workloads.features.definitions import build_objects
    from workloads.ingestion.offline import partition_keys, write_frame

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "me-central-1",
            "AWS_ENDPOINT_URL_S3": endpoint,
        }.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3", region_name="me-central-1", endpoint_url=endpoint)
        kms = boto3.client("kms", region_name="me-central-1", endpoint_url=endpoint)
        key = kms.create_key(Description="tenant")["KeyMetadata"]["Arn"]
        s3.create_bucket(
            Bucket="t-data", CreateBucketConfiguration={"LocationConstraint": "me-central-1"}
        )
        s3.put_bucket_versioning(Bucket="t-data", VersioningConfiguration={"Status": "Enabled"})
        repo = tmp_path / "repo"
        shutil.copytree(feature_repo, repo)
        # The platform's layout: the views read the tenant bucket's partitioned store,
        # which holds the seed history (written here) and the ingested events.
        fs = FeatureStore(repo_path=str(repo))
        fs.apply(build_objects("s3://t-data/offline/ingested"))
        schemas = schemas_from_store(fs, FEATURE_VIEWS)
        store = S3Store("t-data", "offline/ingested", key, s3)
        for view in FEATURE_VIEWS:
            seed = read_view(FileStore(offline_root(feature_repo)), view)
            write_frame(store, schemas[view], seed[seed["customer_id"] < 100_012])
        worker = IngestionWorker(
            schemas, PartitionedOfflineStore(store), None, IngestFileQueue(tmp_path / "dlq")
        )
        victim, others = 100007, [100008, 100009, 100010]
        events = valid_events(schemas, [victim, *others], 60, start=START, seed=5)
        worker.handle([(e["event_id"], e) for e in events], "test")
        before = {
            k: s3.head_object(Bucket="t-data", Key=f"offline/ingested/{k}")["ETag"]
            for k in partition_keys(store)
        }
        targets = Targets(repo=repo, views=FEATURE_VIEWS, kms_key=key)
        reports = erase_entity(targets, victim)
        ingested = next(r for r in reports if r.store == "offline")
        assert ingested.removed > 0
        touched = {
            o["object"].removeprefix("s3://t-data/offline/ingested/") for o in ingested.objects
        }
        assert touched and touched < set(before)  # only the partitions holding the customer
        for k in before:
            full = f"offline/ingested/{k}"
            versions = s3.list_object_versions(Bucket="t-data", Prefix=full)
            kept = [v for v in versions.get("Versions", []) if v["Key"] == full]
            markers = [m for m in versions.get("DeleteMarkers", []) if m["Key"] == full]
            if k in touched:
                assert len(kept) <= 1 and not markers  # no old copy of the customer
                if kept:
                    head = s3.head_object(Bucket="t-data", Key=full)
                    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key
            else:
                assert [v["ETag"] for v in kept] == [before[k]]  # untouched
        assert sum(r.found for r in find_entity(targets, victim)) == 0
        assert all(o.get("old_versions_purged", 0) >= 1 for o in ingested.objects)
    finally:
        server.stop()
