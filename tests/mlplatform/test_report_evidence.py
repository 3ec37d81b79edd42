"""Residency evidence from a plan: regions, keys, replicas, backups and log destinations.

Plain plan documents (no Pulumi run): each case is the smallest plan that shows it.
"""

from __future__ import annotations

from typing import Any

from mlplatform.engine.cloud import UNKNOWN
from mlplatform.report.evidence import PlanIndex, data_store_evidence

KEY = "arn:aws:kms:me-central-1:111122223333:key/abc"


def _resource(type_: str, name: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:s::p::{type_}::{name}",
        "id": extra.pop("id", f"{name}-id"),
        "type": type_,
        "name": name,
        "custom": True,
        "provider": extra.pop("provider", None),
        "inputs": inputs,
        **extra,
    }


def _plan(*resources: dict[str, Any], region: str = "me-central-1") -> dict[str, Any]:
    return {"project": "p", "stack": "s", "config": {"aws:region": region}, "resources": resources}


def test_region_comes_from_the_resource_then_its_provider_then_the_stack() -> None:
    provider = _resource("pulumi:providers:aws", "bahrain", {"region": "me-south-1"}, id="pid")
    own = _resource("aws:s3/bucket:Bucket", "own", {"region": "eu-west-1"})
    via = _resource("aws:s3/bucket:Bucket", "via", {}, provider=f"{provider['urn']}::pid")
    plain = _resource("aws:s3/bucket:Bucket", "plain", {})
    index = PlanIndex(_plan(provider, own, via, plain))
    assert [index.region(r) for r in (own, via, plain)] == [
        "eu-west-1",
        "me-south-1",
        "me-central-1",
    ]


def test_kubernetes_objects_live_where_their_cluster_lives() -> None:
    cluster = _resource("aws:eks/cluster:Cluster", "eks", {})
    k8s = _resource(
        "pulumi:providers:kubernetes",
        "k8s",
        {"kubeconfig": "[secret]"},
        id="kid",
        propertyDependencies={"kubeconfig": [cluster["urn"]]},
    )
    namespace = _resource("kubernetes:core/v1:Namespace", "ns", {}, provider=f"{k8s['urn']}::kid")
    onprem = _resource("kubernetes:core/v1:Namespace", "ns2", {})
    index = PlanIndex(_plan(cluster, k8s, namespace, onprem, region="me-central-1"))
    assert index.region(namespace) == "me-central-1"
    assert index.region(onprem) == "external cluster (kubeconfig)"


def test_a_bucket_shows_its_key_logging_replicas_and_backups_with_regions() -> None:
    bucket = _resource(
        "aws:s3/bucket:Bucket", "data", {"bucket": "data-1", "tags": {"tenant": "a"}}, id="data-1"
    )
    logs = _resource("aws:s3/bucket:Bucket", "logs", {"bucket": "logs-1"}, id="logs-1")
    sse = _resource(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "data-sse",
        {
            "bucket": "data-1",
            "rules": [{"applyServerSideEncryptionByDefault": {"kmsMasterKeyId": KEY}}],
        },
    )
    logging = _resource(
        "aws:s3/bucketLogging:BucketLogging",
        "data-logging",
        {"bucket": "data-1", "targetBucket": "logs-1"},
    )
    replication = _resource(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "data-replication",
        {"bucket": "data-1", "rules": [{"destination": {"bucket": "arn:aws:s3:::dr-copy"}}]},
    )
    replica = _resource(
        "aws:s3/bucket:Bucket",
        "dr-copy",
        {"bucket": "dr-copy", "region": "eu-central-1"},
        id="dr-copy",
    )
    vault = _resource("aws:backup/vault:Vault", "vault", {}, id="vault-1")
    backup_plan = _resource(
        "aws:backup/plan:Plan",
        "plan",
        {
            "rules": [
                {
                    "targetVaultName": "vault-1",
                    "schedule": "cron(0 * * * ? *)",
                    "lifecycle": {"deleteAfter": 35},
                    "copyActions": [
                        {
                            "destinationVaultArn": "arn:aws:backup:me-south-1:111122223333:backup-vault:x"
                        }
                    ],
                }
            ]
        },
        id="plan-1",
    )
    selection = _resource(
        "aws:backup/selection:Selection",
        "selection",
        {
            "planId": "plan-1",
            "selectionTags": [{"type": "STRINGEQUALS", "key": "tenant", "value": "a"}],
        },
    )
    index = PlanIndex(
        _plan(bucket, logs, sse, logging, replication, replica, vault, backup_plan, selection)
    )
    evidence = data_store_evidence(index, bucket)
    assert evidence["region"] == "me-central-1"
    assert evidence["encryptionKeys"] == [KEY]
    assert evidence["logDestinations"] == [{"destination": "logs-1", "region": "me-central-1"}]
    assert evidence["replicas"] == [
        {"destination": "arn:aws:s3:::dr-copy", "region": "eu-central-1"}
    ]
    (backup,) = evidence["backups"]["awsBackup"]
    assert backup["vaultRegion"] == "me-central-1" and backup["retentionDays"] == 35
    assert backup["copies"] == [
        {
            "destination": "arn:aws:backup:me-south-1:111122223333:backup-vault:x",
            "region": "me-south-1",
        }
    ]
    # The log bucket is a destination of data's logging, not configured by it.
    assert data_store_evidence(index, logs)["logDestinations"] == []


def test_table_replicas_pitr_and_a_key_unknown_in_a_preview() -> None:
    key = _resource("aws:kms/key:Key", "tenant-key", {})
    table = _resource(
        "aws:dynamodb/table:Table",
        "features",
        {
            "serverSideEncryption": {"enabled": True, "kmsKeyArn": UNKNOWN},
            "pointInTimeRecovery": {"enabled": True},
            "replicas": [{"regionName": "me-south-1"}],
        },
        propertyDependencies={"serverSideEncryption": [key["urn"]]},
    )
    evidence = data_store_evidence(PlanIndex(_plan(key, table)), table)
    assert evidence["backups"]["pointInTimeRecovery"] is True
    assert evidence["replicas"] == [
        {"destination": "replica in me-south-1", "region": "me-south-1"}
    ]
    assert evidence["encryptionKeys"] == [
        "tenant-key (aws:kms/key:Key, me-central-1; ARN known after creation)"
    ]
