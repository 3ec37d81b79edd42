"""Feast's DynamoDB online store, writing the item's expiry in the same put.

The platform's online tables expire items by :data:`~contracts.ingestion.ONLINE_TTL_ATTRIBUTE`
(DynamoDB TTL, epoch seconds; :mod:`components.aws.online_store` enables it), but Feast
writes no such attribute: an item written by ``materialize`` or a push would live for
ever. :class:`ExpiringDynamoDBOnlineStore` is Feast's store with every write path
(``online_write_batch``, ``online_write_batch_async`` and the list-update paths of
``update_online_store``) adding ``expires_at = write time + ttl_seconds`` to the item it
writes; reads are Feast's.

Feast picks it from ``feature_store.yaml`` as a custom store type::

    online_store:
      type: workloads.features.online_store.ExpiringDynamoDBOnlineStore
      region: me-central-1
      ttl_seconds: 7776000

The feature server keeps the plain ``dynamodb`` type (its upstream image cannot import
this module; it only reads). The writers (the materialisation job and the ingestion
worker, both in the loop image) load the same file and swap the store in with the
tenant's retention: :func:`writer_config`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from feast.infra.online_stores.dynamodb import (
    DynamoDBOnlineStore,
    DynamoDBOnlineStoreConfig,
    _get_table_name,
    _latest_data_to_write,
    _to_client_write_item,
    dynamo_write_items_async,
)
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from pydantic import Field

from contracts.ingestion import ONLINE_TTL_ATTRIBUTE

STORE_TYPE = "workloads.features.online_store.ExpiringDynamoDBOnlineStore"
"""``online_store.type`` of :class:`ExpiringDynamoDBOnlineStore` (Feast imports
``<module>.<Class>`` and its ``<Class>Config``)."""

Row = tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]


class ExpiringDynamoDBOnlineStoreConfig(DynamoDBOnlineStoreConfig):
    """Feast's DynamoDB settings plus how long a written item lives."""

    type: Literal["workloads.features.online_store.ExpiringDynamoDBOnlineStore"] = STORE_TYPE  # type: ignore[assignment]
    """Online store type selector (this module's store)."""

    ttl_seconds: int = Field(ge=1, strict=True)
    """Seconds from a write until DynamoDB may expire the item (the tenant's retention)."""


def _expires_at(config: RepoConfig) -> int:
    online = config.online_store
    if not isinstance(online, ExpiringDynamoDBOnlineStoreConfig):
        raise TypeError(f"online_store must be {STORE_TYPE} settings, got {type(online).__name__}")
    return int(time.time()) + online.ttl_seconds


class _StampingBatch:
    """A ``batch_writer`` whose ``put_item`` adds the expiry (boto3 resource values)."""

    def __init__(self, batch: Any, expires_at: int) -> None:
        self._batch, self._expires_at = batch, expires_at

    def put_item(self, Item: dict[str, Any], **kwargs: Any) -> Any:  # noqa: N803 (boto3's name)
        return self._batch.put_item(Item={**Item, ONLINE_TTL_ATTRIBUTE: self._expires_at}, **kwargs)


class _StampingBatchWriter:
    def __init__(self, writer: Any, expires_at: int) -> None:
        self._writer, self._expires_at = writer, expires_at

    def __enter__(self) -> _StampingBatch:
        return _StampingBatch(self._writer.__enter__(), self._expires_at)

    def __exit__(self, *exc: object) -> Any:
        return self._writer.__exit__(*exc)


def _stamped_update(kwargs: dict[str, Any], value: Any) -> dict[str, Any]:
    """``update_item`` arguments that also set the expiry (Feast's expression is one SET)."""
    expression = str(kwargs["UpdateExpression"])
    if not expression.startswith("SET "):
        raise ValueError(f"cannot add the expiry to update expression {expression!r}")
    return {
        **kwargs,
        "UpdateExpression": f"{expression}, #mlp_expires_at = :mlp_expires_at",
        "ExpressionAttributeNames": {
            **kwargs.get("ExpressionAttributeNames", {}),
            "#mlp_expires_at": ONLINE_TTL_ATTRIBUTE,
        },
        "ExpressionAttributeValues": {
            **kwargs.get("ExpressionAttributeValues", {}),
            ":mlp_expires_at": value,
        },
    }


