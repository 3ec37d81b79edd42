"""Retraining triggers: emitted when a drift report fires, handled exactly once per key.

Delivery is at-least-once (a queue redelivers anything not acknowledged in time), so
the handler is idempotent: every trigger carries a ``dedupe_key`` derived from the
model, the window bounds, the drifted feature set and the reference digest (see
:meth:`DriftReport.dedupe_key`). The handler records a key only after the retraining
action returned, then acknowledges; a redelivery of a recorded key is acknowledged
without acting. The one remaining gap, a crash between the action and the record, is
closed by passing the key to the action, which must start at most one run per key
(the local runner names its output directory after it; in the cluster the Job name
is derived from it, so a second create fails with AlreadyExists).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from workloads.monitoring.drift import DriftReport
from workloads.monitoring.queues import TriggerQueue

TRIGGER_TYPE = "retraining-trigger"
_KEY = re.compile(r"^[0-9a-f]{16,64}$")


def trigger_body(report: DriftReport, model_version: str | None = None) -> dict[str, Any]:
    """The message a firing report sends."""
    return {
        "type": TRIGGER_TYPE,
        "dedupe_key": report.dedupe_key(),
        "model": report.model,
        "model_version": model_version,
        "window_start": report.window_start,
        "window_end": report.window_end,
        "n_rows": report.n_rows,
        "drifted_features": report.drifted_features,
        "psi": {
            feature.feature: round(feature.psi, 6) for feature in report.features if feature.drifted
        },
        "reference_sha256": report.reference_sha256,
        "emitted_at": time.time(),
    }


def emit_retraining_trigger(
    report: DriftReport, queue: TriggerQueue, model_version: str | None = None
) -> str | None:
    """Send a trigger if ``report`` fired; return the message id (None if it did not)."""
    if not report.triggered:
        return None
    return queue.send(trigger_body(report, model_version))


class DedupeStore(Protocol):
    """Remembers which trigger keys have been acted on."""

    def seen(self, key: str) -> bool:
        """Whether ``key`` was recorded."""
        ...

    def record(self, key: str) -> None:
        """Record ``key`` (idempotent)."""
        ...


class InMemoryDedupeStore:
    """Keys in a set (tests, one process)."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def seen(self, key: str) -> bool:
        """Whether ``key`` was recorded."""
        with self._lock:
            return key in self._keys

    def record(self, key: str) -> None:
        """Record ``key``."""
        with self._lock:
            self._keys.add(key)


class FileDedupeStore:
    """One empty marker file per key in a directory (survives restarts)."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> pathlib.Path:
        if not _KEY.match(key):  # keys become file names: no paths, no surprises
            raise ValueError(f"dedupe_key {key!r}: must be 16-64 lowercase hex digits")
        return self.directory / key

    def seen(self, key: str) -> bool:
        """Whether the marker exists."""
        return self._path(key).exists()

    def record(self, key: str) -> None:
        """Create the marker (O_EXCL; an existing marker is fine)."""
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self._path(key), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


Outcome = Literal["started", "duplicate", "rejected", "failed"]


@dataclass(frozen=True)
class HandledMessage:
    """What the handler did with one delivery."""

    message_id: str
    dedupe_key: str | None
    outcome: Outcome
    detail: str = ""


class RetrainingHandler:
    """Consumes triggers and calls ``action(body)`` once per dedupe key."""

    def __init__(
        self,
        queue: TriggerQueue,
        action: Callable[[dict[str, Any]], None],
        store: DedupeStore,
        visibility_timeout: float = 300.0,
    ) -> None:
        self.queue = queue
        self.action = action
        self.store = store
        self.visibility_timeout = visibility_timeout

    def poll_once(self, max_messages: int = 10) -> list[HandledMessage]:
        """Handle what is visible now; unacknowledged failures come back later."""
        handled = []
        for msg in self.queue.receive(max_messages, self.visibility_timeout):
            key = msg.body.get("dedupe_key")
            if (
                msg.body.get("type") != TRIGGER_TYPE
                or not isinstance(key, str)
                or not _KEY.match(key)
            ):
                # A message no handler can act on would be redelivered forever: drop it
                # and say so (the queue's dead-letter policy keeps a copy in the cloud).
                self.queue.ack(msg.receipt)
                handled.append(HandledMessage(msg.id, None, "rejected", "not a retraining trigger"))
                continue
            if self.store.seen(key):
                self.queue.ack(msg.receipt)
                handled.append(HandledMessage(msg.id, key, "duplicate"))
                continue
            try:
                self.action(msg.body)
            except Exception as exc:  # leave it unacknowledged: it is retried
                handled.append(
                    HandledMessage(msg.id, key, "failed", f"{type(exc).__name__}: {exc}")
                )
                continue
            self.store.record(key)
            self.queue.ack(msg.receipt)
            handled.append(HandledMessage(msg.id, key, "started"))
        return handled
