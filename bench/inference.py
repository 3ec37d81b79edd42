"""Inference micro-benchmark: torch eager vs ONNX Runtime defaults vs the server's session.

Models: the trained churn model (11 raw features, preprocessing inside, 64-64 MLP) and
a larger plain MLP 128 -> 1024 -> 1024 -> 2. For each: batch-1 latency (p50/p99 of
``--iters`` calls, each timed alone) and batch-256 throughput (rows/s). ``ort_tuned`` is
the session the model server builds (``workloads/serving/session.py``), ``ort_default``
a session with ONNX Runtime's defaults. Outputs of the three runtimes are checked
against each other before timing.

The runtimes are measured interleaved, ``--rounds`` rounds (see ``_harness.py``); every
figure is reported as median and spread over the rounds, and tuned-vs-default is a
``win``/``loss`` only when the ranges do not overlap. That verdict, at batch 1 and
batch 256, is what the server's session options are decided on.

``python bench/inference.py [--model-dir DIR] [--rounds N] [--iters N] [--seconds S]
[--quick]``; without ``--model-dir`` the local lifecycle model (``.mlplatform/local/model``)
is used, trained first if missing. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    # torch is imported inside the functions at run time (it takes seconds to load).
    import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as harness


def _latency_us(fn: Callable[[], object], iters: int) -> dict[str, float]:
    """p50 and p99 of ``iters`` calls, each timed alone."""
    samples = np.empty(iters)
    clock = time.perf_counter_ns
    for i in range(iters):
        t0 = clock()
        fn()
        samples[i] = clock() - t0
    return {
        "p50_us": float(np.percentile(samples, 50) / 1e3),
        "p99_us": float(np.percentile(samples, 99) / 1e3),
    }


def _throughput(fn: Callable[[], object], rows: int, seconds: float) -> float:
    """Rows per second of back-to-back calls for about ``seconds``."""
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        n += 1
    return n * rows / elapsed


def _torch_from_onnx(model_dir: Path) -> torch.nn.Module:
    """Rebuild the trained torch module from the exported weights (names are kept)."""
    import onnx
    import torch
    from onnx import numpy_helper

    from workloads.training.data import FeatureSpec
    from workloads.training.model import TabularMLP

    card = json.loads((model_dir / "model_card.json").read_text())
    specs = [
        FeatureSpec(
            name=f["name"],
            view=f["view"],
            kind=f["kind"],
            dtype=f["dtype"],
            categories=tuple(f.get("categories", ())),
            transform=f.get("transform", ""),
        )
        for f in card["features"]
    ]
    weights = {
        i.name: numpy_helper.to_array(i)
        for i in onnx.load(str(model_dir / "model.onnx")).graph.initializer
    }
    model = TabularMLP(
        specs, weights["mean"], weights["std"], hidden=card["training"]["hidden"], dropout=0.0
    )
    state = {
        k: torch.from_numpy(np.array(v)) for k, v in weights.items() if k in model.state_dict()
    }
    model.load_state_dict(state, strict=False)
    return model.eval()


def _sample(card: dict[str, Any], rows: int, rng: np.random.Generator) -> np.ndarray:
    feats = card["features"]
    x = np.abs(rng.normal(20, 10, (rows, len(feats)))).astype(np.float32)
    for i, f in enumerate(feats):
        if f["kind"] == "categorical":
            x[:, i] = rng.choice(f["categories"], rows)
    return x


def bench_model(
    name: str,
    torch_model: torch.nn.Module,
    onnx_path: Path,
    x1: np.ndarray,
    x256: np.ndarray,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The three runtimes on one model, interleaved round by round."""
    import onnxruntime as ort
    import torch

    from workloads.serving.session import tuned_session_options

    default = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    # The server's settings (1 intra-op thread, no spinning), as --intra_op_threads 1 runs.
    tuned = ort.InferenceSession(
        str(onnx_path),
        sess_options=tuned_session_options(1),
        providers=["CPUExecutionProvider"],
    )
    in_name = default.get_inputs()[0].name
    t1, t256 = torch.from_numpy(x1), torch.from_numpy(x256)

    def eager(t: torch.Tensor) -> Callable[[], torch.Tensor]:
        def call() -> torch.Tensor:
            with torch.inference_mode():
                return torch_model(t)

        return call

    want = eager(t256)().numpy()
    for session in (default, tuned):
        got = session.run(None, {in_name: x256})[0]
        assert np.max(np.abs(got - want)) < 1e-4, f"{name}: runtimes disagree"
    calls = {
        "torch_eager": (eager(t1), eager(t256)),
        "ort_default": (
            lambda: default.run(None, {in_name: x1}),
            lambda: default.run(None, {in_name: x256}),
        ),
        "ort_tuned": (
            lambda: tuned.run(None, {in_name: x1}),
            lambda: tuned.run(None, {in_name: x256}),
        ),
    }

    def one_round(one: Callable[[], object], batch: Callable[[], object]) -> Callable[[], dict]:
        def measure() -> dict[str, float]:
            for _ in range(args.warmup):
                one()
            figures = _latency_us(one, args.iters)
            figures["batch256_rows_per_s"] = _throughput(batch, len(x256), args.seconds)
            return figures

        return measure

    raw = harness.interleaved(
        {key: one_round(one, batch) for key, (one, batch) in calls.items()}, args.rounds
    )
    out: dict[str, Any] = {}
    series: dict[str, dict[str, list[float]]] = {}
    for key, rounds in raw.items():
        series[key] = {figure: [r[figure] for r in rounds] for figure in rounds[0]}
        out[key] = {
            "batch1_p50_us": harness.summary(series[key]["p50_us"]),
            "batch1_p99_us": harness.summary(series[key]["p99_us"]),
            "batch256_rows_per_s": harness.summary(series[key]["batch256_rows_per_s"]),
        }
    comparisons: dict[str, Any] = {}
    for ours, other in (
        ("ort_tuned", "ort_default"),
        ("ort_tuned", "torch_eager"),
        ("ort_default", "torch_eager"),
    ):
        # Speed-ups: other/ours for latency, ours/other for throughput (both > 1 = faster).
        lat = harness.compare(
            series[ours]["p50_us"], series[other]["p50_us"], higher_is_better=False
        )
        lat["speedup"] = harness.summary([1 / r for r in _ratios(series, ours, other, "p50_us")])
        del lat["ratio"]
        thr = harness.compare(
            series[ours]["batch256_rows_per_s"],
            series[other]["batch256_rows_per_s"],
            higher_is_better=True,
        )
        thr["speedup"] = thr.pop("ratio")
        comparisons[f"{ours}_vs_{other}"] = {"batch1_p50": lat, "batch256_rows_per_s": thr}
    out["comparisons"] = comparisons
    out["speedup_tuned_vs_eager_batch1_per_round"] = [
        round(1 / r, 2) for r in _ratios(series, "ort_tuned", "torch_eager", "p50_us")
    ]
    return out


