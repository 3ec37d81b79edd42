"""The restore drill: back a tenant up, lose the primary store, restore, prove it.

Two S3 endpoints on 127.0.0.1, each a separate ``moto`` server process (so losing one
loses everything in it, as losing the region would):

1. **Seed** the primary with what a tenant cannot lose: a signed model (Ed25519,
   :mod:`workloads.common.signing`) and its registry entry, feature data (parquet and
   the feature registry file) in the data bucket, and an audit log whose records and
   checkpoints are shipped to an object-locked audit bucket (``COMPLIANCE``).
2. **Back up** both buckets' folders (:mod:`contracts.backup`) to the tenant's backup
   bucket on the second endpoint (the in-country store), with lock retention kept,
   and write the run's manifest there.
3. **Lose** the primary: kill its process. A new, empty one takes its place.
4. **Restore** from the backup bucket into the new primary.
5. **Verify**: every object byte for byte against what was seeded (nothing missing,
   nothing extra), the model's signature against the tenant's public key, the audit
   chain and checkpoints (:func:`workloads.alerts.audit.verify_audit_log`) rebuilt from
   the restored records, and every audit object's lock mode and retain-until date.

It reports the measured RPO (from the backup's snapshot point to the loss: what a real
loss at that moment would have cost), the backup and restore times, and the objects and
bytes verified.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import pathlib
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from contracts.backup import (
    AUDIT_FOLDER,
    AUDIT_PREFIXES,
    DATA_FOLDER,
    DATA_PREFIXES,
    MANIFEST_PREFIX,
    dr_bucket,
)
from contracts.ingestion import OFFLINE_PREFIX
from workloads.dr.copy import CopyManifest, copy_prefixes, list_keys

REGION = "me-central-1"
MODEL = "churn"
VERSION = "1"
MODEL_FILES = ("model.onnx", "model_card.json")


class DrillError(RuntimeError):
    """The drill could not run (a server did not start); the message is one line."""


@dataclass
class DrillReport:
    """What the drill measured and verified."""

    tenant: str
    objects_verified: int = 0
    bytes_verified: int = 0
    rpo_seconds: float = 0.0
    """From the backup's snapshot point to the loss of the primary."""
    backup_seconds: float = 0.0
    restore_seconds: float = 0.0
    signatures_verified: int = 0
    audit_records_verified: int = 0
    locks_verified: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when everything verified."""
        return not self.problems and self.objects_verified > 0

    def lines(self) -> list[str]:
        """Human-readable summary."""
        state = "PASSED" if self.ok else "FAILED"
        out = [
            f"restore drill {state} (tenant {self.tenant})",
            f"  measured RPO:      {self.rpo_seconds:.2f} s (backup snapshot -> loss)",
            f"  backup time:       {self.backup_seconds:.2f} s",
            f"  restore time:      {self.restore_seconds:.2f} s",
            f"  objects verified:  {self.objects_verified} ({self.bytes_verified} bytes, "
            "byte for byte)",
            f"  signatures:        {self.signatures_verified} model(s) verify",
            f"  audit chain:       {self.audit_records_verified} records intact, "
            f"{self.locks_verified} object locks kept",
        ]
        out += [f"  problem: {p}" for p in self.problems[:10]]
        if len(self.problems) > 10:
            out.append(f"  ... and {len(self.problems) - 10} more problems")
        return out

    def to_json(self) -> str:
        """The report as JSON."""
        return json.dumps({**asdict(self), "ok": self.ok}, sort_keys=True, indent=1)


# -- endpoints ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Endpoint:
    """An S3 endpoint served by its own ``moto`` process on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        """A boto3 S3 client for this endpoint."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="drill",
            aws_secret_access_key="drill",  # noqa: S106 (moto accepts any)
        )

    def stop(self) -> None:
        """Kill the process: everything it stored is gone."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def start_endpoint(timeout: float = 30.0) -> Endpoint:
    """Start ``python -m moto.server`` on a free port and wait until it answers."""
    port = _free_port()
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DrillError(f"moto server on port {port} exited with {process.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(  # noqa: S310 (loopback http)
                f"{url}/moto-api/", timeout=1
            ),
        ):
            return Endpoint(url, process)
        time.sleep(0.1)
    process.kill()
    raise DrillError(f"moto server on port {port} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def endpoints(count: int) -> Iterator[list[Endpoint]]:
    """``count`` endpoints, all killed at exit."""
    started: list[Endpoint] = []
    try:
        for _ in range(count):
            started.append(start_endpoint())
        yield started
    finally:
        for endpoint in started:
            endpoint.stop()


def _bucket(client: Any, name: str, *, lock: bool) -> None:
    client.create_bucket(
        Bucket=name,
        ObjectLockEnabledForBucket=lock,
        CreateBucketConfiguration={"LocationConstraint": REGION},
    )
    if not lock:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


# -- the tenant's data -------------------------------------------------------------------


@dataclass
class Seeded:
    """What was put into the primary, kept in memory to compare with the restore."""

    data: dict[str, bytes]
    audit: dict[str, bytes]
    public_key_pem: bytes
    audit_key: bytes
    locks: dict[str, tuple[str, dt.datetime]]


def _features(rows: int) -> bytes:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(rows, dtype="int64"),
            "tenure_months": rng.integers(1, 120, rows),
            "monthly_spend": rng.normal(250.0, 60.0, rows).round(2),
            "event_timestamp": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(np.arange(rows), unit="min"),
        }
    )
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


