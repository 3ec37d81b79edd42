"""Benchmark: one training process versus ``torchrun --standalone --nproc_per_node=2`` on CPU.

    python bench/training.py [--customers 5000] [--epochs 30] [--batch-size 256] [--out DIR]

Both runs train the same model on the same point-in-time training set (one feature repo,
built once) for the same epochs and global batch size, each as its own process exactly as
a user would start it (``python -m workloads.training`` and ``torchrun ... -m
workloads.training``). Reported per run: wall time of the whole command (start-up, Feast
join, training, gate, ONNX export and signing), the training loop's own time and its
samples per second (training rows x epochs / loop time, all processes together), and the
validation ROC-AUC (each process runs one intra-op thread, as torchrun sets it); then the AUC difference and the speed-up of the loop. On a machine
with two cores the two processes share them with everything else, so expect little or no
speed-up there: the point of the distributed path is nodes with GPUs, and this checks it
learns as well. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from workloads.common.signing import write_key_pair
from workloads.features.datagen import GeneratorConfig
from workloads.features.repo import create_local_repo


def _run(command: list[str], out: Path) -> dict[str, Any]:
    """Run one training command; return its timings and metrics from the model card."""
    # One intra-op thread per process in both runs (torchrun's own default for N > 1):
    # with the default (one per core) a lone process fights every other process on a
    # shared machine for the cores, and the comparison would measure that instead.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command[:4])} ... failed ({result.returncode}):\n{result.stderr[-2000:]}"
        )
    card = json.loads((out / "model_card.json").read_text())
    training, data = card["training"], card["data"]
    samples = data["n_train"] * training["epochs"]
    return {
        "world_size": training["world_size"],
        "backend": training["backend"],
        "wall_s": round(wall, 2),
        "fit_s": training["fit_seconds"],
        "samples_per_s": round(samples / max(training["fit_seconds"], 1e-9), 1),
        "roc_auc": round(card["metrics"]["roc_auc"], 4),
        "signed_artifact_sets": len(list(out.glob("signature.json"))),
    }


def main(argv: list[str] | None = None) -> int:
    """Build the data once, run both ways, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    args = parser.parse_args(argv)
    base = args.out or Path(tempfile.mkdtemp(prefix="bench-training-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        repo = base / "repo"
        if not (repo / "feature_store.yaml").is_file():
            create_local_repo(
                repo,
                GeneratorConfig(
                    n_customers=args.customers, n_snapshots=6, labels_per_customer=2, seed=7
                ),
                materialize=False,
            )
        key = base / "signing.pem"
        write_key_pair(key, base / "signing.pub.pem")
        common = [
            "--repo", str(repo), "--signing-key", str(key), "--epochs", str(args.epochs),
            "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--device", "cpu",
        ]  # fmt: skip
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        runs = {}
        for label, prefix, out in (
            ("single", [sys.executable, "-m", "workloads.training"], base / "single"),
            (
                "torchrun_2",
                [torchrun, "--standalone", "--nproc_per_node=2", "-m", "workloads.training"],
                base / "torchrun",
            ),
        ):
            shutil.rmtree(out, ignore_errors=True)
            runs[label] = _run([*prefix, *common, "--out", str(out)], out)
            print(f"{label}: {runs[label]}", file=sys.stderr)
        single, pair = runs["single"], runs["torchrun_2"]
        result = {
            "benchmark": "training",
            "customers": args.customers,
            "epochs": args.epochs,
            "global_batch_size": args.batch_size,
            "cpu_count": os.cpu_count(),
            "threads_per_process": 1,
            **runs,
            "auc_diff": round(abs(single["roc_auc"] - pair["roc_auc"]), 4),
            "fit_speedup": round(single["fit_s"] / max(pair["fit_s"], 1e-9), 2),
            "wall_speedup": round(single["wall_s"] / max(pair["wall_s"], 1e-9), 2),
        }
        print(json.dumps(result))
        return 0
    finally:
        if args.out is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
