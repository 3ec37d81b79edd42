"""A training run on the in-country site: ``workloads.retraining.run`` without ``--kms_key``
trains, uploads and registers on the S3-compatible store in the explicit store mode, and
fails before training anywhere else (on AWS a missing key is still an error).

Moto's S3 server on 127.0.0.1 stands in for the store; the run gets the environment the
on-prem run template gives its pods (``AWS_ENDPOINT_URL_S3``, a credentials file,
``MLPLATFORM_OBJECT_STORE_SSE=store``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.objectstore import ENDPOINT_ENV, SSE_ENV
from tests.model_fixtures import Keys
from tests.workloads.conftest import ONPREM_BUCKET, ONPREM_REGION

REGION = ONPREM_REGION
BUCKET = ONPREM_BUCKET
TRIGGER = "drift-churn-0123456789abcdef"
pytestmark = pytest.mark.slow


@pytest.fixture
def onprem(onprem: str, monkeypatch: pytest.MonkeyPatch, signing_keys: Keys) -> str:
    """The on-prem run template's environment: the shared on-prem store and the signing key."""
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setenv("MLPLATFORM_SIGNING_KEY", str(signing_keys.private))
    return onprem


def _run(repo: Path, tmp_path: Path, version: str) -> int:
    """The run as the on-prem template starts it: no ``--kms_key``."""
    from workloads.retraining import run

    return run.main(
        [
            f"--repo={repo}", f"--work_dir={tmp_path / 'work'}",
            f"--models_uri=s3://{BUCKET}/models/", f"--registry=s3://{BUCKET}/registry/",
            "--model_name=churn", f"--version={version}", f"--trigger={TRIGGER}",
            "--", "--epochs", "10",
        ]
    )  # fmt: skip


def test_a_run_trains_uploads_and_registers_on_the_store_without_a_key(
    onprem: str, feature_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    from workloads.common.objectstore import open_store
    from workloads.registry.index import ModelRegistry

    assert _run(feature_repo, tmp_path, "rt-onprem-1") == 0, capsys.readouterr().err
    s3 = boto3.client("s3", region_name=REGION)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="models/churn/rt-onprem-1/")["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in listed) == [
        "model.onnx", "model_card.json", "reference_stats.json", "signature.json",
    ]  # fmt: skip
    for obj in listed:
        assert "SSEKMSKeyId" not in s3.head_object(Bucket=BUCKET, Key=obj["Key"])
    local = (tmp_path / "work" / "rt-onprem-1" / "signature.json").read_bytes()
    remote = s3.get_object(Bucket=BUCKET, Key="models/churn/rt-onprem-1/signature.json")
    assert remote["Body"].read() == local
    registry = ModelRegistry(open_store(f"s3://{BUCKET}/registry/"))
    assert registry.challenger("churn") == "rt-onprem-1"
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["registered"] == (
        "rt-onprem-1"
    )


@pytest.mark.parametrize(
    ("unset", "message"),
    [(SSE_ENV, "kms key id is required"), (ENDPOINT_ENV, "needs an S3-compatible endpoint")],
)
def test_without_a_key_a_run_outside_store_mode_fails_before_training(
    onprem: str,
    feature_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unset: str,
    message: str,
) -> None:
    """AWS (no store mode), or store mode against AWS S3 (no endpoint): exit 1 with one
    line, nothing trained, uploaded or registered."""
    import boto3

    monkeypatch.delenv(unset)
    assert _run(feature_repo, tmp_path, "rt-refused") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "--upload-to" in err[0], err
    assert not (tmp_path / "work" / "rt-refused").exists()
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=onprem)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="models/churn/rt-refused/")
    assert not listed.get("Contents")
