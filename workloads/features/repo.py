"""Create a local Feast repository for the churn use case and load it.

A local repo is a folder with ``feature_store.yaml`` (SQLite online store, file
offline store, file registry, all relative to the folder), the generator's labels
(``data/churn_labels.parquet``) and seed history in the partitioned offline store
(``data/offline/<view>/date=<day>/part-<hash>.parquet``, where the ingestion worker
writes too: :func:`offline_root`), the applied registry and, optionally, the online
store materialised up to the last snapshot. Everything is written through Feast's Python API (``feast apply``
would need the definitions as a Python file inside the repo and costs seconds of CLI
start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from workloads.features.datagen import GeneratorConfig, generate, write_parquet
from workloads.features.definitions import (
    LOCAL_DATA_DIR,
    LOCAL_OFFLINE_URI,
    PROJECT,
    build_objects,
    view_source_uri,
)

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = ["LOCAL_DATA_DIR", "LocalRepo", "create_local_repo", "offline_root", "view_path"]


def offline_root(repo: Path) -> Path:
    """The local repo's partitioned offline store (the ingestion worker's ``--offline_uri``)."""
    return repo / LOCAL_OFFLINE_URI


def view_path(repo: Path, view: str) -> Path:
    """The folder of one view's partitions (``pd.read_parquet`` reads it whole)."""
    return repo / view_source_uri(LOCAL_OFFLINE_URI, view)


def local_feature_store_config(project: str = PROJECT) -> dict[str, object]:
    """The local ``feature_store.yaml`` content: SQLite online, file offline and registry."""
    return {
        "project": project,
        "provider": "local",
        "registry": f"{LOCAL_DATA_DIR}/registry.db",
        "online_store": {"type": "sqlite", "path": f"{LOCAL_DATA_DIR}/online_store.db"},
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


@dataclass(frozen=True)
class LocalRepo:
    """Where a created repo lives and what it holds."""

    path: Path
    labels_path: Path
    n_labels: int
    n_activity_rows: int
    materialized: bool


def create_local_repo(
    path: Path, config: GeneratorConfig, *, materialize: bool = True
) -> LocalRepo:
    """Generate data into ``path``, apply the definitions and optionally materialise.

    An existing repo at ``path`` is overwritten (data, registry and online store), so
    a rerun with the same config yields the same repo.
    """
    from feast import FeatureStore  # importing feast costs seconds (it imports torch)

    path.mkdir(parents=True, exist_ok=True)
    data = generate(config)
    data_dir = path / LOCAL_DATA_DIR
    for stale in ("registry.db", "online_store.db"):
        (data_dir / stale).unlink(missing_ok=True)
    for old in data_dir.glob("customer_*.parquet"):  # single-file sources of older repos
        old.unlink()
    paths = write_parquet(data, data_dir)
    (path / "feature_store.yaml").write_text(
        yaml.safe_dump(local_feature_store_config(), sort_keys=False), encoding="utf-8"
    )
    store = FeatureStore(repo_path=str(path))
    store.apply(build_objects(LOCAL_OFFLINE_URI))
    if materialize:
        materialize_all(
            store, data.activity["event_timestamp"].min(), data.activity["event_timestamp"].max()
        )
    return LocalRepo(
        path=path,
        labels_path=paths["labels"],
        n_labels=len(data.labels),
        n_activity_rows=len(data.activity),
        materialized=materialize,
    )


def materialize_all(store: FeatureStore, first: object, last: object) -> None:
    """Load the latest value per customer of every view into the online store."""
    import pandas as pd

    start = pd.Timestamp(first).to_pydatetime() - timedelta(days=3650)
    end = pd.Timestamp(last).to_pydatetime() + timedelta(seconds=1)
    store.materialize(start_date=start, end_date=end)
