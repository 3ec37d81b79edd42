"""Message queues for retraining triggers: SQS on AWS, NATS JetStream on the in-country
site, a file or memory locally.

All four follow SQS semantics, so the handler code is the same everywhere:

- ``send`` returns a message id; the body is a JSON object.
- ``receive`` hands out up to ``max_messages`` visible messages and hides each one for
  ``visibility_timeout`` seconds under a fresh receipt handle.
- ``ack(receipt)`` deletes the message. A message that is not acknowledged before its
  visibility timeout ends is delivered again (at-least-once delivery), so consumers
  must be idempotent; :mod:`workloads.monitoring.trigger` dedupes by key.
"""

from __future__ import annotations

import asyncio
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
                body = self._unreadable(raw)
            count = int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            out.append(Message(raw["MessageId"], body, raw["ReceiptHandle"], count))
        return out

    def _unreadable(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The body a non-JSON message becomes (a trigger: only its id is kept)."""
        return {"_unreadable": raw["MessageId"]}

    def ack(self, receipt: str) -> bool:
        """Delete the message (SQS accepts only the latest receipt handle)."""
        try:
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except self.client.exceptions.ReceiptHandleIsInvalid:
            return False
        return True


def nats_client_options(env: dict[str, str] | None = None) -> dict[str, Any]:
    """A tenant client's broker options from the environment (:mod:`contracts.messaging`):
    user and password from the files ``NATS_USER_FILE``/``NATS_PASSWORD_FILE`` name (the
    mounted Secret), else ``NATS_USER``/``NATS_PASSWORD`` (local runs); CA file and inbox
    prefix. An unreadable credential file is a one-line :class:`ValueError`."""
    from contracts.messaging import (
        NATS_CA_FILE_ENV,
        NATS_INBOX_ENV,
        NATS_PASSWORD_ENV,
        NATS_PASSWORD_FILE_ENV,
        NATS_USER_ENV,
        NATS_USER_FILE_ENV,
    )
    from workloads.common.credentials import read_credential

    env = dict(os.environ) if env is None else env
    return {
        "user": read_credential(env, NATS_USER_FILE_ENV, NATS_USER_ENV),
        "password": read_credential(env, NATS_PASSWORD_FILE_ENV, NATS_PASSWORD_ENV),
        "ca_file": env.get(NATS_CA_FILE_ENV) or None,
        "inbox_prefix": env.get(NATS_INBOX_ENV) or None,
    }


class NatsQueue:
    """A NATS JetStream work queue (the in-country site's broker, :mod:`contracts.messaging`).

    The stream keeps messages on disk with work-queue retention (an acknowledged message
    is deleted) and a five-minute duplicate window keyed on the trigger's ``dedupe_key``
    (``Nats-Msg-Id``), like an SQS FIFO queue. All readers share one durable pull
    consumer with explicit acknowledgement:

    - the visibility timeout is the consumer's ack wait (a receive with another timeout
      updates it; every reader of a stream uses the same one in practice); a timeout of
      0 hands the messages back at once (``nak``), as SQS does;
    - the receipt is the delivery's ack subject plus the lease's end. JetStream accepts an
      acknowledgement of any delivery of a message, so the client refuses one whose lease
      has ended (the message is, or is about to be, delivered again): a stale receipt
      deletes nothing, as with SQS.

    The client is asyncio (``nats-py``); this class runs it on a private event loop in a
    daemon thread so the queue keeps the synchronous interface of the others.
    """

    def __init__(
        self,
        server: str,
        stream: str,
        subject: str,
        consumer: str,
        *,
        user: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        inbox_prefix: str | None = None,
        wait_seconds: float = 2.0,
        timeout: float = 10.0,
        replicas: int = 1,
    ) -> None:
        self.server, self.stream, self.subject, self.consumer = server, stream, subject, consumer
        self.replicas = replicas
        self.max_age_days: int | None = None
        """Maximum age of a message in the stream this client creates (None: no limit)."""
        self.wait_seconds = wait_seconds
        self.timeout = timeout
        self._connect_opts: dict[str, Any] = {
            "servers": [server],
            "connect_timeout": timeout,
            "max_reconnect_attempts": 3,
            "allow_reconnect": True,
        }
        if user is not None:
            self._connect_opts["user"] = user
            self._connect_opts["password"] = password or ""
        if inbox_prefix:
            self._connect_opts["inbox_prefix"] = inbox_prefix
        if ca_file or server.startswith("tls://"):
            import ssl

            self._connect_opts["tls"] = ssl.create_default_context(cafile=ca_file)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None
        self._ack_wait: float | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_spec(
        cls, target: str, env: dict[str, str] | None = None, wait_seconds: float = 2.0
    ) -> NatsQueue:
        """Open the part after ``nats:``; CA and inbox from the environment, user and
        password from the files it names (``NATS_USER_FILE``, ``NATS_PASSWORD_FILE``: the
        mounted Secret), or else from ``NATS_USER``/``NATS_PASSWORD`` (local runs). An
        unreadable credential file is a one-line :class:`ValueError`."""
        from contracts.messaging import (
            nats_spec_max_age_days,
            nats_spec_replicas,
            parse_nats_queue_spec,
        )

        server, stream, subject, consumer = parse_nats_queue_spec(target)
        queue = cls(
            server,
            stream,
            subject,
            consumer,
            wait_seconds=wait_seconds,
            replicas=nats_spec_replicas(target),
            **nats_client_options(env),
        )
        queue.max_age_days = nats_spec_max_age_days(target)
        return queue

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout + 5)

    async def _connect(self) -> None:
        if self._js is not None:
            return
        import nats
        from nats.js.errors import NotFoundError

        self._nc = await nats.connect(**self._connect_opts)
        self._js = self._nc.jetstream(timeout=self.timeout)
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(self._stream_config())

    def _stream_config(self) -> Any:
        """The stream this client creates when it is missing: a file-backed work queue
        (messages older than ``max_age_days`` deleted by the broker, when set)."""
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig

        return StreamConfig(
            name=self.stream,
            subjects=[self.subject],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=300.0,
            num_replicas=self.replicas,
            max_age=float(self.max_age_days * 86400) if self.max_age_days else None,
        )

    async def _consumer(self, ack_wait: float) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig

        await self._connect()
        if self._ack_wait != ack_wait:
            await self._js.add_consumer(
                self.stream,
                ConsumerConfig(
                    durable_name=self.consumer,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=ack_wait,
                    filter_subject=self.subject,
                ),
            )
            self._ack_wait = ack_wait
        if self._sub is None:
            self._sub = await self._js.pull_subscribe_bind(self.consumer, stream=self.stream)
        return self._sub

    def send(self, body: dict[str, Any]) -> str:
        """Publish the JSON body; ``dedupe_key`` becomes the JetStream message id."""

        async def publish() -> str:
            await self._connect()
            headers = {"Nats-Msg-Id": str(body["dedupe_key"])} if body.get("dedupe_key") else None
            ack = await self._js.publish(
                self.subject, json.dumps(body, sort_keys=True).encode(), headers=headers
            )
            return str(ack.seq)

        with self._lock:
            return str(self._run(publish()))

    def receive(self, max_messages: int = 1, visibility_timeout: float = 60.0) -> list[Message]:
        """Pull up to ``max_messages``; an empty stream answers at once, a slow server gets
        ``wait_seconds`` (a fetch that gives up early may leave its messages leased
        until their ack wait ends: they are delivered again then)."""
        from nats.errors import TimeoutError as NatsTimeout

        async def pull() -> list[Message]:
            hand_back = visibility_timeout <= 0
            ack_wait = (self._ack_wait or 60.0) if hand_back else float(visibility_timeout)
            sub = await self._consumer(ack_wait)
            # The lease starts when the server delivers; taking the time before asking
            # makes the client's view of its end a little early, never late.
            asked_ns = time.time_ns()
            try:
                raws = await sub.fetch(max(1, max_messages), timeout=self.wait_seconds)
            except NatsTimeout:
                return []
            out = []
            for raw in raws:
                meta = raw.metadata
                lease_end = 0 if hand_back else asked_ns + int(ack_wait * 1e9)
                try:
                    body = json.loads(raw.data)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    body = {"_unreadable": str(meta.sequence.stream)}
                if hand_back:
                    await raw.nak()
                out.append(
                    Message(
                        str(meta.sequence.stream),
                        body,
                        f"{raw.reply} {lease_end}",
                        int(meta.num_delivered),
                    )
                )
            return out

        with self._lock:
            return list(self._run(pull()))

    def ack(self, receipt: str) -> bool:
        """Acknowledge (delete) the delivery if its lease has not ended."""
        reply, _, lease_end = receipt.partition(" ")
        if (
            not reply.startswith(f"$JS.ACK.{self.stream}.{self.consumer}.")
            or not lease_end.isdigit()
        ):
            return False
        if time.time_ns() >= int(lease_end):
            return False

        async def ack() -> bool:
            await self._connect()
            await self._nc.request(reply, b"+ACK", timeout=self.timeout)
            return True

        with self._lock:
            return bool(self._run(ack()))

    def __len__(self) -> int:
        async def count() -> int:
            await self._connect()
            info = await self._js.stream_info(self.stream)
            return int(info.state.messages)

        with self._lock:
            return int(self._run(count()))

    def close(self) -> None:
        """Drain the connection, end the client's tasks and stop the event loop."""

        async def shutdown() -> None:
            if self._nc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._nc.close(), timeout=2.0)
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._run(shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()


def open_queue(spec: str) -> TriggerQueue:
    """Open ``file:DIR``, ``sqs:URL`` (boto3's default credential chain and region) or
    ``nats:nats://host:port/STREAM/subject?consumer=NAME`` (``tls://`` in the cluster;
    user and password from the files the environment names, CA and inbox prefix from the
    environment, see :mod:`contracts.messaging` and :meth:`NatsQueue.from_spec`)."""
    kind, _, target = spec.partition(":")
    if kind == "file" and target:
        return FileQueue(pathlib.Path(target))
    if kind == "sqs" and target.startswith("https://"):
        import boto3

        return SqsQueue(boto3.client("sqs"), target)
    if kind == "nats":
        return NatsQueue.from_spec(target)
    raise ValueError(
        f"queue {spec!r}: expected 'file:<directory>', 'sqs:https://<queue url>' or "
        "'nats:nats://host:port/STREAM/subject?consumer=NAME'"
    )
