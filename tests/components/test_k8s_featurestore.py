"""The ``feature_store.yaml`` the feature server mounts is one Feast 0.67 accepts.

The registry and offline-store sections go through Feast's own config models, after the
same ``os.path.expandvars`` step ``load_repo_config`` applies. The online-store section
cannot be loaded by Feast in this environment: its DynamoDB and Redis store modules need
the ``aws``/``redis`` extras (``aiobotocore``, ``redis``), which the feature-server image
has and the development environment does not; it is checked against the field names
and defaults in the installed Feast sources instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest
import yaml

from components.k8s import featurestore
from contracts.feature_store import dynamodb_table_name, render_platform_feature_store_yaml
from contracts.names import feast_project

KEY = "arn:aws:kms:me-central-1:123456789012:key/1f0e2d3c-aaaa-bbbb-cccc-0123456789ab"
REDIS_HOST = "master.big-bank-feast.abc123.mec1.cache.amazonaws.com"


def _feast_source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).read_text()


def _config_fields(module: str, cls: str) -> set[str]:
    """Field names of a Feast pydantic config class, read from its installed source."""
    source = _feast_source(module)
    body = source[source.index(f"class {cls}(") :]
    body = body[: body.index("\nclass ", 1)] if "\nclass " in body[1:] else body
    return set(re.findall(r"^    (\w+): ", body, flags=re.MULTILINE))


def _render(tier: str, **kw: str) -> dict:
    project = "corner_shop" if tier == "smb" else "big_bank"
    settings = featurestore.feature_store_settings(project, f"{project}-data", KEY, tier, **kw)  # type: ignore[arg-type]
    return yaml.safe_load(os.path.expandvars(render_platform_feature_store_yaml(settings)))


def test_registry_and_offline_sections_pass_feasts_models() -> None:
    from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
    from feast.repo_config import RegistryConfig

    data = _render("smb")
    registry = RegistryConfig(**data["registry"])
    assert registry.path == "s3://corner_shop-data/feast/registry.db"
    assert registry.s3_additional_kwargs == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY}
    assert DaskOfflineStoreConfig(**data["offline_store"]).type == "file"
    assert data["provider"] == "aws" and data["entity_key_serialization_version"] == 3


def test_dynamodb_section_matches_feasts_config_class() -> None:
    online = _render("smb")["online_store"]
    fields = _config_fields("feast.infra.online_stores.dynamodb", "DynamoDBOnlineStoreConfig")
    assert set(online) <= fields, set(online) - fields
    assert online == {
        "type": "dynamodb",
        "region": "me-central-1",
        "table_name_template": "{project}.{table_name}",
    }


def test_redis_section_matches_feasts_config_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEAST_REDIS_PASSWORD", "token-value-0123456789")
    online = _render("enterprise", redis_host=REDIS_HOST)["online_store"]
    fields = _config_fields("feast.infra.online_stores.redis", "RedisOnlineStoreConfig")
    assert set(online) <= fields, set(online) - fields
    # Expanded exactly as ``load_repo_config`` does: TLS on, token from the pod's env.
    assert (
        online["connection_string"] == f"{REDIS_HOST}:6379,ssl=true,password=token-value-0123456789"
    )
    monkeypatch.delenv("FEAST_REDIS_PASSWORD")
    settings = featurestore.feature_store_settings(
        "big_bank", "b", KEY, "enterprise", redis_host=REDIS_HOST
    )
    assert "token-value" not in render_platform_feature_store_yaml(settings)


def test_pre_created_tables_use_feasts_default_table_names() -> None:
    source = _feast_source("feast.infra.online_stores.dynamodb")
    (default,) = re.findall(r'table_name_template: StrictStr = "([^"]+)"', source)
    assert default == "{project}.{table_name}"
    assert dynamodb_table_name("corner_shop", "customer_activity") == (
        default.format(project="corner_shop", table_name="customer_activity")
    )
    assert feast_project("corner-shop") == "corner_shop"
    # Feast creates missing tables with this key schema; ours must be identical.
    assert '"AttributeName": "entity_id", "KeyType": "HASH"' in source


def test_enterprise_settings_need_a_redis_host() -> None:
    with pytest.raises(ValueError, match="redis_host is required"):
        featurestore.feature_store_settings("big_bank", "b", KEY, "enterprise")
