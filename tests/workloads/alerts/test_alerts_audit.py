"""The audit log is a keyed chain with signed checkpoints, shipped to an object-locked bucket.

Deleting, editing, reordering and truncating records (at the tail too) are each detected
by the verification command; someone who can write the file but lacks the key cannot
re-chain it; the bucket copy is written with SSE-KMS and object-lock headers, and an
overwrite there is reported. S3 and KMS are moto's server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import pathlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from workloads.alerts.audit import (
    GENESIS,
    AuditLog,
    HmacKey,
    KmsMacKey,
    S3Shipper,
    checkpoints_path,
    local_key_path,
    verify_audit_log,
)

REGION = "me-central-1"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
BUCKET = "tenant-a-audit"


def _log(tmp_path: pathlib.Path, n: int = 4, **kwargs: Any) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl", **kwargs)
    for i in range(n):
        log.append(
            who="alertmanager@127.0.0.1",
            what="rollback",
            why=f"reason {i}",
            metrics={"p99_ms": 10.0 + i, "bound": float("inf")},
        )
    return log


def _lines(path: pathlib.Path) -> list[str]:
    return path.read_text().splitlines()


def _rewrite(path: pathlib.Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))


def test_records_chain_and_verify(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path)
    records = log.records()
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[0]["prev_mac"] == GENESIS
    assert all(b["prev_mac"] == a["mac"] for a, b in itertools.pairwise(records))
    assert records[0]["metrics"] == {"p99_ms": 10.0, "bound": "inf"}
    assert {r["key_id"] for r in records} == {log.key.key_id}
    # The local key is private to its owner.
    assert local_key_path(log.path).stat().st_mode & 0o077 == 0
    result = verify_audit_log(log.path)
    assert (result.ok, result.records) == (True, 4)
    # A new process appending continues the same chain with the same key.
    AuditLog(log.path).append(who="x", what="promote", why="y")
    assert verify_audit_log(log.path).records == 5


def test_extra_fields_cannot_override_the_chain_fields(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path, 1)
    record = log.append(who="x", what="y", why="z", seq=99, mac="0" * 64, prev_mac=GENESIS)
    assert record["seq"] == 2
    assert verify_audit_log(log.path).ok


def test_edited_record_is_detected(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log.path)
    record = json.loads(lines[1])
    record["what"] = "promote"
    lines[1] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    _rewrite(log.path, lines)
    result = verify_audit_log(log.path)
    assert (result.ok, result.bad_line) == (False, 2)
    assert "MAC mismatch" in result.message


def test_edit_rechained_without_the_key_is_detected(tmp_path: pathlib.Path) -> None:
    """The old, unkeyed chain let anyone recompute hashes; now the MACs need the key."""
    log = _log(tmp_path)
    lines = _lines(log.path)
    records = [json.loads(line) for line in lines]
    records[1]["why"] = "nothing to see"
    prev = records[0]["mac"]
    for record in records[1:]:  # re-chain with plain SHA-256, as a writer without the key can
        record["prev_mac"] = prev
        body = {k: v for k, v in record.items() if k != "mac"}
        record["mac"] = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        prev = record["mac"]
    _rewrite(log.path, [json.dumps(r) for r in records])
    assert verify_audit_log(log.path).bad_line == 2


def test_log_rewritten_whole_with_another_key_is_detected(tmp_path: pathlib.Path) -> None:
    real = HmacKey(b"r" * 32)
    _log(tmp_path, key=real)
    forged_dir = tmp_path / "forged"
    forged = _log(forged_dir, key=HmacKey(b"f" * 32))
    (tmp_path / "audit.jsonl").write_bytes(forged.path.read_bytes())
    result = verify_audit_log(tmp_path / "audit.jsonl", real)
    assert (result.ok, result.bad_line) == (False, 1)


def test_deleted_record_is_detected(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log.path)
    _rewrite(log.path, [lines[0], lines[2], lines[3]])
    result = verify_audit_log(log.path)
    assert (result.ok, result.bad_line) == (False, 2)
    assert "chain broken" in result.message


def test_reordered_records_are_detected(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log.path)
    _rewrite(log.path, [lines[0], lines[2], lines[1], lines[3]])
    result = verify_audit_log(log.path)
    assert (result.ok, result.bad_line) == (False, 2)


def test_truncation_at_the_tail_is_detected_by_the_checkpoints(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path, 5, checkpoint_every=2)  # checkpoints after records 2 and 4
    assert [c["seq"] for c in json.loads(f"[{','.join(_lines(checkpoints_path(log.path)))}]")] == [
        2,
        4,
    ]
    lines = _lines(log.path)
    _rewrite(log.path, lines[:3])
    result = verify_audit_log(log.path)
    assert (result.ok, result.bad_line) == (False, 4)
    assert "log truncated" in result.message and "records 4..4 are missing" in result.message


def test_timed_checkpoint_covers_the_last_record(tmp_path: pathlib.Path) -> None:
    """The receiver checkpoints on a timer: cutting the very last record is then seen."""
    log = _log(tmp_path, 3, checkpoint_every=1000)
    assert log.checkpoint() is not None
    assert log.checkpoint() is None  # nothing new since
    _rewrite(log.path, _lines(log.path)[:2])
    result = verify_audit_log(log.path)
    assert (result.ok, result.bad_line) == (False, 3)


def test_forged_checkpoint_is_detected(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path, 3)
    log.checkpoint()
    cp = json.loads(_lines(checkpoints_path(log.path))[0])
    cp["seq"] = 2
    checkpoints_path(log.path).write_text(json.dumps(cp) + "\n")
    result = verify_audit_log(log.path)
    assert not result.ok and "not signed with this key" in result.message


def test_verify_command_exit_codes(tmp_path: pathlib.Path) -> None:
    key_file = tmp_path / "audit.key"
    key_file.write_text("ab" * 32 + "\n")
    log = _log(tmp_path, 3, key=HmacKey.from_file(key_file))

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "workloads.alerts.audit", "verify", "--log", str(log.path)]
        return subprocess.run(
            [*cmd, *extra], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
        )

    ok = verify("--key", f"file:{key_file}")
    assert (ok.returncode, ok.stdout.strip()) == (0, f"ok: {log.path}: 3 records, chain intact")
    _rewrite(log.path, _lines(log.path)[1:])
    bad = verify("--key", f"file:{key_file}")
    assert bad.returncode == 1
    assert bad.stdout.startswith(f"TAMPERED: {log.path}:1: ")
    usage = verify("--key", "vault:x")
    assert usage.returncode == 2
    assert usage.stderr.strip() == "error: audit key 'vault:x': expected file:PATH or kms:KEY_ARN"
    assert "Traceback" not in usage.stderr


# -- shipping to the object-locked bucket (moto server) ----------------------------------------
@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            mp.setenv(name, value)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


@pytest.fixture
def locked_bucket(moto_endpoint: str, request: pytest.FixtureRequest) -> tuple[Any, str, str]:
    """(s3 client, bucket, tenant KMS key arn): a bucket created with object lock on."""
    import boto3

    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    kms = boto3.client("kms", region_name=REGION, endpoint_url=moto_endpoint)
    bucket = f"{BUCKET}-{request.node.name.replace('_', '-')[:30]}".lower()
    s3.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=True,
    )
    key_arn = kms.create_key(Description="tenant-a")["KeyMetadata"]["Arn"]
    return s3, bucket, key_arn


def _shipper(s3: Any, bucket: str, key_arn: str) -> S3Shipper:
    return S3Shipper(
        f"s3://{bucket}/audit",
        kms_key_id=key_arn,
        lock_mode="COMPLIANCE",
        retention_days=1825,
        client=s3,
    )


def test_records_and_checkpoints_are_shipped_object_locked(
    tmp_path: pathlib.Path, locked_bucket: tuple[Any, str, str]
) -> None:
    s3, bucket, key_arn = locked_bucket
    log = _log(tmp_path, 3, shipper=_shipper(s3, bucket, key_arn), checkpoint_every=3)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [
        "audit/audit/checkpoints/000000000003.json",
        "audit/audit/records/000000000001.json",
        "audit/audit/records/000000000002.json",
        "audit/audit/records/000000000003.json",
    ]
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        remaining = head["ObjectLockRetainUntilDate"].timestamp() - log.records()[0]["ts"]
        assert 1824 * 86400 < remaining < 1826 * 86400
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == key_arn
    # COMPLIANCE mode: the shipped version cannot be deleted, even with bypass.
    from botocore.exceptions import ClientError

    version = s3.head_object(Bucket=bucket, Key=keys[1])["VersionId"]
    with pytest.raises(ClientError):
        s3.delete_object(
            Bucket=bucket, Key=keys[1], VersionId=version, BypassGovernanceRetention=True
        )
    shipper = _shipper(s3, bucket, key_arn)
    assert verify_audit_log(log.path, shipper=shipper).ok


def test_truncating_file_and_checkpoints_is_caught_by_the_bucket(
    tmp_path: pathlib.Path, locked_bucket: tuple[Any, str, str]
) -> None:
    s3, bucket, key_arn = locked_bucket
    log = _log(tmp_path, 4, shipper=_shipper(s3, bucket, key_arn), checkpoint_every=2)
    _rewrite(log.path, _lines(log.path)[:3])
    checkpoints_path(log.path).unlink()  # the insider removes the local evidence too
    assert verify_audit_log(log.path).ok  # locally, the cut is invisible ...
    result = verify_audit_log(log.path, shipper=_shipper(s3, bucket, key_arn))
    assert (result.ok, result.bad_line) == (False, 4)  # ... the bucket shows it
    assert "log truncated" in result.message


def test_overwrite_in_the_bucket_is_reported(
    tmp_path: pathlib.Path, locked_bucket: tuple[Any, str, str]
) -> None:
    s3, bucket, key_arn = locked_bucket
    log = _log(tmp_path, 3, shipper=_shipper(s3, bucket, key_arn))
    forged = dict(log.records()[1], why="edited")
    s3.put_object(
        Bucket=bucket, Key="audit/audit/records/000000000002.json", Body=json.dumps(forged)
    )
    result = verify_audit_log(log.path, shipper=_shipper(s3, bucket, key_arn))
    assert (result.ok, result.bad_line) == (False, 2)
    assert "overwritten in the bucket" in result.message


def test_unshipped_records_are_shipped_on_sync(
    tmp_path: pathlib.Path, locked_bucket: tuple[Any, str, str]
) -> None:
    """Records written while the bucket was unreachable are shipped, in order, later."""
    s3, bucket, key_arn = locked_bucket
    offline = _shipper(s3, "no-such-bucket-x", key_arn)
    log = _log(tmp_path, 2, shipper=offline)
    assert log.ship_failures == 2
    restarted = AuditLog(log.path, log.key, shipper=_shipper(s3, bucket, key_arn))
    restarted.sync()
    assert restarted.ship_failures == 0
    assert verify_audit_log(log.path, shipper=_shipper(s3, bucket, key_arn)).ok
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 2


def test_kms_hmac_key_signs_and_verifies(tmp_path: pathlib.Path, moto_endpoint: str) -> None:
    """The deployed key is a KMS HMAC key: the secret never leaves KMS."""
    import boto3

    kms = boto3.client("kms", region_name=REGION, endpoint_url=moto_endpoint)
    arn = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    key = KmsMacKey(arn, kms)
    log = _log(tmp_path, 3, key=key)
    assert log.records()[0]["key_id"] == f"kms:{arn}"
    assert verify_audit_log(log.path, key).ok
    lines = _lines(log.path)
    _rewrite(log.path, [lines[0], lines[2]])
    assert verify_audit_log(log.path, key).bad_line == 2
    # Another KMS key (e.g. one a tenant created) does not verify this log.
    other = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    other_key = KmsMacKey(other["KeyMetadata"]["Arn"], kms)
    assert verify_audit_log(log.path, other_key).bad_line == 1


def test_a_new_pod_restores_the_chain_from_the_bucket(
    tmp_path: pathlib.Path, locked_bucket: tuple[Any, str, str]
) -> None:
    """The local file is an emptyDir: a replacement pod continues the shipped chain instead
    of starting a second one at seq 1 (which would overwrite locked records)."""
    s3, bucket, key_arn = locked_bucket
    first = _log(tmp_path / "pod-1", 3, shipper=_shipper(s3, bucket, key_arn))
    second = AuditLog(
        tmp_path / "pod-2" / "audit.jsonl", first.key, shipper=_shipper(s3, bucket, key_arn)
    )
    second.sync()
    record = second.append(who="x", what="hold", why="after restart")
    assert record["seq"] == 4 and record["prev_mac"] == first.records()[-1]["mac"]
    result = verify_audit_log(second.path, first.key, shipper=_shipper(s3, bucket, key_arn))
    assert (result.ok, result.records) == (True, 4)
