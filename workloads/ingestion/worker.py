"""The ingestion worker: validate, write offline, push online, dead-letter the rest.

One batch (up to ``batch_size`` messages) at a time:

1. every message is validated (:func:`~workloads.ingestion.schema.validate_event`);
2. rejected ones are sent to the dead-letter queue as ``{"reason", "event_id",
   "message_id", "body", "source", "received_at"}``;
3. accepted ones are written to the partitioned offline store (an id already stored
   is not written again) and pushed to the online store. Redeliveries are pushed
   again: if a previous attempt stored the event offline and died before the online
   write, the retry completes it (an online write is an upsert of the same values);
4. only then is the batch acknowledged. A failure before the acknowledgement leaves
   the messages in the queue: they come back, and after the queue's
   ``maxReceiveCount`` SQS moves them to the dead-letter queue itself.

So nothing is dropped: ``received == accepted + rejected`` for every batch, and
``duplicates`` (already stored) is a part of ``accepted``.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import pandas as pd

from workloads.common.objectstore import ObjectStore
from workloads.ingestion.offline import PartitionedOfflineStore
from workloads.ingestion.queues import IngestQueue, IngestSqsQueue
from workloads.ingestion.schema import Event, Rejection, ViewSchema, validate_event
from workloads.monitoring.queues import Message


@dataclass
class Counts:
    """What a worker (or one batch) handled."""

    received: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    written_offline: int = 0
    pushed_online: int = 0

    @property
    def balanced(self) -> bool:
        """``received == accepted + rejected`` (nothing dropped)."""
        return self.received == self.accepted + self.rejected

    def add(self, other: Counts) -> None:
        """Accumulate another batch."""
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (with ``balanced``)."""
        return {**asdict(self), "balanced": self.balanced}


class OnlineWriter(Protocol):
    """Writes events of one view to the online store; returns how many rows it wrote."""

    def write(self, schema: ViewSchema, events: Sequence[Event]) -> int:
        """Upsert the newest event per entity."""
        ...


def online_frame(schema: ViewSchema, events: Sequence[Event], created: datetime) -> pd.DataFrame:
    """The newest event per entity as the frame Feast's online write takes."""
    newest: dict[int, Event] = {}
    for event in events:
        held = newest.get(event.entity)
        if held is None or event.timestamp >= held.timestamp:
            newest[event.entity] = event
    rows = list(newest.values())
    data: dict[str, Any] = {
        schema.entity_key: [e.entity for e in rows],
        schema.timestamp_field: pd.to_datetime([e.timestamp for e in rows], utc=True),
        schema.created_field: pd.to_datetime([created] * len(rows), utc=True),
    }
    for spec in schema.fields:
        dtype = "int64" if spec.kind == "int64" else "float32"
        data[spec.name] = pd.Series([e.features[spec.name] for e in rows], dtype=dtype)
    return pd.DataFrame(data)


