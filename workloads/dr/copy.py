"""Copy folders of one S3 endpoint's bucket to another's, keeping object-lock retention.

Used in both directions: the scheduled backup (AWS S3 in me-central-1 -> the in-country
store) and a restore (the in-country store -> a rebuilt site). Every object is read
once, its SHA-256 computed from the bytes, and written with that checksum
(``ChecksumAlgorithm=SHA256``: the store rejects a body that arrives different). An
object under object lock is written with the same mode and retain-until date, so an
audit record locked in ``COMPLIANCE`` mode stays undeletable on the copy for exactly as
long as on the original; the destination bucket must have object lock enabled for
those.

Objects whose copy already holds the same SHA-256 (kept as ``x-amz-meta-sha256``) are
skipped, so a run after the first one moves only what changed. Each run returns a
:class:`CopyManifest` (key, size, SHA-256 of every object in scope) that the caller may
write next to the copy.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

SHA_META = "sha256"
"""User metadata key holding the hex SHA-256 of the object (``x-amz-meta-sha256``)."""


class CopyError(RuntimeError):
    """An object could not be listed, read or written; the message is one line."""


@dataclass(frozen=True)
class CopiedObject:
    """One object in scope of a copy run."""

    key: str
    size: int
    sha256: str
    lock_mode: str | None = None
    retain_until: str | None = None
    """ISO 8601 retain-until date of the object's lock, or None."""


@dataclass
class CopyManifest:
    """What a copy run saw and did."""

    started_at: float
    finished_at: float = 0.0
    objects: list[CopiedObject] = field(default_factory=list)
    copied: int = 0
    skipped: int = 0

    @property
    def bytes(self) -> int:
        """Total size of the objects in scope."""
        return sum(o.size for o in self.objects)

    def to_json(self) -> str:
        """The manifest as JSON (sorted keys)."""
        return json.dumps(
            {
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "copied": self.copied,
                "skipped": self.skipped,
                "bytes": self.bytes,
                "objects": [o.__dict__ for o in sorted(self.objects, key=lambda o: o.key)],
            },
            sort_keys=True,
            indent=1,
        )


def _errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def list_keys(client: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Every key under ``prefix`` (paginated)."""
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"])
    except _errors() as exc:
        raise CopyError(f"s3://{bucket}/{prefix}: list failed: {exc}") from None


def _existing_sha(client: Any, bucket: str, key: str) -> str | None:
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except _errors():
        return None
    return head.get("Metadata", {}).get(SHA_META)


def copy_object(
    src: Any, src_bucket: str, src_key: str, dst: Any, dst_bucket: str, dst_key: str
) -> tuple[CopiedObject, bool]:
    """Copy one object (unless the copy already has its SHA-256); return it and whether
    it was written."""
    try:
        obj = src.get_object(Bucket=src_bucket, Key=src_key)
        body: bytes = obj["Body"].read()
    except _errors() as exc:
        raise CopyError(f"s3://{src_bucket}/{src_key}: read failed: {exc}") from None
    digest = hashlib.sha256(body).hexdigest()
    mode = obj.get("ObjectLockMode")
    until = obj.get("ObjectLockRetainUntilDate")
    item = CopiedObject(
        dst_key,
        len(body),
        digest,
        mode,
        until.astimezone(dt.UTC).isoformat() if isinstance(until, dt.datetime) else None,
    )
    if _existing_sha(dst, dst_bucket, dst_key) == digest:
        return item, False
    extra: dict[str, Any] = {
        "ChecksumAlgorithm": "SHA256",
        "ChecksumSHA256": base64.b64encode(bytes.fromhex(digest)).decode(),
        "Metadata": {SHA_META: digest},
    }
    if obj.get("ContentType"):
        extra["ContentType"] = obj["ContentType"]
    if mode and isinstance(until, dt.datetime):
        extra["ObjectLockMode"] = mode
        extra["ObjectLockRetainUntilDate"] = until
    try:
        dst.put_object(Bucket=dst_bucket, Key=dst_key, Body=body, **extra)
    except _errors() as exc:
        raise CopyError(f"s3://{dst_bucket}/{dst_key}: write failed: {exc}") from None
    return item, True


def copy_prefixes(
    src: Any,
    src_bucket: str,
    dst: Any,
    dst_bucket: str,
    prefixes: Iterable[str],
    *,
    dst_folder: str = "",
    src_folder: str = "",
) -> CopyManifest:
    """Copy every object under ``<src_folder>/<prefix>/`` of ``src_bucket`` to
    ``<dst_folder>/<prefix>/`` of ``dst_bucket``; return the run's manifest."""
    manifest = CopyManifest(started_at=time.time())
    for prefix in prefixes:
        src_root = "/".join(p for p in (src_folder.strip("/"), prefix.strip("/")) if p) + "/"
        for key in list_keys(src, src_bucket, src_root):
            relative = key[len(src_folder.strip("/")) + 1 :] if src_folder.strip("/") else key
            dst_key = "/".join(p for p in (dst_folder.strip("/"), relative) if p)
            item, written = copy_object(src, src_bucket, key, dst, dst_bucket, dst_key)
            manifest.objects.append(item)
            if written:
                manifest.copied += 1
            else:
                manifest.skipped += 1
    manifest.finished_at = time.time()
    return manifest
