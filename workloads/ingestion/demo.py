"""The lifecycle's data steps: ingest a batch of events through the queue, erase a customer.

Both run the same commands a deployed stack runs (``python -m workloads.ingestion`` as
the worker's container does, ``python -m workloads.erasure`` as an operator does), with
local stand-ins: a file queue for SQS/NATS, folders for the tenant bucket.

- :func:`ingest_demo_batch` sends ``n_valid`` events plus one malformed event of each
  kind (:func:`~workloads.ingestion.events.malformed_events`) to the queue, the worker
  drains it once, and the counts must balance;
- :func:`erase_demo_customer` erases one customer whose events were ingested and returns
  the receipt the command wrote to the audit log.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contracts.feature_store import FEATURE_VIEWS

TIMEOUT_S = 300


class DemoError(RuntimeError):
    """A demo step failed; the message is one line and names its log."""


def _run(cmd: list[str], log: Path, env: Mapping[str, str] | None = None) -> str:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        done = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=handle,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
            env=None if env is None else dict(env),
        )
        handle.write(done.stdout)
    if done.returncode != 0:
        raise DemoError(f"{' '.join(cmd[:3])} exited {done.returncode} (log: {log})")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise DemoError(f"{' '.join(cmd[:3])} printed nothing (log: {log})")
    return lines[-1]


def _schemas(repo: Path) -> dict[str, Any]:
    from feast import FeatureStore

    from workloads.ingestion.schema import schemas_from_store

    return schemas_from_store(FeatureStore(repo_path=str(repo)), FEATURE_VIEWS)


def ingest_demo_batch(
    repo: Path, workdir: Path, logs: Path, *, n_valid: int = 200, seed: int = 7
) -> dict[str, Any]:
    """Queue ``n_valid`` good and one of each malformed event; run the worker once."""
    import pandas as pd

    from workloads.features.repo import offline_root, view_path
    from workloads.ingestion.events import events_from_rows, malformed_events
    from workloads.ingestion.queues import IngestFileQueue

    shutil.rmtree(workdir, ignore_errors=True)  # a rerun starts from an empty queue
    schemas = _schemas(repo)
    # Current values of some customers, re-published an hour after the newest snapshot:
    # the online store then serves the same values as before (the loop's traffic and
    # drift checks are unaffected), and the labels after that hour join the ingested
    # rows, so the champion trains on them (its card names their partitions).
    now = datetime.now(UTC).replace(microsecond=0)
    frames = {view: pd.read_parquet(view_path(repo, view)) for view in FEATURE_VIEWS}
    newest = max(frame["event_timestamp"].max() for frame in frames.values())
    stamp = min(newest.to_pydatetime() + timedelta(hours=1), now)
    good: list[dict[str, Any]] = []
    for view, frame in frames.items():
        latest = frame.sort_values("event_timestamp").groupby("customer_id").tail(1)
        latest = latest.sample(n=min(n_valid // 2, len(latest)), random_state=seed)
        good += events_from_rows(schemas[view], latest, stamp=stamp, prefix="demo")
    bad = malformed_events(schemas, int(good[0]["customer_id"]), start=now)
    queue_dir, dlq_dir = workdir / "queue", workdir / "dead-letter"
    queue = IngestFileQueue(queue_dir)
    queue.send_many([*good[: n_valid // 2], *(body for body, _ in bad), *good[n_valid // 2 :]])
    line = _run(
        [
            sys.executable,
            "-m",
            "workloads.ingestion",
            f"--repo={repo}",
            f"--queue=file:{queue_dir}",
            f"--dlq=file:{dlq_dir}",
            # The views' partitioned store: training and lineage read what lands there.
            f"--offline_uri={offline_root(repo)}",
            "--once",
        ],
        logs / "ingestion.log",
    )
    counts = json.loads(line)
    if not counts.get("balanced") or counts["received"] != len(good) + len(bad):
        raise DemoError(f"ingestion counts do not balance: {counts}")
    letters = IngestFileQueue(dlq_dir).receive(len(bad) + 5, 0)
    counts["dead_letter_reasons"] = sorted(
        {str(m.body.get("reason", "")).split(":")[0] for m in letters}
    )
    counts["sample_subject"] = int(good[0]["customer_id"])
    return counts


def erase_demo_customer(
    repo: Path,
    workdir: Path,
    logs: Path,
    audit_log: Path,
    entity: int,
    *,
    tenant: str = "local",
    prediction_logs_uri: str | None = None,
    kms_key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Erase ``entity`` everywhere the local run keeps customer data; return the receipt.

    ``prediction_logs_uri``: where the model servers shipped their logs (a folder, or
    ``s3://<bucket>/predictions/`` in the deployed loop, whose S3 endpoint ``env``
    names); rewritten objects get ``kms_key``."""
    cmd = [
        sys.executable, "-m", "workloads.erasure",
        f"--tenant={tenant}", f"--entity_key={entity}", f"--repo={repo}",
        f"--extra_parquet={repo / 'data' / 'churn_labels.parquet'}",
        f"--audit_log={audit_log}", "--who=dpo@local.example",
        "--reason=demo: PDPL erasure request",
    ]  # fmt: skip
    if prediction_logs_uri:
        cmd.append(f"--prediction_logs_uri={prediction_logs_uri}")
    if kms_key:
        cmd.append(f"--kms_key={kms_key}")
    return dict(json.loads(_run(cmd, logs / "erasure.log", env)))


def describe_receipt(receipt: dict[str, Any]) -> list[str]:
    """Lines for the demo's output: what was found and removed where."""
    lines = [
        f"receipt #{receipt.get('audit_seq')} for subject sha256:{receipt['subject_sha256'][:16]}..."
        f" by {receipt['requested_by']} at {receipt['at']}: found {receipt['found']},"
        f" removed {receipt['removed']}, remaining {receipt['remaining_after']}"
    ]
    for store in receipt["stores"]:
        rewritten = sum(1 for o in store["objects"] if "sha256_before" in o)
        unattributed = store.get("unattributed_records", 0)
        lines.append(
            f"  {store['store']:<17} found {store['found']:>3}, removed {store['removed']:>3}"
            + (f", objects rewritten {rewritten}" if rewritten else "")
            + (f", records without entity ids {unattributed}" if unattributed else "")
        )
    return lines
