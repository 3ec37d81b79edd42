"""Point-in-time retrieval: correct values, and loud failure when Feast loses rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from workloads.features.repo import view_path
from workloads.training.data import TrainingDataError, load_training_frame


def _load(repo: Path, labels: Path, max_lost: float = 0.05):  # type: ignore[no-untyped-def]
    return load_training_frame(
        repo,
        labels,
        service_name="churn_model",
        entity_key="customer_id",
        label="churned",
        max_lost_share=max_lost,
    )


def test_join_takes_the_snapshot_current_at_label_time(feature_repo: Path) -> None:
    data = _load(feature_repo, feature_repo / "data" / "churn_labels.parquet")
    assert data.lost_share == 0.0
    assert len(data.frame) == data.n_requested
    activity = pd.read_parquet(view_path(feature_repo, "customer_activity"))
    # The offline store keeps microseconds (the ingestion worker's schema); Feast returns ns.
    activity["event_timestamp"] = activity["event_timestamp"].astype("datetime64[ns, UTC]")
    expected = pd.merge_asof(
        data.frame[["customer_id", "event_timestamp"]].sort_values("event_timestamp"),
        activity.sort_values("event_timestamp")[
            ["customer_id", "event_timestamp", "digital_logins_30d", "balance_aed"]
        ],
        on="event_timestamp",
        by="customer_id",
        direction="backward",
    )
    merged = data.frame.merge(
        expected, on=["customer_id", "event_timestamp"], suffixes=("", "_want")
    )
    assert len(merged) == len(data.frame)
    assert (merged["digital_logins_30d"] == merged["digital_logins_30d_want"]).all()
    # A leaky join (the next snapshot) would disagree on most rows.
    leaky = pd.merge_asof(
        data.frame[["customer_id", "event_timestamp"]].sort_values("event_timestamp"),
        activity.sort_values("event_timestamp")[
            ["customer_id", "event_timestamp", "digital_logins_30d"]
        ],
        on="event_timestamp",
        by="customer_id",
        direction="forward",
    ).dropna()
    check = data.frame.merge(leaky, on=["customer_id", "event_timestamp"], suffixes=("", "_next"))
    assert (check["digital_logins_30d"] != check["digital_logins_30d_next"]).mean() > 0.5


def test_lost_rows_over_the_limit_fail_loudly(feature_repo: Path, tmp_path: Path) -> None:
    labels = pd.read_parquet(feature_repo / "data" / "churn_labels.parquet")
    early = labels.head(300).copy()
    # Before the first activity snapshot: nothing to join, so Feast drops or nulls them.
    early["event_timestamp"] = early["event_timestamp"] - pd.Timedelta(days=60)
    bad = pd.concat([labels, early], ignore_index=True)
    bad.to_parquet(tmp_path / "labels.parquet")
    with pytest.raises(TrainingDataError) as info:
        _load(feature_repo, tmp_path / "labels.parquet", max_lost=0.05)
    message = str(info.value)
    assert "lost 300 of 3300 label rows" in message
    assert "--max-lost-share" in message
    data = _load(feature_repo, tmp_path / "labels.parquet", max_lost=0.2)
    assert data.n_dropped + data.n_null == 300
    assert len(data.frame) == 3000


def test_bad_label_files_are_named(feature_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="labels file not found"):
        _load(feature_repo, tmp_path / "missing.parquet")
    pd.DataFrame(
        {"customer_id": [1], "event_timestamp": [pd.Timestamp("2026-01-10", tz="UTC")]}
    ).to_parquet(tmp_path / "nolabel.parquet")
    with pytest.raises(TrainingDataError, match=r"missing column\(s\) churned"):
        _load(feature_repo, tmp_path / "nolabel.parquet")
    with pytest.raises(TrainingDataError, match="not a Feast repo"):
        _load(tmp_path, tmp_path / "nolabel.parquet")
