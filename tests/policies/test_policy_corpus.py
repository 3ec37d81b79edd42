"""Small violating Pulumi programs, planned offline and checked through both packs.

Each folder under ``corpus/`` is a complete Pulumi Python program that breaks exactly
one rule; the packs must name that rule and the offending resource, and nothing else.
``secured`` breaks nothing and must pass with no violation at all.
"""

from __future__ import annotations

import pathlib

import pytest
from policy_helpers import PACKS

from mlplatform.engine import plan_program
from mlplatform.policy import runner

CORPUS = pathlib.Path(__file__).parent / "corpus"

EXPECTED: dict[str, tuple[str, set[str]]] = {
    "backup-copy-abroad": ("aws-copy-destination-region-allowed", {"nightly"}),
    "bucket-in-eu-west-1": (
        "aws-resource-region-allowed",
        {"acme-eu-data", "acme-eu-data-sse", "acme-eu-data-pab", "acme-eu-data-policy"},
    ),
    "bucket-sse-s3": ("aws-s3-bucket-sse-kms", {"acme-sse-s3-sse"}),
    "dynamodb-replica-abroad": ("aws-dynamodb-replica-region-allowed", {"features"}),
    "ecr-replication-abroad": ("aws-ecr-replication-destination-allowed", {"registry-replication"}),
    "eks-public-endpoint": ("aws-eks-cluster-private-endpoint", {"platform"}),
    "helm-chart-public-repo": ("helm-chart-source-approved", {"redis"}),
    "iam-wildcard-policy": ("aws-iam-policy-no-wildcards", {"god-mode"}),
    "kms-multi-region-key": ("aws-kms-multi-region-key-prohibited", {"tenant-key"}),
    "launch-template-imdsv1": ("aws-ec2-imdsv2-required", {"nodes"}),
    "namespace-without-default-deny": ("kubernetes-namespace-default-deny", {"tenant-acme"}),
    "privileged-container": ("kubernetes-pod-no-privileged", {"agent"}),
    "public-image": ("container-image-registry-approved", {"web"}),
    "rds-public": ("aws-rds-no-public-access", {"db"}),
    "ssh-open-to-world": ("aws-security-group-no-world-ingress", {"bastion-sg"}),
}
"""Case -> (the one policy it breaks, the resources that must be named)."""


def test_every_corpus_program_has_an_expectation() -> None:
    cases = {p.name for p in CORPUS.iterdir() if (p / "Pulumi.yaml").is_file()}
    assert cases == set(EXPECTED) | {"secured", "explicit-provider-bahrain"}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_violating_program_is_caught_with_the_resource_named(case: str) -> None:
    report = runner.run_packs(plan_program(CORPUS / case, "test"), PACKS)
    policy, resources = EXPECTED[case]
    assert report.exit_code == 1
    assert {v.policy for v in report.violations} == {policy}
    assert {v.resource_name for v in report.violations} == resources
    assert all(f"::{v.resource_name}" in v.urn for v in report.violations)


def test_the_explicit_bahrain_provider_is_named_too() -> None:
    report = runner.run_packs(plan_program(CORPUS / "explicit-provider-bahrain", "test"), PACKS)
    found = {(v.policy, v.resource_name) for v in report.violations}
    assert found == {
        ("aws-provider-region-allowed", "bahrain"),
        ("aws-resource-region-allowed", "bahrain-sg"),
    }
    assert all("me-south-1" in v.message for v in report.violations)


def test_secured_program_passes_every_rule() -> None:
    plan = plan_program(CORPUS / "secured", "test")
    report = runner.run_packs(plan, PACKS)
    assert report.violations == []
    assert report.exit_code == 0
    # It exercises the rules: buckets, keys, groups, tables, IAM, namespaces, workloads, charts.
    types = {r["type"] for r in plan["resources"]}
    assert {
        "aws:s3/bucket:Bucket",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:helm.sh/v3:Release",
    } <= types
