"""A model server on the in-country site: prediction log and anti-rollback record on the
S3-compatible store without a KMS key, only in the explicit store mode.

The server runs as a process on 127.0.0.1 with the environment the on-prem
ServingRuntime gives it (``AWS_ENDPOINT_URL_S3``, a credentials file,
``MLPLATFORM_OBJECT_STORE_SSE=store``); moto's S3 server stands in for the store.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.objectstore import CREDENTIALS_FILE_ENV, ENDPOINT_ENV, SSE_ENV, SSE_STORE
from tests.workloads.conftest import REPO_ROOT, free_port

REGION = "me-central-1"
BUCKET = "mlplatform-acme"
ROW = [35, 24, 0, 1, 5200.0, -3.5, 22, 9, 1, 0, 2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

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
def onprem(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The on-prem ServingRuntime's environment: endpoint, credentials file, store mode."""
    import boto3

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = store\naws_secret_access_key = s\n")
    monkeypatch.setenv(CREDENTIALS_FILE_ENV, str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv(ENDPOINT_ENV, store)
    monkeypatch.setenv(SSE_ENV, SSE_STORE)
    s3 = boto3.client("s3", region_name=REGION)
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return store


def _args(tmp_path: Path) -> list[str]:
    """The flags the on-prem ServingRuntime passes (no ``--*_kms_key``)."""
    return [
        "--served_slot", "churn-champion",
        "--served_state", f"s3://{BUCKET}/serving-state/",
        "--prediction_log_dir", str(tmp_path / "spool"),
        "--prediction_log_uri", f"s3://{BUCKET}/predictions/",
        "--prediction_log_segment_seconds", "1",
    ]  # fmt: skip


def test_server_ships_predictions_and_records_its_version_on_the_store(
    onprem: str, trained_model, start_server, tmp_path: Path
) -> None:
    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    with start_server(trained_model.out, trained_model.keys.public, *_args(tmp_path)) as srv:
        inputs = [{"name": "features", "datatype": "FP32", "shape": [1, 11], "data": ROW}]
        status, body = srv.post_json("/v2/models/churn/infer", {"inputs": inputs})
        assert status == 200, body
        deadline = time.monotonic() + 30
        segments: list[str] = []
        while not segments and time.monotonic() < deadline:
            listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="predictions/churn/")
            segments = [o["Key"] for o in listed.get("Contents", [])]
            time.sleep(0.3)
        assert segments, srv.log.read_text()
    version = trained_model.card["model_version"]
    record = s3.get_object(Bucket=BUCKET, Key="serving-state/churn-champion.json")
    assert f'"version": "{version}"' in record["Body"].read().decode()
    segment = s3.get_object(Bucket=BUCKET, Key=segments[0])["Body"].read().decode()
    assert version in segment
    # The store's own encryption: no KMS key was asked for, none was sent.
    for key in (segments[0], "serving-state/churn-champion.json"):
        assert "SSEKMSKeyId" not in s3.head_object(Bucket=BUCKET, Key=key)


@pytest.mark.parametrize(
    ("unset", "message"),
    [(SSE_ENV, "kms key id is required"), (ENDPOINT_ENV, "needs an S3-compatible endpoint")],
)
def test_without_store_mode_and_endpoint_a_keyless_server_refuses_to_start(
    onprem: str,
    trained_model,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unset: str,
    message: str,
) -> None:
    """On AWS (no store mode), or in store mode against AWS S3 (no endpoint), a server
    told to ship its log without a key exits at once, before loading the model."""
    monkeypatch.delenv(unset)
    proc = subprocess.run(
        [
            sys.executable, "-m", "workloads.serving", "--model_name", "churn",
            "--model_dir", str(trained_model.out), "--http_port", str(free_port()),
            "--public_key", str(trained_model.keys.public), *_args(tmp_path),
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "--prediction_log_kms_key" in last and message in last
