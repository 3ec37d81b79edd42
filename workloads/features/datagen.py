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

Profile and activity rows carry an ``event_id`` (``seed:<view>:<customer>:<unix
seconds>``) and are written into the partitioned offline store the feature views read
(:func:`write_parquet`), exactly as the ingestion worker writes accepted events.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.feature_store import ACTIVITY_VIEW, PROFILE_VIEW
from workloads.features.definitions import (
    EMIRATES,
    ENTITY_KEY,
    LABEL_COLUMN,
    LABELS_FILE,
    LOCAL_OFFLINE_DIR,
    SEGMENTS,
    TIMESTAMP_FIELD,
    build_objects,
)
from workloads.ingestion.offline import EVENT_ID_COLUMN, write_frame
from workloads.ingestion.schema import FieldSpec, ViewSchema

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
    # One generator drawn in a fixed order (profile, activity, labels): determinism.
    rng = np.random.default_rng(config.seed)
    ids = np.arange(100_000, 100_000 + config.n_customers, dtype=np.int64)
    profile = _profile(config, rng, ids)
    activity = _activity(config, rng, ids)
    labels = _labels(config, rng, ids, profile, activity)
    for frame in (profile, activity, labels):
        for column in (TIMESTAMP_FIELD, "created"):
            if column in frame:
                frame[column] = frame[column].astype("datetime64[ns, UTC]")
    for view, frame in ((PROFILE_VIEW, profile), (ACTIVITY_VIEW, activity)):
        frame[EVENT_ID_COLUMN] = seed_event_ids(view, frame)
    return GeneratedData(profile=profile, activity=activity, labels=labels)


def _profile(config: GeneratorConfig, rng: np.random.Generator, ids: np.ndarray) -> pd.DataFrame:
    """One row per customer, as onboarded the day before the first snapshot."""
    customers = len(ids)
    emirate_p = np.array([0.30, 0.38, 0.14, 0.07, 0.02, 0.06, 0.03])
    if config.shift:
        # Shift the mix towards the northern emirates, e.g. a new branch campaign.
        tilt = np.exp(config.shift * np.array([-0.4, -0.3, 0.4, 0.6, 0.6, 0.6, 0.6]))
        emirate_p = emirate_p * tilt
    emirate_p = emirate_p / emirate_p.sum()
    onboarded = config.start - timedelta(days=1)
    return pd.DataFrame(
        {
            ENTITY_KEY: ids,
            "age": rng.integers(21, 70, customers).astype(np.int64),
            "tenure_months": rng.gamma(2.0, 20.0, customers).astype(np.int64),
            "segment_code": rng.choice(len(SEGMENTS), customers, p=[0.62, 0.22, 0.04, 0.12]).astype(
                np.int64
            ),
            "emirate_code": rng.choice(len(EMIRATES), customers, p=emirate_p).astype(np.int64),
            TIMESTAMP_FIELD: pd.Timestamp(onboarded),
            "created": pd.Timestamp(onboarded),
        }
    )


def _activity(config: GeneratorConfig, rng: np.random.Generator, ids: np.ndarray) -> pd.DataFrame:
    """``n_snapshots`` weekly activity rows per customer, snapshot after snapshot."""
    customers, shift = len(ids), config.shift
    base_balance = rng.lognormal(9.5 - 0.6 * shift, 1.1, customers)
    base_logins = rng.gamma(2.0, max(6.0 * (1.0 + 0.5 * shift), 0.5), customers)
    salary = (rng.random(customers) < np.clip(0.7 - 0.2 * shift, 0.05, 0.95)).astype(np.int64)
    products = rng.integers(1, 6, customers).astype(np.int64)
    snapshots = []
    for snapshot in range(config.n_snapshots):
        taken = config.start + snapshot * SNAPSHOT_EVERY
        balance = base_balance * rng.lognormal(0.0, 0.15, customers)
        snapshots.append(
            pd.DataFrame(
                {
                    ENTITY_KEY: ids,
                    "balance_aed": balance.astype(np.float32),
                    "balance_change_90d_pct": rng.normal(0.0, 15.0, customers).astype(np.float32),
                    "txn_count_30d": rng.poisson(25.0, customers).astype(np.int64),
                    "digital_logins_30d": rng.poisson(base_logins).astype(np.int64),
                    # A few customers stop their salary transfer between snapshots
                    # (drawn here: the draws' order fixes the data).
                    "salary_transfer": np.where(rng.random(customers) < 0.05, 0, salary).astype(
                        np.int64
                    ),
                    "complaints_90d": rng.poisson(0.4, customers).astype(np.int64),
                    "products_held": products,
                    TIMESTAMP_FIELD: pd.Timestamp(taken),
                    "created": pd.Timestamp(taken),
                }
            )
        )
    return pd.concat(snapshots, ignore_index=True)


