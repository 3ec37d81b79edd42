"""Writes without a KMS key: refused on AWS, accepted only in the explicit on-prem mode.

Against moto's S3 server on 127.0.0.1 (standing in for the in-country S3-compatible
store, which the pods reach through ``AWS_ENDPOINT_URL_S3`` and a credentials file).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.objectstore import ENDPOINT_ENV, SSE_ENV, SSE_STORE
from tests.workloads.conftest import ONPREM_BUCKET, ONPREM_REGION
from workloads.common.objectstore import ObjectStoreError, open_store
from workloads.common.s3 import S3UploadError, sse_arguments, upload_artifacts

REGION = ONPREM_REGION
BUCKET = ONPREM_BUCKET
KEY = "arn:aws:kms:me-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_a_key_always_means_sse_kms_with_it() -> None:
    assert sse_arguments(KEY, environ={}) == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": KEY,
        "BucketKeyEnabled": True,
    }
    # Even in store mode a given key is used, never dropped.
    assert (
        sse_arguments(KEY, environ={SSE_ENV: SSE_STORE, ENDPOINT_ENV: "https://s3.x"})[
            "SSEKMSKeyId"
        ]
        == KEY
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "kms key id is required"),  # AWS: no mode set
        ({SSE_ENV: "aws:kms", ENDPOINT_ENV: "https://s3.x"}, "kms key id is required"),
        ({SSE_ENV: SSE_STORE}, "needs an S3-compatible endpoint"),  # store mode on AWS S3
        ({SSE_ENV: "none"}, "allowed are aws:kms, store"),
    ],
)
def test_aws_still_demands_the_key(environ: dict[str, str], message: str) -> None:
    with pytest.raises(S3UploadError, match=message):
        sse_arguments(None, environ=environ)
    with pytest.raises(S3UploadError, match=message):
        sse_arguments("", environ=environ)


def test_without_the_mode_a_keyless_write_is_refused_before_it_is_sent(
    object_store: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boto3

    monkeypatch.delenv(SSE_ENV, raising=False)
    client = boto3.client(
        "s3", region_name=REGION, endpoint_url=object_store,
        aws_access_key_id="x", aws_secret_access_key="y",
    )  # fmt: skip
    with pytest.raises(ObjectStoreError, match="kms key id is required") as err:
        open_store(f"s3://{BUCKET}/registry", None, client=client).put("a.json", b"{}")
    assert "\n" not in str(err.value)
    (tmp_path / "model.onnx").write_bytes(b"m")
    with pytest.raises(S3UploadError, match="kms key id is required"):
        upload_artifacts(tmp_path, ["model.onnx"], f"s3://{BUCKET}/models", None, client=client)


def test_onprem_mode_writes_through_the_credentials_file_without_kms(
    onprem: str, tmp_path: Path
) -> None:
    import boto3

    registry = open_store(f"s3://{BUCKET}/registry")  # boto3's chain: env endpoint, file
    registry.put("models/churn.json", b'{"champion": "2"}')
    assert registry.get("models/churn.json") == b'{"champion": "2"}'
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    keys = upload_artifacts(tmp_path, ["model.onnx"], f"s3://{BUCKET}/models/churn/2", None)
    assert keys == ["models/churn/2/model.onnx"]
    head = boto3.client("s3", region_name=REGION).head_object(Bucket=BUCKET, Key=keys[0])
    assert "SSEKMSKeyId" not in head
