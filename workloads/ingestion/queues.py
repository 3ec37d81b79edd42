"""The ingestion worker's queues: the loop's SQS/file queues plus batch send and ack.

:mod:`workloads.monitoring.queues` gives the SQS semantics every queue here follows
(receive leases a message under a receipt; an unacknowledged one comes back).
Ingestion adds what throughput needs: ``send_many``/``ack_many`` in batches of ten
(the SQS maximum per call) and, for a body that is not JSON, the raw text so the
dead-letter record shows what the producer sent.
"""

from __future__ import annotations

import json
import pathlib
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from workloads.common.objectstore import ObjectStore, open_store
from workloads.monitoring.queues import FileQueue, Message, NatsQueue, SqsQueue

RAW_LIMIT = 4096
"""Characters of an unreadable body kept in its dead-letter record."""


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

    def receive(self, max_messages: int = 1, visibility_timeout: float = 60.0) -> list[Message]:
        """Receive up to ten messages; a non-JSON body becomes ``{"_unreadable": raw}``."""
        resp = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            VisibilityTimeout=max(0, round(visibility_timeout)),
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        out = []
        for raw in resp.get("Messages", []):
            try:
                body = json.loads(raw["Body"])
            except json.JSONDecodeError:
                body = {"_unreadable": raw["Body"][:RAW_LIMIT]}
            count = int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            out.append(Message(raw["MessageId"], body, raw["ReceiptHandle"], count))
        return out

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


class StoreDeadLetters:
    """Dead letters as JSON Lines objects in the tenant's object store (``store:<uri>``).

    The on-prem site's tenant broker user may create only its own two streams, so its
    dead letters go to the in-country object store (``dead-letter/`` in the tenant
    bucket, SSE-KMS with the tenant key on S3) instead of a third stream. Only
    ``send_many`` is used by the worker; reading them back is for operators and tests.
    """

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def send(self, body: dict[str, Any]) -> str:
        """Write one dead letter."""
        self.send_many([body])
        return "1"

    def send_many(self, bodies: Sequence[dict[str, Any] | str]) -> int:
        """Write one object holding the batch's letters."""
        if not bodies:
            return 0
        lines = [json.dumps(b, sort_keys=True) if isinstance(b, dict) else b for b in bodies]
        key = (
            f"{time.strftime('%Y/%m/%d', time.gmtime())}/{time.time_ns()}-{uuid.uuid4().hex}.jsonl"
        )
        self.store.put(key, ("\n".join(lines) + "\n").encode())
        return len(bodies)

    def letters(self) -> list[dict[str, Any]]:
        """Every dead letter written so far (oldest object first)."""
        out: list[dict[str, Any]] = []
        for key in self.store.list(""):
            data = self.store.get(key) or b""
            out += [json.loads(line) for line in data.decode().splitlines() if line]
        return out

    def receive(self, max_messages: int = 1, visibility_timeout: float = 60.0) -> list[Message]:
        """Dead letters are not consumed by the worker."""
        return []

    def ack(self, receipt: str) -> bool:
        """Nothing to acknowledge."""
        return False

    def ack_many(self, receipts: Sequence[str]) -> int:
        """Nothing to acknowledge."""
        return 0


def open_ingest_queue(
    spec: str, client: Any = None, wait_seconds: int = 0, kms_key: str | None = None
) -> IngestQueue:
    """``sqs:https://...`` (boto3 default chain unless ``client``), ``file:<dir>``,
    ``nats:nats://host:port/STREAM/subject?consumer=NAME`` (credentials from the
    environment, :mod:`contracts.messaging`) or, for dead letters only,
    ``store:<s3://bucket/prefix or folder>``."""
    kind, _, target = spec.partition(":")
    if kind == "file" and target:
        return IngestFileQueue(pathlib.Path(target))
    if kind == "sqs" and target.startswith(("https://", "http://")):
        if client is None:
            import boto3

            client = boto3.client("sqs")
        return IngestSqsQueue(client, target, wait_seconds=wait_seconds)
    if kind == "nats" and target:
        queue = IngestNatsQueue.from_spec(target)
        assert isinstance(queue, IngestNatsQueue)
        return queue
    if kind == "store" and target:
        return StoreDeadLetters(open_store(target, kms_key))
    raise ValueError(
        f"queue {spec!r}: expected 'sqs:https://<queue url>', 'file:<directory>', "
        "'nats:nats://host:port/STREAM/subject?consumer=NAME' or 'store:<uri>' (dead letters)"
    )
