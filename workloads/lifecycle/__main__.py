"""``python -m workloads.lifecycle``: the MLOps loop as a stack deploys it, on this machine.

Every step runs the command, arguments and environment its planned manifest gives its
container (``mlplatform plan --stack S --out DIR``: ``DIR/manifests/``), with only
endpoints, ports, mounted paths and masked secrets substituted (moto for S3 and SQS, a
loopback Kubernetes API where each workload has its planned Role; see
:mod:`workloads.lifecycle.planned` and :mod:`workloads.lifecycle.deployed`):

1. read the plan of an enterprise tenant (``--plan``, else plan ``--stack`` now); start
   moto and the Kubernetes API stand-in with the tenant's InferenceService and router;
2. generate data and materialise features (``python -m workloads.features init``);
3. train, gate, export and sign the champion under the stack's model version;
4. upload it where the InferenceService points; serve it with the planned
   ServingRuntime container (prediction logs shipped to the bucket); start the
   retraining controller from its Deployment;
5. in-distribution traffic through the router: the drift monitor's CronJob finds no drift;
6. shifted traffic until the drift monitor fires and puts a trigger on the queue;
7. the controller starts a TrainJob named after the trigger, the run registers a
   challenger, the controller gives it the canary share, labelled traffic flows, and
   the analysis promotes it (registry, InferenceService, router);
8. a drift alert reaches the alert receiver (its Deployment), a second run trains on a
   broken export and its worse challenger is rolled back on accuracy;
9. both audit logs' chains verify.

Everything is kept under ``--workdir`` (default ``.mlplatform/local``, ignored by git):
``feature_repo/``, ``models/champion``, the pods' volumes, ``logs/`` (one per process).
Every process started is stopped at the end, on errors and on Ctrl-C.

Exit codes: 0 the loop completed (a retrained challenger promoted, a worse one rolled
back); 1 a stage failed (its log is named; a workload that rejects its manifest's
arguments fails here); 2 bad arguments.
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
    p.add_argument(
        "--epochs",
        type=int,
        default=2,
        help="champion training epochs (the first champion is a quick fit; the retraining "
        "run trains fully on fresh data, so its challenger is the better model)",
    )
    p.add_argument("--stack", default="staging", help="stack whose manifests the loop runs")
    p.add_argument(
        "--plan", default=None, help="a plan's --out folder (default: .mlplatform/<stack>)"
    )
    p.add_argument("--canary-rows", type=int, default=4000, help="rows per canary round")
    p.add_argument("--canary-batch", type=int, default=4, help="rows per canary request")
    p.add_argument("--canary-rounds", type=int, default=150, help="canary rounds at most")
    return p


def _reset(workdir: pathlib.Path) -> None:
    """Remove the previous run's outputs (keys and the feature repo are rewritten)."""
    for name in ("models", "predictions", "monitoring", "alerts", "logs", "cluster", "pods",
                 "trainjobs", "volumes", "kube", "keys"):  # fmt: skip
        shutil.rmtree(workdir / name, ignore_errors=True)


def _ingest(workdir: Any, notes: list[str]) -> dict[str, Any]:
    """Issue 16's ingestion step (:mod:`workloads.ingestion.demo`)."""
    from workloads.ingestion.demo import DemoError, ingest_demo_batch

    try:
        counts = ingest_demo_batch(
            workdir.feature_repo, workdir.root / "ingestion", workdir.root / "logs"
        )
    except DemoError as exc:
        raise StageError(str(exc)) from None
    notes.append(
        f"received {counts['received']} = accepted {counts['accepted']} + rejected"
        f" {counts['rejected']} (dead letters: {', '.join(counts['dead_letter_reasons'])})"
    )
    return counts


