"""``python -m workloads.registry`` against a tenant bucket on a moto server: list, show,
promote and roll back by hand, each change recorded with who and when, SSE-KMS writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from workloads.common.objectstore import open_store
from workloads.registry.index import ModelRegistry

REGION = "me-central-1"
BUCKET = "mlp-dev-acme-registry-cli-123456789012"  # moto state is per process
REGISTRY = f"s3://{BUCKET}/registry/"


@pytest.fixture(scope="module")
def aws(object_store: str) -> Iterator[dict[str, str]]:
    """The session's moto server (127.0.0.1) with the tenant bucket and key; the env to reach it."""
    import boto3

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": object_store,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        kms = boto3.client("kms", region_name=REGION)
        env["KEY"] = kms.create_key(Description="acme")["KeyMetadata"]["Arn"]
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cli(aws: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workloads.registry", *args],
        env={**os.environ, **{k: v for k, v in aws.items() if k != "KEY"}},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _seed(aws: dict[str, str], model: str) -> ModelRegistry:
    registry = ModelRegistry(open_store(REGISTRY, aws["KEY"]), who="retraining-controller")
    registry.ensure_champion(model, "1", f"s3://{BUCKET}/models/{model}/1/", "deployed")
    registry.register_challenger(
        model, "rt-1", uri=f"s3://{BUCKET}/models/{model}/rt-1/", metrics={"roc_auc": 0.81},
        digests={"model.onnx": "ab"}, trigger="ab" * 16, why="retrained",
    )  # fmt: skip
    return registry


def test_list_and_show(aws: dict[str, str]) -> None:
    _seed(aws, "churn")
    listed = _cli(aws, "list", "--registry", REGISTRY)
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout) if r["model"] == "churn"]
    assert (row["champion"], row["challenger"], row["versions"]) == ("1", "rt-1", 2)
    shown = _cli(aws, "show", "--registry", REGISTRY, "churn")
    index = json.loads(shown.stdout)
    assert index["versions"]["rt-1"]["metrics"] == {"roc_auc": 0.81}
    missing = _cli(aws, "show", "--registry", REGISTRY, "nothing")
    assert missing.returncode == 1 and missing.stderr.startswith("error: nothing: no such model")


@pytest.mark.parametrize(
    ("command", "status"), [("promote", "champion"), ("rollback", "rolled-back")]
)
def test_a_manual_decision_is_recorded_with_who_and_when(
    aws: dict[str, str], command: str, status: str
) -> None:
    import boto3

    model = f"m-{command}"
    _seed(aws, model)
    before = time.time()
    args = ["--registry", REGISTRY, "--kms_key", aws["KEY"], "--who", "alice@acme"]
    done = _cli(aws, command, *args, model, "rt-1", "--why", "reviewed the card")
    assert done.returncode == 0, done.stderr
    index = ModelRegistry(open_store(REGISTRY)).load(model)
    assert index["versions"]["rt-1"]["status"] == status
    assert index["challenger"] is None
    assert index["champion"] == ("rt-1" if command == "promote" else "1")
    last: dict[str, Any] = index["history"][-1]
    assert last["who"] == "alice@acme" and last["why"] == "reviewed the card"
    assert before <= last["at"] <= time.time()
    head = boto3.client("s3", region_name=REGION).head_object(
        Bucket=BUCKET, Key=f"registry/{model}.json"
    )
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == aws["KEY"]
    again = _cli(aws, "rollback", *args, model, "rt-1", "--why", "x")
    if command == "promote":  # no longer the challenger: refused, one line
        assert again.returncode == 1 and "is not the challenger" in again.stderr
        assert again.stderr.count("\n") == 1


def test_bad_arguments_are_one_line(aws: dict[str, str]) -> None:
    empty = _cli(aws, "promote", "--registry", REGISTRY, "churn", "rt-1", "--why", " ")
    assert empty.returncode == 2 and empty.stderr.startswith("error: --why")
    bad = _cli(aws, "list", "--registry", "ftp://x/")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
