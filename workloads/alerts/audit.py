"""Append-only, keyed (HMAC) audit log of automated decisions, with signed checkpoints.

Records are JSON Lines. Each holds who acted, what was done, why, and the metrics behind
it, plus ``seq`` (1, 2, ...), ``prev_mac`` (the previous record's MAC; 64 zeros for the
first), ``key_id`` and ``mac``: HMAC-SHA256 of the record's canonical JSON (without
``mac``) under the **audit key**. Because the chain is keyed, someone who can write the
file but does not hold the key cannot re-chain it after an edit: editing, deleting,
inserting or reordering a record is reported at its line.

Truncation at the tail leaves a valid prefix, so a chain alone cannot show it. The log
therefore writes **signed checkpoints** (``seq``, the MAC of record ``seq``, time, MAC
under the same key) every ``checkpoint_every`` records and whenever
:meth:`AuditLog.checkpoint` is called (the alert receiver calls it on a timer), into a
separate file ``<log>.checkpoints`` and, with a shipper, into the audit bucket. A log
that ends before a checkpoint's ``seq``, or whose record ``seq`` differs from the
checkpoint, is reported with the first missing or differing record.

Durability: with an :class:`S3Shipper` every record and checkpoint is also written as
its own object to the tenant's audit bucket, with SSE-KMS under the tenant key and an
object-lock retention (``COMPLIANCE`` in prod: nobody, the account root included, can
delete or shorten it). The local file is then a cache: ``verify --bucket`` checks the
shipped copy, and a local file that lost records the bucket holds is reported truncated.
A second version of a shipped object (an overwrite attempt) is reported too.

Keys (``--audit_key``):

- ``kms:<key arn>``: a KMS HMAC_256 key (``GenerateMac``/``VerifyMac``). The key never
  leaves KMS; its key policy lets the alert receiver's IAM role (IRSA) generate and
  verify MACs and nobody in the tenant. This is what the platform deploys on AWS.
- ``file:<path>``: 32+ random bytes (hex or raw) in a file; for local runs and sites
  without KMS. Whoever can read the file can forge records, so keep it off the tenant.

``AuditLog(path)`` without a key uses ``<path>.key`` (created 0600 on first use): the
local lifecycle and tests, where the operator and the writer are the same person.

Appends take an exclusive ``flock`` and read the last record under it, so several
processes can share one log without forking the chain.

``python -m workloads.alerts.audit verify --log FILE [--key K] [--bucket s3://B/P]``
prints the outcome and exits 0 (intact), 1 (tampered: the first bad record is named),
2 (bad usage).
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import pathlib
import secrets
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

GENESIS = "0" * 64
MIN_KEY_BYTES = 32
DEFAULT_CHECKPOINT_EVERY = 50
LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")


class AuditError(RuntimeError):
    """A key, a bucket or a log cannot be used; the message is one line."""


def _canonical(record: dict[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats (JSON has none) by strings so metrics can be logged."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


# -- keys ---------------------------------------------------------------------------------
class MacKey(Protocol):
    """What signs and checks records: a key id and HMAC-SHA256 over bytes."""

    key_id: str

    def mac(self, data: bytes) -> str:
        """Hex MAC of ``data``."""
        ...

    def verify(self, data: bytes, mac: str) -> bool:
        """Whether ``mac`` is the MAC of ``data``."""
        ...


class HmacKey:
    """A key held in memory (read from a file)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_KEY_BYTES:
            raise AuditError(f"audit key must be at least {MIN_KEY_BYTES} bytes")
        self._secret = secret
        # Names the key without revealing it (a MAC of a constant, not a hash of the key).
        self.key_id = (
            "hmac:" + hmac.new(secret, b"mlplatform-audit-key-id", "sha256").hexdigest()[:16]
        )

    @classmethod
    def from_file(cls, path: pathlib.Path) -> HmacKey:
        """Read hex (64+ digits) or raw bytes; one-line error otherwise."""
        try:
            raw = pathlib.Path(path).read_bytes()
        except OSError as exc:
            raise AuditError(f"{path}: cannot read audit key: {exc.strerror}") from None
        text = raw.strip()
        try:
            secret = bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            secret = raw
        if len(secret) < MIN_KEY_BYTES:
            raise AuditError(f"{path}: audit key must hold at least {MIN_KEY_BYTES} bytes")
        return cls(secret)

    def mac(self, data: bytes) -> str:
        """HMAC-SHA256, hex."""
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()

    def verify(self, data: bytes, mac: str) -> bool:
        """Constant-time comparison."""
        return hmac.compare_digest(self.mac(data), str(mac))


