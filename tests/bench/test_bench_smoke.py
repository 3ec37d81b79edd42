"""The benchmarks' measuring harness, and each benchmark's ``--quick`` run: JSON shape only.

No figure is asserted here (the machine running the tests is not the one the figures are
about); what is asserted is that each benchmark runs, reports median and spread per
figure, the load average, and verdicts drawn from the harness's rules.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"


def _harness() -> Any:
    spec = importlib.util.spec_from_file_location("bench_harness", BENCH / "_harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(script: str, *args: str, timeout: float = 240) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    return dict(json.loads(last))


def _is_summary(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and {"median", "min", "max", "iqr", "rounds"} <= set(value)
        and value["min"] <= value["median"] <= value["max"]
        and len(value["iqr"]) == 2
    )


def _has_load(result: dict[str, Any]) -> None:
    for key in ("load_average_start", "load_average_end"):
        assert isinstance(result[key], list)
        assert all(isinstance(x, float) for x in result[key])
    assert result["machine"]["cpus"] >= 1


# --------------------------------------------------------------------- the harness
def test_summary_reports_median_and_spread() -> None:
    h = _harness()
    s = h.summary([5.0, 1.0, 3.0, 2.0, 4.0])
    assert s == {"median": 3.0, "min": 1.0, "max": 5.0, "iqr": [2.0, 4.0], "rounds": 5}
    assert h.summary([7.0])["iqr"] == [7.0, 7.0]
    with pytest.raises(ValueError, match="no samples"):
        h.summary([])


@pytest.mark.parametrize(
    ("ours", "other", "higher", "verdict"),
    [
        ([10, 11, 12], [5, 6, 7], True, "win"),
        ([10, 11, 12], [5, 6, 7], False, "loss"),
        ([1, 2, 3], [5, 6, 7], False, "win"),
        ([1, 2, 3], [5, 6, 7], True, "loss"),
        ([1, 6, 3], [5, 6, 7], False, "inconclusive"),  # ranges overlap
        ([5, 6, 7], [7, 8, 9], False, "inconclusive"),  # touching ranges do not separate
    ],
)
def test_compare_calls_a_win_only_when_ranges_separate(
    ours: list[float], other: list[float], higher: bool, verdict: str
) -> None:
    result = _harness().compare(ours, other, higher_is_better=higher)
    assert result["verdict"] == verdict
    assert result["ratio"]["rounds"] == 3
    if verdict == "win":
        assert result["rounds_ahead"] == "3/3"


def test_target_holds_only_in_every_round() -> None:
    h = _harness()
    assert h.target([2.1, 2.5, 3.0], 2.0, at_least=True) == "met"
    assert h.target([1.9, 2.5, 3.0], 2.0, at_least=True) == "inconclusive"
    assert h.target([1.0, 1.5], 2.0, at_least=True) == "missed"
    assert h.target([9.0, 10.0], 10.0, at_least=False) == "met"
    assert h.target([9.0, 10.5], 10.0, at_least=False) == "inconclusive"


def test_interleaved_rotates_the_order() -> None:
    calls: list[str] = []

    def config(name: str) -> Any:
        def run() -> int:
            calls.append(name)
            return len(calls)

        return run

    results = _harness().interleaved({name: config(name) for name in "abc"}, 3)
    assert calls[:3] == ["a", "b", "c"]  # the warm-up
    assert calls[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert {name: len(values) for name, values in results.items()} == {"a": 3, "b": 3, "c": 3}


# --------------------------------------------------------------------- the benchmarks
def test_drift_quick() -> None:
    result = _run("drift.py", "--quick")
    _has_load(result)
    assert set(result["seconds"]) == {
        "ours_threads2",
        "ours_threads1",
        "scipy_loop",
        "sort_floor_threads1",
    }
    assert all(_is_summary(v) for v in result["seconds"].values())
    assert result["digit_mismatches"] == 0
    for threads in ("threads1", "threads2"):
        entry = result["speedup_vs_scipy_loop"][threads]
        assert _is_summary(entry["speedup"])
        assert entry["verdict"] in {"win", "loss", "inconclusive"}
    assert set(result["targets"].values()) <= {"met", "missed", "inconclusive"}


def test_plan_scale_quick() -> None:
    result = _run("plan_scale.py", "--quick")
    _has_load(result)
    (row,) = result["rows"]
    assert set(row["seconds"]) == {"engine", "sdk_program", "flat_replay"}
    assert all(_is_summary(v) for v in row["seconds"].values())
    assert _is_summary(row["engine_overhead"]["ratio"])
    assert _is_summary(row["vs_flat_replay"])
    # The plain-SDK baseline runs outside the engine: nothing of ours imported there.
    assert row["baseline_imports_mlplatform"] is False
    assert result["targets"]["baseline_outside_engine"] is True
    assert row["resources"] > row["flat_replay_resources"] > 0


@pytest.mark.slow
def test_inference_quick(small_model: Any) -> None:
    result = _run("inference.py", "--quick", "--model-dir", str(small_model.model_dir))
    _has_load(result)
    trained = result["trained_model"]
    for runtime in ("torch_eager", "ort_default", "ort_tuned"):
        assert all(_is_summary(v) for v in trained[runtime].values())
    verdicts = trained["comparisons"]["ort_tuned_vs_ort_default"]
    assert {v["verdict"] for v in verdicts.values()} <= {"win", "loss", "inconclusive"}
    assert result["targets"]["tuned_vs_default_batch1"] in {"win", "loss", "inconclusive"}


@pytest.mark.slow
def test_serving_quick(small_model: Any) -> None:
    result = _run(
        "serving.py",
        "--quick",
        "--model-dir",
        str(small_model.model_dir),
        "--public-key",
        str(small_model.public_key),
    )
    _has_load(result)
    # wrk (C) drives the load where it is installed (CI installs it); else the Python
    # client, and the JSON says so.
    assert result["client"] == ("wrk" if shutil.which("wrk") else "python")
    if result["client"] == "python":
        assert "wrk not found" in result["client_note"]
    # Both servers answered the pre-flight requests with 200 and the expected shape.
    assert result["preflight_problems"] == {"ours": [], "kserve_untuned": []}
    for key in ("ours_c1", "ours_c16", "kserve_untuned_c1", "kserve_untuned_c16"):
        for figure in ("rps", "p50_ms", "p90_ms", "p99_ms", "client_cpu_per_s"):
            assert _is_summary(result[key][figure]), figure
        assert result[key]["errors"] == 0, result[key]["error_sample"]
        assert len(result[key]["p99_ms_per_round"]) == result["rounds"]
        assert _is_summary(result[key]["server_cpu_per_s"])
        assert _is_summary(result[key]["server_runqueue_wait_per_s"])
    for shares in result["ours_c16"]["handler_share_within_per_round"]:
        assert set(shares) == {"0.5ms", "1ms", "5ms", "10ms"}
        assert all(0.0 <= share <= 1.0 for share in shares.values())
    # Every malformed request is answered, and with a 4xx (the one assertion on behaviour).
    assert result["malformed_statuses"]
    assert all(400 <= code < 500 for code in result["malformed_statuses"].values())
    assert result["targets"]["malformed_all_4xx"] is True


def _serving_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_serving", BENCH / "serving.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wrk_output_is_parsed_and_failures_count_as_errors() -> None:
    serving = _serving_module()
    line = serving.WRK_DONE_MARK + json.dumps(
        {
            "requests": 2000,
            "duration_us": 2_000_000,
            "p50_us": 1500,
            "p90_us": 2500,
            "p99_us": 9000,
            "max_us": 20000,
            "connect": 0,
            "read": 1,
            "write": 0,
            "status": 3,
            "timeout": 2,
        }
    )
    result = serving.parse_wrk(f"Running 2s test @ http://127.0.0.1:1/\n{line}\n")
    assert result["rps"] == 1000.0 and result["p99_ms"] == 9.0 and result["p50_ms"] == 1.5
    assert result["errors"] == 6  # 1 read + 2 timeouts + 3 responses not 2xx/3xx
    assert "non-2xx or 3xx responses: 3" in result["error_sample"]
    with pytest.raises(RuntimeError, match="no result line"):
        serving.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_wrk_script_carries_the_body_verbatim(tmp_path: Path) -> None:
    serving = _serving_module()
    body = b'{"inputs": [{"name": "]]", "data": "]=]"}]}'
    text = serving.wrk_script(tmp_path, body).read_text()
    assert 'wrk.method = "POST"' in text
    assert "wrk.body = [==[" + body.decode() + "]==]" in text
