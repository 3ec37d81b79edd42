"""Signed identity and anti-rollback: the server refuses another model's signature, an
older signed version copied over the current one (one line in its log), and loads
exactly the bytes it verified."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.workloads.conftest import REPO_ROOT
from workloads.common.signing import load_private_key, sign_artifacts
from workloads.serving.model import OnnxModel, ServingOptions
from workloads.serving.rollback import RollbackRefusedError, ServedState

ARTIFACTS = ["model.onnx", "reference_stats.json", "model_card.json"]


def _resign(source: Path, dest: Path, private_key: Path, version: str, created_at: str) -> Path:
    """A copy of a trained model re-signed as ``version`` created at ``created_at``."""
    shutil.copytree(source, dest)
    card = json.loads((dest / "model_card.json").read_text())
    card |= {"model_version": version, "created_at": created_at}
    (dest / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    sign_artifacts(
        dest,
        ARTIFACTS,
        load_private_key(private_key),
        model_name=card["model_name"],
        model_version=version,
        created_at=created_at,
    )
    return dest


@pytest.fixture(scope="module")
def versions(trained_model, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """Version ``v1`` (signed 1 Nov) and ``v2`` (signed 2 Nov) of the trained model."""
    base = tmp_path_factory.mktemp("versions")
    return {
        version: _resign(
            trained_model.out, base / version, trained_model.keys.private, version, created
        )
        for version, created in (
            ("v1", "2026-11-01T09:00:00.000000+00:00"),
            ("v2", "2026-11-02T09:00:00.000000+00:00"),
        )
    }


def _copy_over(source: Path, dest: Path) -> None:
    """What an attacker with write access to the model store does: copy files into place."""
    dest.mkdir(exist_ok=True)
    for name in [*ARTIFACTS, "signature.json"]:
        shutil.copyfile(source / name, dest / name)


def _refusal(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the server CLI expecting a refusal; return its single stderr line."""
    proc = subprocess.run(
        [sys.executable, "-m", "workloads.serving", "--http_port", "1", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: refusing to serve: ")
    return lines[0]


def _options(public: Path, state: Path, *, allow: bool = False) -> ServingOptions:
    return ServingOptions(
        public_key=public,
        warmup=False,
        served_state=ServedState.open(str(state), Path("unused"), "churn", None),
        served_slot="churn",
        allow_rollback=allow,
    )


def test_an_older_version_copied_over_the_current_one_is_refused(
    versions: dict[str, Path], trained_model, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    public, state = trained_model.keys.public, tmp_path / "state"
    live = tmp_path / "live"
    _copy_over(versions["v2"], live)
    assert OnnxModel("churn", live, _options(public, state)).load()
    record = json.loads((state / "churn.json").read_text())
    assert (record["version"], record["created_at"]) == ("v2", "2026-11-02T09:00:00+00:00")

    _copy_over(versions["v1"], live)  # every file verifies: it was signed, just earlier
    line = _refusal(
        "--model_name", "churn", "--model_dir", str(live), "--public_key", str(public),
        "--served_state", str(state),
    )  # fmt: skip
    assert "version v1 of churn (signed 2026-11-01T09:00:00+00:00) is older than version v2" in line
    assert "refusing a rollback" in line and "--allow_rollback" in line

    # The operator's explicit override, for this start only; the record follows it.
    model = OnnxModel("churn", live, _options(public, state, allow=True))
    assert model.load() and model.version == "v1"
    assert json.loads((state / "churn.json").read_text())["version"] == "v1"

    # Moving forward again needs nothing; the same version again is fine too.
    _copy_over(versions["v2"], live)
    assert OnnxModel("churn", live, _options(public, state)).load()
    assert OnnxModel("churn", live, _options(public, state)).load()


def test_default_record_sits_next_to_the_model_directory(
    versions: dict[str, Path], trained_model, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Without --served_state the CLI records beside the model dir, out of a copy's reach."""
    live = tmp_path / "model"
    _copy_over(versions["v2"], live)
    (tmp_path / "model.served.json").write_text(
        json.dumps({"version": "v2", "created_at": "2026-11-02T09:00:00+00:00"})
    )
    _copy_over(versions["v1"], live)
    line = _refusal(
        "--model_name", "churn", "--model_dir", str(live),
        "--public_key", str(trained_model.keys.public),
    )  # fmt: skip
    assert "model.served.json" in line and "older than version v2" in line


def test_a_model_signed_for_churn_does_not_load_as_fraud(trained_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    line = _refusal(
        "--model_name", "fraud", "--model_dir", str(trained_model.out),
        "--public_key", str(trained_model.keys.public), "--served_state", str(tmp_path),
    )  # fmt: skip
    assert "signed for model 'churn', not 'fraud'" in line
    assert not (tmp_path / "fraud.json").exists()


def test_the_verify_key_can_come_as_pem_text(trained_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What the cluster sets: MLPLATFORM_VERIFY_KEY_PEM in the ServingRuntime."""
    from workloads.common.signing import write_key_pair

    write_key_pair(tmp_path / "other.pem", tmp_path / "other.pub.pem")
    line = _refusal(
        "--model_name", "churn", "--model_dir", str(trained_model.out),
        "--served_state", str(tmp_path),
        env={"MLPLATFORM_VERIFY_KEY_PEM": (tmp_path / "other.pub.pem").read_text()},
    )  # fmt: skip
    assert "signature does not verify with the given public key" in line
    model = OnnxModel(
        "churn",
        trained_model.out,
        ServingOptions(public_key=trained_model.keys.public.read_bytes(), warmup=False),
    )
    assert model.load()


def test_card_and_model_are_loaded_from_the_verified_bytes(
    trained_model, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Each artifact is read once: what was hashed is what is parsed and loaded."""
    reads: dict[str, int] = {}
    real_open = Path.open  # read_bytes, read_text and every hashing helper go through it

    def open_(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.parent == trained_model.out and self.name != "signature.json":
            reads[self.name] = reads.get(self.name, 0) + 1
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)
    model = OnnxModel(
        "churn", trained_model.out, ServingOptions(public_key=trained_model.keys.public)
    )
    assert model.load()
    assert reads == {"model.onnx": 1, "model_card.json": 1, "reference_stats.json": 1}


def test_record_problems_fail_closed(tmp_path: Path) -> None:
    state = ServedState.open(str(tmp_path), Path("unused"), "churn", None)
    (tmp_path / "churn.json").write_text("{not json")
    with pytest.raises(RollbackRefusedError, match="malformed served-version record"):
        state.check_and_record("churn", "churn", "v1", datetime.now(UTC), allow_rollback=False)
    blocked = ServedState.open(str(tmp_path / "file"), Path("unused"), "churn", None)
    (tmp_path / "file").write_text("a file where the folder should be")
    with pytest.raises(RollbackRefusedError, match="served-version record unreadable"):
        blocked.check_and_record("churn", "churn", "v1", datetime.now(UTC), allow_rollback=False)


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "me-central-1",
    }.items():
        monkeypatch.setenv(name, value)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_record_in_the_tenant_bucket_with_sse_kms(moto_endpoint: str) -> None:
    """In the cluster: s3://<bucket>/serving-state/<inferenceservice>.json, tenant key."""
    import boto3

    kms = boto3.client("kms", endpoint_url=moto_endpoint)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(
        Bucket="tenant", CreateBucketConfiguration={"LocationConstraint": "me-central-1"}
    )
    state = ServedState.open(
        "s3://tenant/serving-state/", Path("/mnt/models"), "churn-champion", key
    )
    newer = datetime(2026, 11, 2, tzinfo=UTC)
    assert (
        state.check_and_record("churn", "churn-champion", "v2", newer, allow_rollback=False) is None
    )
    head = s3.head_object(Bucket="tenant", Key="serving-state/churn-champion.json")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key
    with pytest.raises(
        RollbackRefusedError, match=r"s3://tenant/serving-state/churn-champion\.json"
    ):
        state.check_and_record(
            "churn", "churn-champion", "v1", datetime(2026, 11, 1, tzinfo=UTC), allow_rollback=False
        )
    # Another slot (the challenger) has its own record.
    other = ServedState.open(
        "s3://tenant/serving-state/", Path("/mnt/models"), "churn-challenger", key
    )
    assert other.read() is None
