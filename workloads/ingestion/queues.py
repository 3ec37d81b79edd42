"""The ingestion worker's queues: the loop's SQS/file queues plus batch send and ack.

:mod:`workloads.monitoring.queues` gives the SQS semantics every queue here follows
(receive leases a message under a receipt; an unacknowledged one comes back).
Ingestion adds what throughput needs: ``send_many``/``ack_many`` in batches of ten
(the SQS maximum per call) and, for a body that is not JSON, the raw text so the
dead-letter record shows what the producer sent. Dead letters go to a queue of the same
kind: the tenant's SQS DLQ on AWS, its dead-letter stream on the on-prem broker
(:class:`NatsDeadLetters`), a folder locally.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from workloads.monitoring.queues import (
    FileQueue,
    Message,
    NatsQueue,
    SqsQueue,
    nats_client_options,
)

RAW_LIMIT = 4096
"""Characters of an unreadable body kept in its dead-letter record."""
DEAD_LETTER_DUPLICATE_WINDOW = 120.0
"""Seconds in which the dead-letter stream drops a letter with an id it already holds."""


class IngestQueue(Protocol):
    """What the worker and the producers use."""

    def send(self, body: dict[str, Any]) -> str:
        """Enqueue one JSON object."""
        ...

    def receive(self, max_messages: int = 1, visibility_timeout: float = 60.0) -> list[Message]:
        """Lease up to ``max_messages`` messages."""
        ...

    def ack(self, receipt: str) -> bool:
        """Delete a leased message."""
        ...

    def send_many(self, bodies: Sequence[dict[str, Any] | str]) -> int:
        """Enqueue many bodies (a ``str`` is sent verbatim); return how many were sent."""
        ...

    def ack_many(self, receipts: Sequence[str]) -> int:
        """Delete many leased messages; return how many were deleted."""
        ...


class IngestSqsQueue(SqsQueue):
    """SQS with batched send/delete and the raw text of unreadable bodies."""

    def _unreadable(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A non-JSON body becomes ``{"_unreadable": raw}`` (its text, for the dead letter)."""
        return {"_unreadable": raw["Body"][:RAW_LIMIT]}

    def send_many(self, bodies: Sequence[dict[str, Any] | str]) -> int:
        """``SendMessageBatch`` in tens; a failed entry raises (nothing silently lost)."""
        sent = 0
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": b if isinstance(b, str) else json.dumps(b, sort_keys=True),
                }
                for i, b in enumerate(chunk)
            ]
            resp = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if resp.get("Failed"):
                raise RuntimeError(f"{self.queue_url}: send failed: {resp['Failed'][0]}")
            sent += len(resp.get("Successful", []))
        return sent

    def ack_many(self, receipts: Sequence[str]) -> int:
        """``DeleteMessageBatch`` in tens; return how many SQS deleted."""
        deleted = 0
        for start in range(0, len(receipts), 10):
            chunk = receipts[start : start + 10]
            resp = self.client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)],
            )
            deleted += len(resp.get("Successful", []))
        return deleted

    def depth(self) -> int:
        """Visible plus in-flight messages (what KEDA's SQS scaler counts)."""
        attrs = self.client.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )


class IngestFileQueue(FileQueue):
    """The local file queue with the batch operations (one file per message)."""

    def send_many(self, bodies: Sequence[dict[str, Any] | str]) -> int:
        """Write each body; a ``str`` is written verbatim (so tests can send bad JSON)."""
        for body in bodies:
            if isinstance(body, str):
                name = f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"
                (self.directory / name).write_text(body, encoding="utf-8")
            else:
                self.send(body)
        return len(bodies)

    def ack_many(self, receipts: Sequence[str]) -> int:
        """Acknowledge each receipt."""
        return sum(1 for receipt in receipts if self.ack(receipt))

    def depth(self) -> int:
        """Messages not yet acknowledged."""
        return len(self)


class IngestNatsQueue(NatsQueue):
    """The on-prem broker's JetStream work queue (:mod:`contracts.messaging`, purpose
    ``ingestion``) with the batch operations."""

    def send_many(self, bodies: Sequence[dict[str, Any] | str]) -> int:
        """Publish each body (a ``str`` is wrapped as an unreadable body is on receive)."""
        for body in bodies:
            self.send(body if isinstance(body, dict) else {"_unreadable": body[:RAW_LIMIT]})
        return len(bodies)

    def ack_many(self, receipts: Sequence[str]) -> int:
        """Acknowledge each delivery."""
        return sum(1 for receipt in receipts if self.ack(receipt))

    def depth(self) -> int:
        """Messages in the stream (work-queue retention: not yet acknowledged)."""
        return len(self)


