"""Deterministic feature events for the demo, the tests and the benchmark.

:func:`valid_events` draws plausible values for each view's fields (codes within the
categories); :func:`malformed_events` gives one broken event of each kind the worker
must refuse, with the reason's beginning, so a caller can check the dead letters.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from workloads.ingestion.schema import ViewSchema


def _value(spec: Any, rng: random.Random) -> int | float:
    if spec.categories:
        return int(rng.choice(spec.categories))
    if spec.kind == "int64":
        return rng.randint(0, 60)
    return round(rng.uniform(0.0, 50_000.0), 2)


def valid_events(
    schemas: Mapping[str, ViewSchema],
    entities: Sequence[int],
    n: int,
    *,
    start: datetime,
    seed: int = 0,
    prefix: str = "evt",
) -> list[dict[str, Any]]:
    """``n`` valid events over the views and entities (ids ``<prefix>-<i>``)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    views = sorted(schemas)
    out = []
    for i in range(n):
        schema = schemas[views[i % len(views)]]
        stamp = start + timedelta(minutes=rng.randint(0, 7 * 24 * 60))
        out.append(
            {
                "event_id": f"{prefix}-{i:08d}",
                "feature_view": schema.name,
                schema.entity_key: int(entities[rng.randrange(len(entities))]),
                "event_timestamp": stamp.isoformat().replace("+00:00", "Z"),
                "features": {spec.name: _value(spec, rng) for spec in schema.fields},
            }
        )
    return out


def malformed_events(
    schemas: Mapping[str, ViewSchema], entity: int, *, start: datetime, prefix: str = "bad"
) -> list[tuple[dict[str, Any] | str, str]]:
    """One broken event per kind of mistake: ``(body, start of the rejection reason)``.

    A ``str`` body is sent verbatim (not JSON).
    """
    ordered = [schemas[name] for name in sorted(schemas)]
    schema = next((s for s in ordered if any(f.categories for f in s.fields)), ordered[0])
    rng = random.Random(1)  # noqa: S311 - test data, not secrets
    base = valid_events({schema.name: schema}, [entity], 1, start=start, prefix=prefix)[0]
    # Exactly at ``start``: only the intended mistake may be wrong with each variant.
    base["event_timestamp"] = start.isoformat().replace("+00:00", "Z")
    first = schema.fields[0]
    categorical = next((f for f in schema.fields if f.categories), None)
    int_field = next((f for f in schema.fields if f.kind == "int64"), first)

    def variant(i: int, **changes: Any) -> dict[str, Any]:
        body = {**base, "event_id": f"{prefix}-{i}", "features": dict(base["features"])}
        features = changes.pop("features", None)
        if features is not None:
            body["features"] = features
        body.update(changes)
        return body

    missing = dict(base["features"])
    missing.pop(first.name)
    cases: list[tuple[dict[str, Any] | str, str]] = [
        ('{"event_id": "broken-json", ', "body: not valid JSON"),
        (variant(1, feature_view="no_such_view"), "feature_view:"),
        (variant(2, features=missing), "features: missing"),
        (variant(3, features={**base["features"], "surprise": 1}), "features: unknown"),
        (
            variant(4, features={**base["features"], int_field.name: "12"}),
            f"features.{int_field.name}",
        ),
        (variant(5, event_timestamp="yesterday"), "event_timestamp: not ISO 8601"),
        (variant(6, event_timestamp="2999-01-01T00:00:00Z"), "event_timestamp:"),
        (variant(7, **{schema.entity_key: -5}), f"{schema.entity_key}:"),
        ({k: v for k, v in base.items() if k != "event_id"}, "event_id:"),
    ]
    if categorical is not None:
        bad_code = max(categorical.categories) + 1 + rng.randint(0, 3)
        cases.append(
            (
                variant(8, features={**base["features"], categorical.name: bad_code}),
                f"features.{categorical.name}: code",
            )
        )
    return cases


def events_from_rows(
    schema: ViewSchema, rows: Any, *, stamp: datetime, prefix: str
) -> list[dict[str, Any]]:
    """Events carrying the feature values of existing rows (a DataFrame) at ``stamp``:
    what a tenant system sends when it re-publishes current values."""
    out = []
    for i, row in enumerate(rows.to_dict("records")):
        features: dict[str, int | float] = {}
        for spec in schema.fields:
            value = row[spec.name]
            features[spec.name] = int(value) if spec.kind == "int64" else float(value)
        out.append(
            {
                "event_id": f"{prefix}-{schema.name}-{i:06d}",
                "feature_view": schema.name,
                schema.entity_key: int(row[schema.entity_key]),
                "event_timestamp": stamp.isoformat().replace("+00:00", "Z"),
                "features": features,
            }
        )
    return out
