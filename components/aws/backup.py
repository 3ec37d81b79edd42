"""AWS Backup per tenant: a locked vault in the region and a plan on the tier's schedule.

Each tenant gets its own vault, encrypted with its customer-managed key, under a vault
lock: ``COMPLIANCE`` mode in prod (after a three-day grace period nobody, the account
root included, can delete a recovery point before its retention ends or shorten it),
``GOVERNANCE`` elsewhere so test stacks stay removable. One plan rule backs up every
resource tagged with the tenant (its DynamoDB tables, EBS-backed volumes, and S3 buckets:
data and audit) on :func:`contracts.backup.backup_cron` of the tier's interval, keeping
recovery points for the tier's retention. The plan has no copy actions: another AWS
region would be abroad (the residency pack refuses it), and the in-country copy is the
scheduled copy job to the second site's object store, which does not depend on this
region's control plane.

The vault shares the region's fate; it covers mistakes and corruption, the in-country
copy covers the loss of the region.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, cast

import pulumi
import pulumi_aws as aws

from components._util import assume_role_policy, merge_tags, to_json
from contracts.backup import COPY_ALLOWANCE_MINUTES, backup_cron, schedule_gap_minutes

BACKUP_MANAGED_POLICIES: tuple[str, ...] = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Backup",
    "AWSBackupServiceRolePolicyForS3Restore",
)
"""AWS Backup's own service-role policies (what it needs to snapshot and restore the
selected resource types, S3 included); the selection limits it to the tenant's."""
COMPLIANCE_GRACE_DAYS = 3
"""Days a COMPLIANCE vault lock can still be removed after it is set (then immutable)."""


class TenantBackupArgs(TypedDict):
    """Inputs of :class:`TenantBackup`."""

    tenant: str
    kms_key_arn: pulumi.Input[str]
    """The tenant key: the vault's recovery points are encrypted with it."""
    interval_minutes: int
    """Backups run this often (the tier's ``backup_interval_minutes``)."""
    retention_days: int
    """Recovery points are kept this long (and the vault lock's minimum)."""
    rpo_minutes: int
    """The tier's RPO: the generated schedule must meet it."""
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE"]
    partition: str
    account_id: str
    """The account (the trust policy's confused-deputy guard)."""
    tags: NotRequired[Mapping[str, str]]
    protect: NotRequired[bool]


def backup_rule(
    tenant: str, vault: str, interval_minutes: int, retention_days: int
) -> dict[str, Any]:
    """The plan's one rule (pure): schedule from the interval, lifecycle from retention."""
    return {
        "rule_name": f"{tenant}-every-{interval_minutes}m",
        "target_vault_name": vault,
        "schedule": backup_cron(interval_minutes),
        "schedule_expression_timezone": "Etc/UTC",
        "start_window": 60,
        "completion_window": 180,
        "lifecycle": {"delete_after": retention_days},
        "recovery_point_tags": {"tenant": tenant},
    }


def check_rpo(interval_minutes: int, rpo_minutes: int) -> None:
    """Raise ValueError when the generated schedule cannot meet the RPO."""
    loss = schedule_gap_minutes(backup_cron(interval_minutes)) + COPY_ALLOWANCE_MINUTES
    if loss > rpo_minutes:
        raise ValueError(
            f"backup every {interval_minutes} min can lose {loss} min > RPO {rpo_minutes} min"
        )


class TenantBackup(pulumi.ComponentResource):
    """The tenant's locked vault, its backup role and its plan with a tag selection."""

    vault_name: pulumi.Output[str]
    plan_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: TenantBackupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:backup:TenantBackup", name, None, opts)
        tenant = args["tenant"]
        check_rpo(args["interval_minutes"], args["rpo_minutes"])
        tags = merge_tags(args.get("tags"), {"tenant": tenant, "purpose": "backup"})
        child = pulumi.ResourceOptions(parent=self)
        vault = aws.backup.Vault(
            f"{name}-vault",
            kms_key_arn=args["kms_key_arn"],
            force_destroy=not args.get("protect", False),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.get("protect", False)),
        )
        aws.backup.VaultLockConfiguration(
            f"{name}-vault-lock",
            backup_vault_name=vault.name,
            min_retention_days=args["retention_days"],
            max_retention_days=max(args["retention_days"], 3650),
            # Set: COMPLIANCE (immutable after the grace period); unset: GOVERNANCE.
            changeable_for_days=(
                COMPLIANCE_GRACE_DAYS if args["lock_mode"] == "COMPLIANCE" else None
            ),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=to_json(
                assume_role_policy("backup.amazonaws.com", source_account=args["account_id"])
            ),
            description=f"AWS Backup of tenant {tenant}'s tagged resources",
            tags=tags,
            opts=child,
        )
        for index, policy in enumerate(BACKUP_MANAGED_POLICIES):
            aws.iam.RolePolicyAttachment(
                f"{name}-role-{index}",
                role=role.name,
                policy_arn=f"arn:{args['partition']}:iam::aws:policy/{policy}",
                opts=child,
            )
        plan = aws.backup.Plan(
            f"{name}-plan",
            rules=[
                cast(
                    aws.backup.PlanRuleArgsDict,
                    {
                        **backup_rule(tenant, "", args["interval_minutes"], args["retention_days"]),
                        "target_vault_name": vault.name,
                    },
                )
            ],
            tags=tags,
            opts=child,
        )
        aws.backup.Selection(
            f"{name}-selection",
            name=f"{tenant}-tagged",
            plan_id=plan.id,
            iam_role_arn=role.arn,
            selection_tags=[{"type": "STRINGEQUALS", "key": "tenant", "value": tenant}],
            opts=child,
        )
        self.vault_name = vault.name
        self.plan_id = plan.id
        self.register_outputs({"vaultName": self.vault_name, "planId": self.plan_id})
