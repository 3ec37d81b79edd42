"""The platform feature_store.yaml renderer, checked by Feast's own RepoConfig models."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import MagicMock

import pytest
import yaml
from pydantic import ValidationError

from contracts.feature_store import (
    DynamoDBOnlineStore,
    PlatformFeatureStoreSettings,
    RedisOnlineStore,
    render_platform_feature_store_yaml,
)
from workloads.features.__main__ import main as features_main

KEY = "arn:aws:kms:me-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _settings(**overrides: object) -> PlatformFeatureStoreSettings:
    base: dict[str, object] = {
        "project": "tenant_a_churn",
        "registry_uri": "s3://tenant-a-features/registry/registry.db",
        "offline_data_uri": "s3://tenant-a-features/offline",
        "kms_key_id": KEY,
        "online": DynamoDBOnlineStore(),
    }
    return PlatformFeatureStoreSettings(**{**base, **overrides})


# Client drivers of the stores (feast[aws], feast[redis]) belong to the serving image,
# not to this environment. Feast's config models live in the same modules, so missing
# drivers are stood in for while the modules import; the pydantic validation that runs
# is Feast's own.
_DRIVERS = (
    "aiobotocore",
    "aiobotocore.config",
    "aiobotocore.session",
    "redis",
    "redis.asyncio",
    "redis.cluster",
    "redis.sentinel",
)
_STORE_MODULES = ("feast.infra.online_stores.dynamodb", "feast.infra.online_stores.redis")


@pytest.fixture(autouse=True)
def _store_drivers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _DRIVERS:
        try:
            importlib.import_module(name)
        except ImportError:
            monkeypatch.setitem(sys.modules, name, MagicMock(name=name))
    yield
    for name in _STORE_MODULES:
        sys.modules.pop(name, None)


def _load_with_feast(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    from feast.repo_config import load_repo_config

    monkeypatch.setenv("FEAST_REDIS_PASSWORD", "s3cr3t-token")
    (tmp_path / "feature_store.yaml").write_text(text)
    config = load_repo_config(tmp_path, tmp_path / "feature_store.yaml")
    # The store configs are validated lazily, on first access, as in a running server.
    assert config.online_store is not None
    assert config.offline_store is not None
    assert config.registry is not None
    return config


def test_dynamodb_variant_validates_in_feast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = render_platform_feature_store_yaml(_settings())
    config = _load_with_feast(text, tmp_path, monkeypatch)
    assert config.online_store.type == "dynamodb"  # type: ignore[attr-defined]
    assert config.online_store.region == "me-central-1"  # type: ignore[attr-defined]
    assert type(config.online_store).__name__ == "DynamoDBOnlineStoreConfig"  # type: ignore[attr-defined]
    assert config.offline_store.type == "file"  # type: ignore[attr-defined]
    registry = config.registry  # type: ignore[attr-defined]
    assert registry.path.startswith("s3://")
    assert registry.s3_additional_kwargs == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY}


def test_redis_variant_has_tls_and_password_only_by_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(
        online=RedisOnlineStore(
            host="master.tenant-a.abc123.mec1.cache.amazonaws.com", cluster=True
        )
    )
    text = render_platform_feature_store_yaml(settings)
    assert "s3cr3t-token" not in text
    assert "password=${FEAST_REDIS_PASSWORD}" in text
    config = _load_with_feast(text, tmp_path, monkeypatch)
    online = config.online_store  # type: ignore[attr-defined]
    assert online.type == "redis"
    assert online.redis_type.value == "redis_cluster"
    assert "ssl=true" in online.connection_string
    assert online.connection_string.endswith("password=s3cr3t-token")


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"registry_uri": "https://example.com/registry.db"}, "registry_uri", "s3://"),
        ({"project": "_hidden"}, "project", "letters, digits"),
        (
            {"online": {"type": "redis", "host": "h", "password_env": "lower-case"}},
            "password_env",
            "environment variable name",
        ),
        ({"online": {"type": "redis", "host": "h:6379"}}, "host", "bare host name"),
        ({"online": {"type": "memcached"}}, "online", "dynamodb"),
    ],
)
def test_bad_settings_name_the_field(overrides: dict[str, object], field: str, text: str) -> None:
    with pytest.raises(ValidationError) as info:
        _settings(**overrides)
    message = str(info.value)
    assert field in message
    assert text in message


def test_cli_render_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code = features_main(
        [
            "render",
            "--project",
            "p1",
            "--registry-uri",
            "s3://b/r.db",
            "--offline-uri",
            "s3://b/off",
            "--kms-key-id",
            KEY,
            "--dynamodb",
        ]
    )
    assert code == 0
    rendered = yaml.safe_load(capsys.readouterr().out)
    assert rendered["online_store"]["region"] == "me-central-1"
    code = features_main(
        [
            "render",
            "--project",
            "p1",
            "--registry-uri",
            "gs://b/r.db",
            "--offline-uri",
            "s3://b/off",
            "--kms-key-id",
            KEY,
            "--dynamodb",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: registry_uri: Value error, must be an s3:// URI, got 'gs://b/r.db'"]


def test_feast_rejects_a_misspelt_store_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validation used above is real: a typo in a store field fails in Feast."""
    from contracts.feature_store import render_platform_config

    config = render_platform_config(_settings())
    config["online_store"] = {**config["online_store"], "regoin": "me-central-1"}  # type: ignore[dict-item]
    with pytest.raises(Exception, match="regoin"):
        _load_with_feast(yaml.safe_dump(config), tmp_path, monkeypatch)
