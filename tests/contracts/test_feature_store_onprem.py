"""The in-country site's feature_store.yaml: in-cluster Valkey over TLS with the site CA,
registry on the S3-compatible store, and no KMS only there."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from contracts.feature_store import (
    PlatformFeatureStoreSettings,
    RedisOnlineStore,
    render_platform_feature_store_yaml,
)
from tests.contracts.test_feature_store import _load_with_feast, _store_drivers  # noqa: F401

ENDPOINT = "https://s3.dc1.onprem.example.ae"
CA = "/etc/mlplatform/online-store-ca/ca.crt"


def _onprem(**overrides: object) -> PlatformFeatureStoreSettings:
    base: dict[str, object] = {
        "project": "acme",
        "registry_uri": "s3://mlplatform-acme/feast/registry.db",
        "offline_data_uri": "s3://mlplatform-acme/feast/offline/",
        "s3_endpoint": ENDPOINT,
        "online": RedisOnlineStore(
            host="acme-valkey.tenant-acme.svc.cluster.local", ca_file=CA, key_ttl_seconds=600
        ),
    }
    return PlatformFeatureStoreSettings(**{**base, **overrides})


def test_onprem_variant_validates_in_feast_and_verifies_the_site_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = render_platform_feature_store_yaml(_onprem())
    assert ENDPOINT in text and "s3cr3t-token" not in text
    data = yaml.safe_load(text)
    assert "s3_additional_kwargs" not in data["registry"]
    config = _load_with_feast(text, tmp_path, monkeypatch)
    online = config.online_store  # type: ignore[attr-defined]
    assert online.type == "redis" and online.redis_type.value == "redis"
    # What Feast hands redis-py: TLS on, the password from the env, the site CA.
    from feast.infra.online_stores.redis import RedisOnlineStore as FeastRedis

    nodes, params = FeastRedis._parse_connection_string(online.connection_string)
    assert nodes == [{"host": "acme-valkey.tenant-acme.svc.cluster.local", "port": "6379"}]
    assert params == {"ssl": True, "password": "s3cr3t-token", "ssl_ca_certs": CA}


def test_no_kms_key_only_with_an_in_country_endpoint() -> None:
    with pytest.raises(ValidationError, match="kms_key_id is required on AWS S3"):
        _onprem(s3_endpoint=None)
    with pytest.raises(ValidationError, match="https://"):
        _onprem(s3_endpoint="http://s3.dc1.onprem.example.ae")
    with pytest.raises(ValidationError, match="absolute path"):
        RedisOnlineStore(host="h", ca_file="ca.crt,ssl=false")
    # A key given on-prem is still used (SSE-KMS on a store that has KMS).
    data = yaml.safe_load(render_platform_feature_store_yaml(_onprem(kms_key_id="k1")))
    assert data["registry"]["s3_additional_kwargs"]["SSEKMSKeyId"] == "k1"
