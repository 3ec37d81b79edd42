"""Feast objects of the tenant use case: customer churn for a UAE retail bank.

One entity (``customer``, joined on ``customer_id``), two feature views over parquet
sources and one feature service, ``churn_model``, which is the exact feature list the
model trains on and the server enriches requests with. The order of the service's
features is the model's input order.

A numeric field tagged ``transform=log1p`` is log-transformed inside the model
(heavy-tailed amounts). Columns whose Feast field carries the tag ``kind=categorical`` are integer codes; the
tag ``categories`` lists the allowed codes (comma separated). The training job one-hot
encodes them inside the model and the reference statistics treat them as categorical.

Each view reads ONE partitioned dataset, the offline store the ingestion worker writes
(:mod:`workloads.ingestion.offline`): ``<offline root>/<view>/date=<YYYY-MM-DD>/
part-<hash>.parquet``. The generator's seed history and ingested events live there side
by side with the same columns and types, so training (Feast's historical retrieval) and
lineage see both. The offline root is :data:`LOCAL_OFFLINE_URI` (relative to a local
repo) or, in the platform, ``s3://<tenant bucket>/`` + ``contracts.ingestion.OFFLINE_PREFIX``
(``PlatformFeatureStoreSettings.offline_data_uri``, the worker's ``--offline_uri``).

Each view's ``source`` is a Feast ``PushSource`` (``contracts.ingestion.push_source_name``)
whose batch source is the view's ``FileSource``: the ingestion worker pushes accepted
events to it (online store) and writes them to the partitions (offline store).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Float32, Int64

from contracts.feature_store import ACTIVITY_VIEW, PROFILE_VIEW
from contracts.ingestion import push_source_name

PROJECT = "uae_bank_churn"
FEATURE_SERVICE = "churn_model"
ENTITY_KEY = "customer_id"
TIMESTAMP_FIELD = "event_timestamp"
LABEL_COLUMN = "churned"

SEGMENTS = ("mass", "premier", "private", "sme")
EMIRATES = (
    "abu_dhabi",
    "dubai",
    "sharjah",
    "ajman",
    "umm_al_quwain",
    "ras_al_khaimah",
    "fujairah",
)

LOCAL_DATA_DIR = "data"
"""Folder of a local repo holding registry, online store, labels and the offline store."""
LOCAL_OFFLINE_DIR = "offline"
"""The partitioned offline store inside :data:`LOCAL_DATA_DIR`."""
LOCAL_OFFLINE_URI = f"{LOCAL_DATA_DIR}/{LOCAL_OFFLINE_DIR}"
"""Offline root of a local repo, relative to the repo (the FileSources' base)."""
LABELS_FILE = "churn_labels.parquet"


def _categorical(name: str, n_codes: int, description: str) -> Field:
    return Field(
        name=name,
        dtype=Int64,
        description=description,
        tags={"kind": "categorical", "categories": ",".join(str(i) for i in range(n_codes))},
    )


def _numeric(name: str, dtype: Any, description: str, transform: str = "") -> Field:
    tags = {"kind": "numeric"}
    if transform:
        tags["transform"] = transform
    return Field(name=name, dtype=dtype, description=description, tags=tags)


def view_source_uri(offline_uri: str, view: str) -> str:
    """The partitioned folder (or ``s3://`` prefix) of one view under the offline root."""
    return f"{offline_uri.rstrip('/')}/{view}"


def build_objects(offline_uri: str = LOCAL_OFFLINE_URI) -> list[Any]:
    """Return the entity, sources, feature views and feature service.

    ``offline_uri`` is the offline root: a folder relative to the repo (local) or an
    ``s3://`` prefix; each view reads its partitioned folder under it.
    """
    customer = Entity(
        name="customer",
        join_keys=[ENTITY_KEY],
        value_type=ValueType.INT64,
        description="A retail or SME customer of the bank.",
    )
    profile_source = FileSource(
        name="customer_profile_source",
        path=view_source_uri(offline_uri, PROFILE_VIEW),
        timestamp_field=TIMESTAMP_FIELD,
        created_timestamp_column="created",
    )
    activity_source = FileSource(
        name="customer_activity_source",
        path=view_source_uri(offline_uri, ACTIVITY_VIEW),
        timestamp_field=TIMESTAMP_FIELD,
        created_timestamp_column="created",
    )
    # A push to these (the ingestion worker's) writes the view's online store.
    profile_push = PushSource(name=push_source_name(PROFILE_VIEW), batch_source=profile_source)
    activity_push = PushSource(name=push_source_name(ACTIVITY_VIEW), batch_source=activity_source)
    profile = FeatureView(
        name=PROFILE_VIEW,
        entities=[customer],
        # Profiles change rarely; a ten-year TTL keeps old onboarding rows joinable.
        ttl=timedelta(days=3650),
        schema=[
            _numeric("age", Int64, "Age in years."),
            _numeric("tenure_months", Int64, "Months since the account was opened."),
            _categorical("segment_code", len(SEGMENTS), "Segment: " + ", ".join(SEGMENTS)),
            _categorical("emirate_code", len(EMIRATES), "Emirate: " + ", ".join(EMIRATES)),
        ],
        online=True,
        source=profile_push,
        tags={"owner": "retail-analytics", "pii": "false"},
    )
    activity = FeatureView(
        name=ACTIVITY_VIEW,
        entities=[customer],
        # Snapshots are weekly; a value older than two weeks is stale and must not join.
        ttl=timedelta(days=14),
        schema=[
            _numeric("balance_aed", Float32, "End-of-day balance, AED.", transform="log1p"),
            _numeric("balance_change_90d_pct", Float32, "Balance change over 90 days, %."),
            _numeric("txn_count_30d", Int64, "Card and transfer transactions, last 30 days."),
            _numeric("digital_logins_30d", Int64, "Mobile and web logins, last 30 days."),
            _numeric("salary_transfer", Int64, "1 when a WPS salary is credited monthly."),
            _numeric("complaints_90d", Int64, "Complaints logged, last 90 days."),
            _numeric("products_held", Int64, "Number of products (cards, loans, deposits)."),
        ],
        online=True,
        source=activity_push,
        tags={"owner": "retail-analytics", "pii": "false"},
    )
    service = FeatureService(
        name=FEATURE_SERVICE,
        features=[profile, activity],
        description="Inputs of the churn model, in model input order.",
        tags={"model": "churn"},
    )
    return [
        customer,
        profile_source,
        activity_source,
        profile_push,
        activity_push,
        profile,
        activity,
        service,
    ]
