"""The ``feature_store.yaml`` the feature server mounts is one Feast 0.67 accepts.

The registry, offline-store and DynamoDB sections go through Feast's own config models,
after the same ``os.path.expandvars`` step ``load_repo_config`` applies. Feast's Redis
store module needs the ``redis`` extra, which the images have and the development
environment does not; that section is checked against the field names and defaults in
the installed Feast sources instead.

Every planned tenant's online store expires what is written to it: Redis by Feast's
``key_ttl_seconds``, DynamoDB by the ``expires_at`` the platform's writers (the
materialisation CronJob and the ingestion worker, both in the loop image) put in each
item, after the tenant's online retention.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s import featurestore
from components.settings import PROJECT, settings_from_config
from contracts.feature_store import (
    MATERIALIZE_COMMAND,
    dynamodb_table_name,
    materialize_args,
    render_platform_feature_store_yaml,
)
from contracts.names import feast_project
from tests.conftest import REPO, SHIPPED_STACKS

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
    from feast.infra.online_stores.dynamodb import DynamoDBOnlineStoreConfig

    online = _render("smb")["online_store"]
    fields = _config_fields("feast.infra.online_stores.dynamodb", "DynamoDBOnlineStoreConfig")
    assert set(online) <= fields, set(online) - fields
    assert DynamoDBOnlineStoreConfig(**online).region == "me-central-1"
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


def _containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    spec = manifest["spec"]
    template = spec.get("template") or spec["jobTemplate"]["spec"]["template"]
    return list(template["spec"]["containers"])


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_tenants_online_rows_expire_after_its_retention(
    stack: str, stack_plan: Callable[[str], dict[str, Any]]
) -> None:
    from mlplatform.engine.output import manifests

    stack_file = REPO / "stacks" / f"Pulumi.{stack}.yaml"
    raw = yaml.safe_load(stack_file.read_text(encoding="utf-8"))["config"]
    settings = settings_from_config(raw, project=PROJECT, stack=stack, stack_file=str(stack_file))
    objects = [m for _, m in manifests(stack_plan(stack))]
    assert settings.tenants
    for tenant in settings.tenants:
        days = tenant.retention.online_features_days
        in_ns = [m for m in objects if m["metadata"].get("namespace") == tenant.namespace]
        repo = next(m for m in in_ns if m["kind"] == "ConfigMap"
                    and m["metadata"]["name"] == f"{tenant.name}-feature-repo")  # fmt: skip
        online = yaml.safe_load(repo["data"]["feature_store.yaml"])["online_store"]
        cron = next(m for m in in_ns if m["kind"] == "CronJob"
                    and m["metadata"]["name"] == f"{tenant.name}-feast-materialize")  # fmt: skip
        (job,) = _containers(cron)
        # The platform's writer in the loop image, not the upstream ``feast`` CLI.
        assert job["image"].split("@")[0].rsplit(":", 1)[0].endswith("/mlplatform/loop"), job
        assert job["command"] == MATERIALIZE_COMMAND
        assert job["args"] == materialize_args(featurestore.REPO_DIR, days)
        if online["type"] == "redis":
            assert online["key_ttl_seconds"] == days * 86400, tenant.name
        else:
            # DynamoDB: the tables expire by expires_at, which every writer sets.
            assert online["type"] == "dynamodb", online
            workers = [m for m in in_ns if m["kind"] == "Deployment"
                       and m["metadata"]["name"] == f"{tenant.name}-ingestion"]  # fmt: skip
            for worker in workers:
                (container,) = _containers(worker)
                assert f"--online_ttl_days={days}" in container["args"], tenant.name


def test_materialize_job_arguments() -> None:
    assert materialize_args("/feature_repo", 90) == [
        "materialize",
        "--repo=/feature_repo",
        "--online-ttl-days=90",
    ]
    # Redis without a retention keeps the yaml's key_ttl_seconds; no flag is rendered.
    assert materialize_args("/feature_repo", None) == ["materialize", "--repo=/feature_repo"]
    with pytest.raises(ValueError, match="online_ttl_days must be >= 1, got 0"):
        materialize_args("/feature_repo", 0)