def seed(
    client: Any,
    data_bucket: str,
    audit_bucket: str,
    work: pathlib.Path,
    *,
    rows: int,
    records: int,
) -> Seeded:
    """Write the tenant's model, registry, features and audit log to the primary."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from workloads.alerts.audit import AuditLog, HmacKey, S3Shipper
    from workloads.common.signing import sign_artifacts

    data: dict[str, bytes] = {}
    model_dir = work / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.onnx").write_bytes(secrets.token_bytes(256 * 1024))
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    card = {"name": MODEL, "version": VERSION, "created_at": created}
    (model_dir / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    private = Ed25519PrivateKey.generate()
    sign_artifacts(
        model_dir, MODEL_FILES, private, model_name=MODEL, model_version=VERSION, created_at=created
    )
    for name in (*MODEL_FILES, "signature.json"):
        data[f"models/{MODEL}/{VERSION}/{name}"] = (model_dir / name).read_bytes()
    data[f"registry/{MODEL}.json"] = json.dumps(
        {"model": MODEL, "champion": VERSION, "versions": {VERSION: {"created_at": created}}},
        sort_keys=True,
    ).encode()
    data[f"{OFFLINE_PREFIX}/customer_profile/date=2026-11-01/part-seed.parquet"] = _features(rows)
    data["feast/registry.db"] = hashlib.sha256(b"feast-registry").digest() * 64
    for key, body in data.items():
        client.put_object(Bucket=data_bucket, Key=key, Body=body)

    audit_key = secrets.token_bytes(32)
    shipper = S3Shipper(
        f"s3://{audit_bucket}/{AUDIT_PREFIXES[0]}",
        kms_key_id=None,
        lock_mode="COMPLIANCE",
        retention_days=1,
        client=client,
    )
    log = AuditLog(work / "audit" / "receiver.jsonl", HmacKey(audit_key), shipper=shipper)
    for index in range(records):
        log.append(
            who="alert-receiver",
            what="retraining-trigger" if index % 2 else "canary-rollback",
            why=f"drill record {index}",
            metrics={"psi": round(0.1 + index / 100, 3)},
        )
    log.checkpoint()
    audit: dict[str, bytes] = {}
    locks: dict[str, tuple[str, dt.datetime]] = {}
    for key in list_keys(client, audit_bucket, f"{AUDIT_PREFIXES[0]}/"):
        obj = client.get_object(Bucket=audit_bucket, Key=key)
        audit[key] = obj["Body"].read()
        locks[key] = (obj["ObjectLockMode"], obj["ObjectLockRetainUntilDate"])
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Seeded(data, audit, public_pem, audit_key, locks)


# -- backup, restore, verify -------------------------------------------------------------


def backup(
    primary: Any, data_bucket: str, audit_bucket: str, store: Any, backup_bucket: str
) -> CopyManifest:
    """Copy the tenant's folders to its backup bucket; write the run's manifest there."""
    data = copy_prefixes(primary, data_bucket, store, backup_bucket, DATA_PREFIXES,
                         dst_folder=DATA_FOLDER)  # fmt: skip
    audit = copy_prefixes(primary, audit_bucket, store, backup_bucket, AUDIT_PREFIXES,
                          dst_folder=AUDIT_FOLDER)  # fmt: skip
    run = CopyManifest(
        started_at=data.started_at,
        finished_at=audit.finished_at,
        objects=data.objects + audit.objects,
        copied=data.copied + audit.copied,
        skipped=data.skipped + audit.skipped,
    )
    stamp = dt.datetime.fromtimestamp(run.started_at, dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    store.put_object(
        Bucket=backup_bucket, Key=f"{MANIFEST_PREFIX}/{stamp}.json", Body=run.to_json().encode()
    )
    return run


def restore(
    store: Any, backup_bucket: str, primary: Any, data_bucket: str, audit_bucket: str
) -> CopyManifest:
    """Copy the backup bucket's folders back into the (rebuilt) primary buckets."""
    data = copy_prefixes(store, backup_bucket, primary, data_bucket, DATA_PREFIXES,
                         src_folder=DATA_FOLDER)  # fmt: skip
    audit = copy_prefixes(store, backup_bucket, primary, audit_bucket, AUDIT_PREFIXES,
                          src_folder=AUDIT_FOLDER)  # fmt: skip
    return CopyManifest(
        started_at=data.started_at,
        finished_at=audit.finished_at,
        objects=data.objects + audit.objects,
        copied=data.copied + audit.copied,
    )


