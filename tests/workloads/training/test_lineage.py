"""The model card names the exact training data and is covered by the model's signature."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from tests.model_fixtures import Keys, TrainedModel


def test_card_lineage_names_files_digests_views_and_cutoff(trained_model: TrainedModel) -> None:
    from feast import FeatureStore

    from workloads.ingestion.schema import schema_of
    from workloads.training.lineage import view_version

    lineage = trained_model.card["lineage"]
    repo = trained_model.repo
    # Every partition of both views' partitioned store, and the labels file.
    parts = sorted((repo / "data" / "offline").rglob("part-*.parquet"))
    expected = {p.as_posix() for p in parts} | {(repo / "data" / "churn_labels.parquet").as_posix()}
    files = {f["uri"]: f for f in lineage["files"]}
    assert set(files) == expected and len(parts) >= 2
    for uri, entry in files.items():
        data = Path(uri).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        assert entry["rows"] == len(pd.read_parquet(uri))
        if "/data/offline/" in uri:
            assert f"/data/offline/{entry['view']}/date=" in uri
    store = FeatureStore(repo_path=str(repo))
    views = {v["name"]: v for v in lineage["feature_views"]}
    assert set(views) == {"customer_profile", "customer_activity"}
    for name, view in views.items():
        registered = store.get_feature_view(name)
        assert view["version"] == view_version(registered) == schema_of(registered).version
        assert view["features"] == [f.name for f in registered.features]
    labels = pd.read_parquet(repo / "data" / "churn_labels.parquet")
    cutoff = pd.Timestamp(lineage["point_in_time_cutoff"])
    assert cutoff == pd.to_datetime(labels["event_timestamp"], utc=True).max()
    assert lineage["feature_service"] == trained_model.card["data"]["feature_service"]


def test_editing_the_lineage_breaks_the_signature(
    trained_model: TrainedModel, tmp_path: Path
) -> None:
    from workloads.common.signing import (
        ArtifactVerificationError,
        load_public_key,
        verify_artifacts,
    )
    from workloads.training.train import CARD_FILE, MODEL_FILE

    copy = tmp_path / "model"
    shutil.copytree(trained_model.out, copy)
    public = load_public_key(trained_model.keys.public)
    verify_artifacts(copy, public, [MODEL_FILE, CARD_FILE])
    card = json.loads((copy / CARD_FILE).read_text())
    card["lineage"]["files"][0]["sha256"] = "0" * 64
    (copy / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    with pytest.raises(ArtifactVerificationError, match="digest does not match"):
        verify_artifacts(copy, public, [MODEL_FILE, CARD_FILE])


def test_a_model_trained_after_ingestion_names_the_ingested_partitions(
    feature_repo: Path, signing_keys: Keys, tmp_path: Path
) -> None:
    from feast import FeatureStore

    from contracts.feature_store import FEATURE_VIEWS
    from workloads.common.objectstore import FileStore
    from workloads.features.repo import offline_root
    from workloads.ingestion.events import valid_events
    from workloads.ingestion.offline import PartitionedOfflineStore
    from workloads.ingestion.queues import IngestFileQueue
    from workloads.ingestion.schema import schemas_from_store
    from workloads.ingestion.worker import IngestionWorker
    from workloads.training.train import TrainConfig, train

    repo = tmp_path / "repo"
    shutil.copytree(feature_repo, repo)
    schemas = schemas_from_store(FeatureStore(repo_path=str(repo)), FEATURE_VIEWS)
    offline = PartitionedOfflineStore(FileStore(offline_root(repo)))
    worker = IngestionWorker(schemas, offline, None, IngestFileQueue(tmp_path / "dlq"))
    customers = sorted(pd.read_parquet(repo / "data" / "churn_labels.parquet")["customer_id"])
    start = datetime(2026, 1, 20, 9, tzinfo=UTC)  # inside the labels' window
    events = valid_events(schemas, sorted(set(customers))[:20], 40, start=start, seed=11)
    seed_parts = set((repo / "data" / "offline").rglob("part-*.parquet"))
    counts = worker.handle([(e["event_id"], e) for e in events], "test")
    assert counts.accepted == 40
    ingested = set((repo / "data" / "offline").rglob("part-*.parquet")) - seed_parts
    assert ingested

    card = train(
        TrainConfig(repo=repo, out=tmp_path / "model", signing_key=signing_keys.private, epochs=8)
    )
    files = {f["uri"]: f for f in card["lineage"]["files"]}
    for part in ingested:
        entry = files[part.as_posix()]  # named, with the digest of exactly what was read
        assert entry["sha256"] == hashlib.sha256(part.read_bytes()).hexdigest()
        assert entry["rows"] == len(pd.read_parquet(part))
        assert pd.read_parquet(part)["event_id"].str.startswith("evt-").all()
    assert {p.as_posix() for p in seed_parts} <= set(files)