class KmsMacKey:
    """A KMS HMAC_256 key: the secret never leaves KMS."""

    def __init__(self, key_id: str, client: Any) -> None:
        self.key_id = f"kms:{key_id}"
        self._kms_key = key_id
        self._client = client

    def mac(self, data: bytes) -> str:
        """``GenerateMac`` (HMAC_SHA_256)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.generate_mac(
                KeyId=self._kms_key, Message=data, MacAlgorithm="HMAC_SHA_256"
            )
        except (BotoCoreError, ClientError) as exc:
            raise AuditError(f"{self.key_id}: GenerateMac failed: {exc}") from None
        return bytes(response["Mac"]).hex()

    def verify(self, data: bytes, mac: str) -> bool:
        """``VerifyMac``; a malformed or wrong MAC is False."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            tag = bytes.fromhex(str(mac))
        except ValueError:
            return False
        try:
            response = self._client.verify_mac(
                KeyId=self._kms_key, Message=data, MacAlgorithm="HMAC_SHA_256", Mac=tag
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"KMSInvalidMacException"}:
                return False
            raise AuditError(f"{self.key_id}: VerifyMac failed: {exc}") from None
        except BotoCoreError as exc:
            raise AuditError(f"{self.key_id}: VerifyMac failed: {exc}") from None
        return bool(response.get("MacValid"))


def local_key_path(log_path: pathlib.Path) -> pathlib.Path:
    """Where a log without an explicit key keeps its key (local runs only)."""
    return pathlib.Path(f"{log_path}.key")


