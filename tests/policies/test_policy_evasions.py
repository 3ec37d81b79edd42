"""Evasions and uncovered exposures, each a small Pulumi program that must fail the packs.

Each folder under ``evasions/`` is a complete Pulumi Python program written as an
attacker (or a hurried engineer) would write it: one risk, spelled so that a rule that
matches our own spelling misses it (the internet as two /1 blocks, ``iam:Pass*`` on
``role/*``, a KServe InferenceService instead of a Deployment, a queue policy inline on
the queue, a subscription to a queue in another region...). Every one of them passed
both packs before the rules were written against the risk.

The programs are planned one by one, exactly as ``mlplatform policy --program DIR``
plans them; to keep the suite fast their plans are then checked by one run of both
packs, and each program's violations are told apart by the project in their URNs (a
program's mandatory violations are what its own ``mlplatform policy`` run exits 1 on).
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from policy_helpers import PACKS

from mlplatform.engine import plan_program
from mlplatform.policy import runner

EVASIONS = pathlib.Path(__file__).parent / "evasions"

EXPECTED: dict[str, set[tuple[str, str]]] = {
    # IAM: effective breadth of statements
    "iam-allow-not-resource": {("aws-iam-policy-no-wildcards", "all-but-one")},
    "iam-wildcard-inside-action": {("aws-iam-policy-no-wildcards", "object-star")},
    "iam-passrole-on-every-role": {("aws-iam-policy-no-wildcards", "pass-any-role")},
    "iam-condition-restricts-nothing": {("aws-iam-policy-no-wildcards", "tagged-anything")},
    # public principals: conditions by value, inline policies on every type
    "public-principal-wildcard-org": {("aws-resource-policy-no-public-principal", "any-org")},
    "queue-inline-public-policy": {("aws-resource-policy-no-public-principal", "open-queue")},
    "topic-inline-public-policy": {("aws-resource-policy-no-public-principal", "open-topic")},
    "bucket-inline-public-policy": {("aws-resource-policy-no-public-principal", "acme-inline")},
    # network: CIDR union against public address space
    "sg-internet-in-pieces": {("aws-security-group-no-world-ingress", "pieces-sg")},
    # encryption: AWS-managed aliases are not customer keys
    "sse-aws-managed-alias": {("aws-s3-bucket-sse-kms", "acme-alias-sse")},
    # Kubernetes: pod specs found by walking, patches, real type tokens, RBAC, traffic
    "kserve-inferenceservice-privileged": {("kubernetes-pod-no-privileged", "churn-isvc")},
    "kserve-servingruntime-root": {("kubernetes-pod-run-as-non-root", "onnx-runtime")},
    "custom-resource-host-pid": {("kubernetes-pod-no-host-access", "train-churn")},
    "deployment-patch-privileged": {("kubernetes-pod-no-privileged", "agent-patch")},
    "custom-resource-public-image": {("container-image-registry-approved", "tenant-prometheus")},
    "rbac-edit-for-everyone": {("kubernetes-rbac-no-cluster-admin", "everyone-edits")},
    "rbac-escalation-verbs": {("kubernetes-rbac-no-escalation-verbs", "role-granter")},
    "netpol-allow-all-beside-deny": {
        ("kubernetes-network-policy-no-allow-all", "allow-everything")
    },
    "ingress-internet-facing": {("kubernetes-ingress-not-internet-facing", "public-api")},
    # residency: every ARN-valued destination, aws-native resources and providers
    "sns-subscription-abroad": {("aws-arn-destination-region-allowed", "export-to-eu")},
    "log-subscription-abroad": {("aws-arn-destination-region-allowed", "ship-logs")},
    "event-target-abroad": {("aws-arn-destination-region-allowed", "forward-to-eu")},
    "firehose-abroad": {("aws-arn-destination-region-allowed", "to-eu-search")},
    "aws-native-abroad": {
        ("aws-resource-region-allowed", "native-queue"),
        ("aws-provider-region-allowed", "default_0_0_0"),
    },
    # exposures no rule covered
    "lb-internet-facing": {("aws-lb-not-internet-facing", "public-alb")},
    "lb-listener-http": {("aws-lb-listener-https-only", "plain-http")},
    "ecs-service-public-ip": {("aws-ecs-service-no-public-ip", "web-svc")},
    "ecs-task-root": {("aws-ecs-task-non-root", "web-task")},
    "redshift-unencrypted": {("aws-redshift-encrypted-customer-key", "warehouse")},
    "redshift-public": {("aws-redshift-no-public-access", "open-warehouse")},
    "kinesis-no-customer-key": {("aws-messaging-logs-customer-key", "clicks")},
    "sns-no-customer-key": {("aws-messaging-logs-customer-key", "alerts")},
    "logs-no-customer-key": {("aws-messaging-logs-customer-key", "audit-logs")},
    "iam-broad-managed-policy": {("aws-iam-no-broad-managed-policy", "etl-s3-full")},
    "iam-user-access-key": {("aws-iam-no-user-access-keys", "ci-bot-key")},
}
"""Program -> the (policy, resource) pairs of the mandatory rules it must be caught by,
and nothing else that is mandatory (what its ``mlplatform policy`` run exits 1 on)."""

ADVISORY: dict[str, set[tuple[str, str]]] = {
    # Written as an attacker writes them: images by tag. The advisory digest rule reports
    # that too, correctly; it is not what these programs evade and fails nothing alone.
    "custom-resource-host-pid": {("kubernetes-image-pinned-by-digest", "train-churn")},
    "custom-resource-public-image": {("kubernetes-image-pinned-by-digest", "tenant-prometheus")},
    "kserve-servingruntime-root": {("kubernetes-image-pinned-by-digest", "onnx-runtime")},
}
"""Program -> the advisory findings it also gets (none unless listed)."""


def _merged(plans: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One plan holding every program's resources (URNs differ by project) and config."""
    config: dict[str, Any] = {}
    for plan in plans.values():
        for key, value in (plan.get("config") or {}).items():
            assert config.setdefault(key, value) == value, f"conflicting config {key}"
    first = next(iter(plans.values()))
    return {
        "project": first["project"],
        "stack": first["stack"],
        "config": config,
        "resources": [resource for plan in plans.values() for resource in plan["resources"]],
    }


