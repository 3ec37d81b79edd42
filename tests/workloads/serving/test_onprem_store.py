"""A model server on the in-country site: prediction log and anti-rollback record on the
S3-compatible store without a KMS key, only in the explicit store mode.

The server runs as a process on 127.0.0.1 with the environment the on-prem
ServingRuntime gives it (``AWS_ENDPOINT_URL_S3``, a credentials file,
``MLPLATFORM_OBJECT_STORE_SSE=store``); moto's S3 server stands in for the store.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts.objectstore import ENDPOINT_ENV, SSE_ENV
from tests.workloads.conftest import ONPREM_BUCKET, ONPREM_REGION, REPO_ROOT, free_port

REGION = ONPREM_REGION
BUCKET = ONPREM_BUCKET
ROW = [35, 24, 0, 1, 5200.0, -3.5, 22, 9, 1, 0, 2]
pytestmark = pytest.mark.slow


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
