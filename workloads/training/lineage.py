"""Data lineage of a training run, for the model card (and so covered by its signature).

Names the exact data a model was trained on, so an auditor can trace a served model
back to it: the feature service and each of its feature views with a version (SHA-256
of the view's registry spec: it changes when the view's definition does), every parquet
file the views' sources read (one file, or every object under a partitioned folder)
with its SHA-256, size and rows, the labels file likewise, and the point-in-time cut-off
(the newest label timestamp: no feature value after it can have been joined).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

LINEAGE_VERSION = 1


def view_version(view: Any) -> str:
    """SHA-256 of a Feast feature view's spec (deterministic protobuf serialisation)."""
    return hashlib.sha256(view.to_proto().spec.SerializeToString(deterministic=True)).hexdigest()


def _file_entry(data: bytes, uri: str, view: str | None) -> dict[str, Any]:
    import io

    import pyarrow.parquet as pq

    entry: dict[str, Any] = {
        "uri": uri,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "rows": pq.ParquetFile(io.BytesIO(data)).metadata.num_rows,
    }
    if view is not None:
        entry["view"] = view
    return entry


def _files(uri: str, view: str | None) -> list[dict[str, Any]]:
    """Every parquet object at ``uri`` (a file, a folder of partitions, or ``s3://``)."""
    from workloads.common.objectstore import open_store

    if uri.startswith("s3://"):
        if uri.endswith(".parquet"):
            parent, _, name = uri.rpartition("/")
            data = open_store(parent).get(name)
            return [_file_entry(data, uri, view)] if data is not None else []
        whole = open_store(uri)
        return [
            _file_entry(whole.get(key) or b"", whole.describe(key), view)
            for key in whole.list("")
            if key.endswith(".parquet")
        ]
    path = Path(uri)
    if path.is_file():
        return [_file_entry(path.read_bytes(), path.as_posix(), view)]
    return [
        _file_entry(part.read_bytes(), part.as_posix(), view)
        for part in sorted(path.rglob("*.parquet"))
        if not part.name.startswith(".")
    ]


def training_lineage(repo: Path, feature_service: str, labels: Path, cutoff: Any) -> dict[str, Any]:
    """The card's ``lineage`` block (see the module docstring)."""
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repo))
    service = store.get_feature_service(feature_service)
    views = []
    files: list[dict[str, Any]] = []
    for projection in service.feature_view_projections:
        view = store.get_feature_view(projection.name)
        source = str(getattr(view.batch_source, "path", ""))  # a FileSource
        uri = (
            source
            if source.startswith("s3://") or Path(source).is_absolute()
            else str(repo / source)
        )
        views.append(
            {
                "name": view.name,
                "version": view_version(view),
                "source": source,
                "features": [f.name for f in projection.features],
                "ttl_seconds": int(view.ttl.total_seconds()) if view.ttl else None,
            }
        )
        files += _files(uri, view.name)
    files += _files(str(labels), None)
    return {
        "version": LINEAGE_VERSION,
        "feature_service": feature_service,
        "feature_views": views,
        "files": files,
        "labels": str(labels),
        "point_in_time_cutoff": cutoff.isoformat(),
    }
