"""Deterministic synthetic data for the churn use case, written as parquet.

Same :class:`GeneratorConfig` (seed included) gives byte-identical frames. ``shift``
moves the *inputs* (covariate shift: lower balances, more digital logins, fewer salary
transfers, a different emirate mix) while the churn mechanism stays the same, which is
what a drift monitor must detect. ``orphan_label_share`` places that share of labels
before the customer's first activity snapshot, so point-in-time retrieval cannot join
them: a training job must notice the loss.

Labels are drawn from the activity snapshot that was current at the label's timestamp,
so a point-in-time-correct join recovers the signal and a leaky join (a later
snapshot) blurs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from workloads.features.definitions import (
    ACTIVITY_SOURCE_FILE,
    EMIRATES,
    ENTITY_KEY,
    LABEL_COLUMN,
    LABELS_FILE,
    PROFILE_SOURCE_FILE,
    SEGMENTS,
    TIMESTAMP_FIELD,
)

DEFAULT_START = datetime(2026, 1, 4, tzinfo=UTC)
SNAPSHOT_EVERY = timedelta(days=7)


class DataGenError(ValueError):
    """The generator configuration is unusable; the message is one line."""


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. Every field is part of the output's identity (determinism)."""

    n_customers: int = 5000
    n_snapshots: int = 8
    labels_per_customer: int = 1
    seed: int = 7
    shift: float = 0.0
    orphan_label_share: float = 0.0
    start: datetime = DEFAULT_START

    def validate(self) -> None:
        """Raise :class:`DataGenError` naming the first bad field."""
        if self.n_customers < 10:
            raise DataGenError(f"n_customers: must be >= 10, got {self.n_customers}")
        if self.n_snapshots < 2:
            raise DataGenError(f"n_snapshots: must be >= 2, got {self.n_snapshots}")
        if self.labels_per_customer < 1:
            raise DataGenError(f"labels_per_customer: must be >= 1, got {self.labels_per_customer}")
        if not 0.0 <= self.orphan_label_share < 1.0:
            raise DataGenError(
                f"orphan_label_share: must be in [0, 1), got {self.orphan_label_share}"
            )
        if not -3.0 <= self.shift <= 3.0:
            raise DataGenError(f"shift: must be in [-3, 3], got {self.shift}")
        if self.start.tzinfo is None:
            raise DataGenError("start: must be timezone-aware (UTC)")


@dataclass(frozen=True)
class GeneratedData:
    """The three tables of the use case."""

    profile: pd.DataFrame
    activity: pd.DataFrame
    labels: pd.DataFrame


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def churn_logit(activity: pd.DataFrame, profile: pd.DataFrame) -> np.ndarray:
    """The ground-truth churn score of rows that carry activity and profile columns."""
    return (
        0.2
        - 1.6 * activity["salary_transfer"].to_numpy()
        - 0.06 * activity["digital_logins_30d"].to_numpy()
        + 0.8 * activity["complaints_90d"].to_numpy()
        - 0.04 * activity["balance_change_90d_pct"].to_numpy()
        - 0.45 * (activity["products_held"].to_numpy() - 2)
        - 0.02 * (profile["tenure_months"].to_numpy() - 36) / 3
        + 0.6 * (profile["segment_code"].to_numpy() == 0)
        - 0.5 * (profile["segment_code"].to_numpy() == 2)
        - 0.15 * np.log1p(activity["balance_aed"].to_numpy() / 1000.0)
    )


