"""The monitor command: report, metrics file, trigger on drift, exit 2 on bad input."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

from workloads.monitoring.__main__ import main
from workloads.monitoring.queues import FileQueue
from workloads.monitoring.reference import build_reference, save_reference


def _setup(tmp_path: pathlib.Path, shift: float) -> list[str]:
    rng = np.random.default_rng(0)
    ref = build_reference(pd.DataFrame({"x": rng.normal(size=5_000)}), ["x"])
    save_reference(ref, tmp_path / "reference.json")
    logs = tmp_path / "logs"
    logs.mkdir()
    rows = [[float(v)] for v in rng.normal(shift, 1.0, 1_000)]
    record = {"ts": 5.0, "model": "m", "model_version": "2", "features": ["x"], "inputs": rows}
    (logs / "p.jsonl").write_text(json.dumps(record) + "\n")
    return [
        "--log_dir",
        str(logs),
        "--reference",
        str(tmp_path / "reference.json"),
        "--model_name",
        "m",
        "--start",
        "0",
        "--end",
        "10",
        "--queue",
        f"file:{tmp_path / 'queue'}",
        "--report",
        str(tmp_path / "report.json"),
        "--metrics_file",
        str(tmp_path / "drift.prom"),
    ]


def test_shift_triggers_and_writes_report(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_setup(tmp_path, shift=1.5)) == 0
    assert "m: 1000 rows, retraining triggered" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["triggered"] is True
    assert report["drifted_features"] == ["x"]
    msgs = FileQueue(tmp_path / "queue").receive(max_messages=5)
    assert len(msgs) == 1
    assert msgs[0].body["model_version"] == "2"
    assert msgs[0].body["drifted_features"] == ["x"]
    assert msgs[0].id == report["trigger_message_id"]
    assert 'mlplatform_drift_psi{feature="x",model="m"}' in (tmp_path / "drift.prom").read_text()


def test_no_shift_sends_nothing(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_setup(tmp_path, shift=0.0)) == 0
    assert "m: 1000 rows, no drift" in capsys.readouterr().out
    assert len(FileQueue(tmp_path / "queue")) == 0


def test_bad_reference_exits_2_with_one_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _setup(tmp_path, shift=0.0)
    (tmp_path / "reference.json").write_text('{"version": 9}')
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "reference.json: version: unsupported value 9" in err
