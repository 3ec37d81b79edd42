"""Prediction logging for drift detection, off the request path.

A request hands its input and output arrays to :meth:`PredictionLogger.submit`, which
only does a non-blocking put on a bounded queue; when the queue is full the record is
dropped and counted (``mlplatform_prediction_log_dropped_total``), so a slow disk can
never slow or fail a request. A daemon thread serialises records as JSON Lines::

    {"ts": 1764151200.12, "model": "churn", "model_version": "sha-...",
     "features": ["age", ...], "inputs": [[...], ...], "outputs": [[...], ...],
     "entity_ids": ["100001", ...]}

``entity_ids`` (one string per row, the customer each row is about) is present when the
request named them (or was an entity-id lookup); it is what lets the erasure command
(:mod:`workloads.erasure`) remove one customer's rows. A record without it cannot be
attributed and is counted as such in the erasure receipt.

Files are ``predictions-<UTC hour>-<pid>.jsonl`` in the log folder, so several worker
processes never interleave writes and a monitor can read closed hours while the
current one grows. Lines are flushed whenever the queue runs empty and at least every
``flush_interval`` seconds under sustained load.

In the cluster the folder is a small spool and a :class:`~workloads.serving.shipping.
SegmentShipper` moves the log to the tenant's bucket: the writer then closes a segment
(``predictions-<hour>-<pid>-<seq>.jsonl``) every ``segment_seconds`` or
``segment_bytes`` and hands it over; the shipper uploads it with SSE-KMS under
``predictions/<model>/<hour>/`` and deletes the local copy. Neither step is on the
request path, and the spool is bounded (see the shipper).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import orjson

from workloads.serving.metrics import PREDICTION_LOG_DROPPED, PREDICTION_LOG_WRITTEN

if TYPE_CHECKING:
    from workloads.serving.shipping import SegmentShipper

_STOP = object()


class PredictionLogger:
    """Bounded, asynchronous JSON Lines writer of requests and responses."""

    def __init__(
        self,
        directory: Path,
        model: str,
        model_version: str,
        features: list[str],
        *,
        queue_size: int = 10_000,
        flush_interval: float = 1.0,
        shipper: SegmentShipper | None = None,
        segment_seconds: float = 60.0,
        segment_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.directory = directory
        self.model = model
        self.model_version = model_version
        self.features = list(features)
        self.flush_interval = flush_interval
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._dropped = PREDICTION_LOG_DROPPED.labels(model=model)
        self._written = PREDICTION_LOG_WRITTEN.labels(model=model)
        self._thread: threading.Thread | None = None
        self._handle: IO[bytes] | None = None
        self._hour = ""
        self.write_errors = 0
        self.shipper = shipper
        self.segment_seconds = segment_seconds
        self.segment_bytes = segment_bytes
        self._segment: Path | None = None
        self._segment_opened = 0.0
        self._segment_records = 0
        self._sequence = 0

    def start(self) -> None:
        """Create the folder and start the writer thread (and the shipper, if any)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.shipper is not None:
            self.shipper.start()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def submit(
        self, inputs: np.ndarray, outputs: np.ndarray, entity_ids: list[str] | None = None
    ) -> bool:
        """Queue one request's arrays (and row entity ids); never blocks. False when dropped."""
        try:
            self._queue.put_nowait((time.time(), inputs, outputs, entity_ids))
        except queue.Full:
            self._dropped.inc()
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued and stop the writer (bounded by ``timeout``)."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None
        if self.shipper is not None:
            self.shipper.close(timeout)

    def _file(self, ts: float) -> IO[bytes]:
        hour = time.strftime("%Y%m%dT%H", time.gmtime(ts))
        if self._handle is not None and hour != self._hour:
            self._close_segment()
        if self._handle is None:
            name = f"predictions-{hour}-{os.getpid()}"
            if self.shipper is not None:
                self._sequence += 1
                name += f"-{self._sequence:06d}"
            self._segment = self.directory / f"{name}.jsonl"
            self._handle = self._segment.open("ab")
            self._hour = hour
            self._segment_opened = time.monotonic()
            self._segment_records = 0
        return self._handle

    def _close_segment(self) -> None:
        """Close the current file; with a shipper, hand it over for upload."""
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        if self.shipper is not None and self._segment is not None and self._segment_records:
            self.shipper.ship(self._segment, self._hour, self._segment_records)
        self._segment = None

    def _segment_due(self) -> bool:
        """Whether the open segment should be closed and shipped now."""
        if self.shipper is None or self._handle is None or not self._segment_records:
            return False
        if time.monotonic() - self._segment_opened >= self.segment_seconds:
            return True
        return self._handle.tell() >= self.segment_bytes

    def _write(self, item: tuple[float, np.ndarray, np.ndarray, list[str] | None]) -> None:
        ts, inputs, outputs, entity_ids = item
        record: dict[str, Any] = {
            "ts": ts,
            "model": self.model,
            "model_version": self.model_version,
            "features": self.features,
            "inputs": inputs,
            "outputs": outputs,
        }
        if entity_ids is not None:
            record["entity_ids"] = entity_ids
        line = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
        self._file(ts).write(line)
        self._segment_records += 1
        self._written.inc()

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if item is not None:
                try:
                    self._write(item)
                except (OSError, TypeError, orjson.JSONEncodeError):
                    # A full disk must not kill the thread; the count shows it in tests/logs.
                    self.write_errors += 1
            now = time.monotonic()
            # Flush when idle (the queue is drained) or at least every flush_interval.
            idle = item is None or self._queue.empty()
            if self._handle is not None and (idle or now - last_flush >= self.flush_interval):
                self._flush()
                last_flush = now
            if self._segment_due():
                self._close_segment()
        # Drain what arrived before the stop marker was queued.
        self._flush()
        self._close_segment()

    def _flush(self) -> None:
        if self._handle is not None:
            try:
                self._handle.flush()
            except OSError:
                self.write_errors += 1
