"""The ingested offline store: parquet partitioned by feature view and event day.

Layout under the store's root (the tenant's offline prefix, ``s3://<bucket>/offline/``
in the platform, a folder locally)::

    <view>/date=<YYYY-MM-DD>/part-<sha256 of the batch's event ids, 16 hex>.parquet

Columns: the entity key, ``event_timestamp`` (UTC), ``created`` (ingestion time), the
view's features in view order with their Feast types, and ``event_id``. Writes go
through :class:`~workloads.common.objectstore.ObjectStore`, so on S3 every object
carries SSE-KMS with the tenant key. A partition's event ids are read once per process
and cached: an event whose id is already in its partition is not written again
(idempotent redelivery). Erasure rewrites only the partitions that hold the entity.

The feature views' ``FileSource``s read these folders (one per view), and the seeded
generator writes its history into them too (:func:`write_frame`, same layout, columns
and types), so Feast's historical retrieval sees seed and ingested rows alike.
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workloads.common.objectstore import FileStore, ObjectStore, ObjectStoreError, S3Store
from workloads.ingestion.schema import Event, ViewSchema

EVENT_ID_COLUMN = "event_id"


def partition_prefix(view: str, day: str) -> str:
    """Key prefix of one day of one view (``<view>/date=<day>/``)."""
    return f"{view}/date={day}/"


def part_key(prefix: str, event_ids: Iterable[str]) -> str:
    """Object key of one written batch: ``<prefix>part-<sha256 of the sorted ids, 16 hex>``."""
    digest = hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:16]
    return f"{prefix}part-{digest}.parquet"


def _arrow_schema(schema: ViewSchema) -> pa.Schema:
    columns = [
        pa.field(schema.entity_key, pa.int64()),
        pa.field(schema.timestamp_field, pa.timestamp("us", tz="UTC")),
        pa.field(schema.created_field, pa.timestamp("us", tz="UTC")),
    ]
    for spec in schema.fields:
        columns.append(pa.field(spec.name, pa.int64() if spec.kind == "int64" else pa.float32()))
    columns.append(pa.field(EVENT_ID_COLUMN, pa.string()))
    return pa.schema(columns)


def events_table(schema: ViewSchema, events: list[Event], created: datetime) -> pa.Table:
    """The events as an arrow table with the view's column types."""
    data: dict[str, list[Any]] = {
        schema.entity_key: [e.entity for e in events],
        schema.timestamp_field: [e.timestamp for e in events],
        schema.created_field: [created] * len(events),
    }
    for spec in schema.fields:
        data[spec.name] = [e.features[spec.name] for e in events]
    data[EVENT_ID_COLUMN] = [e.event_id for e in events]
    return pa.Table.from_pydict(data, schema=_arrow_schema(schema))


def parquet_bytes(table: pa.Table) -> bytes:
    """Serialise a table as one parquet object (zstd)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def read_parquet_bytes(data: bytes) -> pa.Table:
    """Parse one parquet object."""
    return pq.read_table(io.BytesIO(data))


def delete_object(store: ObjectStore, key: str) -> None:
    """Delete one object (the store protocol has no delete; both stores support it)."""
    if isinstance(store, FileStore):
        path = store.root / key
        if key.startswith("/") or ".." in key.split("/"):
            raise ObjectStoreError(f"key {key!r}: must be a relative path without '..'")
        path.unlink(missing_ok=True)
    elif isinstance(store, S3Store):
        store.client.delete_object(Bucket=store.bucket, Key=store._key(key))
    else:  # pragma: no cover - only the two stores exist
        raise ObjectStoreError(f"{type(store).__name__}: no delete operation")


@dataclass
class WriteResult:
    """What one :meth:`PartitionedOfflineStore.write` did."""

    written: int = 0
    duplicates: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)


class PartitionedOfflineStore:
    """Append-only, idempotent writer of events into day partitions."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._known: dict[str, set[str]] = {}

    def _ids(self, prefix: str) -> set[str]:
        known = self._known.get(prefix)
        if known is None:
            known = set()
            for key in self.store.list(prefix):
                if key.endswith(".parquet"):
                    data = self.store.get(key)
                    if data is not None:
                        table = read_parquet_bytes(data)
                        known.update(table.column(EVENT_ID_COLUMN).to_pylist())
            self._known[prefix] = known
        return known

    def write(self, schema: ViewSchema, events: Iterable[Event], created: datetime) -> WriteResult:
        """Write the events not yet stored, one object per touched day; report the rest."""
        result = WriteResult()
        by_day: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_day[event.timestamp.strftime("%Y-%m-%d")].append(event)
        for day, day_events in sorted(by_day.items()):
            prefix = partition_prefix(schema.name, day)
            known = self._ids(prefix)
            fresh: list[Event] = []
            seen: set[str] = set()
            for event in day_events:
                if event.event_id in known or event.event_id in seen:
                    result.duplicates.append(event.event_id)
                else:
                    seen.add(event.event_id)
                    fresh.append(event)
            if not fresh:
                continue
            key = part_key(prefix, seen)
            self.store.put(key, parquet_bytes(events_table(schema, fresh, created)))
            known.update(seen)
            result.written += len(fresh)
            result.objects.append(key)
        return result


def write_frame(store: ObjectStore, schema: ViewSchema, frame: pd.DataFrame) -> list[str]:
    """Write rows that already carry ``event_id`` (the seeded history), one object per day.

    The frame needs the entity key, both timestamps, the view's fields and ``event_id``;
    the objects get exactly :func:`events_table`'s schema. Returns the keys written.
    """
    arrow = _arrow_schema(schema)
    missing = [name for name in arrow.names if name not in frame.columns]
    if missing:
        raise ValueError(f"view {schema.name}: frame lacks column(s) {', '.join(missing)}")
    stamps = pd.to_datetime(frame[schema.timestamp_field], utc=True)
    keys = []
    for day, rows in frame.groupby(stamps.dt.strftime("%Y-%m-%d"), sort=True):
        table = pa.Table.from_pandas(rows[arrow.names], schema=arrow, preserve_index=False)
        key = part_key(partition_prefix(schema.name, str(day)), rows[EVENT_ID_COLUMN])
        store.put(key, parquet_bytes(table))
        keys.append(key)
    return keys


def partition_keys(store: ObjectStore, view: str | None = None) -> list[str]:
    """Every parquet object of the ingested store (of one view when given)."""
    return [k for k in store.list(f"{view}/" if view else "") if k.endswith(".parquet")]


def read_view(store: ObjectStore, view: str) -> pd.DataFrame:
    """Every ingested row of a view (tests, erasure checks, lineage)."""
    tables = []
    for key in partition_keys(store, view):
        data = store.get(key)
        if data is not None:
            tables.append(read_parquet_bytes(data))
    if not tables:
        return pd.DataFrame()
    return pa.concat_tables(tables, promote_options="default").to_pandas()
