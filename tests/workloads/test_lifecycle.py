"""The local lifecycle: helpers on their own, then the whole loop once (slow)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

from workloads.lifecycle.runtime import Processes, StageError, last_json_line, traffic

FEATURES = [
    "age",
    "tenure_months",
    "segment_code",
    "emirate_code",
    "balance_aed",
    "balance_change_90d_pct",
    "txn_count_30d",
    "digital_logins_30d",
    "salary_transfer",
    "complaints_90d",
    "products_held",
]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by an unrelated parent) no longer runs.
    stat = pathlib.Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_traffic_rows_follow_the_model_feature_order_and_shift_moves_inputs() -> None:
    rows, labels = traffic(FEATURES, 500, seed=3, shift=0.0)
    assert rows.shape == (500, len(FEATURES))
    assert rows.dtype == np.float32
    assert set(np.unique(labels)) <= {0, 1}
    assert 0.05 < labels.mean() < 0.5
    shifted, _ = traffic(FEATURES, 500, seed=3, shift=1.5)
    balance = FEATURES.index("balance_aed")
    assert np.median(shifted[:, balance]) < 0.6 * np.median(rows[:, balance])
    with pytest.raises(StageError, match="model expects features the generator lacks: nope"):
        traffic([*FEATURES, "nope"], 50, seed=3, shift=0.0)


def test_processes_are_stopped_even_when_they_ignore_sigterm(tmp_path: pathlib.Path) -> None:
    procs = Processes(tmp_path / "logs")
    stubborn = procs.start(
        "stubborn",
        [
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('up', flush=True); time.sleep(60)",
        ],
    )
    polite = procs.start("polite", ["-c", "import time; time.sleep(60)"])
    time.sleep(0.5)
    began = time.monotonic()
    procs.stop_all()
    assert stubborn.returncode is not None
    assert polite.returncode is not None
    assert time.monotonic() - began < 20
    assert (tmp_path / "logs" / "stubborn.log").read_text().startswith("$ python -c")


def test_failed_stage_names_its_log(tmp_path: pathlib.Path) -> None:
    procs = Processes(tmp_path / "logs")
    with pytest.raises(StageError, match=r"broken: exit code 3 \(log: .*broken\.log\): .*boom"):
        procs.run("broken", ["-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"], 30)
    assert procs.run("fine", ["-c", "print('{\"ok\": 1}')"], 30).strip() == '{"ok": 1}'
    assert last_json_line('log line\n{"a": 1}\nnot json\n') == {"a": 1}


@pytest.mark.slow
@pytest.mark.timeout(500)
def test_whole_lifecycle_ends_in_retraining_and_rollback(tmp_path: pathlib.Path) -> None:
    workdir = tmp_path / "local"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "workloads.lifecycle",
            "--workdir",
            str(workdir),
            "--customers",
            "2000",
            "--epochs",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
        # The trainer creates its dev signing key under the working directory.
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "retraining triggered for churn" in out
    assert "challenger rolled back in team-demo/churn" in out
    # Rolled back on the Envoy router the platform deploys, not on the InferenceService.
    assert (
        "router team-demo/churn-router: churn-champion 50 %, churn-challenger 50 % -> "
        "churn-champion 100 %; pod annotation champion=50,challenger=50 -> champion=100"
    ) in out
    assert "PATCH /api/v1/namespaces/team-demo/configmaps/churn-router" in out
    assert "PATCH /apis/apps/v1/namespaces/team-demo/deployments/churn-router" in out
    assert "anonymous POST /alerts -> HTTP 401" in out
    assert "chain intact" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["retraining_triggered"] and summary["rolled_back"]
    # What it made stays inspectable; what it started is gone.
    for path in ("models/champion/model.onnx", "alerts/audit.jsonl", "predictions"):
        assert (workdir / path).exists(), path
    pids = json.loads((workdir / "logs" / "processes.json").read_text())
    assert {"serve-champion", "serve-challenger"} <= set(pids)
    assert not [name for name, pid in pids.items() if _alive(pid)]
