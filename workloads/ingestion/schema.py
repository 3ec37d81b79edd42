"""Feature events and their validation against the feature views' schemas.

An event is one JSON object::

    {"event_id": "crm-2026-03-01-000123", "feature_view": "customer_activity",
     "customer_id": 100123, "event_timestamp": "2026-03-01T08:00:00Z",
     "features": {"balance_aed": 18250.5, "txn_count_30d": 14, ...}}

``event_id`` (1-128 characters of letters, digits and ``._:-``) is what makes
ingestion idempotent: a redelivered or resent event is stored once. ``features`` must
hold exactly the view's fields, each of its Feast type (``Int64``: an integer, never a
boolean; ``Float32``: a finite number), categorical codes within the field's
``categories`` tag. ``event_timestamp`` is ISO 8601 with a zone or unix seconds and may
not lie further in the future than ``max_future``. The schemas come from the Feast
registry (:func:`schemas_from_store`), so the worker checks what the tenant's registry
declares, not a copy of it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

_EVENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_INT64 = (-(2**63), 2**63 - 1)
_FLOAT32_MAX = 3.4028234663852886e38
DEFAULT_MAX_FUTURE = timedelta(days=1)

Kind = Literal["int64", "float32"]


@dataclass(frozen=True)
class FieldSpec:
    """One feature column of a view."""

    name: str
    kind: Kind
    categories: tuple[int, ...] = ()


@dataclass(frozen=True)
class ViewSchema:
    """What an event for one feature view must carry."""

    name: str
    entity_key: str
    fields: tuple[FieldSpec, ...]
    timestamp_field: str = "event_timestamp"
    created_field: str = "created"
    version: str = ""
    """SHA-256 of the view's registry spec (changes when the view's definition does)."""

    @property
    def field_names(self) -> list[str]:
        """Feature names in the view's order."""
        return [f.name for f in self.fields]


@dataclass(frozen=True)
class Event:
    """A valid event, typed."""

    event_id: str
    view: str
    entity: int
    timestamp: datetime
    features: dict[str, int | float]


@dataclass(frozen=True)
class Rejection:
    """Why an event was refused (one line), with its id when it had a readable one."""

    reason: str
    event_id: str | None = None


def _kind(dtype: Any) -> Kind:
    text = str(dtype)
    if text.startswith("Int64") or text.startswith("Int32"):
        return "int64"
    if text.startswith("Float32") or text.startswith("Float64"):
        return "float32"
    raise ValueError(f"unsupported feature type {text}")


def schema_of(view: Any) -> ViewSchema:
    """A :class:`ViewSchema` from a Feast ``FeatureView`` (one entity, numeric fields)."""
    join_keys = [column.name for column in view.entity_columns]
    if len(join_keys) != 1:
        raise ValueError(f"feature view {view.name}: exactly one entity key supported")
    fields = []
    for feature in view.features:
        categories: tuple[int, ...] = ()
        if feature.tags.get("kind") == "categorical":
            categories = tuple(int(c) for c in feature.tags.get("categories", "").split(",") if c)
        fields.append(FieldSpec(feature.name, _kind(feature.dtype), categories))
    spec = view.to_proto().spec.SerializeToString(deterministic=True)
    source = view.batch_source
    return ViewSchema(
        name=view.name,
        entity_key=join_keys[0],
        fields=tuple(fields),
        timestamp_field=source.timestamp_field or "event_timestamp",
        created_field=source.created_timestamp_column or "created",
        version=hashlib.sha256(spec).hexdigest(),
    )


def schemas_from_store(store: Any, names: Iterable[str]) -> dict[str, ViewSchema]:
    """Schemas of the named views from a Feast store's registry."""
    return {name: schema_of(store.get_feature_view(name)) for name in names}