class NatsDeadLetters(NatsQueue):
    """The tenant's dead-letter stream on the on-prem broker (purpose
    :data:`contracts.messaging.DEAD_LETTERS`, spec from
    :func:`contracts.messaging.nats_dead_letter_spec`).

    The worker creates it when missing, as every client creates its stream: file-backed,
    limits retention (a letter stays until it is ``max_age_days`` old; reading one does
    not remove it), new letters refused rather than old ones dropped when the tenant's
    JetStream storage is full (the batch then fails and comes back), and a two-minute
    duplicate window on the letter's ``message_id`` (``Nats-Msg-Id``), so a batch
    retried after a failure does not file its letters twice. The tenant's user may
    append and read letters by sequence (:func:`contracts.messaging.tenant_permissions`)
    but not consume, delete or purge them.
    """

    def __init__(
        self, server: str, stream: str, subject: str, *, max_age_days: int, **options: Any
    ) -> None:
        super().__init__(server, stream, subject, "", **options)
        self.max_age_days: int | None = max_age_days
        self._last = ""

    @classmethod
    def from_dead_letter_spec(
        cls, target: str, env: dict[str, str] | None = None
    ) -> NatsDeadLetters:
        """Open the part after ``nats:`` of a dead-letter spec (credentials as for every
        broker client, :func:`~workloads.monitoring.queues.nats_client_options`)."""
        from contracts.messaging import (
            nats_spec_max_age_days,
            nats_spec_replicas,
            parse_nats_stream_spec,
        )

        server, stream, subject = parse_nats_stream_spec(target)
        days = nats_spec_max_age_days(target)
        if days is None:
            raise ValueError(f"queue 'nats:{target}': dead letters need max_age_days=N")
        return cls(
            server,
            stream,
            subject,
            max_age_days=days,
            replicas=nats_spec_replicas(target),
            **nats_client_options(env),
        )

    def _stream_config(self) -> Any:
        from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

        return StreamConfig(
            name=self.stream,
            subjects=[self.subject],
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.NEW,
            storage=StorageType.FILE,
            max_age=float((self.max_age_days or 0) * 86400),
            duplicate_window=DEAD_LETTER_DUPLICATE_WINDOW,
            num_replicas=self.replicas,
        )

    def send(self, body: dict[str, Any]) -> str:
        """Append one dead letter; return its stream sequence."""
        self.send_many([body])
        return self._last

    def send_many(self, bodies: Sequence[dict[str, Any] | str]) -> int:
        """Append each letter (awaiting the stream's acknowledgement of each); a letter
        the stream refuses raises, so the batch is not acknowledged."""

        async def publish() -> str:
            await self._connect()
            acks = await asyncio.gather(
                *(
                    self._js.publish(
                        self.subject,
                        json.dumps(b if isinstance(b, dict) else {"_unreadable": b}).encode(),
                        headers=(
                            {"Nats-Msg-Id": str(b["message_id"])}
                            if isinstance(b, dict) and b.get("message_id")
                            else None
                        ),
                    )
                    for b in bodies
                )
            )
            return str(acks[-1].seq) if acks else ""

        if not bodies:
            return 0
        with self._lock:
            self._last = str(self._run(publish()))
        return len(bodies)

    def letters(self) -> list[dict[str, Any]]:
        """Every letter the stream still holds, oldest first (read by sequence)."""
        from nats.js.errors import NotFoundError

        async def read() -> list[dict[str, Any]]:
            await self._connect()
            state = (await self._js.stream_info(self.stream)).state
            out: list[dict[str, Any]] = []
            if not state.messages:
                return out
            for seq in range(state.first_seq, state.last_seq + 1):
                try:
                    raw = await self._js.get_msg(self.stream, seq)
                except NotFoundError:  # expired or never stored (a deduplicated resend)
                    continue
                out.append(json.loads(raw.data or b"{}"))
            return out

        with self._lock:
            return list(self._run(read()))

    def receive(self, max_messages: int = 1, visibility_timeout: float = 60.0) -> list[Message]:
        """Dead letters are not consumed by the worker."""
        return []

    def ack(self, receipt: str) -> bool:
        """Nothing to acknowledge."""
        return False

    def ack_many(self, receipts: Sequence[str]) -> int:
        """Nothing to acknowledge."""
        return 0

    def depth(self) -> int:
        """Letters the stream holds."""
        return len(self)


def open_ingest_queue(spec: str, client: Any = None, wait_seconds: int = 0) -> IngestQueue:
    """``sqs:https://...`` (boto3 default chain unless ``client``), ``file:<dir>``, or
    ``nats:nats://host:port/STREAM/subject?consumer=NAME`` (a work queue; credentials
    from the environment, :mod:`contracts.messaging`) or, for dead letters,
    ``nats:nats://host:port/STREAM/subject?max_age_days=N`` (no consumer)."""
    kind, _, target = spec.partition(":")
    if kind == "file" and target:
        return IngestFileQueue(pathlib.Path(target))
    if kind == "sqs" and target.startswith(("https://", "http://")):
        if client is None:
            import boto3

            client = boto3.client("sqs")
        return IngestSqsQueue(client, target, wait_seconds=wait_seconds)
    if kind == "nats" and target:
        from contracts.messaging import nats_spec_has_consumer

        if not nats_spec_has_consumer(target):
            return NatsDeadLetters.from_dead_letter_spec(target)
        queue = IngestNatsQueue.from_spec(target)
        assert isinstance(queue, IngestNatsQueue)
        return queue
    raise ValueError(
        f"queue {spec!r}: expected 'sqs:https://<queue url>', 'file:<directory>', "
        "'nats:nats://host:port/STREAM/subject?consumer=NAME' or, for dead letters, "
        "'nats:nats://host:port/STREAM/subject?max_age_days=N'"
    )