class FeastOnlineWriter:
    """Feast's online write path (what ``FeatureStore.push`` calls for a push source).

    Online stores upsert without comparing timestamps, and events arrive out of order
    across batches: before writing, the writer reads the stored event time of each
    entity (the provider's ``online_read``, the same call serving uses) and skips an
    event older than what the store holds, so the newest value always wins.
    """

    def __init__(self, store: Any, ttl_seconds: int | None = None) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds

    def _stamp_expiry(self, schema: ViewSchema, entities: list[int]) -> None:
        """DynamoDB: set the TTL attribute the tables expire items by (Feast writes none)."""
        from workloads.ingestion import dynamodb

        config = self.store.config
        ids = [
            dynamodb.entity_id(schema.entity_key, e, config.entity_key_serialization_version)
            for e in entities
        ]
        expires = int(time.time()) + int(self.ttl_seconds or 0)
        table = dynamodb.table_name(config, schema.name)
        dynamodb.stamp_expiry(dynamodb.client_for(config), table, ids, expires)

    def _stored_times(self, schema: ViewSchema, entities: list[int]) -> dict[int, datetime]:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        view = self.store.get_feature_view(schema.name)
        keys = [
            EntityKey(join_keys=[schema.entity_key], entity_values=[Value(int64_val=e)])
            for e in entities
        ]
        rows = self.store._get_provider().online_read(
            config=self.store.config, table=view, entity_keys=keys
        )
        out = {}
        for entity, (stamp, _) in zip(entities, rows, strict=True):
            if stamp is not None:
                out[entity] = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        return out

    def write(self, schema: ViewSchema, events: Sequence[Event]) -> int:
        """``write_to_online_store`` of the newest row per entity, unless the store is newer."""
        if not events:
            return 0
        frame = online_frame(schema, events, datetime.now(UTC))
        stored = self._stored_times(schema, [int(e) for e in frame[schema.entity_key]])
        if stored:
            keep = [
                stored.get(int(entity)) is None or stamp >= stored[int(entity)]
                for entity, stamp in zip(
                    frame[schema.entity_key], frame[schema.timestamp_field], strict=True
                )
            ]
            frame = frame[keep].reset_index(drop=True)
        if len(frame):
            self.store.write_to_online_store(schema.name, frame, allow_registry_cache=True)
            if self.ttl_seconds and self.store.config.online_store.type == "dynamodb":
                self._stamp_expiry(schema, [int(e) for e in frame[schema.entity_key]])
        return len(frame)


DEAD_LETTER_BODY_LIMIT = 64 * 1024
"""Characters of a rejected body kept in its dead-letter record."""
MAX_EVENTS_PER_MESSAGE = 1000
"""Events one batch message may carry (a larger one is rejected as a whole)."""


def unpack(message_id: str, body: Any) -> list[tuple[str, Any]]:
    """The events of one message: itself, or each of ``{"events": [...]}`` (a batch).

    Producers batch to cut queue calls (SQS bills and limits per request; 100 events of
    ~300 bytes fit in one message). Each event of a batch is validated, stored or
    dead-lettered on its own, under the id ``<message id>:<index>``; a batch that is not
    a list, or holds more than :data:`MAX_EVENTS_PER_MESSAGE` events, is one rejection.
    """
    if isinstance(body, dict) and set(body) == {"events"}:
        events = body["events"]
        if isinstance(events, list) and 0 < len(events) <= MAX_EVENTS_PER_MESSAGE:
            return [(f"{message_id}:{i}", event) for i, event in enumerate(events)]
        return [(message_id, {"_batch": body})]
    return [(message_id, body)]


def dead_letter(message_id: str, body: Any, rejection: Rejection, source: str) -> dict[str, Any]:
    """The dead-letter record of one rejected event (a body over 64 KiB is truncated so
    the record fits a queue message)."""
    text = json.dumps(body, sort_keys=True, default=str)
    if len(text) > DEAD_LETTER_BODY_LIMIT:
        body = {"_truncated": text[:DEAD_LETTER_BODY_LIMIT], "bytes": len(text)}
    return {
        "reason": rejection.reason,
        "event_id": rejection.event_id,
        "message_id": message_id,
        "body": body,
        "source": source,
        "received_at": datetime.now(UTC).isoformat(),
    }