def _timestamp(value: Any, now: datetime, max_future: timedelta) -> datetime | str:
    if isinstance(value, bool):
        return f"event_timestamp: must be ISO 8601 or unix seconds, got {value!r}"
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value < 32503680000:
            return f"event_timestamp: unix seconds out of range, got {value!r}"
        stamp = datetime.fromtimestamp(float(value), tz=UTC)
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return f"event_timestamp: not ISO 8601, got {value[:40]!r}"
        if stamp.tzinfo is None:
            return f"event_timestamp: needs a time zone (e.g. 'Z'), got {value[:40]!r}"
        stamp = stamp.astimezone(UTC)
    else:
        return f"event_timestamp: must be ISO 8601 or unix seconds, got {type(value).__name__}"
    if stamp > now + max_future:
        ahead = max_future.total_seconds() / 3600
        return f"event_timestamp: {stamp.isoformat()} is more than {ahead:g} h in the future"
    return stamp


def _value(spec: FieldSpec, value: Any) -> int | float | str:
    where = f"features.{spec.name}"
    if spec.kind == "int64":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{where}: must be an integer, got {value!r:.40}"
        if not _INT64[0] <= value <= _INT64[1]:
            return f"{where}: outside int64, got {value}"
        if spec.categories and value not in spec.categories:
            return f"{where}: code {value} not in categories {list(spec.categories)}"
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{where}: must be a number, got {value!r:.40}"
    number = float(value)
    if not math.isfinite(number) or abs(number) > _FLOAT32_MAX:
        return f"{where}: must be a finite float32, got {value!r}"
    return number


def validate_event(
    body: Any,
    schemas: Mapping[str, ViewSchema],
    *,
    now: datetime | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> Event | Rejection:
    """Check one decoded message body; return the typed event or the reason it is refused."""
    if not isinstance(body, dict):
        return Rejection(f"body: must be a JSON object, got {type(body).__name__}")
    if "_unreadable" in body and len(body) == 1:
        return Rejection("body: not valid JSON")
    if "_batch" in body and len(body) == 1:
        return Rejection('body: a batch must be {"events": [1..1000 events]}')
    raw_id = body.get("event_id")
    if not isinstance(raw_id, str) or not _EVENT_ID.match(raw_id):
        return Rejection(
            f"event_id: must be 1-128 characters of [A-Za-z0-9._:-], got {raw_id!r:.60}"
        )
    event_id = raw_id
    view_name = body.get("feature_view")
    if view_name not in schemas:
        return Rejection(
            f"feature_view: must be one of {sorted(schemas)}, got {view_name!r:.60}", event_id
        )
    schema = schemas[str(view_name)]
    allowed_top = {"event_id", "feature_view", schema.entity_key, "event_timestamp", "features"}
    extra = sorted(set(body) - allowed_top)
    if extra:
        return Rejection(f"unknown field(s) {extra}; allowed {sorted(allowed_top)}", event_id)
    entity = body.get(schema.entity_key)
    if isinstance(entity, bool) or not isinstance(entity, int) or not 0 <= entity <= _INT64[1]:
        return Rejection(
            f"{schema.entity_key}: must be a non-negative integer, got {entity!r:.40}", event_id
        )
    stamp = _timestamp(body.get("event_timestamp"), now or datetime.now(UTC), max_future)
    if isinstance(stamp, str):
        return Rejection(stamp, event_id)
    features = body.get("features")
    if not isinstance(features, dict):
        return Rejection("features: must be an object of feature values", event_id)
    missing = [name for name in schema.field_names if name not in features]
    if missing:
        return Rejection(f"features: missing {missing} of view {schema.name}", event_id)
    unknown = sorted(set(features) - set(schema.field_names))
    if unknown:
        return Rejection(f"features: unknown {unknown} for view {schema.name}", event_id)
    typed: dict[str, int | float] = {}
    for spec in schema.fields:
        value = _value(spec, features[spec.name])
        if isinstance(value, str):
            return Rejection(value, event_id)
        typed[spec.name] = value
    return Event(event_id, schema.name, entity, stamp, typed)
