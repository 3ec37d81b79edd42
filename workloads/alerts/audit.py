"""Append-only, hash-chained audit log of automated decisions (JSON Lines).

Each record holds who acted, what was done, why, and the metrics behind it, plus
``prev_sha256`` (the previous record's hash; 64 zeros for the first) and ``sha256``,
the SHA-256 of the record's canonical JSON without the ``sha256`` field. Editing,
deleting or reordering any record breaks the chain from that point on, which
:func:`verify_audit_log` reports with the line number. (A chain shows tampering; it
cannot stop someone with write access from rewriting the whole file, so in the
platform the file is shipped to the tenant's object-locked audit bucket.)

Appends take an exclusive ``flock`` and read the last record's hash under it, so
several processes can share one log without forking the chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pathlib
import time
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats (JSON has none) by strings so metrics can be logged."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


class AuditLog:
    """Appends hash-chained records to one JSON Lines file."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _last(self, handle: Any) -> tuple[int, str]:
        """(sequence number, hash) of the last record, read from the end of the file."""
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return 0, GENESIS
        chunk = min(size, 65_536)
        while True:
            handle.seek(size - chunk)
            tail = handle.read(chunk).rstrip(b"\n")
            if b"\n" in tail or chunk == size:
                last = tail.rsplit(b"\n", 1)[-1]
                record = json.loads(last)
                return int(record["seq"]), str(record["sha256"])
            chunk = min(size, chunk * 4)

    def append(
        self, *, who: str, what: str, why: str, metrics: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Write one record and return it (with its ``seq`` and hashes)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                seq, prev = self._last(handle)
                record: dict[str, Any] = {
                    "seq": seq + 1,
                    "ts": time.time(),
                    "who": who,
                    "what": what,
                    "why": why,
                    "metrics": _json_safe(metrics or {}),
                    **_json_safe(extra),
                    "prev_sha256": prev,
                }
                record["sha256"] = _digest(record)
                line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
                handle.write(line.encode())
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return record

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first (no verification; use :func:`verify_audit_log`)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]


@dataclass(frozen=True)
class AuditVerification:
    """Outcome of checking a log's hash chain."""

    ok: bool
    records: int
    message: str
    bad_line: int | None = None


def verify_audit_log(path: pathlib.Path) -> AuditVerification:
    """Check every record's hash and link; report the first broken line."""
    path = pathlib.Path(path)
    if not path.exists():
        return AuditVerification(True, 0, f"{path}: no audit log yet")
    prev = GENESIS
    count = 0
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                return AuditVerification(False, count, f"{path}:{lineno}: empty line", lineno)
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                return AuditVerification(False, count, f"{path}:{lineno}: not JSON", lineno)
            if not isinstance(record, dict):
                return AuditVerification(False, count, f"{path}:{lineno}: not an object", lineno)
            if record.get("prev_sha256") != prev:
                return AuditVerification(
                    False,
                    count,
                    f"{path}:{lineno}: chain broken (prev_sha256 does not match line "
                    f"{lineno - 1}; a record was removed, inserted or reordered)",
                    lineno,
                )
            try:
                digest = _digest(record)
            except ValueError:
                return AuditVerification(False, count, f"{path}:{lineno}: bad values", lineno)
            if record.get("sha256") != digest:
                return AuditVerification(
                    False, count, f"{path}:{lineno}: record was modified (hash mismatch)", lineno
                )
            if record.get("seq") != lineno:
                return AuditVerification(
                    False, count, f"{path}:{lineno}: sequence {record.get('seq')!r}", lineno
                )
            prev = digest
            count += 1
    return AuditVerification(True, count, f"{path}: {count} records, chain intact")
