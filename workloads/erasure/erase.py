"""Erase one entity from the online store, the offline store, prediction logs and drift
windows; every other row stays exactly as it was.

- **Online store** (Feast; SQLite locally, DynamoDB or Redis in the platform): the
  entity's row of every feature view is read first (what was found, with its event
  time), then deleted with the backend's own delete (SQLite ``DELETE``, DynamoDB
  ``DeleteItem`` on Feast's ``entity_id``, Redis ``DEL`` of Feast's entity hash).
- **Offline store**: every partition object of the feature views' sources (Feast
  ``FileSource`` folders, local or ``s3://``: the partitioned store that holds the seeded
  history and the ingestion worker's events alike), and extra parquet files such as the
  labels. Only objects that hold the entity are rewritten (rows in their original order
  and types, the others untouched); an object left empty is deleted. The receipt lists
  each rewritten object with its SHA-256 before and after.
- **Prediction logs and drift windows**: JSON Lines records. A record that carries
  ``entity_ids`` (row-aligned with ``inputs`` and ``outputs``; strings as the model server
  writes them, or integers) loses the entity's rows;
  a record left without rows is dropped; other lines keep their exact bytes. Records
  without ``entity_ids`` cannot be attributed to a customer and are counted as such.

:func:`erase_entity` returns the receipt; :func:`find_entity` is the same scan without
changes, which the command runs again afterwards to prove nothing is left.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workloads.common.objectstore import FileStore, ObjectStore, S3Store, open_store
from workloads.ingestion.offline import delete_object


class ErasureError(RuntimeError):
    """A store could not be read or changed; the message is one line."""


@dataclass
class StoreReport:
    """What one store held of the entity and what was removed."""

    store: str
    location: str
    found: int = 0
    removed: int = 0
    objects: list[dict[str, Any]] = field(default_factory=list)
    unattributed_records: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the receipt."""
        out: dict[str, Any] = {
            "store": self.store,
            "location": self.location,
            "found": self.found,
            "removed": self.removed,
            "objects": self.objects,
        }
        if self.unattributed_records:
            out["unattributed_records"] = self.unattributed_records
        return out


def subject_digest(tenant: str, entity: int) -> str:
    """How the receipt names the customer: a digest, so the audit log holds no key."""
    return hashlib.sha256(f"{tenant}:{entity}".encode()).hexdigest()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- parquet ------------------------------------------------------------------------------


def erase_rows_parquet(data: bytes, column: str, entity: int) -> tuple[bytes | None, int]:
    """Remove the entity's rows; (new bytes or None when nothing is left, rows removed).

    Returns ``(data, 0)`` unchanged when the entity is absent (the object is not rewritten).
    """
    source = pq.ParquetFile(io.BytesIO(data))
    table = source.read()
    if column not in table.column_names:
        return data, 0
    hit = pc.equal(table.column(column), pa.scalar(entity, table.schema.field(column).type))
    removed = int(pc.sum(hit).as_py() or 0)
    if removed == 0:
        return data, 0
    kept = table.filter(pc.invert(pc.fill_null(hit, False)))
    if kept.num_rows == 0:
        return None, removed
    sink = io.BytesIO()
    compression = (
        source.metadata.row_group(0).column(0).compression.lower()
        if source.metadata.num_row_groups
        else "zstd"
    )
    pq.write_table(kept, sink, compression=None if compression == "uncompressed" else compression)
    return sink.getvalue(), removed


def _parquet_objects(
    report: StoreReport,
    store: ObjectStore,
    keys: Sequence[str],
    column: str,
    entity: int,
    apply: bool,
) -> None:
    for key in keys:
        data = store.get(key)
        if data is None:
            continue
        new, removed = erase_rows_parquet(data, column, entity)
        _rewrite(report, store, key, data, new, removed, apply)


def _rewrite(
    report: StoreReport,
    store: ObjectStore,
    key: str,
    before: bytes,
    after: bytes | None,
    removed: int,
    apply: bool,
) -> None:
    """Record an object that held ``removed`` of the customer's rows and, with ``apply``,
    write what is left (``after``; None: nothing left, the object is deleted) and purge
    its old versions."""
    if not removed:
        return
    report.found += removed
    entry: dict[str, Any] = {
        "object": store.describe(key),
        "rows": removed,
        "sha256_before": _sha(before),
    }
    if apply:
        if after is None:
            delete_object(store, key)
            entry["deleted"] = True
        else:
            store.put(key, after)
            entry["sha256_after"] = _sha(after)
        _purge_old_versions(store, key, entry)
        report.removed += removed
    report.objects.append(entry)


