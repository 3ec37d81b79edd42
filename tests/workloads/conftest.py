"""Shared fixtures of the workload tests: model servers, the on-prem object store.

The small feature repo, the signing keys and the trained model are session fixtures of
``tests/model_fixtures.py`` (shared with the report and benchmark tests). Servers
started by tests bind 127.0.0.1 on a free port and are always stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running model server process."""

    proc: subprocess.Popen[bytes]
    base: str
    grpc_port: int
    log: Path

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send one request; return (status, parsed JSON or raw text)."""
        req = urllib.request.Request(  # noqa: S310 - loopback http only
            self.base + path,
            data=body,
            method=method,
            headers=headers or {"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        """POST a JSON payload."""
        return self.request("POST", path, json.dumps(payload).encode())


ONPREM_REGION = "me-central-1"
ONPREM_BUCKET = "mlplatform-acme"


@pytest.fixture
def onprem(object_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A pod on the in-country site: the store's endpoint, credentials as a mounted file,
    store-side encryption (``MLPLATFORM_OBJECT_STORE_SSE=store``), and the bucket
    ``ONPREM_BUCKET``; returns the endpoint."""
    import boto3

    from contracts.objectstore import CREDENTIALS_FILE_ENV, ENDPOINT_ENV, SSE_ENV, SSE_STORE

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = store\naws_secret_access_key = s\n")
    monkeypatch.setenv(CREDENTIALS_FILE_ENV, str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", ONPREM_REGION)
    monkeypatch.setenv(ENDPOINT_ENV, object_store)
    monkeypatch.setenv(SSE_ENV, SSE_STORE)
    s3 = boto3.client("s3", region_name=ONPREM_REGION)
    if ONPREM_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(
            Bucket=ONPREM_BUCKET,
            CreateBucketConfiguration={"LocationConstraint": ONPREM_REGION},
        )
    return object_store


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def start_server(
    tmp_path: Path,
) -> Iterator[Callable[..., contextlib.AbstractContextManager[Server]]]:
    """Factory: ``with start_server(model_dir, public_key, *extra_args) as server:``."""
    started: list[subprocess.Popen[bytes]] = []

    @contextlib.contextmanager
    def start(
        model_dir: Path,
        public_key: Path,
        *extra: str,
        name: str = "churn",
        ready_timeout: float = 90.0,
    ) -> Iterator[Server]:
        port, grpc_port = free_port(), free_port()
        log = tmp_path / f"server-{port}.log"
        cmd = [
            sys.executable,
            "-m",
            "workloads.serving",
            "--model_name",
            name,
            "--model_dir",
            str(model_dir),
            "--http_port",
            str(port),
            "--grpc_port",
            str(grpc_port),
            "--public_key",
            str(public_key),
            *extra,
        ]
        with log.open("wb") as handle:
            proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        started.append(proc)
        server = Server(proc, f"http://127.0.0.1:{port}", grpc_port, log)
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}: {log.read_text()}")
            try:
                status, _ = server.request("GET", "/v2/health/ready")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready in {ready_timeout}s: {log.read_text()}")
            time.sleep(0.2)
        try:
            yield server
        finally:
            _stop(proc)

    yield start
    for proc in started:
        _stop(proc)
