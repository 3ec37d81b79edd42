"""The local lifecycle helper reuses a signed model instead of retraining it, unless the
local key does not verify it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workloads.common.signing import write_key_pair
from workloads.training.local import _verifies, ensure_local_model, main


def test_existing_model_is_reused_and_serve_command_printed(  # type: ignore[no-untyped-def]
    trained_model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "local"
    shutil.copytree(trained_model.out, base / "model")
    (base / "keys").mkdir(parents=True)
    shutil.copy(trained_model.keys.private, base / "keys" / "dev_signing_key.pem")
    shutil.copy(trained_model.keys.public, base / "keys" / "dev_signing_key.pub.pem")
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


def test_a_model_the_local_key_does_not_verify_is_not_reused(  # type: ignore[no-untyped-def]
    trained_model, tmp_path: Path
) -> None:
    """Regenerated local keys (or altered artifacts) mean retraining: servers would refuse."""
    model = tmp_path / "model"
    shutil.copytree(trained_model.out, model)
    assert _verifies(model, trained_model.keys.public)
    write_key_pair(tmp_path / "other.pem", tmp_path / "other.pub.pem")
    assert not _verifies(model, tmp_path / "other.pub.pem")
    (model / "model_card.json").write_text("{}", encoding="utf-8")
    assert not _verifies(model, trained_model.keys.public)
