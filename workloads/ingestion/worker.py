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
   the messages in the queue: they come back. When a batch fails, its messages are
   retried one at a time, so one message that keeps failing (a poison message) holds
   back no other; on its :data:`~contracts.ingestion.MAX_DELIVERIES`-th delivery a
   failing message is dead-lettered with the error as its reason and acknowledged (the
   same on every queue: JetStream has no redrive; SQS's redrive policy is a backstop).

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

from contracts.ingestion import MAX_DELIVERIES, push_source_name
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
    """Feast's push to the view's push source (:func:`~contracts.ingestion.push_source_name`),
    online only: the offline store is the worker's partitioned store.

    Online stores upsert without comparing timestamps, and events arrive out of order
    across batches: before writing, the writer reads the stored event time of each
    entity (the provider's ``online_read``, the same call serving uses) and skips an
    event older than what the store holds, so the newest value always wins.

    Expiry is the store's: built from :func:`workloads.features.online_store.writer_config`,
    a DynamoDB store writes ``expires_at`` in the same put as the row, Redis sets the
    key's TTL.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

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
        """Push the newest row per entity, unless the store holds a newer one."""
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
            from feast.data_source import PushMode

            self.store.push(
                push_source_name(schema.name), frame, allow_registry_cache=True, to=PushMode.ONLINE
            )
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


def _items(messages: Sequence[Message]) -> list[tuple[str, Any]]:
    return [item for m in messages for item in unpack(m.id, m.body)]


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
        max_deliveries: int = MAX_DELIVERIES,
    ) -> None:
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries must be >= 1, got {max_deliveries}")
        self.schemas = dict(schemas)
        self.offline = offline
        self.online = online
        self.dlq = dlq
        self.on_batch = on_batch
        self.max_deliveries = max_deliveries
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
        created = datetime.now(UTC)
        for view, events in accepted.items():
            schema = self.schemas[view]
            written = self.offline.write(schema, events, created)
            counts.written_offline += written.written
            counts.duplicates += len(written.duplicates)
            if self.online is not None:
                counts.pushed_online += self.online.write(schema, events)
            counts.accepted += len(events)
        # After the stores: a batch that fails there is retried without filing its
        # letters twice.
        if letters:
            self.dlq.send_many(letters)
        counts.rejected = len(letters)
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
        counts = Counts()
        # Delivered more often than allowed (the worker died on its last attempt).
        spent = [m for m in messages if m.receive_count > self.max_deliveries]
        for message in spent:
            counts.add(self._give_up(queue, message, "unknown (no attempt finished)"))
        live = [m for m in messages if m.receive_count <= self.max_deliveries]
        if not live:
            return counts
        try:
            counts.add(self.handle(_items(live), "queue"))
            queue.ack_many([m.receipt for m in live])
            return counts
        except Exception as exc:
            failures = [(live[0], exc)] if len(live) == 1 else []
            if len(live) > 1:
                # Isolate what fails: the others are stored and acknowledged now.
                for message in live:
                    try:
                        counts.add(self.handle(_items([message]), "queue"))
                        queue.ack_many([message.receipt])
                    except Exception as one:
                        failures.append((message, one))
        retry = []
        for message, error in failures:
            if message.receive_count >= self.max_deliveries:
                counts.add(self._give_up(queue, message, f"{type(error).__name__}: {error}"))
            else:
                retry.append(error)
        if retry:  # left unacknowledged: delivered again after the visibility timeout
            raise retry[0]
        return counts

    def _give_up(self, queue: IngestQueue, message: Message, error: str) -> Counts:
        """Dead-letter every event of a message that failed its last allowed delivery."""
        reason = Rejection(
            f"delivery: failed {message.receive_count} deliveries (at most "
            f"{self.max_deliveries}); last error: {' '.join(error.split())[:500]}"
        )
        items = unpack(message.id, message.body)
        self.dlq.send_many([dead_letter(mid, body, reason, "queue") for mid, body in items])
        queue.ack_many([message.receipt])
        counts = Counts(received=len(items), rejected=len(items))
        self.totals.add(counts)
        if self.on_batch is not None:
            self.on_batch(counts)
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