def _purge_old_versions(store: ObjectStore, key: str, entry: dict[str, Any]) -> None:
    """On a versioned S3 bucket, delete every noncurrent version (and delete marker) of
    ``key``: the old copies still hold the customer. Needs ``s3:ListBucketVersions`` and
    ``s3:DeleteObjectVersion``; a refusal fails the erasure (one line), never silently."""
    if not isinstance(store, S3Store):
        return
    from botocore.exceptions import BotoCoreError, ClientError

    full = store._key(key)
    purged = 0
    try:
        pages = store.client.get_paginator("list_object_versions").paginate(
            Bucket=store.bucket, Prefix=full
        )
        for page in pages:
            old = [
                v
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                if v["Key"] == full and not (v.get("IsLatest") and "ETag" in v)
            ]
            for version in old:
                store.client.delete_object(
                    Bucket=store.bucket, Key=full, VersionId=version["VersionId"]
                )
                purged += 1
    except (BotoCoreError, ClientError) as exc:
        raise ErasureError(f"{store.describe(key)}: old versions not purged: {exc}") from None
    entry["old_versions_purged"] = purged


def _split(uri: str, kms_key: str | None) -> tuple[ObjectStore, str]:
    """(store of the parent folder or prefix, object name) of a file URI or path."""
    if uri.startswith("s3://"):
        parent, _, name = uri.rstrip("/").rpartition("/")
        return open_store(parent, kms_key), name
    path = Path(uri.removeprefix("file://"))
    return FileStore(path.parent), path.name


# -- JSON Lines (prediction logs, drift windows) -------------------------------------------


def _is_entity(value: Any, entity: int) -> bool:
    """Whether a logged id names the entity: the model server logs strings (``"100001"``),
    older or hand-written records may hold the integer."""
    if isinstance(value, str):
        return value == str(entity)
    return type(value) is int and value == entity


def erase_rows_jsonl(data: bytes, entity: int) -> tuple[bytes, int, int]:
    """(new bytes, rows removed, records without entity ids) of one JSON Lines object."""
    out: list[bytes] = []
    removed = unattributed = 0
    for line in data.splitlines(keepends=True):
        stripped = line.strip()
        if not stripped:
            out.append(line)
            continue
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError:
            out.append(line)
            continue
        ids = record.get("entity_ids") if isinstance(record, dict) else None
        if not isinstance(ids, list):
            unattributed += 1
            out.append(line)
            continue
        drop = [i for i, value in enumerate(ids) if _is_entity(value, entity)]
        if not drop:
            out.append(line)
            continue
        removed += len(drop)
        dropped = set(drop)
        keep = [i for i in range(len(ids)) if i not in dropped]
        if not keep:
            continue
        for name in ("entity_ids", "inputs", "outputs"):
            rows = record.get(name)
            if isinstance(rows, list) and len(rows) == len(ids):
                record[name] = [rows[i] for i in keep]
        out.append(json.dumps(record, separators=(",", ":")).encode() + b"\n")
    return b"".join(out), removed, unattributed


def _jsonl_objects(report: StoreReport, store: ObjectStore, entity: int, apply: bool) -> None:
    for key in store.list(""):
        if not key.endswith(".jsonl"):
            continue
        data = store.get(key)
        if data is None:
            continue
        new, removed, unattributed = erase_rows_jsonl(data, entity)
        report.unattributed_records += unattributed
        _rewrite(report, store, key, data, new if new.strip() else None, removed, apply)


# -- online store ---------------------------------------------------------------------------


def _entity_key(entity_key: str, entity: int) -> Any:
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return EntityKey(join_keys=[entity_key], entity_values=[Value(int64_val=entity)])