def _all_objects(client: Any, bucket: str, prefixes: tuple[str, ...]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for prefix in prefixes:
        for key in list_keys(client, bucket, f"{prefix}/"):
            out[key] = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return out


def verify(
    report: DrillReport,
    seeded: Seeded,
    primary: Any,
    data_bucket: str,
    audit_bucket: str,
    work: pathlib.Path,
) -> None:
    """Compare the restored primary with what was seeded; record problems in ``report``."""
    from workloads.alerts.audit import HmacKey, S3Shipper, verify_audit_log
    from workloads.common.signing import public_key_from_pem, verify_artifacts

    for label, bucket, prefixes, expected in (
        ("data", data_bucket, DATA_PREFIXES, seeded.data),
        ("audit", audit_bucket, AUDIT_PREFIXES, seeded.audit),
    ):
        restored = _all_objects(primary, bucket, prefixes)
        missing = sorted(set(expected) - set(restored))
        extra = sorted(set(restored) - set(expected))
        if missing:
            report.problems.append(f"{label}: {len(missing)} objects missing, e.g. {missing[0]}")
        if extra:
            report.problems.append(f"{label}: {len(extra)} unexpected objects, e.g. {extra[0]}")
        for key, body in sorted(expected.items()):
            if key in restored and restored[key] == body:
                report.objects_verified += 1
                report.bytes_verified += len(body)
            elif key in restored:
                report.problems.append(f"{label}: {key} differs from the original")

    model_dir = work / "restored-model"
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in (*MODEL_FILES, "signature.json"):
        obj = primary.get_object(Bucket=data_bucket, Key=f"models/{MODEL}/{VERSION}/{name}")
        (model_dir / name).write_bytes(obj["Body"].read())
    try:
        verify_artifacts(
            model_dir,
            public_key_from_pem(seeded.public_key_pem, "drill public key"),
            MODEL_FILES,
            model_name=MODEL,
        )
        report.signatures_verified += 1
    except Exception as exc:  # any verification failure is the finding
        report.problems.append(f"model signature: {exc}")

    # Rebuild the log from the restored, locked records: the pod's file went with the site.
    shipper = S3Shipper(
        f"s3://{audit_bucket}/{AUDIT_PREFIXES[0]}",
        kms_key_id=None,
        lock_mode="COMPLIANCE",
        retention_days=1,
        client=primary,
    )
    records = shipper.shipped("receiver", "records")
    rebuilt = work / "rebuilt" / "receiver.jsonl"
    rebuilt.parent.mkdir(parents=True, exist_ok=True)
    rebuilt.write_text(
        "".join(
            json.dumps(versions[0], sort_keys=True, separators=(",", ":")) + "\n"
            for _, versions in sorted(records.items())
        ),
        encoding="utf-8",
    )
    outcome = verify_audit_log(rebuilt, HmacKey(seeded.audit_key), shipper=shipper)
    if outcome.ok:
        report.audit_records_verified = outcome.records
    else:
        report.problems.append(f"audit chain: {outcome.message}")

    for key, (mode, until) in sorted(seeded.locks.items()):
        head = primary.head_object(Bucket=audit_bucket, Key=key)
        got_mode, got_until = head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")
        if got_mode != mode or not isinstance(got_until, dt.datetime) or got_until != until:
            report.problems.append(
                f"audit lock of {key}: {got_mode} until {got_until}, was {mode} until {until}"
            )
        else:
            report.locks_verified += 1


def run_drill(
    work: pathlib.Path,
    *,
    tenant: str = "acme",
    rows: int = 5_000,
    records: int = 60,
    after_backup: Callable[[Any, str], None] | None = None,
) -> DrillReport:
    """Seed, back up, lose, restore and verify one tenant (see the module docstring).

    ``after_backup(store_client, backup_bucket)`` runs between the backup and the loss
    (tests use it to damage the backup and see the drill fail)."""
    report = DrillReport(tenant)
    data_bucket, audit_bucket = f"mlp-{tenant}-data", f"mlp-{tenant}-audit"
    backup_bucket = dr_bucket(tenant)
    with endpoints(2) as (primary, in_country):
        src, store = primary.client(), in_country.client()
        _bucket(src, data_bucket, lock=False)
        _bucket(src, audit_bucket, lock=True)
        _bucket(store, backup_bucket, lock=True)
        seeded = seed(src, data_bucket, audit_bucket, work, rows=rows, records=records)

        run = backup(src, data_bucket, audit_bucket, store, backup_bucket)
        report.backup_seconds = run.finished_at - run.started_at
        if after_backup is not None:
            after_backup(store, backup_bucket)
        primary.stop()  # the region is gone, and everything in it
        lost_at = time.time()
        report.rpo_seconds = lost_at - run.started_at

        with endpoints(1) as (rebuilt,):
            fresh = rebuilt.client()
            _bucket(fresh, data_bucket, lock=False)
            _bucket(fresh, audit_bucket, lock=True)
            restored = restore(store, backup_bucket, fresh, data_bucket, audit_bucket)
            report.restore_seconds = restored.finished_at - restored.started_at
            verify(report, seeded, fresh, data_bucket, audit_bucket, work)
    return report
