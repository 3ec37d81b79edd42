"""``python -m workloads.lifecycle``: the whole model lifecycle on this machine.

Stages (each printed with its key numbers and time):

1. generate data and materialise features (``python -m workloads.features init``);
2. train, pass the quality gate, export to ONNX and sign (``python -m workloads.training``);
3. serve the champion on 127.0.0.1 with prediction logging (``python -m workloads.serving``);
4. send in-distribution traffic and check drift: nothing fires;
5. shift the input distribution step by step until drift fires, send the retraining
   trigger to a file queue and consume it once (a redelivery is a duplicate);
6. train a challenger that passes the offline gate but is a larger, slower network,
   serve it next to the champion and split labelled traffic between the two;
7. a canary alert reaches the authenticated Alertmanager webhook (an anonymous one is
   refused), the canary analysis decides, and the actuator rolls the challenger back
   by patching the model's Envoy router (ConfigMap, then Deployment ``churn-router``,
   as the serving component deploys them) through the Kubernetes API (a loopback
   stand-in records the calls); the decision is in the hash-chained audit log.

Everything is kept under ``--workdir`` (default ``.mlplatform/local``, ignored by git):
``feature_repo/``, ``models/champion`` and ``models/challenger`` (serve either again
with ``python -m workloads.serving``), ``predictions/``, ``monitoring/`` (drift
reports, trigger queue, retraining requests), ``alerts/audit.jsonl`` and ``logs/``.
Every process started is stopped at the end, on errors and on Ctrl-C.

Exit codes: 0 the loop completed (drift triggered retraining, the bad challenger was
rolled back); 1 a stage failed (its log is named); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from workloads.lifecycle.runtime import Processes, StageError


class Stages:
    """Numbered stage printer with timings."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.index = 0
        self.started = time.perf_counter()

    @contextmanager
    def stage(self, title: str) -> Iterator[list[str]]:
        """Print the title, run the block, print its notes and elapsed time."""
        self.index += 1
        print(f"[{self.index}/{self.total}] {title}", flush=True)
        notes: list[str] = []
        began = time.perf_counter()
        yield notes
        for note in notes:
            print(f"      {note}", flush=True)
        print(f"      done in {time.perf_counter() - began:.1f} s", flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workloads.lifecycle",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path(".mlplatform/local"))
    p.add_argument("--customers", type=int, default=3000, help="customers in the training data")
    p.add_argument("--traffic-rows", type=int, default=2000, help="rows per traffic window")
    p.add_argument("--batch", type=int, default=32, help="rows per inference request")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--epochs", type=int, default=30, help="champion training epochs")
    p.add_argument(
        "--challenger-hidden",
        default="1024,1024,1024",
        help="hidden layers of the (slower) challenger network",
    )
    p.add_argument("--canary-requests", type=int, default=300, help="requests per canary arm")
    p.add_argument(
        "--canary-batch",
        type=int,
        default=128,
        help="rows per canary request (large enough that model compute shows in latency)",
    )
    return p


def _reset(workdir: pathlib.Path) -> None:
    """Remove the previous run's outputs (keys and the feature repo are rewritten)."""
    for name in ("models", "predictions", "monitoring", "alerts", "logs"):
        shutil.rmtree(workdir / name, ignore_errors=True)


def run(args: argparse.Namespace, procs: Processes) -> dict[str, Any]:
    """Run every stage; return the summary. Raises StageError."""
    # Imported here so that ``--help`` and bad arguments answer without loading the
    # monitoring, alerting and Kubernetes client modules.
    from workloads.lifecycle import rollback, steps

    workdir = steps.Workdir(args.workdir)
    _reset(workdir.root)
    stages = Stages(7)
    summary: dict[str, Any] = {"workdir": str(workdir.root)}

    with stages.stage(
        "generate data and materialise features (Feast, SQLite online store)"
    ) as notes:
        steps.materialise_features(procs, args, workdir, notes)
    with stages.stage("train, quality gate, ONNX export and signature (champion)") as notes:
        summary["champion"] = steps.train_champion(procs, args, workdir, notes)

    card = json.loads((workdir.champion / "model_card.json").read_text())
    features = [feature["name"] for feature in card["features"]]
    server_flags = ["--enable_grpc", "false", *steps.verify_key_flags()]

    with stages.stage("serve the champion on 127.0.0.1 (KServe V2, prediction logging)") as notes:
        client = steps.serve_champion(procs, workdir, server_flags, notes)
    drift = steps.DriftCheck(workdir)
    with stages.stage("in-distribution traffic, drift check") as notes:
        steps.check_baseline(client, drift, features, args, notes)
    with stages.stage("shift the input distribution until drift fires") as notes:
        fired = steps.shift_until_drift(client, drift, features, args, notes)
        steps.trigger_retraining(fired, str(card["model_version"]), workdir, notes)
        summary["retraining_triggered"] = True
        summary["drifted_features"] = fired.drifted_features
    with stages.stage("canary: a larger, slower challenger against the champion") as notes:
        arms = steps.run_canary(procs, args, workdir, client, features, server_flags, notes)
    with stages.stage("canary alert -> webhook -> canary analysis -> rollback") as notes:
        rollback.roll_back(args, workdir, arms, notes)
        summary["rolled_back"] = True
    client.close()
    summary["seconds"] = round(time.perf_counter() - stages.started, 1)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Run the lifecycle; stop every started process whatever happens."""
    args = _parser().parse_args(argv)
    for name in ("customers", "traffic_rows", "batch", "epochs", "canary_requests", "canary_batch"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')}: must be >= 1", file=sys.stderr)
            return 2
    procs = Processes(args.workdir / "logs")

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        summary = run(args, procs)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: stopping every started process", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: keep the traceback in the log, one line here
        log = args.workdir / "logs" / "lifecycle-error.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        print(f"error: {type(exc).__name__}: {exc} (traceback: {log})", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        signal.signal(signal.SIGTERM, previous)
        # Recorded so a user (and the test) can check that nothing was left running.
        (args.workdir / "logs").mkdir(parents=True, exist_ok=True)
        (args.workdir / "logs" / "processes.json").write_text(
            json.dumps({name: process.pid for name, process in procs.started}) + "\n"
        )
    print(
        f"lifecycle complete in {summary['seconds']} s: retraining triggered, "
        "bad challenger rolled back"
    )
    print(json.dumps(summary | {"champion": summary["champion"]["model_version"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
