"""DynamoDB (the SMB online store) on moto's server (127.0.0.1): erasure's delete, on
items keyed as Feast keys them (hash key ``entity_id`` = Feast's digest of the entity
key, table ``{project}.{view}``). The expiry every writer puts in the item is tested
with Feast's own store in ``tests/workloads/features/test_online_store.py``."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from contracts.feature_store import dynamodb_table_name
from workloads.ingestion import dynamodb

REGION = "me-central-1"
# Moto's servers in one process share their tables: a project no other test uses.
PROJECT = "erasure_churn"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield boto3.client(
            "dynamodb",
            region_name=REGION,
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()


def test_erasure_delete_on_feast_items(client: Any) -> None:
    config = SimpleNamespace(
        project=PROJECT, online_store=SimpleNamespace(region=REGION, endpoint_url=None)
    )
    table = dynamodb.table_name(config, "customer_activity")
    assert table == dynamodb_table_name(PROJECT, "customer_activity")  # the platform's
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "entity_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "entity_id", "AttributeType": "S"}],
    )
    ids = {e: dynamodb.entity_id("customer_id", e) for e in (100001, 100002, 100003)}
    assert len(set(ids.values())) == 3 and all(len(i) == 32 for i in ids.values())
    for item in ids.values():
        client.put_item(TableName=table, Item={"entity_id": {"S": item}, "values": {"M": {}}})
    assert len(client.scan(TableName=table)["Items"]) == 3

    dynamodb.delete_entities(client, table, [ids[100001], "no-such-entity"])
    left = {i["entity_id"]["S"] for i in client.scan(TableName=table)["Items"]}
    assert left == {ids[100002], ids[100003]}
