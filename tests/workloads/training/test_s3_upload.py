"""Artifact upload with SSE-KMS against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from workloads.common.s3 import S3UploadError, upload_artifacts

REGION = "me-central-1"


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_upload_sets_sse_kms_with_the_tenant_key(moto_endpoint: str, tmp_path: Path) -> None:
    import boto3

    kms = boto3.client("kms", region_name=REGION, endpoint_url=moto_endpoint)
    key_id = kms.create_key(Description="tenant-a artifacts")["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    s3.create_bucket(
        Bucket="tenant-a-models", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    for name in ("model.onnx", "model_card.json"):
        (tmp_path / name).write_bytes(name.encode() * 10)
    keys = upload_artifacts(
        tmp_path,
        ["model.onnx", "model_card.json"],
        "s3://tenant-a-models/churn/v1/",
        key_id,
        endpoint_url=moto_endpoint,
        region=REGION,
    )
    assert keys == ["churn/v1/model.onnx", "churn/v1/model_card.json"]
    for key in keys:
        head = s3.head_object(Bucket="tenant-a-models", Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == key_id
    body = s3.get_object(Bucket="tenant-a-models", Key="churn/v1/model.onnx")["Body"].read()
    assert body == b"model.onnx" * 10


def test_upload_failures_are_one_line(moto_endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(S3UploadError, match="kms key id is required"):
        upload_artifacts(tmp_path, ["model.onnx"], "s3://b/p", "", endpoint_url=moto_endpoint)
    with pytest.raises(S3UploadError, match="must be s3://bucket/prefix"):
        upload_artifacts(tmp_path, ["model.onnx"], "https://b/p", "k", endpoint_url=moto_endpoint)
    with pytest.raises(S3UploadError, match=r"s3://no-such-bucket/p/model.onnx: upload failed"):
        upload_artifacts(
            tmp_path,
            ["model.onnx"],
            "s3://no-such-bucket/p",
            "k",
            endpoint_url=moto_endpoint,
            region=REGION,
        )


def test_training_cli_uploads_all_artifacts(  # type: ignore[no-untyped-def]
    moto_endpoint: str, trained_model, tmp_path: Path
) -> None:
    import boto3

    from workloads.training.__main__ import main as train_main

    kms = boto3.client("kms", region_name=REGION, endpoint_url=moto_endpoint)
    key_id = kms.create_key(Description="tenant-a models")["KeyMetadata"]["KeyId"]
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="models", CreateBucketConfiguration={"LocationConstraint": REGION})
    code = train_main([
        "--repo", str(trained_model.repo), "--out", str(tmp_path / "m"), "--epochs", "10",
        "--signing-key", str(trained_model.keys.private), "--upload-to", "s3://models/churn/1",
        "--kms-key-id", key_id, "--s3-endpoint-url", moto_endpoint,
    ])  # fmt: skip
    assert code == 0
    listed = s3.list_objects_v2(Bucket="models", Prefix="churn/1/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        "churn/1/model.onnx", "churn/1/model_card.json", "churn/1/reference_stats.json",
        "churn/1/signature.json",
    ]  # fmt: skip
    for obj in listed:
        head = s3.head_object(Bucket="models", Key=obj["Key"])
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"].endswith(key_id)
    local = (tmp_path / "m" / "signature.json").read_bytes()
    assert s3.get_object(Bucket="models", Key="churn/1/signature.json")["Body"].read() == local