def generate(config: GeneratorConfig) -> GeneratedData:
    """Generate profile, weekly activity snapshots and churn labels."""
    config.validate()
    rng = np.random.default_rng(config.seed)
    n, s = config.n_customers, config.n_snapshots
    shift = config.shift
    ids = np.arange(100_000, 100_000 + n, dtype=np.int64)

    emirate_p = np.array([0.30, 0.38, 0.14, 0.07, 0.02, 0.06, 0.03])
    if shift:
        # Shift the mix towards the northern emirates, e.g. a new branch campaign.
        tilt = np.exp(shift * np.array([-0.4, -0.3, 0.4, 0.6, 0.6, 0.6, 0.6]))
        emirate_p = emirate_p * tilt
    emirate_p = emirate_p / emirate_p.sum()
    onboarded = config.start - timedelta(days=1)
    profile = pd.DataFrame(
        {
            ENTITY_KEY: ids,
            "age": rng.integers(21, 70, n).astype(np.int64),
            "tenure_months": rng.gamma(2.0, 20.0, n).astype(np.int64),
            "segment_code": rng.choice(len(SEGMENTS), n, p=[0.62, 0.22, 0.04, 0.12]).astype(
                np.int64
            ),
            "emirate_code": rng.choice(len(EMIRATES), n, p=emirate_p).astype(np.int64),
            TIMESTAMP_FIELD: pd.Timestamp(onboarded),
            "created": pd.Timestamp(onboarded),
        }
    )

    base_balance = rng.lognormal(9.5 - 0.6 * shift, 1.1, n)
    base_logins = rng.gamma(2.0, max(6.0 * (1.0 + 0.5 * shift), 0.5), n)
    salary = (rng.random(n) < np.clip(0.7 - 0.2 * shift, 0.05, 0.95)).astype(np.int64)
    products = rng.integers(1, 6, n).astype(np.int64)
    frames = []
    for k in range(s):
        ts = config.start + k * SNAPSHOT_EVERY
        balance = base_balance * rng.lognormal(0.0, 0.15, n)
        frames.append(
            pd.DataFrame(
                {
                    ENTITY_KEY: ids,
                    "balance_aed": balance.astype(np.float32),
                    "balance_change_90d_pct": rng.normal(0.0, 15.0, n).astype(np.float32),
                    "txn_count_30d": rng.poisson(25.0, n).astype(np.int64),
                    "digital_logins_30d": rng.poisson(base_logins).astype(np.int64),
                    # A few customers stop their salary transfer between snapshots.
                    "salary_transfer": np.where(rng.random(n) < 0.05, 0, salary).astype(np.int64),
                    "complaints_90d": rng.poisson(0.4, n).astype(np.int64),
                    "products_held": products,
                    TIMESTAMP_FIELD: pd.Timestamp(ts),
                    "created": pd.Timestamp(ts),
                }
            )
        )
    activity = pd.concat(frames, ignore_index=True)

    m = n * config.labels_per_customer
    label_ids = np.tile(ids, config.labels_per_customer)
    row = np.tile(np.arange(n), config.labels_per_customer)
    # Whole seconds: Feast deduplicates (id, timestamp) pairs, so keep them distinct.
    span = int((s * SNAPSHOT_EVERY).total_seconds()) - 3600
    if m > span // 2:
        raise DataGenError(
            f"n_customers * labels_per_customer: at most {span // 2} for {s} snapshots, got {m}"
        )
    offsets = rng.choice(span, m, replace=False) + 3600
    snap = np.minimum(offsets // int(SNAPSHOT_EVERY.total_seconds()), s - 1)
    current = activity.iloc[snap * n + row].reset_index(drop=True)
    logit = churn_logit(current, profile.iloc[row].reset_index(drop=True))
    churned = (rng.random(m) < _sigmoid(logit)).astype(np.int64)
    ts = pd.to_datetime(config.start) + pd.to_timedelta(offsets, unit="s")
    orphan = rng.random(m) < config.orphan_label_share
    # Orphans happen before the first snapshot: no activity row can join them.
    ts = ts.where(~orphan, pd.to_datetime(config.start) - pd.to_timedelta(offsets, unit="s"))
    labels = pd.DataFrame(
        {ENTITY_KEY: label_ids, TIMESTAMP_FIELD: ts, LABEL_COLUMN: churned}
    ).drop_duplicates(subset=[ENTITY_KEY, TIMESTAMP_FIELD], ignore_index=True)
    for frame in (profile, activity, labels):
        for column in (TIMESTAMP_FIELD, "created"):
            if column in frame:
                frame[column] = frame[column].astype("datetime64[ns, UTC]")
    return GeneratedData(profile=profile, activity=activity, labels=labels)


def write_parquet(data: GeneratedData, data_dir: Path) -> dict[str, Path]:
    """Write the tables to ``data_dir`` under the file names the sources expect."""
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "profile": data_dir / PROFILE_SOURCE_FILE,
        "activity": data_dir / ACTIVITY_SOURCE_FILE,
        "labels": data_dir / LABELS_FILE,
    }
    data.profile.to_parquet(paths["profile"], index=False)
    data.activity.to_parquet(paths["activity"], index=False)
    data.labels.to_parquet(paths["labels"], index=False)
    return paths
