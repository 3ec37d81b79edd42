"""The model card names the exact training data and is covered by the model's signature."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.workloads.conftest import TrainedModel


def test_card_lineage_names_files_digests_views_and_cutoff(trained_model: TrainedModel) -> None:
    from feast import FeatureStore

    from workloads.ingestion.schema import schema_of
    from workloads.training.lineage import view_version

    lineage = trained_model.card["lineage"]
    repo = trained_model.repo
    files = {Path(f["uri"]).name: f for f in lineage["files"]}
    assert set(files) == {
        "customer_profile.parquet",
        "customer_activity.parquet",
        "churn_labels.parquet",
    }
    for name, entry in files.items():
        data = (repo / "data" / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        assert entry["rows"] == len(pd.read_parquet(repo / "data" / name))
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
