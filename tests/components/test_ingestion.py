"""Ingestion in the plans: a worker, its DLQ and its ScaledObject per tenant, schema-valid;
retention applied where data rests; retention beyond the classification is a config error."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.aws.queues import ingestion_worker_policy, queue_depth_policy
from components.k8s.catalog import Registry
from components.k8s.ingestion import TIER_SCALING, ingestion_manifests
from components.settings import PROJECT, ConfigError, settings_from_config
from components.settings.models import RETENTION_LIMIT_DAYS, DataClassification
from contracts.ingestion import INGESTION_COMMAND, ONLINE_TTL_ATTRIBUTE, ingestion_dlq_name
from contracts.messaging import (
    consumer_name,
    nats_dead_letter_spec,
    nats_server_url,
    stream_name,
    tenant_account,
)
from contracts.names import Tier
from mlplatform.engine.output import manifests
from tests.components import crd_validation
from tests.components.k8s_validation import kubernetes_findings

Plan = dict[str, Any]
REG = Registry("123456789012.dkr.ecr.me-central-1.amazonaws.com", image_prefix="mirror")
ARN = "arn:aws:sqs:me-central-1:123456789012:acme-ingestion"


def _build(trigger: str, tier: Tier = Tier.SMB) -> list[dict[str, Any]]:
    return ingestion_manifests(
        "acme",
        "tenant-acme",
        tier,
        REG,
        "0.1.0",
        trigger=trigger,  # type: ignore[arg-type]
        queue_spec="sqs:https://sqs.me-central-1.amazonaws.com/123456789012/acme-ingestion",
        queue_url="https://sqs.me-central-1.amazonaws.com/123456789012/acme-ingestion",
        dlq_spec="sqs:https://sqs.me-central-1.amazonaws.com/123456789012/acme-ingestion-dlq",
        bucket="acme-data",
        kms_key_arn="arn:aws:kms:me-central-1:123456789012:key/k",
        role_arn="arn:aws:iam::123456789012:role/acme" if trigger == "aws-sqs" else None,
        feature_repo_config_map="acme-feature-repo",
        region="me-central-1",
        online_ttl_days=90,
        redis_secret_name="acme-feast-redis" if tier is Tier.ENTERPRISE else None,
    )


def _findings(manifest: dict[str, Any]) -> list[str]:
    if crd_validation.is_custom(manifest):
        return crd_validation.crd_findings(manifest)
    return kubernetes_findings(manifest)


@pytest.mark.parametrize("trigger", ["aws-sqs", "nats"])
def test_worker_manifests_are_schema_valid_and_restricted(trigger: str) -> None:
    objects = _build(trigger)
    kinds = [m["kind"] for m in objects]
    expected = ["ServiceAccount", "Deployment", "ScaledObject"]
    if trigger == "aws-sqs":
        expected.insert(2, "TriggerAuthentication")
    assert kinds == expected
    assert [f for m in objects for f in _findings(m)] == []
    dep = objects[1]
    assert "replicas" not in dep["spec"]  # KEDA owns it; pulumi up never resets it
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (worker,) = pod["containers"]
    assert worker["command"] == INGESTION_COMMAND
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    assert worker["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(worker)
    assert "--offline_uri=s3://acme-data/offline/ingested" in worker["args"]
    scaled = objects[-1]["spec"]
    assert scaled["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert scaled["minReplicaCount"] == TIER_SCALING[Tier.SMB].min_replicas == 0
    (trig,) = scaled["triggers"]
    if trigger == "aws-sqs":
        assert trig["type"] == "aws-sqs-queue"
        assert objects[2]["spec"]["podIdentity"] == {"provider": "aws", "identityOwner": "keda"}
        assert trig["authenticationRef"]["name"] == objects[2]["metadata"]["name"]
    else:
        assert trig["type"] == "nats-jetstream"
        assert trig["metadata"]["stream"] == stream_name("acme", "ingestion")
        assert trig["metadata"]["consumer"] == consumer_name("acme", "ingestion")
        assert trig["metadata"]["account"] == tenant_account("acme")


def test_enterprise_worker_stays_warm_and_reads_the_redis_token() -> None:
    objects = _build("aws-sqs", Tier.ENTERPRISE)
    env = objects[1]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert any(
        e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "acme-feast-redis"
        for e in env
    )
    assert objects[-1]["spec"]["minReplicaCount"] == 1


def test_a_bad_scaled_object_is_caught_by_the_pinned_crd() -> None:
    bad = _build("aws-sqs")[-1]
    bad["spec"]["minReplicas"] = bad["spec"].pop("minReplicaCount")  # a plausible typo
    assert any("minReplicas" in f for f in crd_validation.crd_findings(bad))


def test_iam_grants_are_exact() -> None:
    dlq = ARN + "-dlq"
    key = "arn:aws:kms:me-central-1:123456789012:key/k"
    doc = ingestion_worker_policy(ARN, dlq, key, "me-central-1")
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["ConsumeIngestionQueue"]["Resource"] == [ARN]
    assert "sqs:SendMessage" not in by_sid["ConsumeIngestionQueue"]["Action"]
    assert by_sid["DeadLetterRejectedEvents"]["Resource"] == [dlq]
    assert "sqs:ReceiveMessage" not in by_sid["DeadLetterRejectedEvents"]["Action"]
    assert queue_depth_policy([ARN])["Statement"][0]["Action"] == ["sqs:GetQueueAttributes"]
    with pytest.raises(ValueError, match="not a concrete ARN"):
        ingestion_worker_policy("arn:aws:sqs:me-central-1:123456789012:*", dlq, key, "me-central-1")
    with pytest.raises(ValueError, match="concrete queue ARNs"):
        queue_depth_policy(["*"])


def _resources(plan: Plan, type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


def test_prod_plan_has_a_worker_dlq_and_scaler_per_tenant(
    stack_plan: Callable[[str], Plan],
) -> None:
    plan = stack_plan("prod")
    objects = [m for _, m in manifests(plan)]
    queues = {r["inputs"]["name"]: r["inputs"] for r in _resources(plan, "aws:sqs/queue:Queue")}
    workers = {
        m["metadata"]["namespace"]
        for m in objects
        if m["kind"] == "Deployment" and m["metadata"]["name"].endswith("-ingestion")
    }
    scaled = {m["metadata"]["namespace"] for m in objects if m["kind"] == "ScaledObject"}
    assert len(workers) >= 4 and workers == scaled
    for ns in workers:
        tenant = ns.removeprefix("tenant-")
        dlq = queues[ingestion_dlq_name(tenant)]
        source = queues[f"{tenant}-ingestion"]
        assert json.loads(source["redrivePolicy"])["maxReceiveCount"] == 5
        assert dlq["kmsMasterKeyId"] and source["kmsMasterKeyId"]
    findings = [
        f
        for m in objects
        if m["kind"] in {"ScaledObject", "TriggerAuthentication"}
        for f in _findings(m)
    ]
    assert findings == []
    releases = [
        r
        for r in _resources(plan, "kubernetes:helm.sh/v3:Release")
        if r["inputs"]["name"] == "keda"
    ]
    assert len(releases) == 1 and releases[0]["inputs"]["version"] == "2.20.2"


def test_onprem_plan_scales_each_worker_on_its_broker_stream(
    stack_plan: Callable[[str], Plan],
) -> None:
    objects = [m for _, m in manifests(stack_plan("onprem"))]
    workers = {
        m["metadata"]["namespace"]: m
        for m in objects
        if m["kind"] == "Deployment" and m["metadata"]["name"].endswith("-ingestion")
    }
    scaled = {m["metadata"]["namespace"]: m for m in objects if m["kind"] == "ScaledObject"}
    assert workers and set(workers) == set(scaled)
    stack_file = "stacks/Pulumi.onprem.yaml"
    with open(stack_file, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)["config"]
    settings = settings_from_config(config, project=PROJECT, stack="onprem", stack_file=stack_file)
    dead_letter_days = {t.name: t.retention.dead_letter_days for t in settings.tenants}
    for ns, dep in workers.items():
        tenant = ns.removeprefix("tenant-")
        (trigger,) = scaled[ns]["spec"]["triggers"]
        assert trigger["type"] == "nats-jetstream"
        assert trigger["metadata"]["stream"] == stream_name(tenant, "ingestion")
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        assert any(a.startswith("--queue=nats:tls://") for a in args)
        # Dead letters: the tenant's own stream on the broker, kept as long as its
        # retention allows (the worker creates it; no bucket prefix).
        dlq = [a.removeprefix("--dlq=") for a in args if a.startswith("--dlq=")]
        assert dlq == [
            nats_dead_letter_spec(
                nats_server_url(), tenant, max_age_days=dead_letter_days[tenant], replicas=3
            )
        ]
        env = {e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        # Broker credentials as mounted files (Feast's Redis password cannot be one).
        assert {"NATS_USER_FILE", "NATS_PASSWORD_FILE", "FEAST_REDIS_PASSWORD"} <= env
        assert not {"NATS_USER", "NATS_PASSWORD"} & env
        volumes = dep["spec"]["template"]["spec"]["volumes"]
        secret = next(v["secret"] for v in volumes if v["name"] == "nats-credentials")
        assert secret["secretName"] == f"{tenant}-nats-credentials"
    assert [f for m in [*workers.values(), *scaled.values()] for f in _findings(m)] == []


def test_prod_retention_applies_wherever_data_rests(stack_plan: Callable[[str], Plan]) -> None:
    plan = stack_plan("prod")
    buckets = _resources(plan, "aws:s3/bucket:Bucket")
    lifecycles = {
        r["parent"]: r["inputs"]["rules"]
        for r in _resources(
            plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        )
    }
    assert buckets
    for bucket in buckets:
        rules = lifecycles.get(bucket["parent"])
        assert rules, f"{bucket['urn']}: no lifecycle rules"
    data = [b for b in buckets if b["name"].endswith("-data-bucket")]
    assert len(data) >= 4
    for bucket in data:
        prefixes = {
            r["filter"]["prefix"]: r for r in lifecycles[bucket["parent"]] if r["filter"]["prefix"]
        }
        assert {"predictions/", "offline/ingested/", "landing/", "landing-done/"} <= set(prefixes)
        assert all(r["expiration"]["days"] >= 1 for r in prefixes.values())
    tables = _resources(plan, "aws:dynamodb/table:Table")
    assert tables and all(
        t["inputs"]["ttl"] == {"attributeName": ONLINE_TTL_ATTRIBUTE, "enabled": True}
        for t in tables
    )
    # Enterprise (Redis): the rendered feature_store.yaml carries the key TTL.
    configs = [
        m
        for _, m in manifests(plan)
        if m["kind"] == "ConfigMap" and "feature_store.yaml" in m.get("data", {})
    ]
    redis = [c for c in configs if "redis" in c["data"]["feature_store.yaml"]]
    assert redis and all("key_ttl_seconds:" in c["data"]["feature_store.yaml"] for c in redis)


def test_retention_longer_than_the_classification_allows_is_a_config_error() -> None:
    limit = RETENTION_LIMIT_DAYS[DataClassification.RESTRICTED]
    config = {
        "aws:region": "me-central-1",
        f"{PROJECT}:environment": "dev",
        f"{PROJECT}:model_signing_public_key": _PEM,
        f"{PROJECT}:tenants": [
            {
                "name": "acme",
                "tier": "smb",
                "overrides": {
                    "data_classification": "restricted",
                    "retention": {"prediction_logs_days": limit + 1},
                },
            }
        ],
    }
    with pytest.raises(ConfigError) as info:
        settings_from_config(config, project=PROJECT, stack="x", stack_file="stacks/Pulumi.x.yaml")
    assert info.value.lines == [
        f"stacks/Pulumi.x.yaml: {PROJECT}:tenants[0].overrides.retention.prediction_logs_days: "
        f"{limit + 1} days exceeds what restricted data allows; allowed: 1..{limit}"
    ]
    config[f"{PROJECT}:tenants"][0]["overrides"]["retention"] = {"prediction_logs_days": 30}
    s = settings_from_config(config, project=PROJECT, stack="x", stack_file="stacks/Pulumi.x.yaml")
    assert s.tenants[0].retention.prediction_logs_days == 30


_PEM = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
-----END PUBLIC KEY-----
"""