def _online_delete(fs: Any, view: Any, key: Any) -> None:
    """Delete one entity's row of one view with the backend's own delete."""
    config = fs.config
    online = fs._get_provider().online_store
    kind = config.online_store.type
    version = config.entity_key_serialization_version
    if kind == "sqlite":
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.infra.online_stores.sqlite import _table_id

        conn = online._get_conn(config)
        table = _table_id(config.project, view)
        with conn:
            conn.execute(
                f'DELETE FROM "{table}" WHERE entity_key = ?',  # noqa: S608 - Feast's table id
                (serialize_entity_key(key, entity_key_serialization_version=version),),
            )
    elif kind == "dynamodb":
        from workloads.ingestion import dynamodb

        join_key = view.entity_columns[0].name
        item = dynamodb.entity_id(join_key, key.entity_values[0].int64_val, version)
        table = dynamodb.table_name(config, view.name)
        dynamodb.delete_entities(dynamodb.client_for(config), table, [item])
    elif kind == "redis":
        from feast.infra.online_stores.helpers import _redis_key

        client = online._get_client(config.online_store)
        client.delete(_redis_key(config.project, key, entity_key_serialization_version=version))
    else:
        raise ErasureError(f"online store type {kind!r}: erasure supports sqlite, dynamodb, redis")


def _online(fs: Any, views: Sequence[str], entity: int, apply: bool) -> StoreReport:
    config = fs.config
    report = StoreReport("online", f"feast:{config.online_store.type}:{config.project}")
    provider = fs._get_provider()
    for name in views:
        view = fs.get_feature_view(name)
        join_key = view.entity_columns[0].name
        key = _entity_key(join_key, entity)
        stamp, values = provider.online_read(config=config, table=view, entity_keys=[key])[0]
        if values is None:
            continue
        report.found += 1
        entry = {"view": name, "event_timestamp": stamp.isoformat() if stamp else None}
        if apply:
            _online_delete(fs, view, key)
            if provider.online_read(config=config, table=view, entity_keys=[key])[0][1] is not None:
                raise ErasureError(f"online store: {name} still holds the entity after delete")
            report.removed += 1
        report.objects.append(entry)
    return report


# -- everything -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """Where a tenant's data about customers rests."""

    repo: Path
    """Feast repository (online store and the views' partitioned parquet sources)."""
    views: tuple[str, ...]
    extra_parquet: tuple[str, ...] = ()
    """Other parquet files keyed by the entity (e.g. the training labels)."""
    prediction_logs_uri: str | None = None
    drift_windows_uri: str | None = None
    kms_key: str | None = None


def scan(targets: Targets, entity: int, *, apply: bool) -> list[StoreReport]:
    """Find (and with ``apply`` remove) the entity everywhere; one report per store."""
    from feast import FeatureStore

    fs = FeatureStore(repo_path=str(targets.repo))
    reports = [_online(fs, targets.views, entity, apply)]
    join_key = ""
    folders: list[str] = []
    for name in targets.views:
        view = fs.get_feature_view(name)
        join_key = view.entity_columns[0].name
        path = str(getattr(view.batch_source, "path", ""))  # a FileSource
        if not path:
            raise ErasureError(f"feature view {name}: its batch source is not a file source")
        if not path.startswith("s3://") and not Path(path).is_absolute():
            path = str(targets.repo / path)
        folders.append(path)
    offline = StoreReport("offline", ", ".join(folders))
    for folder in folders:  # every partition of the view (seed history and ingested events)
        if folder.endswith(".parquet"):
            raise ErasureError(
                f"feature source {folder}: expected a partitioned folder, got a single file"
            )
        store = open_store(folder, targets.kms_key)
        keys = [k for k in store.list("") if k.endswith(".parquet")]
        _parquet_objects(offline, store, keys, join_key, entity, apply)
    for uri in targets.extra_parquet:
        store, name = _split(uri, targets.kms_key)
        _parquet_objects(offline, store, [name], join_key, entity, apply)
    reports.append(offline)
    for label, jsonl_uri in (
        ("prediction-logs", targets.prediction_logs_uri),
        ("drift-windows", targets.drift_windows_uri),
    ):
        if jsonl_uri:
            report = StoreReport(label, jsonl_uri)
            _jsonl_objects(report, open_store(jsonl_uri, targets.kms_key), entity, apply)
            reports.append(report)
    return reports


def erase_entity(targets: Targets, entity: int) -> list[StoreReport]:
    """Remove the entity everywhere; return what was found and removed where."""
    return scan(targets, entity, apply=True)


def find_entity(targets: Targets, entity: int) -> list[StoreReport]:
    """Where the entity still appears (nothing is changed)."""
    return scan(targets, entity, apply=False)
