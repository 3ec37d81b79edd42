"""The drift monitor's S3 mode end to end, with the command and arguments its planned
CronJob gives it: prediction-log segments in the tenant bucket -> report next to the
champion (SSE-KMS, tenant key) -> retraining trigger on the tenant's SQS queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from components.k8s.catalog import Registry
from components.k8s.drift_monitor import drift_monitor_cronjob
from contracts.names import Tier
from workloads.monitoring.reference import build_reference
from workloads.monitoring.remote import hours
from workloads.monitoring.trigger import TRIGGER_TYPE

REGION = "me-central-1"
BUCKET = "mlp-dev-acme-drift-123456789012"  # moto state is per process: own names


@pytest.fixture(scope="module")
def aws(object_store: str) -> dict[str, Any]:
    """The session's moto server (127.0.0.1) holding the tenant's bucket, key and retraining queue."""
    import boto3

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": object_store,
    }
    kw = {"region_name": REGION, "endpoint_url": env["AWS_ENDPOINT_URL"],
          "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # fmt: skip
    s3, sqs = boto3.client("s3", **kw), boto3.client("sqs", **kw)
    key = boto3.client("kms", **kw).create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    sqs.create_queue(QueueName="acme-drift-retraining")
    # The URL the stack plans (the endpoint is the moto server's, from the env).
    queue = f"https://sqs.{REGION}.amazonaws.com/123456789012/acme-drift-retraining"
    return {"env": env, "s3": s3, "sqs": sqs, "key": key, "queue": queue}


def _container(aws: dict[str, Any]) -> dict[str, Any]:
    job = drift_monitor_cronjob(
        "acme", "tenant-acme", Tier.SMB, Registry.ecr("123456789012"), "0.1.0",
        model="churn", version="1", bucket=BUCKET, kms_key_arn=aws["key"],
        queue_url=aws["queue"],
    )  # fmt: skip
    (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _seed(aws: dict[str, Any], shift: float) -> None:
    rng = np.random.default_rng(1)
    ref = build_reference(pd.DataFrame({"x": rng.normal(size=5000)}), ["x"])
    s3 = aws["s3"]
    s3.put_object(Bucket=BUCKET, Key="models/churn/1/reference_stats.json", Body=json.dumps(ref))
    now = time.time()
    lines = []
    for i in range(12):  # twelve requests of 100 rows each, over the last few minutes
        rows = [[float(v)] for v in rng.normal(shift, 1.0, 100)]
        lines.append({"ts": now - 300 + i, "model": "churn", "model_version": "1",
                      "features": ["x"], "inputs": rows, "outputs": [[0.5]] * 100})  # fmt: skip
    (hour,) = hours(now - 300, now - 280)
    body = "".join(json.dumps(line) + "\n" for line in lines)
    s3.put_object(Bucket=BUCKET, Key=f"predictions/churn/{hour}/pod-1-{shift}.jsonl", Body=body)


def _run(aws: dict[str, Any], container: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **aws["env"], **{e["name"]: e["value"] for e in container["env"]}}
    env["HOME"] = os.environ.get("HOME", "")  # the pod's HOME (an emptyDir) is not a folder here
    assert container["command"][:2] == ["python", "-m"]
    return subprocess.run(
        [sys.executable, *container["command"][1:], *container["args"]],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_logs_in_the_bucket_give_a_report_next_to_the_model_and_a_trigger(
    aws: dict[str, Any],
) -> None:
    container = _container(aws)
    _seed(aws, shift=1.5)
    done = _run(aws, container)
    assert done.returncode == 0, done.stderr
    assert "churn: 1200 rows, retraining triggered" in done.stdout
    s3 = aws["s3"]
    head = s3.head_object(Bucket=BUCKET, Key="models/churn/1/drift/latest.json")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == aws["key"]
    report = json.loads(
        s3.get_object(Bucket=BUCKET, Key="models/churn/1/drift/latest.json")["Body"].read()
    )
    assert report["triggered"] and report["drifted_features"] == ["x"]
    assert report["model_version"] == "1" and report["n_rows"] == 1200
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)
    (message,) = messages["Messages"]
    trigger = json.loads(message["Body"])
    assert trigger["type"] == TRIGGER_TYPE and trigger["model"] == "churn"
    assert message["MessageId"] == report["trigger_message_id"]
    aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=message["ReceiptHandle"])


def test_no_drift_writes_the_report_and_sends_nothing(aws: dict[str, Any]) -> None:
    s3 = aws["s3"]
    for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="predictions/").get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    _seed(aws, shift=0.0)
    done = _run(aws, _container(aws))
    assert done.returncode == 0, done.stderr
    assert "churn: 1200 rows, no drift" in done.stdout
    report = json.loads(
        s3.get_object(Bucket=BUCKET, Key="models/churn/1/drift/latest.json")["Body"].read()
    )
    assert not report["triggered"] and report["trigger_message_id"] is None
    assert "Messages" not in aws["sqs"].receive_message(QueueUrl=aws["queue"])