class _StampingTable:
    """A boto3 ``Table`` whose writes (batch puts, ``put_item``, ``update_item``) add the
    expiry; everything else (reads) is the table's own."""

    def __init__(self, table: Any, expires_at: int) -> None:
        self._table, self._expires_at = table, expires_at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def batch_writer(self, *args: Any, **kwargs: Any) -> _StampingBatchWriter:
        return _StampingBatchWriter(self._table.batch_writer(*args, **kwargs), self._expires_at)

    def put_item(self, Item: dict[str, Any], **kwargs: Any) -> Any:  # noqa: N803 (boto3's name)
        return self._table.put_item(Item={**Item, ONLINE_TTL_ATTRIBUTE: self._expires_at}, **kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        return self._table.update_item(**_stamped_update(kwargs, self._expires_at))


class _StampingAsyncClient:
    """An aiobotocore DynamoDB client whose ``put_item``/``update_item`` add the expiry
    (low-level attribute values)."""

    def __init__(self, client: Any, expires_at: int) -> None:
        self._client, self._value = client, {"N": str(expires_at)}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def put_item(self, *, Item: dict[str, Any], **kwargs: Any) -> Any:  # noqa: N803
        return await self._client.put_item(
            Item={**Item, ONLINE_TTL_ATTRIBUTE: self._value}, **kwargs
        )

    async def update_item(self, **kwargs: Any) -> Any:
        return await self._client.update_item(**_stamped_update(kwargs, self._value))


class ExpiringDynamoDBOnlineStore(DynamoDBOnlineStore):
    """Feast's DynamoDB online store; every item it writes carries ``expires_at``."""

    def _write_batch_non_duplicates(
        self,
        table_instance: Any,
        data: list[Row],
        progress: Callable[[int], Any] | None,
        config: RepoConfig,
    ) -> None:
        """The sync write (``online_write_batch``: materialisation, push, online writes)."""
        super()._write_batch_non_duplicates(
            _StampingTable(table_instance, _expires_at(config)), data, progress, config
        )

    async def online_write_batch_async(
        self,
        config: RepoConfig,
        table: Any,
        data: list[Row],
        progress: Callable[[int], Any] | None,
    ) -> None:
        """Feast's async batch write with the expiry in each item."""
        online = config.online_store
        expires = {"N": str(_expires_at(config))}
        table_name = _get_table_name(online, config, table)
        items = [
            {**_to_client_write_item(config, key, features, ts), ONLINE_TTL_ATTRIBUTE: expires}
            for key, features, ts, _ in _latest_data_to_write(data)
        ]
        client = await self._get_aiodynamodb_client(
            online.region,
            online.max_pool_connections,
            online.keepalive_timeout,
            online.connect_timeout,
            online.read_timeout,
            online.total_max_retry_attempts,
            online.retry_mode,
            online.endpoint_url,
        )
        await dynamo_write_items_async(client, table_name, items)
        if progress:
            progress(len(items))

    def _update_item_with_expression(
        self,
        table_instance: Any,
        entity_id: str,
        features: dict[str, ValueProto],
        timestamp: datetime,
        update_expressions: dict[str, str],
        config: RepoConfig,
    ) -> None:
        """``update_online_store`` (list appends): the put or update sets the expiry too."""
        super()._update_item_with_expression(
            _StampingTable(table_instance, _expires_at(config)),
            entity_id,
            features,
            timestamp,
            update_expressions,
            config,
        )

    async def _update_item_with_expression_async(
        self,
        client: Any,
        table_name: str,
        entity_id: str,
        features: dict[str, ValueProto],
        timestamp: datetime,
        update_expressions: dict[str, str],
        config: RepoConfig,
    ) -> None:
        """Async ``update_online_store``: the put or update sets the expiry too."""
        await super()._update_item_with_expression_async(
            _StampingAsyncClient(client, _expires_at(config)),
            table_name,
            entity_id,
            features,
            timestamp,
            update_expressions,
            config,
        )


def expiring_online_store(online: Any, ttl_seconds: int | None) -> Any:
    """The ``online_store`` mapping of a writer that expires what it writes.

    DynamoDB: this module's store with ``ttl_seconds`` (``expires_at`` on every item).
    Redis: Feast's own ``key_ttl_seconds``. Anything else (the local SQLite store, which
    has no expiry) is returned unchanged, as is Redis without a TTL. DynamoDB tables
    expire items by TTL only, so a DynamoDB writer without one is an error.
    """
    if not isinstance(online, dict) or online.get("type") not in ("dynamodb", STORE_TYPE, "redis"):
        return online
    if ttl_seconds is None:
        if online["type"] == "redis":
            return online
        raise ValueError(
            "online_store: a DynamoDB writer needs the online retention (TTL seconds); "
            f"items without {ONLINE_TTL_ATTRIBUTE} never expire"
        )
    if ttl_seconds < 1:
        raise ValueError(f"online retention must be >= 1 second, got {ttl_seconds}")
    if online["type"] == "redis":
        return {**online, "key_ttl_seconds": ttl_seconds}
    return {**online, "type": STORE_TYPE, "ttl_seconds": ttl_seconds}


def writer_config(repo: Path, ttl_seconds: int | None) -> RepoConfig:
    """The repo's ``feature_store.yaml`` (read as Feast reads it: environment variables
    expanded) with :func:`expiring_online_store` applied; errors name the file."""
    from pydantic import ValidationError

    path = repo / "feature_store.yaml"
    try:
        raw = yaml.safe_load(os.path.expandvars(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: not a mapping")
    try:
        raw["online_store"] = expiring_online_store(raw.get("online_store"), ttl_seconds)
        config = RepoConfig(**raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{path}: {where}: {first['msg']}") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    config.repo_path = repo
    return config