class IngestionWorker:
    """Consumes one queue into both stores (see the module docstring)."""

    def __init__(
        self,
        schemas: Mapping[str, ViewSchema],
        offline: PartitionedOfflineStore,
        online: OnlineWriter | None,
        dlq: IngestQueue,
        *,
        on_batch: Callable[[Counts], None] | None = None,
    ) -> None:
        self.schemas = dict(schemas)
        self.offline = offline
        self.online = online
        self.dlq = dlq
        self.on_batch = on_batch
        self.totals = Counts()

    def handle(self, items: Sequence[tuple[str, Any]], source: str) -> Counts:
        """Validate and store ``(message id, body)`` pairs; return the batch's counts.

        Raises when a store or the dead-letter queue fails: the caller then must not
        acknowledge the batch (it will be redelivered).
        """
        counts = Counts(received=len(items))
        accepted: dict[str, list[Event]] = defaultdict(list)
        letters = []
        for message_id, body in items:
            result = validate_event(body, self.schemas)
            if isinstance(result, Rejection):
                letters.append(dead_letter(message_id, body, result, source))
            else:
                accepted[result.view].append(result)
        if letters:
            self.dlq.send_many(letters)
        counts.rejected = len(letters)
        created = datetime.now(UTC)
        for view, events in accepted.items():
            schema = self.schemas[view]
            written = self.offline.write(schema, events, created)
            counts.written_offline += written.written
            counts.duplicates += len(written.duplicates)
            if self.online is not None:
                counts.pushed_online += self.online.write(schema, events)
            counts.accepted += len(events)
        if not counts.balanced:  # pragma: no cover - a bug, never a data problem
            raise AssertionError(f"ingestion counts do not balance: {counts.as_dict()}")
        self.totals.add(counts)
        if self.on_batch is not None:
            self.on_batch(counts)
        return counts

    def poll(
        self, queue: IngestQueue, batch_size: int = 100, visibility_timeout: float = 120.0
    ) -> Counts:
        """Lease up to ``batch_size`` messages, store their events, acknowledge them."""
        messages: list[Message] = []
        # Long-poll for the first messages only: once a batch has started, an empty
        # queue must not hold it (and its leases) for another wait.
        sqs = queue if isinstance(queue, IngestSqsQueue) else None
        wait = sqs.wait_seconds if sqs is not None else 0
        try:
            while len(messages) < batch_size:
                got = queue.receive(min(10, batch_size - len(messages)), visibility_timeout)
                if not got:
                    break
                messages += got
                if sqs is not None:
                    sqs.wait_seconds = 0
        finally:
            if sqs is not None:
                sqs.wait_seconds = wait
        if not messages:
            return Counts()
        items = [item for m in messages for item in unpack(m.id, m.body)]
        counts = self.handle(items, "queue")
        queue.ack_many([m.receipt for m in messages])
        return counts

    def drain(
        self,
        queue: IngestQueue,
        *,
        batch_size: int = 100,
        visibility_timeout: float = 120.0,
        max_batches: int | None = None,
    ) -> Counts:
        """Poll until the queue returns nothing (or ``max_batches``); return the sum."""
        total = Counts()
        batches = 0
        while max_batches is None or batches < max_batches:
            counts = self.poll(queue, batch_size, visibility_timeout)
            if not counts.received:
                break
            total.add(counts)
            batches += 1
        return total

    def ingest_landing(
        self, landing: ObjectStore, done: ObjectStore, batch_size: int = 1000
    ) -> Counts:
        """Ingest every JSON Lines file in ``landing`` that has no receipt in ``done`` yet.

        Each line is one event (a line that is not JSON is rejected with its line
        number); the file's receipt (its counts) is written to ``done`` after both
        stores and the dead-letter queue took its events.
        """
        total = Counts()
        for key in landing.list(""):
            name = key.rsplit("/", 1)[-1]
            if not name.endswith((".jsonl", ".json")) or name.startswith("."):
                continue
            receipt_key = f"{key}.receipt.json"
            if done.get(receipt_key) is not None:
                continue
            data = landing.get(key) or b""
            items: list[tuple[str, Any]] = []
            for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    body: Any = json.loads(line)
                except json.JSONDecodeError:
                    body = {"_unreadable": line[:4096]}
                items.append((f"{key}:{lineno}", body))
            counts = Counts()
            for start in range(0, len(items), batch_size):
                counts.add(self.handle(items[start : start + batch_size], f"landing:{key}"))
            receipt = {"file": landing.describe(key), "at": time.time(), **counts.as_dict()}
            done.put(receipt_key, json.dumps(receipt, sort_keys=True).encode())
            total.add(counts)
        return total
