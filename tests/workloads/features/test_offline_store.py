"""One partitioned dataset per view: seed history and ingested events, both read by Feast.

The feature views' sources are the ingestion worker's partitioned offline store
(``<root>/<view>/date=<day>/part-<hash>.parquet``); the generator writes its seed rows
there in the same layout and schema. A row that exists only in an ingested partition
must therefore come back from Feast's point-in-time retrieval (training data), and a
push to the view's push source must reach the online store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from workloads.features.datagen import GeneratorConfig
from workloads.features.repo import LocalRepo, create_local_repo, offline_root, view_path
from workloads.ingestion.schema import ViewSchema

NEW_CUSTOMER = 990_001
"""A customer the generator never made: only ingested events know it."""


@pytest.fixture(scope="module")
def small_repo(tmp_path_factory: pytest.TempPathFactory) -> LocalRepo:
    path = tmp_path_factory.mktemp("offline_store") / "repo"
    return create_local_repo(path, GeneratorConfig(n_customers=60, n_snapshots=3, seed=5))


def _schemas(repo: Path) -> dict[str, ViewSchema]:
    from feast import FeatureStore

    from workloads.ingestion.schema import schemas_from_store

    return schemas_from_store(
        FeatureStore(repo_path=str(repo)), ["customer_profile", "customer_activity"]
    )


def test_views_read_the_partitioned_offline_store_with_push_sources(small_repo: LocalRepo) -> None:
    from feast import FeatureStore, PushSource

    from contracts.ingestion import push_source_name
    from workloads.ingestion.offline import EVENT_ID_COLUMN, events_table

    store = FeatureStore(repo_path=str(small_repo.path))
    schemas = _schemas(small_repo.path)
    for name in ("customer_profile", "customer_activity"):
        view = store.get_feature_view(name)
        assert isinstance(view.stream_source, PushSource)
        assert view.stream_source.name == push_source_name(name)
        source = getattr(view.batch_source, "path", "")
        assert small_repo.path / source == view_path(small_repo.path, name)
        parts = sorted(view_path(small_repo.path, name).glob("date=*/part-*.parquet"))
        assert parts, name
        # The seed rows have exactly the schema the ingestion worker writes.
        want = events_table(schemas[name], [], datetime.now(UTC)).schema
        for part in parts:
            got = pq.read_schema(part)
            assert got.remove_metadata() == want.remove_metadata(), part
            day = part.parent.name.removeprefix("date=")
            stamps = pq.read_table(part).column("event_timestamp").to_pandas()
            assert (stamps.dt.strftime("%Y-%m-%d") == day).all()
            assert pq.read_table(part).column(EVENT_ID_COLUMN).null_count == 0


def test_historical_retrieval_returns_rows_only_in_an_ingested_partition(
    small_repo: LocalRepo,
) -> None:
    from feast import FeatureStore

    from workloads.common.objectstore import FileStore
    from workloads.ingestion.offline import PartitionedOfflineStore
    from workloads.ingestion.schema import Event

    repo = small_repo.path
    schemas = _schemas(repo)
    activity = pd.read_parquet(view_path(repo, "customer_activity"))
    last = activity["event_timestamp"].max().to_pydatetime()
    known = int(activity["customer_id"].iloc[0])
    at = last + timedelta(days=2, hours=3)
    profile_values = {"age": 44, "tenure_months": 3, "segment_code": 3, "emirate_code": 6}
    activity_values: dict[str, int | float] = {
        "balance_aed": 4321.5,
        "balance_change_90d_pct": -12.25,
        "txn_count_30d": 987_654,
        "digital_logins_30d": 77,
        "salary_transfer": 0,
        "complaints_90d": 9,
        "products_held": 4,
    }
    events = {
        "customer_profile": [
            Event("t-prof-1", "customer_profile", NEW_CUSTOMER, at, profile_values)  # type: ignore[arg-type]
        ],
        "customer_activity": [
            Event("t-act-1", "customer_activity", NEW_CUSTOMER, at, activity_values),
            Event("t-act-2", "customer_activity", known, at, activity_values),
        ],
    }
    writer = PartitionedOfflineStore(FileStore(offline_root(repo)))
    written = []
    for view, batch in events.items():
        written += writer.write(schemas[view], batch, datetime.now(UTC)).objects
    assert all(f"/date={at:%Y-%m-%d}/" in key for key in written), written

    fs = FeatureStore(repo_path=str(repo))
    entity = pd.DataFrame(
        {
            "customer_id": [NEW_CUSTOMER, known, known],
            "event_timestamp": pd.to_datetime(
                [at + timedelta(hours=1), at + timedelta(hours=1), at - timedelta(seconds=1)],
                utc=True,
            ),
        }
    )
    frame = fs.get_historical_features(
        entity_df=entity, features=fs.get_feature_service("churn_model")
    ).to_df()
    frame = frame.set_index(["customer_id", "event_timestamp"]).sort_index()
    new = frame.loc[(NEW_CUSTOMER, entity["event_timestamp"][0])]
    assert new["txn_count_30d"] == 987_654 and new["age"] == 44 and new["emirate_code"] == 6
    assert new["balance_aed"] == pytest.approx(4321.5)
    after = frame.loc[(known, entity["event_timestamp"][1])]
    assert after["txn_count_30d"] == 987_654
    # Point in time: just before the ingested event, the seed's last snapshot still holds.
    before = frame.loc[(known, entity["event_timestamp"][2])]
    seed_last = activity[activity["customer_id"] == known].sort_values("event_timestamp").iloc[-1]
    assert before["txn_count_30d"] == seed_last["txn_count_30d"] != 987_654


def test_push_to_the_push_source_reaches_the_online_store(small_repo: LocalRepo) -> None:
    from feast import FeatureStore

    from contracts.ingestion import push_source_name

    fs = FeatureStore(repo_path=str(small_repo.path))
    now = pd.Timestamp(datetime.now(UTC))
    row = {
        "customer_id": [NEW_CUSTOMER + 1],
        "event_timestamp": [now],
        "created": [now],
        "age": [30],
        "tenure_months": [12],
        "segment_code": [1],
        "emirate_code": [2],
    }
    fs.push(push_source_name("customer_profile"), pd.DataFrame(row))
    online = fs.get_online_features(
        features=["customer_profile:age", "customer_profile:emirate_code"],
        entity_rows=[{"customer_id": NEW_CUSTOMER + 1}],
    ).to_dict()
    assert online["age"] == [30] and online["emirate_code"] == [2]
