"""The alert receiver as a stack deploys it, as a real process on 127.0.0.1: token from a
mounted file, audit chained with a KMS HMAC key and shipped to an object-locked bucket
(moto's server), metrics on their own port. After a SIGTERM the verification command
finds the log and the bucket intact; a record cut from the file is then reported."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

REGION = "me-central-1"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
TOKEN = "deployed-webhook-token-0123456789"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def aws_env() -> Iterator[dict[str, str]]:
    from moto.server import ThreadedMotoServer

    port = _port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }
    finally:
        server.stop()


def _wait(url: str, proc: subprocess.Popen[bytes], log: pathlib.Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"receiver exited {proc.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (http://127.0.0.1)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver not ready: {log.read_text()}") from None
            time.sleep(0.2)


def test_deployed_receiver_ships_a_verifiable_locked_trail(
    tmp_path: pathlib.Path, aws_env: dict[str, str]
) -> None:
    import boto3

    from workloads.rollout.localkube import LocalKube

    endpoint = aws_env["AWS_ENDPOINT_URL"]
    creds = {"region_name": REGION, "endpoint_url": endpoint}
    kms = boto3.client("kms", aws_access_key_id="testing", aws_secret_access_key="testing", **creds)
    s3 = boto3.client("s3", aws_access_key_id="testing", aws_secret_access_key="testing", **creds)
    mac_arn = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"][
        "Arn"
    ]
    tenant_key = kms.create_key(Description="tenant")["KeyMetadata"]["Arn"]
    s3.create_bucket(
        Bucket="tenant-a-audit",
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=True,
    )
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    audit_log = tmp_path / "audit" / "alerts.jsonl"
    port, metrics_port = _port(), _port()
    log = tmp_path / "receiver.log"
    with LocalKube("kube-admin-token-0123456789") as kube:
        kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig", kube.token, "team-a")
        cmd = [
            sys.executable, "-m", "workloads.alerts.webhook",
            f"--port={port}", f"--token_file={token_file}", f"--audit_log={audit_log}",
            f"--audit_key=kms:{mac_arn}", "--audit_bucket=s3://tenant-a-audit/alerts/",
            "--audit_lock_mode=COMPLIANCE", "--audit_retention_days=1825", f"--region={REGION}",
            f"--kms_key={tenant_key}", f"--queue=file:{tmp_path / 'queue'}",
            "--tenant_namespace=team-a", f"--kubeconfig={kubeconfig}",
            f"--metrics_port={metrics_port}", "--checkpoint_interval=3600",
        ]  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **aws_env, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        try:
            _wait(f"http://127.0.0.1:{port}/healthz", proc, log)
            alert = {
                "status": "firing",
                "labels": {"alertname": "ModelInputDrift", "model": "churn"},
                "annotations": {"summary": "drift"},
                "startsAt": "2026-11-30T10:00:00Z",
                "fingerprint": "fp-1",
            }
            body = json.dumps({"version": "4", "alerts": [alert]}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/alerts", data=body, method="POST",
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                assert response.status == 200
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(
                    urllib.request.Request(
                        f"http://127.0.0.1:{port}/alerts", data=b"{}", method="POST"
                    ),
                    timeout=10,
                )
            assert refused.value.code == 401
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as metrics:
                text = metrics.read().decode()
            assert 'mlplatform_alert_receiver_refused_total{reason="unauthorized"} 1' in text
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, log.read_text()
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="tenant-a-audit")["Contents"])
    assert keys == [
        "alerts/alerts/checkpoints/000000000002.json",  # written on SIGTERM
        "alerts/alerts/records/000000000001.json",
        "alerts/alerts/records/000000000002.json",
    ]
    head = s3.head_object(Bucket="tenant-a-audit", Key=keys[1])
    assert (head["ObjectLockMode"], head["SSEKMSKeyId"]) == ("COMPLIANCE", tenant_key)
    records = [json.loads(line) for line in audit_log.read_text().splitlines()]
    assert [r["what"] for r in records] == ["retraining-trigger", "rejected"]
    assert {r["key_id"] for r in records} == {f"kms:{mac_arn}"}

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "workloads.alerts.audit", "verify", "--log", str(audit_log),
             "--key", f"kms:{mac_arn}", "--bucket", "s3://tenant-a-audit/alerts/",
             "--region", REGION, "--endpoint_url", endpoint],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
            env={**os.environ, **aws_env},
        )  # fmt: skip

    ok = verify()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 records, chain intact, matches s3://tenant-a-audit/alerts/alerts" in ok.stdout
    audit_log.write_text(audit_log.read_text().splitlines()[0] + "\n")
    pathlib.Path(f"{audit_log}.checkpoints").unlink()
    cut = verify()
    assert cut.returncode == 1
    assert cut.stdout.startswith(f"TAMPERED: {audit_log}:2: log truncated")
