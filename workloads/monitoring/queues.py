"""Message queues for retraining triggers: SQS in the platform, a file or memory locally.

All three follow SQS semantics, so the handler code is the same everywhere:

- ``send`` returns a message id; the body is a JSON object.
- ``receive`` hands out up to ``max_messages`` visible messages and hides each one for
  ``visibility_timeout`` seconds under a fresh receipt handle.
- ``ack(receipt)`` deletes the message. A message that is not acknowledged before its
  visibility timeout ends is delivered again (at-least-once delivery), so consumers
  must be idempotent; :mod:`workloads.monitoring.trigger` dedupes by key.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """One delivery of a queued message."""

    id: str
    body: dict[str, Any]
    receipt: str
    receive_count: int


class TriggerQueue(Protocol):
    """The queue operations the monitor and the retraining handler use."""

    def send(self, body: dict[str, Any]) -> str:
        """Enqueue ``body``; return the message id."""
        ...

    def receive(self, max_messages: int = 1, visibility_timeout: float = 60.0) -> list[Message]:
        """Return up to ``max_messages`` visible messages and hide them for a while."""
        ...

    def ack(self, receipt: str) -> bool:
        """Delete the message delivered under ``receipt``; False if the receipt is stale."""
        ...


class InMemoryQueue:
    """A queue inside one process (tests, single-process demos)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # id -> [body, visible_at, receive_count, receipt]
        self._messages: dict[str, list[Any]] = {}

    def send(self, body: dict[str, Any]) -> str:
        """Enqueue ``body``."""
        msg_id = uuid.uuid4().hex
        with self._lock:
            self._messages[msg_id] = [json.loads(json.dumps(body)), 0.0, 0, None]
        return msg_id

    def receive(self, max_messages: int = 1, visibility_timeout: float = 60.0) -> list[Message]:
        """Deliver visible messages in send order."""
        now = self._clock()
        out: list[Message] = []
        with self._lock:
            for msg_id, entry in self._messages.items():
                if len(out) >= max_messages:
                    break
                if entry[1] > now:
                    continue
                entry[1] = now + visibility_timeout
                entry[2] += 1
                entry[3] = uuid.uuid4().hex
                out.append(Message(msg_id, json.loads(json.dumps(entry[0])), entry[3], entry[2]))
        return out

    def ack(self, receipt: str) -> bool:
        """Delete the message whose current receipt is ``receipt``."""
        with self._lock:
            for msg_id, entry in self._messages.items():
                if entry[3] == receipt:
                    del self._messages[msg_id]
                    return True
        return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)


class FileQueue:
    """A queue in a directory, safe across processes on one machine (local runs).

    Each message is ``<seq>-<id>.json``; its lease (receipt, visible-at, count) is a
    sidecar ``.lease`` file. An exclusive ``flock`` on ``.lock`` serialises receive and
    ack, so two consumers never lease the same message at once.
    """

    def __init__(self, directory: pathlib.Path, clock: Callable[[], float] = time.time) -> None:
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._clock = clock

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.directory / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _write(path: pathlib.Path, data: dict[str, Any]) -> None:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)

    def send(self, body: dict[str, Any]) -> str:
        """Write the message atomically (a reader never sees half a message)."""
        msg_id = uuid.uuid4().hex
        name = f"{time.time_ns():020d}-{msg_id}.json"
        self._write(self.directory / name, body)
        return msg_id

    def receive(self, max_messages: int = 1, visibility_timeout: float = 60.0) -> list[Message]:
        """Lease visible messages, oldest first."""
        out: list[Message] = []
        with self._locked():
            now = self._clock()
            for path in sorted(self.directory.glob("*.json")):
                if len(out) >= max_messages:
                    break
                lease_path = path.with_suffix(".lease")
                lease = (
                    json.loads(lease_path.read_text(encoding="utf-8"))
                    if lease_path.exists()
                    else {"visible_at": 0.0, "count": 0}
                )
                if lease["visible_at"] > now:
                    continue
                try:
                    body = json.loads(path.read_text(encoding="utf-8"))
                except json.JSONDecodeError:
                    body = {"_unreadable": path.name}
                receipt = f"{path.stem}:{uuid.uuid4().hex}"
                count = int(lease["count"]) + 1
                self._write(
                    lease_path,
                    {"visible_at": now + visibility_timeout, "count": count, "receipt": receipt},
                )
                out.append(Message(path.stem.split("-", 1)[1], body, receipt, count))
        return out

    def ack(self, receipt: str) -> bool:
        """Delete the message if ``receipt`` is its current lease."""
        stem = receipt.split(":", 1)[0]
        if "/" in stem or stem.startswith("."):
            return False
        path = self.directory / f"{stem}.json"
        lease_path = path.with_suffix(".lease")
        with self._locked():
            if not lease_path.exists():
                return False
            lease = json.loads(lease_path.read_text(encoding="utf-8"))
            if lease.get("receipt") != receipt:
                return False
            path.unlink(missing_ok=True)
            lease_path.unlink(missing_ok=True)
        return True

    def __len__(self) -> int:
        return len(list(self.directory.glob("*.json")))


class SqsQueue:
    """Amazon SQS through boto3 (the platform's queue; tenant-scoped, KMS-encrypted).

    For a FIFO queue (URL ending ``.fifo``) the trigger's ``dedupe_key`` becomes the
    ``MessageDeduplicationId``, so SQS itself drops a resend within five minutes; the
    consumer-side dedupe still covers redeliveries after that.
    """

    def __init__(self, client: Any, queue_url: str, wait_seconds: int = 0) -> None:
        self.client = client
        self.queue_url = queue_url
        self.wait_seconds = wait_seconds
        self.fifo = queue_url.endswith(".fifo")

    def send(self, body: dict[str, Any]) -> str:
        """Send the JSON body; FIFO queues get group and deduplication ids."""
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MessageBody": json.dumps(body, sort_keys=True),
        }
        if self.fifo:
            kwargs["MessageGroupId"] = str(body.get("model", "default"))
            kwargs["MessageDeduplicationId"] = str(body.get("dedupe_key") or uuid.uuid4().hex)
        return str(self.client.send_message(**kwargs)["MessageId"])

    def receive(self, max_messages: int = 1, visibility_timeout: float = 60.0) -> list[Message]:
        """Receive up to ten messages (the SQS maximum per call)."""
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
                body = {"_unreadable": raw["MessageId"]}
            count = int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            out.append(Message(raw["MessageId"], body, raw["ReceiptHandle"], count))
        return out

    def ack(self, receipt: str) -> bool:
        """Delete the message (SQS accepts only the latest receipt handle)."""
        try:
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except self.client.exceptions.ReceiptHandleIsInvalid:
            return False
        return True


def open_queue(spec: str) -> TriggerQueue:
    """Open ``file:DIR`` or ``sqs:URL`` (boto3's default credential chain and region)."""
    kind, _, target = spec.partition(":")
    if kind == "file" and target:
        return FileQueue(pathlib.Path(target))
    if kind == "sqs" and target.startswith("https://"):
        import boto3

        return SqsQueue(boto3.client("sqs"), target)
    raise ValueError(f"queue {spec!r}: expected 'file:<directory>' or 'sqs:https://<queue url>'")
