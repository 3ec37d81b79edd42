"""The training entry point under ``torchrun``: two CPU processes (gloo), one signed model.

The two-process run trains on the same point-in-time training set as the session's
single-process model (same seed, epochs and global batch) and must pass the same
quality gate within 0.01 ROC-AUC, with ONNX parity, and write exactly one artifact set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workloads.common.signing import load_public_key, verify_artifacts
from workloads.training import distributed
from workloads.training.train import ARTIFACTS

TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


def _torchrun(*args: str, nproc: int = 2, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [TORCHRUN, "--standalone", f"--nproc_per_node={nproc}", "-m", "workloads.training", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_context_from_the_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.from_environment() == distributed.Context()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    context = distributed.from_environment()
    assert (context.rank, context.local_rank, context.world_size) == (3, 1, 4)
    assert context.distributed and not context.is_main
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="need 0 <= RANK < WORLD_SIZE"):
        distributed.from_environment()


def test_single_process_cards_record_world_size_one(trained_model) -> None:  # type: ignore[no-untyped-def]
    training = trained_model.card["training"]
    assert training["world_size"] == 1 and training["backend"] == "none"
    assert training["per_process_batch_size"] == training["batch_size"]


@pytest.mark.slow
def test_two_processes_pass_the_same_gate_with_one_signed_artifact_set(  # type: ignore[no-untyped-def]
    trained_model, tmp_path: Path
) -> None:
    from tests.model_fixtures import TRAIN_EPOCHS

    out = tmp_path / "ddp"
    result = _torchrun(
        "--repo", str(trained_model.repo), "--out", str(out), "--signing-key",
        str(trained_model.keys.private), "--epochs", str(TRAIN_EPOCHS), "--device", "cpu",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1  # only rank 0 reports
    assert sorted(p.name for p in out.iterdir()) == sorted(ARTIFACTS)  # no staging leftovers
    card = json.loads((out / "model_card.json").read_text())
    assert card["training"]["world_size"] == 2
    assert card["training"]["backend"] == "gloo"
    assert card["training"]["per_process_batch_size"] == 128
    single = trained_model.card
    assert card["quality_gate"] == single["quality_gate"]
    assert card["metrics"]["roc_auc"] >= card["quality_gate"]["threshold"]
    assert abs(card["metrics"]["roc_auc"] - single["metrics"]["roc_auc"]) <= 0.01
    assert card["onnx_parity"]["max_abs_diff"] <= 1e-4
    assert card["data"]["n_train"] == single["data"]["n_train"]
    verify_artifacts(
        out,
        load_public_key(trained_model.keys.public),
        required=["model.onnx", "model_card.json", "reference_stats.json"],
    )


@pytest.mark.slow
def test_a_data_error_on_rank_0_stops_every_rank(trained_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Rank 0 loads the data; its failure reaches the other rank instead of a hang."""
    out = tmp_path / "never"
    result = _torchrun(
        "--repo", str(trained_model.repo), "--out", str(out), "--signing-key",
        str(trained_model.keys.private), "--labels", str(tmp_path / "missing.parquet"),
        "--epochs", "1", "--device", "cpu",
        timeout=180,
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.count("labels file not found") >= 2  # both ranks say why
    assert not out.exists() or not list(out.iterdir())
