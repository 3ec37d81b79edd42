"""Point-in-time-correct training data from Feast's historical retrieval.

The labels (entity id, timestamp, label) are the entity frame; Feast joins, for each
row, the latest feature values at or before the row's timestamp within each view's TTL.
Feast drops some entity rows silently (no feature row at or before the timestamp) and
returns others with nulls (outside the TTL); both are lost for training.
:func:`load_training_frame` counts them and fails loudly when the lost share exceeds
the configured maximum, instead of training on a silently biased subset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

FeatureKind = Literal["numeric", "categorical"]


class TrainingDataError(RuntimeError):
    """Training data is missing, malformed or too lossy; the message is one line."""


class LostRowsError(TrainingDataError):
    """The point-in-time join lost more label rows than allowed."""


@dataclass(frozen=True)
class FeatureSpec:
    """One model input column, in model input order."""

    name: str
    view: str
    kind: FeatureKind
    dtype: str
    categories: tuple[int, ...] = ()
    transform: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as written to the model card."""
        out: dict[str, Any] = {
            "name": self.name,
            "view": self.view,
            "kind": self.kind,
            "dtype": self.dtype,
        }
        if self.categories:
            out["categories"] = list(self.categories)
        if self.transform:
            out["transform"] = self.transform
        return out


@dataclass(frozen=True)
class TrainingData:
    """The joined frame and how it was obtained."""

    frame: pd.DataFrame
    features: list[FeatureSpec]
    label: str
    n_requested: int
    n_dropped: int
    n_null: int
    window_start: pd.Timestamp
    window_end: pd.Timestamp

    @property
    def lost_share(self) -> float:
        """Share of requested label rows that could not be used."""
        return (self.n_dropped + self.n_null) / max(self.n_requested, 1)


def feature_specs(store: Any, service_name: str) -> list[FeatureSpec]:
    """Model inputs from a Feast feature service, in the service's order."""
    try:
        service = store.get_feature_service(service_name)
    except Exception as exc:  # Feast raises its own not-found types per registry backend
        raise TrainingDataError(f"feature service {service_name!r}: {exc}") from None
    specs = []
    for projection in service.feature_view_projections:
        for field in projection.features:
            kind = field.tags.get("kind", "numeric")
            if kind not in ("numeric", "categorical"):
                raise TrainingDataError(
                    f"{projection.name}.{field.name}: tag kind must be numeric or categorical,"
                    f" got {kind!r}"
                )
            categories: tuple[int, ...] = ()
            if kind == "categorical":
                raw = field.tags.get("categories", "")
                try:
                    categories = tuple(int(code) for code in raw.split(",") if code != "")
                except ValueError:
                    raise TrainingDataError(
                        f"{projection.name}.{field.name}: tag categories must be comma-separated"
                        f" integer codes, got {raw!r}"
                    ) from None
                if not categories:
                    raise TrainingDataError(
                        f"{projection.name}.{field.name}: categorical feature has no categories tag"
                    )
            specs.append(
                FeatureSpec(
                    name=field.name,
                    view=projection.name,
                    kind=kind,
                    dtype=str(field.dtype),
                    categories=categories,
                    transform=field.tags.get("transform", ""),
                )
            )
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise TrainingDataError(f"feature service {service_name!r}: duplicate feature names")
    return specs


def load_training_frame(
    repo: Path,
    labels_path: Path,
    *,
    service_name: str,
    entity_key: str,
    label: str,
    timestamp_field: str = "event_timestamp",
    max_lost_share: float = 0.05,
) -> TrainingData:
    """Join labels with point-in-time features; fail above ``max_lost_share`` lost rows."""
    from feast import FeatureStore

    if not (repo / "feature_store.yaml").is_file():
        raise TrainingDataError(f"{repo}: not a Feast repo (no feature_store.yaml)")
    try:
        labels = pd.read_parquet(labels_path)
    except FileNotFoundError:
        raise TrainingDataError(f"{labels_path}: labels file not found") from None
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise TrainingDataError(f"{labels_path}: unreadable parquet ({exc})") from None
    missing = [
        column for column in (entity_key, timestamp_field, label) if column not in labels.columns
    ]
    if missing:
        raise TrainingDataError(
            f"{labels_path}: missing column(s) {', '.join(missing)}; has {list(labels.columns)}"
        )
    values = set(pd.unique(labels[label]))
    if not values <= {0, 1} or len(values) < 2:
        raise TrainingDataError(
            f"{labels_path}: label {label!r} must hold both 0 and 1, got {sorted(values)[:5]}"
        )
    entity = labels[[entity_key, timestamp_field, label]].copy()
    entity[timestamp_field] = pd.to_datetime(entity[timestamp_field], utc=True)
    # Feast deduplicates (id, timestamp) pairs; do it here so the loss count is honest.
    entity = entity.drop_duplicates(subset=[entity_key, timestamp_field], ignore_index=True)
    store = FeatureStore(repo_path=str(repo))
    specs = feature_specs(store, service_name)
    service = store.get_feature_service(service_name)
    joined = store.get_historical_features(entity_df=entity, features=service).to_df()
    n_requested = len(entity)
    n_returned = len(joined)
    names = [spec.name for spec in specs]
    null_rows = joined[names].isna().any(axis=1)
    frame = joined.loc[~null_rows].sort_values([timestamp_field, entity_key], kind="stable")
    frame = frame.reset_index(drop=True)
    data = TrainingData(
        frame=frame,
        features=specs,
        label=label,
        n_requested=n_requested,
        n_dropped=n_requested - n_returned,
        n_null=int(null_rows.sum()),
        window_start=entity[timestamp_field].min(),
        window_end=entity[timestamp_field].max(),
    )
    if data.lost_share > max_lost_share:
        raise LostRowsError(
            f"point-in-time join lost {data.n_dropped + data.n_null} of {n_requested} label rows"
            f" ({data.lost_share:.1%}: {data.n_dropped} dropped by Feast, {data.n_null} with"
            f" missing features) > allowed {max_lost_share:.1%} (--max-lost-share)"
        )
    for spec in specs:
        if spec.kind == "categorical":
            bad = ~frame[spec.name].isin(spec.categories)
            if bad.any():
                raise TrainingDataError(
                    f"feature {spec.name}: {int(bad.sum())} value(s) outside categories"
                    f" {list(spec.categories)}, e.g. {frame.loc[bad, spec.name].iloc[0]!r}"
                )
        elif not np.isfinite(frame[spec.name].to_numpy(dtype=np.float64)).all():
            raise TrainingDataError(f"feature {spec.name}: non-finite values in training data")
    return data
