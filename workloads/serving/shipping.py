"""Ship closed prediction-log segments to the tenant's bucket, off the request path.

The prediction logger closes a segment every minute (or few MiB) and calls
:meth:`SegmentShipper.ship`, which only appends to a list; a daemon thread uploads each
segment to ``<uri><model>/<UTC hour>/<host>-<pid>-<seq>.jsonl`` with SSE-KMS and the
tenant key (:class:`~workloads.common.objectstore.S3Store`), then deletes the local
file. Where the drift monitor reads it: :mod:`workloads.monitoring.remote`. On the
in-country site there is no key: the store's writes follow
:func:`workloads.common.s3.sse_arguments` (no SSE argument only in the explicit
``MLPLATFORM_OBJECT_STORE_SSE=store`` mode with the store's endpoint; otherwise every
upload is refused, and the server refuses to start, so nothing is written unencrypted).

Bounded: the spool (an ``emptyDir`` with a size limit in the pod) never holds more than
``max_spool_bytes`` of closed segments; when the store is unreachable for long enough
to fill it, the oldest segments are dropped and their records counted in
``mlplatform_prediction_log_dropped_total``, exactly like a full in-memory queue. A
failed upload is retried with a growing pause (at most ``max_backoff`` seconds).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from workloads.common.objectstore import ObjectStore, ObjectStoreError
from workloads.serving.metrics import PREDICTION_LOG_DROPPED


@dataclass(frozen=True)
class Segment:
    """A closed segment waiting for upload."""

    path: Path
    hour: str
    records: int
    size: int


class SegmentShipper:
    """Uploads closed segments of one model's log; bounded, never blocks the caller."""

    def __init__(
        self,
        store: ObjectStore,
        model: str,
        *,
        max_spool_bytes: int = 256 * 1024 * 1024,
        max_backoff: float = 60.0,
    ) -> None:
        self.store = store
        self.model = model
        self.max_spool_bytes = max_spool_bytes
        self.max_backoff = max_backoff
        self.uploaded = 0
        """Segments uploaded."""
        self.dropped_segments = 0
        """Segments dropped because the spool was full."""
        self.failures = 0
        """Upload attempts that failed (each is retried)."""
        self._host = socket.gethostname().split(".")[0] or "host"
        self._pending: deque[Segment] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped = PREDICTION_LOG_DROPPED.labels(model=model)

    def start(self) -> None:
        """Start the upload thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-ship", daemon=True)
            self._thread.start()

    def ship(self, path: Path, hour: str, records: int) -> None:
        """Queue a closed segment; drop the oldest ones beyond the spool bound."""
        try:
            size = path.stat().st_size
        except OSError:
            return
        with self._lock:
            self._pending.append(Segment(path, hour, records, size))
            while (
                len(self._pending) > 1 and sum(s.size for s in self._pending) > self.max_spool_bytes
            ):
                oldest = self._pending.popleft()
                self.dropped_segments += 1
                self._dropped.inc(oldest.records)
                with contextlib.suppress(OSError):
                    oldest.path.unlink()
        self._wake.set()

    def key(self, segment: Segment) -> str:
        """Object key of a segment: ``<model>/<hour>/<host>-<local file stem>.jsonl``."""
        return f"{self.model}/{segment.hour}/{self._host}-{segment.path.stem}.jsonl"

    def pending(self) -> int:
        """Segments not uploaded yet."""
        with self._lock:
            return len(self._pending)

    def close(self, timeout: float = 5.0) -> None:
        """Upload what is pending (bounded by ``timeout``) and stop the thread."""
        deadline = time.monotonic() + timeout
        while self.pending() and time.monotonic() < deadline and self._thread is not None:
            self._wake.set()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
            self._thread = None

    def _upload_one(self) -> bool:
        """Upload the oldest pending segment; False when it failed (retry later)."""
        with self._lock:
            if not self._pending:
                return True
            segment = self._pending[0]
        try:
            self.store.put(self.key(segment), segment.path.read_bytes())
        except (ObjectStoreError, OSError):
            self.failures += 1
            return False
        with self._lock:
            if self._pending and self._pending[0] is segment:
                self._pending.popleft()
        self.uploaded += 1
        with contextlib.suppress(OSError):
            os.unlink(segment.path)
        return True

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            while self.pending() and not self._stop.is_set():
                if self._upload_one():
                    backoff = 0.5
                    continue
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        # One last pass for what close() is waiting on.
        while self.pending() and self._upload_one():
            pass