def _erase(workdir: Any, loop: Any, entity: int, notes: list[str]) -> dict[str, Any]:
    """Issue 16's erasure step (:mod:`workloads.ingestion.demo`): the customer's records
    too in the prediction logs the model servers shipped to the tenant bucket (the
    traffic named each row's customer)."""
    from contracts.names import PREDICTION_LOG_PREFIX
    from workloads.ingestion.demo import DemoError, describe_receipt, erase_demo_customer

    try:
        receipt = erase_demo_customer(
            workdir.feature_repo, workdir.root / "ingestion", workdir.root / "logs",
            workdir.alerts / "erasure.jsonl", entity,
            prediction_logs_uri=f"s3://{loop.bucket}/{PREDICTION_LOG_PREFIX}/",
            kms_key=loop.kms_key, env=loop.env,
        )  # fmt: skip
    except DemoError as exc:
        raise StageError(str(exc)) from None
    notes.extend(describe_receipt(receipt))
    return {k: receipt[k] for k in ("audit_seq", "found", "removed", "remaining_after")}


def run(args: argparse.Namespace, procs: Processes) -> dict[str, Any]:
    """Run every stage; return the summary. Raises StageError."""
    # Imported here so that ``--help`` and bad arguments answer without loading the
    # monitoring, alerting and Kubernetes client modules.
    from workloads.lifecycle import deployed, steps

    workdir = steps.Workdir(args.workdir)
    _reset(workdir.root)
    stages = Stages(11)
    summary: dict[str, Any] = {"workdir": str(workdir.root)}
    if args.plan is None and (pathlib.Path(".mlplatform") / args.stack / "manifests").is_dir():
        args.plan = str(pathlib.Path(".mlplatform") / args.stack)
    loop = deployed.DeployedLoop(procs, args, workdir.root, workdir.feature_repo, pathlib.Path())
    try:
        with stages.stage(f"the {args.stack} plan: manifests, moto, Kubernetes API") as notes:
            loop.plan_dir = deployed.plan_dir_for(args, procs, workdir.root)
            version = loop.setup(notes)
        with stages.stage(
            "generate data and materialise features (Feast, SQLite online store)"
        ) as notes:
            steps.materialise_features(procs, args, workdir, notes)
        with stages.stage("ingest feature events through the queue (some malformed)") as notes:
            summary["ingestion"] = _ingest(workdir, notes)
        with stages.stage(f"train, gate, ONNX export, signature: champion {version}") as notes:
            summary["champion"] = steps.train_champion(procs, args, workdir, notes, version=version)
        card = json.loads((workdir.champion / "model_card.json").read_text())
        features = [feature["name"] for feature in card["features"]]
        with stages.stage("deploy: champion served, retraining controller running") as notes:
            loop.deploy_champion(workdir.champion, notes)
            loop.start_controller(notes)
        with stages.stage("in-distribution traffic; drift monitor (CronJob)") as notes:
            deployed.check_baseline(loop, features, notes)
        with stages.stage("shift the inputs until the drift monitor fires") as notes:
            shift = deployed.shift_until_drift(loop, features, notes)
            summary["retraining_triggered"] = True
        with stages.stage("controller -> TrainJob -> challenger -> canary -> promote") as notes:
            summary["promoted"] = deployed.retrain_and_promote(loop, features, shift, notes)
        with stages.stage(
            "drift alert -> alert receiver -> run on a broken export -> canary -> roll back"
        ) as notes:
            summary["rolled_back"] = deployed.bad_retrain_rolled_back(loop, features, shift, notes)
        with stages.stage("audit logs") as notes:
            summary["audit_records"] = deployed.verify_audit(loop, notes)
        with stages.stage("erase one customer everywhere (PDPL), receipt in the audit") as notes:
            summary["erasure"] = _erase(
                workdir, loop, summary["ingestion"]["sample_subject"], notes
            )
    finally:
        loop.close()
    summary["seconds"] = round(time.perf_counter() - stages.started, 1)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Run the lifecycle; stop every started process whatever happens."""
    args = _parser().parse_args(argv)
    for name in ("customers", "traffic_rows", "batch", "epochs", "canary_rows", "canary_rounds",
                 "canary_batch"):  # fmt: skip
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
        f"lifecycle complete in {summary['seconds']} s: drift triggered retraining, "
        f"challenger {summary['promoted']} promoted, worse challenger {summary['rolled_back']} "
        "rolled back, audit chains verify"
    )
    print(json.dumps(summary | {"champion": summary["champion"]["model_version"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
