"""Inference micro-benchmark: torch eager vs ONNX Runtime default vs our tuned session.

Models: the trained churn model (11 raw features, preprocessing inside, 64-64 MLP) and
a larger plain MLP 128 -> 1024 -> 1024 -> 2. For each: batch-1 latency (p50/p99 over
``--iters`` calls, each timed alone) and batch-256 throughput (rows/s). Outputs of the
three runtimes are checked against each other before timing.

``python bench/inference.py [--model-dir DIR] [--iters N] [--seconds S]``; without
``--model-dir`` the local lifecycle model (``.mlplatform/local/model``) is used, trained
first if missing. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def _latency_us(fn: Callable[[], object], iters: int) -> dict[str, float]:
    for _ in range(min(200, iters)):
        fn()
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
    for _ in range(5):
        fn()
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
    tuned_threads: int,
    iters: int,
    seconds: float,
    spin: bool = False,
) -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    from workloads.serving.session import tuned_session_options

    default = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    tuned = ort.InferenceSession(
        str(onnx_path),
        sess_options=tuned_session_options(tuned_threads, allow_spinning=spin),
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
    runs = {
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
    out: dict[str, Any] = {"tuned_intra_op_threads": tuned_threads, "tuned_spinning": spin}
    for key, (one, batch) in runs.items():
        out[key] = {
            "batch1": _latency_us(one, iters),
            "batch256_rows_per_s": _throughput(batch, len(x256), seconds),
        }
    eager_p50 = out["torch_eager"]["batch1"]["p50_us"]
    out["speedup_tuned_vs_eager_batch1_p50"] = eager_p50 / out["ort_tuned"]["batch1"]["p50_us"]
    out["speedup_default_vs_eager_batch1_p50"] = eager_p50 / out["ort_default"]["batch1"]["p50_us"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--iters", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=2.0, help="per throughput run")
    args = parser.parse_args()
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
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "torch_threads": torch.get_num_threads(),
        },
    }
    results["trained_model"] = bench_model(
        "trained",
        _torch_from_onnx(args.model_dir),
        args.model_dir / "model.onnx",
        _sample(card, 1, rng),
        _sample(card, 256, rng),
        1,
        args.iters,
        args.seconds,
    )
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
            2,
            args.iters // 2,
            args.seconds,
            spin=True,
        )
    trained = results["trained_model"]
    results["target_tuned_ge_3x_eager_batch1"] = trained["speedup_tuned_vs_eager_batch1_p50"] >= 3.0
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