@pytest.fixture(scope="module")
def report() -> runner.PolicyReport:
    plans = {case: plan_program(EVASIONS / case, "test") for case in sorted(EXPECTED)}
    for case, plan in plans.items():
        assert plan["project"] == f"evasion-{case}"
    return runner.run_packs(_merged(plans), PACKS)


def test_every_evasion_program_has_an_expectation() -> None:
    cases = {p.name for p in EVASIONS.iterdir() if (p / "Pulumi.yaml").is_file()}
    assert cases == set(EXPECTED)
    assert set(ADVISORY) <= set(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_evasion_exits_1_naming_the_resource(case: str, report: runner.PolicyReport) -> None:
    own = [v for v in report.violations if f"::evasion-{case}::" in v.urn]
    mandatory = [v for v in own if v.enforcement_level == "mandatory"]
    # Mandatory: the program's own `mlplatform policy` run exits 1 on these.
    assert {(v.policy, v.resource_name) for v in mandatory} == EXPECTED[case]
    others = [v for v in own if v.enforcement_level != "mandatory"]
    assert all(v.enforcement_level == "advisory" for v in others)
    assert {(v.policy, v.resource_name) for v in others} == ADVISORY.get(case, set())
    assert all(v.urn.endswith(f"::{v.resource_name}") for v in own)


def test_the_batch_has_nothing_else(report: runner.PolicyReport) -> None:
    assert report.exit_code == 1
    assert all(any(f"::evasion-{case}::" in v.urn for case in EXPECTED) for v in report.violations)
