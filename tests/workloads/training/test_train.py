"""The training job end to end: gate, artifacts, ONNX parity, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workloads.common.signing import load_public_key, verify_artifacts
from workloads.training.__main__ import main as train_main
from workloads.training.train import ARTIFACTS, TrainConfig, roc_auc, train


def test_gate_passes_and_every_artifact_is_written(trained_model) -> None:  # type: ignore[no-untyped-def]
    out, card = trained_model.out, trained_model.card
    assert sorted(p.name for p in out.iterdir()) == sorted(ARTIFACTS)
    assert card["metrics"]["roc_auc"] >= card["quality_gate"]["threshold"] == 0.70
    assert card["data"]["rows_requested"] == 3000
    assert card["data"]["n_train"] + card["data"]["n_validation"] == 3000
    assert card["data"]["window_start"] < card["data"]["window_end"]
    assert [f["name"] for f in card["features"]][:3] == ["age", "tenure_months", "segment_code"]
    assert {"torch", "onnxruntime", "feast"} <= set(card["versions"])
    on_disk = json.loads((out / "model_card.json").read_text())
    assert on_disk["model_version"] == card["model_version"]
    signed = verify_artifacts(
        out,
        load_public_key(trained_model.keys.public),
        required=["model.onnx", "model_card.json", "reference_stats.json"],
    )
    assert signed["artifacts"]["model.onnx"]["sha256"] == card["artifacts"]["model.onnx"]["sha256"]


def test_reference_stats_follow_the_monitoring_format(trained_model) -> None:  # type: ignore[no-untyped-def]
    from workloads.monitoring.reference import load_reference

    ref = load_reference(trained_model.out / "reference_stats.json")
    assert ref["n_rows"] == trained_model.card["data"]["n_train"]
    assert ref["features"]["segment_code"]["kind"] == "categorical"
    assert ref["features"]["balance_aed"]["kind"] == "numeric"
    assert set(ref["features"]) == {f["name"] for f in trained_model.card["features"]}


def test_onnx_has_dynamic_batch_and_matches_torch(trained_model) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    parity = trained_model.card["onnx_parity"]
    assert parity["max_abs_diff"] <= 1e-4
    assert parity["rows"] == trained_model.card["data"]["n_validation"]
    session = ort.InferenceSession(
        str(trained_model.out / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    assert isinstance(session.get_inputs()[0].shape[0], str)  # symbolic batch dimension
    rng = np.random.default_rng(0)
    for rows in (1, 37, 1000):
        x = np.abs(rng.normal(10, 5, (rows, 11))).astype(np.float32)
        x[:, 2] = rng.integers(0, 4, rows)
        x[:, 3] = rng.integers(0, 7, rows)
        out = session.run(None, {"features": x})[0]
        assert out.shape == (rows, 2)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_same_seed_same_metrics(trained_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    card = train(
        TrainConfig(
            repo=trained_model.repo,
            out=tmp_path / "again",
            signing_key=trained_model.keys.private,
            epochs=30,
        )
    )
    assert card["metrics"] == trained_model.card["metrics"]
    assert card["artifacts"]["model.onnx"] == trained_model.card["artifacts"]["model.onnx"]


def test_shuffled_labels_fail_the_gate_loudly(
    trained_model,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "shuffled"
    code = train_main(
        [
            "--repo",
            str(trained_model.repo),
            "--out",
            str(out),
            "--shuffle-labels",
            "--signing-key",
            str(trained_model.keys.private),
            "--epochs",
            "10",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: quality gate failed: validation roc_auc 0.")
    assert "< required 0.7000 (--min-auc); no artifacts written" in err[0]
    assert not out.exists() or not any(p.name in ARTIFACTS for p in out.rglob("*"))


def test_bad_signing_key_is_a_usage_error(
    trained_model,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "bad.pem").write_text("not a key")
    code = train_main(
        [
            "--repo",
            str(trained_model.repo),
            "--out",
            str(tmp_path / "o"),
            "--signing-key",
            str(tmp_path / "bad.pem"),
        ]
    )
    assert code == 2
    assert "bad.pem: not an unencrypted PEM private key" in capsys.readouterr().err


def test_roc_auc_known_values() -> None:
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.8, 0.9])) == 0.0


def test_lossy_join_exits_1_and_missing_labels_exit_2(  # type: ignore[no-untyped-def]
    trained_model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    labels = pd.read_parquet(trained_model.repo / "data" / "churn_labels.parquet")
    labels["event_timestamp"] = labels["event_timestamp"] - pd.Timedelta(days=400)
    labels.to_parquet(tmp_path / "old.parquet")
    common = [
        "--repo",
        str(trained_model.repo),
        "--out",
        str(tmp_path / "o"),
        "--signing-key",
        str(trained_model.keys.private),
    ]
    assert train_main([*common, "--labels", str(tmp_path / "old.parquet")]) == 1
    assert "point-in-time join lost 3000 of 3000 label rows" in capsys.readouterr().err
    assert train_main([*common, "--labels", str(tmp_path / "none.parquet")]) == 2
    assert "none.parquet: labels file not found" in capsys.readouterr().err


def test_exported_model_carries_no_build_machine_paths(trained_model) -> None:  # type: ignore[no-untyped-def]
    # The version is a digest of model.onnx: source paths inside it would make the same
    # weights a different version in every checkout.
    import onnx

    raw = (trained_model.out / "model.onnx").read_bytes()
    repo_root = str(Path(__file__).resolve().parents[3])
    assert repo_root.encode() not in raw
    model = onnx.load_from_string(raw)
    keys = {prop.key for node in model.graph.node for prop in node.metadata_props}
    assert "pkg.torch.onnx.stack_trace" not in keys
    assert "pkg.torch.onnx.fx_node" in keys  # only the path-bearing entries are dropped
