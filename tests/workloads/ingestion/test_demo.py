"""The lifecycle's data steps, as ``make demo`` runs them (the real commands)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from workloads.alerts.audit import verify_audit_log
from workloads.features.repo import view_path
from workloads.ingestion.demo import describe_receipt, erase_demo_customer, ingest_demo_batch


def test_demo_ingests_balanced_counts_then_erases_with_a_receipt(
    feature_repo: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(feature_repo, repo)
    counts = ingest_demo_batch(repo, tmp_path / "ingestion", tmp_path / "logs", n_valid=40)
    assert counts["balanced"] and counts["accepted"] == 40
    assert (
        counts["rejected"] >= 10 and counts["received"] == counts["accepted"] + counts["rejected"]
    )
    assert "feature_view" in counts["dead_letter_reasons"]
    # Accepted events land in the views' own partitioned store, next to the seed history.
    ingested = [
        part
        for view in ("customer_profile", "customer_activity")
        for part in view_path(repo, view).glob("date=*/part-*.parquet")
        if pd.read_parquet(part)["event_id"].str.startswith("demo").any()
    ]
    assert len(ingested) >= 2
    audit = tmp_path / "alerts" / "erasure.jsonl"
    receipt = erase_demo_customer(
        repo, tmp_path / "ingestion", tmp_path / "logs", audit, counts["sample_subject"]
    )
    assert receipt["remaining_after"] == 0 and receipt["removed"] == receipt["found"] > 0
    stores = {s["store"]: s for s in receipt["stores"]}
    # Seed and ingested rows of the customer, in the same partitioned store.
    assert stores["offline"]["removed"] >= 2 and stores["online"]["removed"] >= 1
    assert verify_audit_log(audit).ok
    lines = describe_receipt(receipt)
    assert lines[0].startswith("receipt #1 for subject sha256:") and len(lines) == 1 + len(stores)