def _local_key(log_path: pathlib.Path) -> HmacKey:
    path = local_key_path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return HmacKey.from_file(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")
    return HmacKey.from_file(path)


def open_key(
    spec: str, *, region: str | None = None, endpoint_url: str | None = None, client: Any = None
) -> MacKey:
    """``file:PATH`` or ``kms:KEY_ARN`` (see the module docstring)."""
    scheme, _, rest = spec.partition(":")
    if scheme == "file" and rest:
        return HmacKey.from_file(pathlib.Path(rest))
    if scheme == "kms" and rest:
        if client is None:
            import boto3

            client = boto3.client("kms", region_name=region, endpoint_url=endpoint_url)
        return KmsMacKey(rest, client)
    raise AuditError(f"audit key {spec!r}: expected file:PATH or kms:KEY_ARN")


# -- shipping to the object-locked bucket ----------------------------------------------------
class S3Shipper:
    """Writes each record and checkpoint as its own object-locked, SSE-KMS object.

    Layout under ``s3://bucket/prefix/<log name>/``: ``records/<seq>.json`` and
    ``checkpoints/<seq>.json`` (``seq`` zero-padded to 12 digits so keys sort).
    """

    def __init__(
        self,
        uri: str,
        *,
        kms_key_id: str | None,
        lock_mode: str | None,
        retention_days: int,
        client: Any,
    ) -> None:
        if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
            raise AuditError(f"audit bucket {uri!r}: expected s3://bucket/prefix")
        if lock_mode is not None and lock_mode not in LOCK_MODES:
            raise AuditError(f"audit lock mode {lock_mode!r}: expected one of {LOCK_MODES}")
        if retention_days < 1:
            raise AuditError(f"audit retention {retention_days} days: must be at least 1")
        self.bucket, _, prefix = uri[5:].partition("/")
        self.prefix = prefix.strip("/")
        self.kms_key_id = kms_key_id
        self.lock_mode = lock_mode
        self.retention_days = retention_days
        self.client = client

    def key(self, log: str, kind: str, seq: int) -> str:
        """Object key of record/checkpoint ``seq`` of log ``log``."""
        parts = [p for p in (self.prefix, log, kind) if p]
        return "/".join([*parts, f"{seq:012d}.json"])

    def put(self, log: str, kind: str, entry: dict[str, Any]) -> None:
        """``PutObject`` with SSE-KMS and the object-lock headers."""
        from botocore.exceptions import BotoCoreError, ClientError

        extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256"}
        if self.kms_key_id:
            extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        if self.lock_mode:
            until = dt.datetime.now(dt.UTC) + dt.timedelta(days=self.retention_days)
            extra |= {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": until}
        body = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        key = self.key(log, kind, int(entry["seq"]))
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        except (BotoCoreError, ClientError) as exc:
            raise AuditError(f"s3://{self.bucket}/{key}: write failed: {exc}") from None

    def shipped_seqs(self, log: str) -> list[int]:
        """Sequence numbers already in the bucket (keys only, no reads)."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = "/".join([p for p in (self.prefix, log, "records") if p]) + "/"
        seqs: list[int] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(prefix) :].removesuffix(".json")
                    if name.isdigit():
                        seqs.append(int(name))
        except (BotoCoreError, ClientError) as exc:
            raise AuditError(f"s3://{self.bucket}/{prefix}: list failed: {exc}") from None
        return seqs

    def shipped(self, log: str, kind: str) -> dict[int, list[dict[str, Any]]]:
        """Every version of every shipped entry, oldest version first, by ``seq``."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = "/".join([p for p in (self.prefix, log, kind) if p]) + "/"
        found: dict[int, list[tuple[Any, str]]] = {}
        try:
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for version in page.get("Versions", []):
                    name = version["Key"][len(prefix) :].removesuffix(".json")
                    if name.isdigit():
                        found.setdefault(int(name), []).append(
                            (version["LastModified"], version["VersionId"])
                        )
            out: dict[int, list[dict[str, Any]]] = {}
            for seq, versions in sorted(found.items()):
                out[seq] = []
                for _, version_id in sorted(versions, key=lambda v: v[0]):
                    obj = self.client.get_object(
                        Bucket=self.bucket, Key=self.key(log, kind, seq), VersionId=version_id
                    )
                    out[seq].append(json.loads(obj["Body"].read()))
        except (BotoCoreError, ClientError) as exc:
            raise AuditError(f"s3://{self.bucket}/{prefix}: read failed: {exc}") from None
        return out


# -- the log ------------------------------------------------------------------------------
def checkpoints_path(log_path: pathlib.Path) -> pathlib.Path:
    """The checkpoint file kept next to a log."""
    return pathlib.Path(f"{log_path}.checkpoints")


class AuditLog:
    """Appends keyed, chained records to one JSON Lines file (and ships them)."""

    def __init__(
        self,
        path: pathlib.Path,
        key: MacKey | None = None,
        *,
        shipper: S3Shipper | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ) -> None:
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.key: MacKey = key if key is not None else _local_key(self.path)
        self.shipper = shipper
        self.checkpoint_every = max(1, checkpoint_every)
        self.ship_failures = 0
        self._ship_lock = threading.Lock()
        self._shipped_seq: int | None = None

    @property
    def name(self) -> str:
        """The log's name in the bucket (its file name without suffix)."""
        return self.path.name.removesuffix(".jsonl")

    def _last(self, handle: Any) -> dict[str, Any] | None:
        """The last record, read from the end of the file."""
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return None
        chunk = min(size, 65_536)
        while True:
            handle.seek(size - chunk)
            tail = handle.read(chunk).rstrip(b"\n")
            if b"\n" in tail or chunk == size:
                record: dict[str, Any] = json.loads(tail.rsplit(b"\n", 1)[-1])
                return record
            chunk = min(size, chunk * 4)

    def append(
        self, *, who: str, what: str, why: str, metrics: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Write one record (fsync'd), ship it, and return it (with ``seq`` and MACs)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                last = self._last(handle)
                record: dict[str, Any] = {
                    **_json_safe(extra),
                    "seq": (int(last["seq"]) if last else 0) + 1,
                    "ts": time.time(),
                    "who": who,
                    "what": what,
                    "why": why,
                    "metrics": _json_safe(metrics or {}),
                    "prev_mac": str(last["mac"]) if last else GENESIS,
                    "key_id": self.key.key_id,
                }
                record["mac"] = self.key.mac(b"record\n" + _canonical(record))
                line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
                handle.write(line.encode())
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        self._ship()
        if record["seq"] % self.checkpoint_every == 0:
            self.checkpoint()
        return record

    def checkpoint(self) -> dict[str, Any] | None:
        """Sign (seq, MAC of the last record, time); append it to the checkpoint file and
        ship it. None when the log is empty or the last checkpoint already covers it."""
        if not self.path.exists():
            return None
        with self.path.open("rb") as handle:
            head = self._last(handle)
        if head is None:
            return None
        cp_path = checkpoints_path(self.path)
        previous = _read_jsonl(cp_path)
        if previous and previous[-1].get("seq") == head["seq"]:
            return None
        entry: dict[str, Any] = {
            "type": "checkpoint",
            "log": self.name,
            "seq": head["seq"],
            "head_mac": head["mac"],
            "ts": time.time(),
            "key_id": self.key.key_id,
        }
        entry["mac"] = self.key.mac(b"checkpoint\n" + _canonical(entry))
        fd = os.open(cp_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as handle:
            handle.write((json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())
        if self.shipper is not None:
            try:
                self.shipper.put(self.name, "checkpoints", entry)
            except AuditError as exc:
                self.ship_failures += 1
                print(f"audit: {exc}", file=sys.stderr, flush=True)
        return entry

    def _ship(self) -> None:
        """Ship every record not shipped yet (retries earlier failures in order)."""
        if self.shipper is None:
            return
        with self._ship_lock:
            try:
                if self._shipped_seq is None:
                    self._shipped_seq = max(self.shipper.shipped_seqs(self.name), default=0)
                # Usually one record: the one just appended (earlier failures retried first).
                for record in self.records()[self._shipped_seq :]:
                    self.shipper.put(self.name, "records", record)
                    self._shipped_seq = int(record["seq"])
            except AuditError as exc:
                self.ship_failures += 1
                print(f"audit: {exc}", file=sys.stderr, flush=True)

    def sync(self) -> None:
        """At start-up: restore records the bucket holds and this file lacks (a new pod's
        empty local copy), after checking their chain, then ship what is unshipped."""
        if self.shipper is not None:
            shipped = self.shipper.shipped(self.name, "records")
            local = self.records()
            if len(shipped) > len(local):
                where = f"s3://{self.shipper.bucket}/{self.name}"
                restored, failure = _check_chain(
                    [(seq, versions[0]) for seq, versions in shipped.items()], self.key, where
                )
                if failure is not None:
                    raise AuditError(f"cannot restore the audit log: {failure.message}")
                if [r["mac"] for r in local] != [r["mac"] for r in restored[: len(local)]]:
                    raise AuditError(
                        f"{self.path}: differs from the records in {where}; "
                        "verify both before appending"
                    )
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                with os.fdopen(fd, "ab") as handle:
                    for record in restored[len(local) :]:
                        line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
                        handle.write(line.encode())
                    handle.flush()
                    os.fsync(handle.fileno())
                self._shipped_seq = len(restored)
        self._ship()

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first (no verification; use :func:`verify_audit_log`)."""
        return _read_jsonl(self.path)


def _read_jsonl(path: pathlib.Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


# -- verification -------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditVerification:
    """Outcome of checking a log: ``bad_line`` is the first bad record's line (= seq)."""

    ok: bool
    records: int
    message: str
    bad_line: int | None = None


def _check_chain(
    entries: Sequence[tuple[int, bytes | dict[str, Any]]], key: MacKey, where: str
) -> tuple[list[dict[str, Any]], AuditVerification | None]:
    """Walk (line, raw) pairs; return the good records and the first failure, if any."""
    prev = GENESIS
    good: list[dict[str, Any]] = []
    for lineno, raw in entries:
        count = len(good)

        def bad(why: str, line: int = lineno, n: int = count) -> AuditVerification:
            return AuditVerification(False, n, f"{where}:{line}: {why}", line)

        if isinstance(raw, bytes):
            if not raw.strip():
                return good, bad("empty line")
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                return good, bad("not JSON")
        else:
            record = raw
        if not isinstance(record, dict):
            return good, bad("not an object")
        try:
            canonical = _canonical(record)
        except ValueError:
            return good, bad("bad values")
        if not key.verify(b"record\n" + canonical, str(record.get("mac", ""))):
            return good, bad("record was modified or not written with this key (MAC mismatch)")
        if record.get("seq") != count + 1 or record.get("prev_mac") != prev:
            return good, bad(
                f"chain broken (expected seq {count + 1} after the previous record, found "
                f"seq {record.get('seq')!r}; a record was removed, inserted or reordered)"
            )
        prev = str(record["mac"])
        good.append(record)
    return good, None


def _check_checkpoints(
    records: list[dict[str, Any]],
    checkpoints: Sequence[dict[str, Any]],
    key: MacKey,
    where: str,
    source: str,
) -> AuditVerification | None:
    """Every valid checkpoint must match the record it names; a missing one is truncation."""
    for cp in checkpoints:
        if not key.verify(b"checkpoint\n" + _canonical(cp), str(cp.get("mac", ""))):
            return AuditVerification(
                False,
                len(records),
                f"{source}: checkpoint seq {cp.get('seq')!r} is not signed with this key",
            )
        seq = int(cp["seq"])
        if seq > len(records):
            when = dt.datetime.fromtimestamp(float(cp["ts"]), dt.UTC).isoformat(timespec="seconds")
            return AuditVerification(
                False,
                len(records),
                f"{where}:{len(records) + 1}: log truncated: the checkpoint of {when} "
                f"({source}) covers {seq} records, the log has {len(records)} "
                f"(records {len(records) + 1}..{seq} are missing)",
                len(records) + 1,
            )
        if records[seq - 1]["mac"] != cp["head_mac"]:
            return AuditVerification(
                False,
                len(records),
                f"{where}:{seq}: record differs from the one the checkpoint ({source}) signed",
                seq,
            )
    return None


def verify_audit_log(
    path: pathlib.Path,
    key: MacKey | None = None,
    *,
    checkpoints: pathlib.Path | None = None,
    shipper: S3Shipper | None = None,
) -> AuditVerification:
    """Check every record's MAC and link, then the checkpoints (the file next to the log,
    and with ``shipper`` the bucket's records and checkpoints); report the first bad line."""
    path = pathlib.Path(path)
    if key is None:
        if not local_key_path(path).exists():
            if not path.exists():
                return AuditVerification(True, 0, f"{path}: no audit log yet")
            return AuditVerification(
                False, 0, f"{path}: no key given and no {local_key_path(path).name} next to it"
            )
        key = HmacKey.from_file(local_key_path(path))
    if not path.exists() and shipper is None:
        return AuditVerification(True, 0, f"{path}: no audit log yet")
    lines: list[tuple[int, bytes | dict[str, Any]]] = []
    if path.exists():
        with path.open("rb") as handle:
            lines = list(enumerate(handle, start=1))
    records, failure = _check_chain(lines, key, str(path))
    if failure is not None:
        return failure
    cp_file = checkpoints if checkpoints is not None else checkpoints_path(path)
    failure = _check_checkpoints(
        records, _read_jsonl(cp_file), key, str(path), f"checkpoint file {cp_file.name}"
    )
    if failure is not None:
        return failure
    if shipper is not None:
        log = path.name.removesuffix(".jsonl")
        where = f"s3://{shipper.bucket}/{shipper.key(log, 'records', 0).rsplit('/', 1)[0]}"
        failure = _verify_shipped(records, shipper, log, key, str(path), where)
        if failure is not None:
            return failure
        return AuditVerification(
            True, len(records), f"{path}: {len(records)} records, chain intact, matches {where}"
        )
    return AuditVerification(True, len(records), f"{path}: {len(records)} records, chain intact")


def _verify_shipped(
    records: list[dict[str, Any]],
    shipper: S3Shipper,
    log: str,
    key: MacKey,
    local: str,
    where: str,
) -> AuditVerification | None:
    shipped = shipper.shipped(log, "records")
    for seq, versions in shipped.items():
        if len(versions) > 1:
            return AuditVerification(
                False, len(records), f"{where}: record {seq} was overwritten in the bucket "
                f"({len(versions)} versions; the first is the original)", seq
            )  # fmt: skip
    # The bucket's copy must itself be an intact chain (its oldest versions).
    bucket_records, failure = _check_chain(
        [(seq, versions[0]) for seq, versions in shipped.items()], key, where
    )
    if failure is not None:
        return failure
    cps = [versions[0] for versions in shipper.shipped(log, "checkpoints").values()]
    failure = _check_checkpoints(bucket_records, cps, key, where, "bucket")
    if failure is not None:
        return failure
    for record in bucket_records:
        seq = int(record["seq"])
        if seq > len(records):
            return AuditVerification(
                False,
                len(records),
                f"{local}:{len(records) + 1}: log truncated: the bucket holds records "
                f"{len(records) + 1}..{len(bucket_records)} that the file lacks",
                len(records) + 1,
            )
        if records[seq - 1]["mac"] != record["mac"]:
            return AuditVerification(
                False, len(records), f"{local}:{seq}: differs from the shipped record", seq
            )
    # The file may be ahead of the bucket (records not shipped yet): checked locally above.
    return _check_checkpoints(records, cps, key, local, "bucket")


# -- opening a log the way the deployed servers do ------------------------------------------
def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    """``--audit_key``, ``--audit_bucket``, ``--audit_lock_mode``, ``--audit_retention_days``
    (servers that write the audit log take the same flags; see :func:`open_audit_log`)."""
    parser.add_argument(
        "--audit_key",
        help="kms:KEY_ARN (KMS HMAC key) or file:PATH; default <audit_log>.key (local runs)",
    )
    parser.add_argument(
        "--audit_bucket", help="s3://bucket/prefix: ship records there (object-locked)"
    )
    parser.add_argument("--audit_lock_mode", choices=list(LOCK_MODES))
    parser.add_argument("--audit_retention_days", type=int, default=365)


def open_audit_log(
    path: pathlib.Path,
    *,
    key: str | None,
    bucket: str | None,
    lock_mode: str | None,
    retention_days: int,
    kms_key: str | None,
    region: str | None,
) -> AuditLog:
    """The keyed log, shipping to the bucket when given; restores and ships what a
    previous pod left (``sync``) before the first append."""
    mac_key = open_key(key, region=region) if key else None
    shipper = None
    if bucket:
        import boto3

        shipper = S3Shipper(
            bucket,
            kms_key_id=kms_key,
            lock_mode=lock_mode,
            retention_days=retention_days,
            client=boto3.client("s3", region_name=region),
        )
    audit = AuditLog(path, mac_key, shipper=shipper)
    audit.sync()
    return audit


# -- command line -------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m workloads.alerts.audit verify ...``: 0 intact, 1 tampered, 2 bad usage."""
    parser = argparse.ArgumentParser(prog="python -m workloads.alerts.audit")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="check a log (and its shipped copy)")
    verify.add_argument("--log", type=pathlib.Path, required=True, help="the JSON Lines log")
    verify.add_argument(
        "--key", help="file:PATH or kms:KEY_ARN (default: <log>.key, local logs only)"
    )
    verify.add_argument("--checkpoints", type=pathlib.Path, help="default: <log>.checkpoints")
    verify.add_argument("--bucket", help="s3://bucket/prefix the log was shipped to")
    verify.add_argument("--region", default=None)
    verify.add_argument("--endpoint_url", default=None, help="S3/KMS endpoint (tests)")
    args = parser.parse_args(argv)
    try:
        key = (
            open_key(args.key, region=args.region, endpoint_url=args.endpoint_url)
            if args.key
            else None
        )
        shipper = None
        if args.bucket:
            import boto3

            client = boto3.client("s3", region_name=args.region, endpoint_url=args.endpoint_url)
            shipper = S3Shipper(
                args.bucket, kms_key_id=None, lock_mode=None, retention_days=1, client=client
            )
        result = verify_audit_log(args.log, key, checkpoints=args.checkpoints, shipper=shipper)
    except AuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(("ok: " if result.ok else "TAMPERED: ") + result.message)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
