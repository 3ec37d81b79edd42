"""The stages of the local lifecycle, one function each (``__main__`` runs them in order).

Each stage appends the lines it prints to ``notes`` and raises :class:`StageError`
when the loop cannot go on. Everything a stage writes lands under :class:`Workdir`.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from contracts.signing import SIGNING_KEY_ENV
from workloads.common.signing import DEV_KEY_DIR, DEV_PUBLIC_KEY
from workloads.lifecycle.runtime import (
    ArmStats,
    Processes,
    StageError,
    V2Client,
    free_port,
    last_json_line,
    send,
    traffic,
    wait_ready,
)
from workloads.monitoring.drift import (
    DriftReport,
    DriftThresholds,
    compute_drift,
    prepare_reference,
)
from workloads.monitoring.queues import FileQueue
from workloads.monitoring.reference import load_reference
from workloads.monitoring.trigger import FileDedupeStore, RetrainingHandler, emit_retraining_trigger
from workloads.monitoring.window import read_window

MODEL = "churn"
NAMESPACE = "team-demo"
SHIFT_STEPS = (0.25, 0.5, 1.0, 1.5)


@dataclass(frozen=True)
class Workdir:
    """Where the lifecycle keeps what it makes (see the package's ``__main__``)."""

    root: pathlib.Path

    @property
    def feature_repo(self) -> pathlib.Path:
        """The local Feast repository (data, registry, SQLite online store)."""
        return self.root / "feature_repo"

    @property
    def champion(self) -> pathlib.Path:
        """The champion's model directory."""
        return self.root / "models" / "champion"

    @property
    def challenger(self) -> pathlib.Path:
        """The challenger's model directory."""
        return self.root / "models" / "challenger"

    @property
    def predictions(self) -> pathlib.Path:
        """The champion server's prediction log."""
        return self.root / "predictions"

    @property
    def monitoring(self) -> pathlib.Path:
        """Drift reports, the trigger queue and retraining requests."""
        return self.root / "monitoring"

    @property
    def alerts(self) -> pathlib.Path:
        """The webhook token and the audit log."""
        return self.root / "alerts"


# --- stages 1-3: features, champion, serving ------------------------------------------


def materialise_features(
    procs: Processes, args: argparse.Namespace, workdir: Workdir, notes: list[str]
) -> None:
    """Generate the data into a Feast repo and materialise the online store."""
    output = procs.run(
        "features",
        [
            "-m",
            "workloads.features",
            "init",
            "--out",
            str(workdir.feature_repo),
            "--customers",
            str(args.customers),
            "--seed",
            str(args.seed),
        ],
        timeout=300,
    )
    result = last_json_line(output)
    notes.append(
        f"{result['n_labels']} labels, {result['n_activity_rows']} activity rows, "
        f"online store materialised: {result['materialized']}"
    )


def _train(
    procs: Processes, name: str, workdir: Workdir, out: pathlib.Path, flags: list[str]
) -> dict[str, Any]:
    """Run the training job into ``out``; return its summary line."""
    output = procs.run(
        name,
        [
            "-m",
            "workloads.training",
            "--repo",
            str(workdir.feature_repo),
            "--out",
            str(out),
            *flags,
        ],
        timeout=600,
    )
    return last_json_line(output)


def train_champion(
    procs: Processes, args: argparse.Namespace, workdir: Workdir, notes: list[str]
) -> dict[str, Any]:
    """Train, gate, export and sign the champion; return the trainer's summary."""
    result = _train(
        procs,
        "train-champion",
        workdir,
        workdir.champion,
        ["--epochs", str(args.epochs), "--seed", str(args.seed)],
    )
    metrics = result["metrics"]
    notes.append(
        f"version {result['model_version']}: roc_auc {metrics['roc_auc']:.3f}, "
        f"accuracy {metrics['accuracy_at_0_5']:.3f}, ONNX parity "
        f"{result['onnx_parity']['max_abs_diff']:.1e} -> gate passed, signed"
    )
    return result


def verify_key_flags() -> list[str]:
    """Server flags for the key that verifies what the trainer signed."""
    # Without a configured key the trainer signs with the local dev key it creates;
    # with one, the server finds the verify key itself (its own flag or environment).
    if os.environ.get(SIGNING_KEY_ENV):
        return []
    return ["--public_key", str((DEV_KEY_DIR / DEV_PUBLIC_KEY).resolve())]


def serve(
    procs: Processes, name: str, model_dir: pathlib.Path, flags: list[str]
) -> tuple[subprocess.Popen[bytes], V2Client]:
    """Start a model server on a free loopback port; return it and a client once ready."""
    port = free_port()
    server = procs.start(
        name,
        [
            "-m",
            "workloads.serving",
            "--model_name",
            MODEL,
            "--model_dir",
            str(model_dir),
            "--http_port",
            str(port),
            *flags,
        ],
    )
    wait_ready(port, MODEL, server, timeout=90)
    return server, V2Client(port, MODEL)


def serve_champion(
    procs: Processes, workdir: Workdir, server_flags: list[str], notes: list[str]
) -> V2Client:
    """Serve the champion with prediction logging; return a client for it."""
    server, client = serve(
        procs,
        "serve-champion",
        workdir.champion,
        ["--prediction_log_dir", str(workdir.predictions), *server_flags],
    )
    notes.append(f"http://127.0.0.1:{client.port}/v2/models/{MODEL} ready (pid {server.pid})")
    return client


# --- stages 4-5: drift ----------------------------------------------------------------


class DriftCheck:
    """Drift of the champion's logged traffic against its training reference."""

    def __init__(self, workdir: Workdir) -> None:
        self.workdir = workdir
        self.reference = prepare_reference(
            load_reference(workdir.champion / "reference_stats.json")
        )
        self.thresholds = DriftThresholds()

    def window(self, start: float, end: float, expected: int, label: str) -> DriftReport:
        """Drift of the rows logged in ``[start, end)``, saved as ``reports/<label>.json``."""
        deadline = time.monotonic() + 10
        while True:  # the logger flushes about once a second
            window = read_window(self.workdir.predictions, model=MODEL, start=start, end=end)
            if window.n_rows >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        report = compute_drift(
            window.columns,
            self.reference,
            model=MODEL,
            thresholds=self.thresholds,
            window_start=start,
            window_end=end,
        )
        reports = self.workdir.monitoring / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        (reports / f"{label}.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
        return report

    def send(
        self,
        client: V2Client,
        rows: np.ndarray,
        labels: np.ndarray,
        batch: int,
        label: str,
    ) -> tuple[ArmStats, DriftReport]:
        """Send ``rows`` to the champion, then check the window they were logged in."""
        start = time.time()
        stats = send(client, rows, labels, batch)
        end = time.time() + 0.001
        return stats, self.window(start, end, len(rows), label)


def describe(report: DriftReport) -> str:
    """One line: rows, the largest PSI, what drifted and how long the check took."""
    top = max(report.features, key=lambda feature: feature.psi)
    drifted = ", ".join(report.drifted_features) or "none"
    return (
        f"{report.n_rows} rows logged; max PSI {top.psi:.3f} ({top.feature}); "
        f"drifted: {drifted}; computed in {report.computed_seconds * 1000:.0f} ms"
    )


def check_baseline(
    client: V2Client,
    drift: DriftCheck,
    features: list[str],
    args: argparse.Namespace,
    notes: list[str],
) -> None:
    """In-distribution traffic must not drift."""
    rows, labels = traffic(features, args.traffic_rows, args.seed + 100, 0.0)
    stats, report = drift.send(client, rows, labels, args.batch, "baseline")
    p50 = float(np.percentile(stats.latency_ms, 50))
    p99 = float(np.percentile(stats.latency_ms, 99))
    notes.append(
        f"{stats.requests} requests x {args.batch} rows: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"errors {stats.errors}, accuracy on labels {stats.correct / stats.labelled:.3f}"
    )
    notes.append(describe(report))
    if report.triggered:
        raise StageError("drift fired on in-distribution traffic (see the baseline report)")
    notes.append("no drift: no retraining trigger")


def shift_until_drift(
    client: V2Client,
    drift: DriftCheck,
    features: list[str],
    args: argparse.Namespace,
    notes: list[str],
) -> DriftReport:
    """Shift the inputs step by step; return the first report that triggers retraining."""
    for step, shift in enumerate(SHIFT_STEPS):
        rows, labels = traffic(features, args.traffic_rows, args.seed + 200 + step, shift)
        _, report = drift.send(client, rows, labels, args.batch, f"shift-{shift}")
        notes.append(f"shift {shift:+.2f}: {describe(report)}")
        if report.triggered:
            return report
    raise StageError(f"drift never fired up to shift {SHIFT_STEPS[-1]}")


def trigger_retraining(
    fired: DriftReport, model_version: str, workdir: Workdir, notes: list[str]
) -> None:
    """Send the trigger twice (at-least-once delivery) and check it starts one retraining."""
    queue = FileQueue(workdir.monitoring / "queue")
    emit_retraining_trigger(fired, queue, model_version)
    emit_retraining_trigger(fired, queue, model_version)  # at-least-once: a resend happens
    requests_dir = workdir.monitoring / "retraining-requests"
    requests_dir.mkdir(parents=True, exist_ok=True)

    def request_retraining(trigger: dict[str, Any]) -> None:
        # One request file per dedupe key; the trainer (a Job in the cluster) reads it.
        key = trigger["dedupe_key"]
        job = {
            "trigger": trigger,
            "command": [
                "python",
                "-m",
                "workloads.training",
                "--repo",
                str(workdir.feature_repo),
                "--out",
                str(workdir.root / "models" / f"retrain-{key[:12]}"),
            ],
        }
        (requests_dir / f"{key}.json").write_text(json.dumps(job, indent=2) + "\n")

    handler = RetrainingHandler(
        queue, request_retraining, FileDedupeStore(workdir.monitoring / "processed")
    )
    outcomes = [handled.outcome for handled in handler.poll_once()]
    if outcomes.count("started") != 1:
        raise StageError(f"retraining handler outcomes {outcomes}, expected one start")
    notes.append(
        f"trigger {fired.dedupe_key()} sent twice, handled: {', '.join(outcomes)} "
        f"-> {requests_dir / (fired.dedupe_key() + '.json')}"
    )
    notes.append(
        f"retraining triggered for {MODEL} (features: {', '.join(fired.drifted_features)})"
    )


# --- stage 6: canary ------------------------------------------------------------------


def run_canary(
    procs: Processes,
    args: argparse.Namespace,
    workdir: Workdir,
    champion: V2Client,
    features: list[str],
    server_flags: list[str],
    notes: list[str],
) -> dict[str, ArmStats]:
    """Train and serve a slower challenger; split labelled traffic 50/50 with the champion."""
    result = _train(
        procs,
        "train-challenger",
        workdir,
        workdir.challenger,
        [
            "--hidden",
            args.challenger_hidden,
            "--epochs",
            "5",
            "--seed",
            str(args.seed + 1),
            "--model-version",
            "challenger-1",
        ],
    )
    notes.append(
        f"challenger {args.challenger_hidden} trained: roc_auc "
        f"{result['metrics']['roc_auc']:.3f} -> passes the offline gate"
    )
    server, challenger = serve(procs, "serve-challenger", workdir.challenger, server_flags)
    batch = args.canary_batch
    rows, labels = traffic(features, args.canary_requests * batch, args.seed + 300, 0.0)
    arms = {"champion": ArmStats(), "challenger": ArmStats()}
    for request in range(args.canary_requests * 2):  # 50/50 split, interleaved
        arm, target = ("champion", champion) if request % 2 == 0 else ("challenger", challenger)
        first = (request // 2) * batch
        send(target, rows[first : first + batch], labels[first : first + batch], batch, arms[arm])
    challenger.close()
    Processes.stop(server)
    for name, stats in arms.items():
        notes.append(
            f"{name}: {stats.requests} requests x {batch} rows, errors {stats.errors}, latency "
            f"p50 {np.percentile(stats.latency_ms, 50):.1f} ms / p99 "
            f"{np.percentile(stats.latency_ms, 99):.1f} ms, accuracy "
            f"{stats.correct / max(stats.labelled, 1):.3f} on {stats.labelled} labelled rows"
        )
    return arms
