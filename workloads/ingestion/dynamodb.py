"""What Feast's DynamoDB online store does not do: delete one entity (erasure).

Feast writes one item per entity (hash key ``entity_id``, Feast's digest of the entity
key) in a table per feature view named by ``table_name_template`` (the platform renders
``{project}.{table_name}``, :func:`contracts.feature_store.dynamodb_table_name`); the
platform's writers add the expiry in the same put
(:mod:`workloads.features.online_store`). Erasure deletes by the same key:
:func:`delete_entities`, with boto3 and Feast's key helpers only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def table_name(config: Any, view: str) -> str:
    """The table Feast uses for ``view`` under a repo config."""
    template = getattr(config.online_store, "table_name_template", "{project}.{table_name}")
    return str(template).format(project=config.project, table_name=view)


def entity_id(join_key: str, entity: int, serialization_version: int = 3) -> str:
    """Feast's ``entity_id`` (the item's hash key) of one integer entity."""
    from feast.infra.online_stores.helpers import compute_entity_id
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    key = EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=entity)])
    return str(compute_entity_id(key, entity_key_serialization_version=serialization_version))


def client_for(config: Any) -> Any:
    """A DynamoDB client for the repo's region (and endpoint, when the config sets one)."""
    import boto3

    return boto3.client(
        "dynamodb",
        region_name=config.online_store.region,
        endpoint_url=getattr(config.online_store, "endpoint_url", None),
    )


def delete_entities(client: Any, table: str, entity_ids: Iterable[str]) -> None:
    """Delete the items of these entities (absent ones are no error)."""
    for item in entity_ids:
        client.delete_item(TableName=table, Key={"entity_id": {"S": item}})