def _ratios(
    series: dict[str, dict[str, list[float]]], ours: str, other: str, figure: str
) -> list[float]:
    return [a / b for a, b in zip(series[ours][figure], series[other][figure], strict=True)]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iters", type=int, default=2000, help="batch-1 calls per round")
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls per round")
    parser.add_argument("--seconds", type=float, default=0.5, help="batch-256 run per round")
    parser.add_argument("--quick", action="store_true", help="3 short rounds, trained model only")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.iters, args.warmup, args.seconds = 3, 100, 20, 0.05
    import onnxruntime as ort
    import torch

    from workloads.training.model import build_mlp

    if args.model_dir is None:
        from workloads.training.local import ensure_local_model

        args.model_dir = ensure_local_model().model_dir
    rng = np.random.default_rng(0)
    card = json.loads((args.model_dir / "model_card.json").read_text())
    results: dict[str, Any] = {
        "bench": "inference",
        "rounds": args.rounds,
        "batch1_calls_per_round": args.iters,
        "batch256_seconds_per_round": args.seconds,
    }
    with harness.recorded(results):
        results["machine"].update(
            torch=torch.__version__,
            onnxruntime=ort.__version__,
            torch_threads=torch.get_num_threads(),
        )
        results["trained_model"] = bench_model(
            "trained",
            _torch_from_onnx(args.model_dir),
            args.model_dir / "model.onnx",
            _sample(card, 1, rng),
            _sample(card, 256, rng),
            args,
        )
        if not args.quick:
            torch.manual_seed(0)
            large = build_mlp(128, (1024, 1024)).eval()
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "large.onnx"
                torch.onnx.export(
                    large,
                    (torch.zeros(4, 128),),
                    str(path),
                    dynamo=True,
                    external_data=False,
                    input_names=["x"],
                    output_names=["y"],
                    dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1 << 20)},),
                )
                results["large_mlp_128_1024_1024_2"] = bench_model(
                    "large",
                    large,
                    path,
                    rng.normal(size=(1, 128)).astype(np.float32),
                    rng.normal(size=(256, 128)).astype(np.float32),
                    args,
                )
    trained = results["trained_model"]
    results["targets"] = {
        "tuned_ge_3x_eager_batch1": harness.target(
            trained["speedup_tuned_vs_eager_batch1_per_round"], 3.0, at_least=True
        ),
        "tuned_vs_default_batch1": trained["comparisons"]["ort_tuned_vs_ort_default"]["batch1_p50"][
            "verdict"
        ],
        "tuned_vs_default_batch256": trained["comparisons"]["ort_tuned_vs_ort_default"][
            "batch256_rows_per_s"
        ]["verdict"],
    }
    harness.emit(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
