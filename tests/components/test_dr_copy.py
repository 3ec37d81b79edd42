"""The scheduled in-country copy on the AWS stacks: CronJob, read-only role, residency."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.k8s import invariants
from components.k8s.catalog import Registry
from components.k8s.dr_copy import dr_copy_manifests
from components.platform.aws import dr_copy_policy
from contracts.backup import (
    DEST_ACCESS_KEY_ENV,
    DEST_ACCESS_KEY_FILE_ENV,
    DEST_CREDENTIALS_MOUNT,
    DEST_CREDENTIALS_SECRET,
    DEST_SECRET_KEY_ENV,
    DEST_SECRET_KEY_FILE_ENV,
    copy_cron,
)
from mlplatform.engine.output import manifests
from policies.rules import residency
from tests.policies.policy_helpers import validate

REG = Registry("123456789012.dkr.ecr.me-central-1.amazonaws.com")
ONPREM_STORE = {"approvedObjectStores": ["s3.dc1.onprem.example.ae"]}


def _manifests(audit: str | None = "audit-b") -> list[dict[str, Any]]:
    return dr_copy_manifests(
        "acme", "tenant-acme", REG, "0.1.0", data_bucket="data-b", audit_bucket=audit,
        dr_bucket="mlp-dr-acme", endpoint="https://s3.dc1.onprem.example.ae",
        store_cidrs=["10.200.10.0/24"], interval_minutes=60, region="me-central-1",
        role_arn="arn:aws:iam::123456789012:role/dr",
    )  # fmt: skip


def test_copy_job_runs_on_the_tier_schedule_restricted_and_to_the_store_only() -> None:
    sa, cronjob, egress = _manifests()
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("role/dr")
    assert cronjob["spec"]["schedule"] == copy_cron(60) == "20 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["copy-data", "copy-audit"]
    data = pod["containers"][0]
    assert data["args"] == [
        "--source=s3://data-b", "--dest=s3://mlp-dr-acme/data", "--region=me-central-1",
        "--prefix=models", "--prefix=registry", "--prefix=feast", "--prefix=offline/ingested",
    ]  # fmt: skip
    assert pod["containers"][1]["args"][:2] == [
        "--source=s3://audit-b",
        "--dest=s3://mlp-dr-acme/audit",
    ]
    assert invariants.restricted_findings(cronjob) == []
    assert egress["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 443}]
    # The store's key pair: the operator's Secret mounted read-only, files named by env.
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dr-store-credentials"]["secret"] == {
        "secretName": DEST_CREDENTIALS_SECRET,
        "items": [
            {"key": "access_key_id", "path": "access_key_id"},
            {"key": "secret_access_key", "path": "secret_access_key"},
        ],
        "defaultMode": 0o400,
    }
    for c in pod["containers"]:
        assert not any("valueFrom" in e for e in c["env"])
        env = {e["name"]: e["value"] for e in c["env"]}
        assert DEST_ACCESS_KEY_ENV not in env and DEST_SECRET_KEY_ENV not in env
        assert env[DEST_ACCESS_KEY_FILE_ENV] == f"{DEST_CREDENTIALS_MOUNT}/access_key_id"
        assert env[DEST_SECRET_KEY_FILE_ENV] == f"{DEST_CREDENTIALS_MOUNT}/secret_access_key"
        assert {"name": "dr-store-credentials", "mountPath": DEST_CREDENTIALS_MOUNT,
                "readOnly": True} in c["volumeMounts"]  # fmt: skip
    assert [c["name"] for c in _manifests(audit=None)[1]["spec"]["jobTemplate"]["spec"][
        "template"]["spec"]["containers"]] == ["copy-data"]  # fmt: skip


def test_the_residency_pack_judges_the_copy_destination() -> None:
    cronjob = _manifests()[1]
    rule = residency.backup_destination_in_country
    assert validate(rule, "kubernetes:batch/v1:CronJob", cronjob, config=ONPREM_STORE) == []
    # Without the in-country store approved, the same job is a mandatory violation.
    messages = validate(rule, "kubernetes:batch/v1:CronJob", cronjob)
    assert len(messages) == 2 and "approvedObjectStores" in messages[0]


def test_copy_role_reads_only_what_it_copies() -> None:
    doc = dr_copy_policy(
        "arn:aws:s3:::d", "arn:aws:s3:::a", "arn:aws:kms:me-central-1:1:key/k", "me-central-1"
    )
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:GetObjectVersion",
                       "s3:GetObjectRetention", "kms:Decrypt"}  # fmt: skip
    read = next(s for s in doc["Statement"] if s["Sid"] == "ReadFolders")
    assert read["Resource"] == [
        "arn:aws:s3:::a/alerts/*", "arn:aws:s3:::d/feast/*",
        "arn:aws:s3:::d/models/*", "arn:aws:s3:::d/offline/ingested/*",
        "arn:aws:s3:::d/registry/*",
    ]  # fmt: skip


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_aws_tenant_has_its_copy_job(
    stack: str, stack_plan: Callable[[str], dict[str, Any]]
) -> None:
    plan = stack_plan(stack)
    objects = [m for _, m in manifests(plan)]
    quotas = {m["metadata"]["namespace"] for m in objects if m["kind"] == "ResourceQuota"}
    jobs = {m["metadata"]["namespace"]: m for m in objects
            if m["kind"] == "CronJob" and m["metadata"]["name"].endswith("-dr-copy")}  # fmt: skip
    assert set(jobs) == quotas
    text = json.dumps(list(jobs.values()))
    assert "https://s3.dc1.onprem.example.ae" in text and 'amazonaws.com"' not in text
