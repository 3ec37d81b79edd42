"""AWS Backup per tenant: locked vault, the tier's schedule, no copy abroad."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.aws.backup import backup_rule, check_rpo
from contracts.backup import schedule_gap_minutes

AWS_STACKS = ["dev", "staging", "prod"]


def test_rule_follows_the_tier_and_an_impossible_rpo_is_refused() -> None:
    rule = backup_rule("acme", "vault", 60, 35)
    assert rule["schedule"] == "cron(0 * * * ? *)"
    assert rule["lifecycle"] == {"delete_after": 35}
    assert "copy_actions" not in rule
    check_rpo(60, 90)
    with pytest.raises(ValueError, match="can lose 150 min > RPO 120 min"):
        check_rpo(120, 120)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_tenant_has_a_locked_vault_and_a_plan_meeting_its_rpo(
    stack: str, stack_plan: Callable[[str], dict[str, Any]]
) -> None:
    plan = stack_plan(stack)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in plan["resources"]:
        by_type.setdefault(r["type"], []).append(r)
    tenants = {
        r["inputs"]["tags"]["tenant"]
        for r in by_type.get("aws:s3/bucketV2:BucketV2", [])
        + by_type.get("aws:s3/bucket:Bucket", [])
        if r["inputs"].get("tags", {}).get("tenant", "platform") != "platform"
    }
    vaults = by_type["aws:backup/vault:Vault"]
    assert {v["inputs"]["tags"]["tenant"] for v in vaults} == tenants
    assert all(v["inputs"].get("kmsKeyArn") for v in vaults)
    locks = by_type["aws:backup/vaultLockConfiguration:VaultLockConfiguration"]
    assert len(locks) == len(tenants)
    for lock in locks:
        # COMPLIANCE (immutable after the grace days) in prod only.
        assert ("changeableForDays" in lock["inputs"]) is (stack == "prod")
    for backup_plan in by_type["aws:backup/plan:Plan"]:
        (rule,) = backup_plan["inputs"]["rules"]
        assert not rule.get("copyActions")
        assert schedule_gap_minutes(rule["schedule"]) <= 1440
    selections = by_type["aws:backup/selection:Selection"]
    assert {s["inputs"]["selectionTags"][0]["value"] for s in selections} == tenants


def test_onprem_has_no_aws_backup(stack_plan: Callable[[str], dict[str, Any]]) -> None:
    assert not [r for r in stack_plan("onprem")["resources"] if r["type"].startswith("aws:")]
