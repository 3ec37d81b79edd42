"""The restore drill and the copy it is built on, against real S3 endpoints on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from contracts.backup import (
    DATA_FOLDER,
    DEST_ACCESS_KEY_ENV,
    DEST_ACCESS_KEY_FILE_ENV,
    DEST_SECRET_KEY_ENV,
    DEST_SECRET_KEY_FILE_ENV,
)
from workloads.dr.__main__ import dest_credentials, main
from workloads.dr.copy import copy_prefixes
from workloads.dr.drill import run_drill

pytestmark = pytest.mark.slow


def test_drill_restores_everything_byte_for_byte(tmp_path: pathlib.Path) -> None:
    report = run_drill(tmp_path, rows=200, records=6)
    assert report.ok, report.problems
    # 6 data objects (model, card, signature, registry entry, parquet, feature registry)
    # + the audit log's 6 records and its checkpoint.
    assert report.objects_verified == 6 + 7
    assert report.bytes_verified > 256 * 1024
    assert report.signatures_verified == 1
    assert report.audit_records_verified == 6
    assert report.locks_verified == 7
    assert 0 < report.restore_seconds < 60
    assert report.rpo_seconds >= report.backup_seconds > 0
    assert "restore drill PASSED" in report.lines()[0]


def test_drill_fails_when_the_backup_was_damaged(tmp_path: pathlib.Path) -> None:
    def damage(store: Any, bucket: str) -> None:
        key = f"{DATA_FOLDER}/registry/churn.json"
        store.put_object(Bucket=bucket, Key=key, Body=b'{"champion": "0"}')
        store.delete_object(Bucket=bucket, Key=f"{DATA_FOLDER}/feast/registry.db")

    report = run_drill(tmp_path, rows=200, records=4, after_backup=damage)
    assert not report.ok
    problems = "\n".join(report.problems)
    assert "registry/churn.json differs from the original" in problems
    assert "1 objects missing, e.g. feast/registry.db" in problems


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield boto3.client(
            "s3",
            region_name="me-central-1",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()


def test_copy_keeps_lock_and_skips_unchanged(s3: Any) -> None:
    where = {"LocationConstraint": "me-central-1"}
    s3.create_bucket(
        Bucket="src-b", ObjectLockEnabledForBucket=True, CreateBucketConfiguration=where
    )
    s3.create_bucket(
        Bucket="dst-b", ObjectLockEnabledForBucket=True, CreateBucketConfiguration=where
    )
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    s3.put_object(Bucket="src-b", Key="alerts/1.json", Body=b"{}", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=until)  # fmt: skip
    s3.put_object(Bucket="src-b", Key="models/m/1/model.onnx", Body=b"onnx")
    s3.put_object(Bucket="src-b", Key="predictions/not-copied.jsonl", Body=b"x")
    first = copy_prefixes(s3, "src-b", s3, "dst-b", ["alerts", "models"], dst_folder="t")
    assert (first.copied, first.skipped, first.bytes) == (2, 0, 6)
    head = s3.head_object(Bucket="dst-b", Key="t/alerts/1.json")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == until
    with pytest.raises(s3.exceptions.ClientError):
        s3.delete_object(Bucket="dst-b", Key="t/alerts/1.json", VersionId=head["VersionId"])
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="dst-b")["Contents"])
    assert keys == ["t/alerts/1.json", "t/models/m/1/model.onnx"]
    second = copy_prefixes(s3, "src-b", s3, "dst-b", ["alerts", "models"], dst_folder="t")
    assert (second.copied, second.skipped) == (0, 2)


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["copy", "--source", "bucket", "--dest", "s3://b", "--dest_endpoint", "x",
              "--prefix", "models"])  # fmt: skip
    assert exc.value.code == 2
    assert "expected s3://bucket[/folder]" in capsys.readouterr().err
    assert main(["drill", "--rows", "1"]) == 2


def test_cli_copy_takes_the_destination_from_the_environment(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    where = {"LocationConstraint": "me-central-1"}
    s3.create_bucket(Bucket="cli-src", CreateBucketConfiguration=where)
    s3.create_bucket(
        Bucket="cli-dst", ObjectLockEnabledForBucket=True, CreateBucketConfiguration=where
    )
    s3.put_object(Bucket="cli-src", Key="registry/churn.json", Body=b'{"champion": "1"}')
    endpoint = s3.meta.endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    args = ["copy", "--source", "s3://cli-src", "--dest", "s3://cli-dst/data",
            "--source_endpoint", endpoint, "--prefix", "registry"]  # fmt: skip
    assert main(args) == 0
    assert "copied 1, unchanged 0, 1 objects, 17 bytes" in capsys.readouterr().out
    body = s3.get_object(Bucket="cli-dst", Key="data/registry/churn.json")["Body"].read()
    assert body == b'{"champion": "1"}'
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    assert main([*args, "--dest_endpoint", ""]) == 2


def test_destination_credentials_come_from_the_mounted_files(tmp_path: pathlib.Path) -> None:
    (tmp_path / "access_key_id").write_text("AKIAFROMFILE\n")
    (tmp_path / "secret_access_key").write_text("secret-from-file\n")
    files = {
        DEST_ACCESS_KEY_FILE_ENV: str(tmp_path / "access_key_id"),
        DEST_SECRET_KEY_FILE_ENV: str(tmp_path / "secret_access_key"),
    }
    plain = {DEST_ACCESS_KEY_ENV: "AKIAPLAIN", DEST_SECRET_KEY_ENV: "plain"}
    # The pod's way (files, trailing newline dropped) wins over plain variables.
    assert dest_credentials({**plain, **files}) == ("AKIAFROMFILE", "secret-from-file")
    # Local runs and tests: the plain variables when no file is named; else none.
    assert dest_credentials(plain) == ("AKIAPLAIN", "plain")
    assert dest_credentials({}) == (None, None)


def test_cli_copy_reads_the_store_key_pair_from_files(
    s3: Any,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    where = {"LocationConstraint": "me-central-1"}
    s3.create_bucket(Bucket="file-src", CreateBucketConfiguration=where)
    s3.create_bucket(Bucket="file-dst", CreateBucketConfiguration=where)
    s3.put_object(Bucket="file-src", Key="models/m/1/model.onnx", Body=b"onnx")
    (tmp_path / "access_key_id").write_text("testing\n")
    (tmp_path / "secret_access_key").write_text("testing\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # the source side (IRSA in the pod)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv(DEST_ACCESS_KEY_FILE_ENV, str(tmp_path / "access_key_id"))
    monkeypatch.setenv(DEST_SECRET_KEY_FILE_ENV, str(tmp_path / "secret_access_key"))
    endpoint = s3.meta.endpoint_url
    args = ["copy", "--source", "s3://file-src", "--dest", "s3://file-dst",
            "--source_endpoint", endpoint, "--dest_endpoint", endpoint,
            "--prefix", "models"]  # fmt: skip
    assert main(args) == 0
    assert "copied 1, unchanged 0" in capsys.readouterr().out
    # A file the environment names but the pod cannot read: one line, no traceback.
    missing = tmp_path / "gone"
    monkeypatch.setenv(DEST_SECRET_KEY_FILE_ENV, str(missing))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {DEST_SECRET_KEY_FILE_ENV}={missing}: cannot read: No such file or directory\n"
    )
