"""Online rows expire: Feast's DynamoDB store with ``expires_at`` in every put, on moto's
DynamoDB server (127.0.0.1).

One feature repo laid out as the platform's (``provider: aws``, DynamoDB online store
with tables ``{project}.{view}``, file offline store), its sources written by the
generator with snapshots in the last weeks (so ``materialize_incremental`` up to now
finds rows of both views). Feast's own store (the old path) writes no expiry; the
materialisation command and the ingestion worker write it in the same item.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
import yaml
from moto.server import ThreadedMotoServer

from contracts.feature_store import ACTIVITY_VIEW, FEATURE_VIEWS, PROFILE_VIEW, dynamodb_table_name
from contracts.ingestion import ONLINE_TTL_ATTRIBUTE
from workloads.features.online_store import (
    STORE_TYPE,
    ExpiringDynamoDBOnlineStoreConfig,
    expiring_online_store,
    writer_config,
)

REGION = "me-central-1"
PROJECT = "acme_churn"
TTL_DAYS = 90
TTL = TTL_DAYS * 86400
N_CUSTOMERS = 40


@dataclass(frozen=True)
class Repo:
    """The feature repo and a boto3 client of the moto server its store writes to."""

    path: Path
    client: Any
    entities: list[int]

    def items(self, view: str) -> list[dict[str, Any]]:
        table = dynamodb_table_name(PROJECT, view)
        return list(self.client.scan(TableName=table, ConsistentRead=True)["Items"])

    def clear(self) -> None:
        for view in FEATURE_VIEWS:
            for item in self.items(view):
                self.client.delete_item(
                    TableName=dynamodb_table_name(PROJECT, view),
                    Key={"entity_id": item["entity_id"]},
                )


def _expiries(items: list[dict[str, Any]]) -> list[int | None]:
    return [int(i[ONLINE_TTL_ATTRIBUTE]["N"]) if ONLINE_TTL_ATTRIBUTE in i else None for i in items]


def _assert_expire_in_ttl(items: list[dict[str, Any]]) -> None:
    now = int(time.time())
    expiries = _expiries(items)
    assert items and None not in expiries, "every item carries expires_at"
    assert all(now + TTL - 60 <= e <= now + TTL + 60 for e in expiries if e is not None), expiries


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    from feast import FeatureStore

    from workloads.features.datagen import GeneratorConfig, generate, write_parquet
    from workloads.features.definitions import LOCAL_OFFLINE_URI, build_objects

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(tmp_path_factory.mktemp("aws") / "absent"),
        }.items():
            env.setenv(name, value)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            path = tmp_path_factory.mktemp("online_store") / "repo"
            # Weekly snapshots ending within the activity view's 14-day TTL of now.
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=26)
            data = generate(GeneratorConfig(n_customers=N_CUSTOMERS, n_snapshots=4, start=start))
            write_parquet(data, path / "data")
            (path / "feature_store.yaml").write_text(
                yaml.safe_dump(
                    {
                        "project": PROJECT,
                        "provider": "aws",
                        "registry": "data/registry.db",
                        "offline_store": {"type": "file"},
                        "online_store": {
                            "type": "dynamodb",
                            "region": REGION,
                            "endpoint_url": endpoint,
                            "table_name_template": "{project}.{table_name}",
                        },
                        "entity_key_serialization_version": 3,
                    }
                ),
                encoding="utf-8",
            )
            # The plain store creates the tables (on AWS, Pulumi does).
            FeatureStore(repo_path=str(path)).apply(build_objects(LOCAL_OFFLINE_URI))
            client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
            yield Repo(path, client, sorted(int(e) for e in data.profile["customer_id"]))
        finally:
            server.stop()


def test_writer_config_swaps_in_the_expiring_store_and_names_the_file(tmp_path: Path) -> None:
    dynamo = {"type": "dynamodb", "region": REGION}
    assert expiring_online_store(dynamo, TTL) == {**dynamo, "type": STORE_TYPE, "ttl_seconds": TTL}
    redis = {"type": "redis", "connection_string": "valkey:6379,ssl=true"}
    assert expiring_online_store(redis, TTL) == {**redis, "key_ttl_seconds": TTL}
    assert expiring_online_store(redis, None) == redis
    sqlite = {"type": "sqlite", "path": "data/online.db"}
    assert expiring_online_store(sqlite, TTL) == sqlite  # local: no expiry to set

    (tmp_path / "feature_store.yaml").write_text(
        yaml.safe_dump(
            {"project": PROJECT, "provider": "aws", "registry": "r.db", "online_store": dynamo}
        )
    )
    config = writer_config(tmp_path, TTL)
    assert isinstance(config.online_store, ExpiringDynamoDBOnlineStoreConfig)
    assert (config.online_store.ttl_seconds, config.online_store.region) == (TTL, REGION)
    with pytest.raises(
        ValueError, match=r"feature_store\.yaml: online_store: a DynamoDB writer needs"
    ):
        writer_config(tmp_path, None)
    with pytest.raises(ValueError, match="online retention must be >= 1 second, got 0"):
        writer_config(tmp_path, 0)
    with pytest.raises(ValueError, match=r"nowhere/feature_store\.yaml: cannot read"):
        writer_config(tmp_path / "nowhere", TTL)


def test_materialize_command_rejects_bad_arguments_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workloads.features.__main__ import main

    assert main(["materialize", f"--repo={tmp_path}", "--online-ttl-days=0"]) == 2
    assert capsys.readouterr().err == "error: --online-ttl-days must be >= 1, got 0\n"
    assert main(["materialize", f"--repo={tmp_path / 'nowhere'}", "--online-ttl-days=9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere/feature_store.yaml: cannot read" in err
    assert len(err.strip().splitlines()) == 1


def test_plain_feast_materialize_writes_no_expiry(repo: Repo, tmp_path: Path) -> None:
    """The old path (the upstream image's ``feast materialize``): items that never expire."""
    from feast import FeatureStore

    repo.clear()
    copy = tmp_path / "repo"  # its registry records this run, the shared one does not
    shutil.copytree(repo.path, copy)
    FeatureStore(repo_path=str(copy)).materialize(
        start_date=datetime.now(UTC) - timedelta(days=3650), end_date=datetime.now(UTC)
    )
    items = repo.items(PROFILE_VIEW)
    assert len(items) == N_CUSTOMERS
    assert set(_expiries(items)) == {None}
    repo.clear()


def test_materialize_command_writes_expires_at_on_every_item(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    from workloads.features.__main__ import main

    assert repo.items(PROFILE_VIEW) == []
    code = main(["materialize", f"--repo={repo.path}", f"--online-ttl-days={TTL_DAYS}"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, out
    assert (out["online_store"], out["ttl_seconds"]) == (STORE_TYPE, TTL)
    profile, activity = repo.items(PROFILE_VIEW), repo.items(ACTIVITY_VIEW)
    assert len(profile) == N_CUSTOMERS and len(activity) == N_CUSTOMERS
    _assert_expire_in_ttl(profile + activity)

    # Without the retention a DynamoDB writer refuses to run (its rows would never expire).
    assert main(["materialize", f"--repo={repo.path}"]) == 2
    assert "a DynamoDB writer needs the online retention" in capsys.readouterr().err


def test_materialize_reads_the_offline_parquet_from_s3(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the CronJob runs: sources under ``s3://`` (read through s3fs), a fresh registry."""
    from feast import FeatureStore

    from workloads.features.__main__ import main
    from workloads.features.definitions import LOCAL_OFFLINE_URI, build_objects

    endpoint = repo.client.meta.endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)  # the on-prem pods' variable too
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
    s3.create_bucket(Bucket="acme-data", CreateBucketConfiguration={"LocationConstraint": REGION})
    offline = repo.path / LOCAL_OFFLINE_URI  # the partitioned store, as the platform's
    parts = sorted(offline.rglob("*.parquet"))
    assert parts
    for part in parts:
        s3.upload_file(str(part), "acme-data", f"offline/{part.relative_to(offline).as_posix()}")
    fresh = tmp_path / "repo"
    fresh.mkdir()
    shutil.copy(repo.path / "feature_store.yaml", fresh / "feature_store.yaml")
    (fresh / "data").mkdir()  # the registry file only: no parquet next to it
    FeatureStore(repo_path=str(fresh)).apply(build_objects("s3://acme-data/offline"))
    repo.clear()

    assert main(["materialize", f"--repo={fresh}", f"--online-ttl-days={TTL_DAYS}"]) == 0
    profile, activity = repo.items(PROFILE_VIEW), repo.items(ACTIVITY_VIEW)
    assert len(profile) == N_CUSTOMERS and len(activity) == N_CUSTOMERS
    _assert_expire_in_ttl(profile + activity)


def test_worker_rows_expire_and_read_back(repo: Repo, tmp_path: Path) -> None:
    from feast import FeatureStore

    from workloads.ingestion.__main__ import main
    from workloads.ingestion.events import valid_events
    from workloads.ingestion.queues import IngestFileQueue
    from workloads.ingestion.schema import schemas_from_store

    reader = FeatureStore(repo_path=str(repo.path))  # the feature server's plain store
    schemas = schemas_from_store(reader, FEATURE_VIEWS)
    repo.clear()
    # Within the last week (the tables are empty: the newest-wins filter keeps them all).
    events = valid_events(
        schemas, repo.entities[:10], 20, start=datetime.now(UTC) - timedelta(days=8), prefix="w"
    )
    IngestFileQueue(tmp_path / "q").send_many(events)
    code = main(
        [
            f"--repo={repo.path}",
            f"--queue=file:{tmp_path / 'q'}",
            f"--dlq=file:{tmp_path / 'dlq'}",
            f"--offline_uri={tmp_path / 'offline'}",
            f"--online_ttl_days={TTL_DAYS}",
            "--once",
        ]
    )
    assert code == 0
    items = repo.items(PROFILE_VIEW) + repo.items(ACTIVITY_VIEW)
    assert len(items) == len({(e["feature_view"], e["customer_id"]) for e in events})
    _assert_expire_in_ttl(items)

    newest: dict[tuple[str, int], dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e["event_timestamp"]):
        newest[(event["feature_view"], event["customer_id"])] = event
    for (view, entity), event in newest.items():
        refs = [f"{view}:{name}" for name in event["features"]]
        got = reader.get_online_features(refs, [{"customer_id": entity}]).to_dict()
        for name, value in event["features"].items():
            assert got[name][0] == pytest.approx(value, rel=1e-6), (view, entity, name)


def test_async_and_list_update_writes_carry_expires_at(repo: Repo) -> None:
    """The other write paths: ``write_to_online_store_async`` and ``update_online_store``."""
    from feast import FeatureStore
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    repo.clear()
    store = FeatureStore(repo_path=str(repo.path), config=writer_config(repo.path, TTL))
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        {
            "customer_id": repo.entities[:3],
            "event_timestamp": [now] * 3,
            "created": [now] * 3,
            "age": [30, 41, 52],
            "tenure_months": [12, 24, 36],
            "segment_code": [0, 1, 2],
            "emirate_code": [0, 1, 2],
        }
    )

    async def write_async() -> None:
        try:
            await store.write_to_online_store_async(PROFILE_VIEW, frame)
        finally:
            await store._get_provider().online_store.close()

    asyncio.run(write_async())
    items = repo.items(PROFILE_VIEW)
    assert len(items) == 3
    _assert_expire_in_ttl(items)

    # update_online_store: a put for a new entity, an UpdateItem for an existing one.
    repo.clear()
    online = store._get_provider().online_store
    view = store.get_feature_view(PROFILE_VIEW)
    rows = [
        (
            EntityKey(join_keys=["customer_id"], entity_values=[Value(int64_val=e)]),
            {"age": Value(int64_val=33)},
            now,
            None,
        )
        for e in repo.entities[:2]
    ]
    online.update_online_store(store.config, view, rows[:1], update_expressions={})
    online.update_online_store(store.config, view, rows, update_expressions={})
    items = repo.items(PROFILE_VIEW)
    assert len(items) == 2
    _assert_expire_in_ttl(items)