def _labels(
    config: GeneratorConfig,
    rng: np.random.Generator,
    ids: np.ndarray,
    profile: pd.DataFrame,
    activity: pd.DataFrame,
) -> pd.DataFrame:
    """Churn labels drawn from the snapshot current at each label's (distinct) time."""
    customers, snapshots = len(ids), config.n_snapshots
    n_labels = customers * config.labels_per_customer
    label_ids = np.tile(ids, config.labels_per_customer)
    row = np.tile(np.arange(customers), config.labels_per_customer)
    # Whole seconds: Feast deduplicates (id, timestamp) pairs, so keep them distinct.
    span = int((snapshots * SNAPSHOT_EVERY).total_seconds()) - 3600
    if n_labels > span // 2:
        raise DataGenError(
            f"n_customers * labels_per_customer: at most {span // 2} for {snapshots} snapshots,"
            f" got {n_labels}"
        )
    offsets = rng.choice(span, n_labels, replace=False) + 3600
    snapshot = np.minimum(offsets // int(SNAPSHOT_EVERY.total_seconds()), snapshots - 1)
    current = activity.iloc[snapshot * customers + row].reset_index(drop=True)
    logit = churn_logit(current, profile.iloc[row].reset_index(drop=True))
    churned = (rng.random(n_labels) < _sigmoid(logit)).astype(np.int64)
    start = pd.to_datetime(config.start)
    labelled_at = start + pd.to_timedelta(offsets, unit="s")
    orphan = rng.random(n_labels) < config.orphan_label_share
    # Orphans happen before the first snapshot: no activity row can join them.
    labelled_at = labelled_at.where(~orphan, start - pd.to_timedelta(offsets, unit="s"))
    return pd.DataFrame(
        {ENTITY_KEY: label_ids, TIMESTAMP_FIELD: labelled_at, LABEL_COLUMN: churned}
    ).drop_duplicates(subset=[ENTITY_KEY, TIMESTAMP_FIELD], ignore_index=True)


def seed_event_ids(view: str, frame: pd.DataFrame) -> pd.Series:
    """Deterministic event ids of generated rows: ``seed:<view>:<customer>:<unix s>``."""
    seconds = frame[TIMESTAMP_FIELD].astype("int64") // 1_000_000_000
    return "seed:" + view + ":" + frame[ENTITY_KEY].astype(str) + ":" + seconds.astype(str)


def seed_schemas() -> dict[str, ViewSchema]:
    """The views' schemas from the definitions (what the offline store's columns are)."""
    from feast import FeatureView

    schemas = {}
    for view in build_objects():
        if isinstance(view, FeatureView):
            fields = tuple(
                FieldSpec(
                    f.name,
                    "int64" if str(f.dtype).startswith("Int") else "float32",
                )
                for f in view.features
            )
            schemas[view.name] = ViewSchema(name=view.name, entity_key=ENTITY_KEY, fields=fields)
    return schemas


def write_parquet(data: GeneratedData, data_dir: Path) -> dict[str, Path]:
    """Write the labels to ``data_dir`` and the views' rows into the partitioned offline
    store ``data_dir/offline`` (``<view>/date=<day>/part-<hash>.parquet``); an existing
    offline store there is replaced. Returns the written files (``labels`` and one entry
    per partition object, keyed by its key under the offline root)."""
    from workloads.common.objectstore import FileStore

    data_dir.mkdir(parents=True, exist_ok=True)
    offline = data_dir / LOCAL_OFFLINE_DIR
    schemas = seed_schemas()
    for view in schemas:
        shutil.rmtree(offline / view, ignore_errors=True)
    store = FileStore(offline)
    paths = {"labels": data_dir / LABELS_FILE}
    data.labels.to_parquet(paths["labels"], index=False)
    for view, frame in ((PROFILE_VIEW, data.profile), (ACTIVITY_VIEW, data.activity)):
        for key in write_frame(store, schemas[view], frame):
            paths[key] = offline / key
    return paths
