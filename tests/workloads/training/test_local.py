"""The local lifecycle helper reuses a signed model instead of retraining it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workloads.training.local import ensure_local_model, main


def test_existing_model_is_reused_and_serve_command_printed(  # type: ignore[no-untyped-def]
    trained_model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "local"
    shutil.copytree(trained_model.out, base / "model")
    before = (base / "model" / "signature.json").read_bytes()
    local = ensure_local_model(base)
    assert local.model_dir == (base / "model").resolve()
    assert local.public_key == (base / "keys" / "dev_signing_key.pub.pem").resolve()
    assert local.public_key.is_file()
    assert (base / "model" / "signature.json").read_bytes() == before
    assert main(["--base", str(base)]) == 0
    command = capsys.readouterr().out.strip().splitlines()[-1]
    assert command.startswith("python -m workloads.serving --model_name churn --model_dir ")
    assert f"--public_key {local.public_key}" in command
