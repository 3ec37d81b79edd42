"""Encryption: customer-managed KMS keys, one per platform purpose and one per tenant.

Every key: rotation on, 30-day deletion window, single-region (a multi-region key would
let its material be replicated out of the UAE), an alias, and a key policy whose only
principals are the account root and named AWS service principals, each constrained by
``aws:SourceAccount``, ``kms:ViaService`` or an encryption-context condition. No ``*``
principal appears anywhere: IAM policies in the account (scoped per role) grant use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws

from components._util import child_opts, merge_tags, policy_document, to_json

KEY_ACTIONS_USE = [
    "kms:Encrypt*",
    "kms:Decrypt*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
]
"""Cryptographic use of a key (what a service principal needs), without administration."""

_KEY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class KeyService(StrEnum):
    """Which AWS service (beyond IAM-granted principals) a key's policy admits."""

    NONE = "none"
    """Only IAM principals of the account (EKS secrets, S3, SQS via kms:ViaService)."""
    LOGS = "logs"
    """CloudWatch Logs encrypts log groups of this account and region."""
    EBS = "ebs"
    """EC2 Auto Scaling's service-linked role encrypts node volumes."""


@dataclass(frozen=True)
class KeySpec:
    """One key to create."""

    name: str
    """Short kebab-case purpose (``eks-secrets``, ``logs``, ``tenant-acme``); alias suffix."""
    description: str
    """Human description shown in the console and in the audit report."""
    service: KeyService = KeyService.NONE
    """Service principal the key policy admits besides the account."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags (tenant, purpose)."""


@dataclass(frozen=True)
class EncryptionArgs:
    """Inputs of :class:`Encryption`."""

    account_id: str
    """Account id that owns the keys."""
    region: str
    """Region of the keys (and of the services allowed to use them)."""
    keys: Sequence[KeySpec]
    """Keys to create."""
    alias_prefix: str = "mlplatform"
    """Aliases are ``alias/<prefix>/<key name>``."""
    partition: str = "aws"
    """AWS partition."""
    deletion_window_in_days: int = 30
    """Waiting period before a scheduled deletion takes effect (7..30)."""
    protect: bool = False
    """Protect keys from deletion by ``pulumi destroy`` (prod)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every key."""


def key_policy(
    *, account_id: str, region: str, partition: str, service: KeyService
) -> dict[str, Any]:
    """The key policy for one key: account root plus, at most, one constrained service."""
    root = f"arn:{partition}:iam::{account_id}:root"
    statements: list[dict[str, Any]] = [
        {
            # Delegates to IAM: only roles whose IAM policy names this key can use it.
            "Sid": "EnableIamPoliciesOfThisAccount",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if service is KeyService.LOGS:
        statements.append(
            {
                "Sid": "AllowCloudWatchLogsOfThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": KEY_ACTIONS_USE,
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{partition}:logs:{region}:{account_id}:log-group:*"
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            }
        )
    elif service is KeyService.EBS:
        # Managed node groups launch through EC2 Auto Scaling; its service-linked role
        # must be able to use the key for encrypted root volumes, only via EC2.
        asg_role = (
            f"arn:{partition}:iam::{account_id}:role/aws-service-role/"
            "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        )
        statements += [
            {
                "Sid": "AllowAutoScalingUseViaEc2",
                "Effect": "Allow",
                "Principal": {"AWS": asg_role},
                "Action": KEY_ACTIONS_USE,
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
            },
            {
                "Sid": "AllowAutoScalingGrantsForAwsResources",
                "Effect": "Allow",
                "Principal": {"AWS": asg_role},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ]
    return policy_document(statements)


def principals_of(document: Mapping[str, Any]) -> list[str]:
    """Every principal string of a policy document (for tests and audits)."""
    found: list[str] = []
    for statement in document.get("Statement", []):
        principal = statement.get("Principal")
        if isinstance(principal, str):
            found.append(principal)
        elif isinstance(principal, Mapping):
            for value in principal.values():
                found += [value] if isinstance(value, str) else list(value)
    return found


class Encryption(pulumi.ComponentResource):
    """A set of customer-managed KMS keys with aliases."""

    key_arns: dict[str, pulumi.Output[str]]
    """Key ARN per key name."""
    key_ids: dict[str, pulumi.Output[str]]
    """Key id per key name."""
    alias_names: dict[str, str]
    """Alias name per key name (plain)."""

    def __init__(
        self, name: str, args: EncryptionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:encryption:Encryption", name, None, opts)
        if not 7 <= args.deletion_window_in_days <= 30:
            raise ValueError(
                f"deletion_window_in_days={args.deletion_window_in_days}: allowed 7..30"
            )
        seen: set[str] = set()
        self.key_arns = {}
        self.key_ids = {}
        self.alias_names = {}
        for spec in args.keys:
            if not _KEY_NAME.match(spec.name) or spec.name in seen:
                raise ValueError(
                    f"key name {spec.name!r}: must be unique, lowercase letters, digits, '-'"
                )
            seen.add(spec.name)
            key = aws.kms.Key(
                f"{name}-{spec.name}",
                description=spec.description,
                enable_key_rotation=True,
                rotation_period_in_days=365,
                deletion_window_in_days=args.deletion_window_in_days,
                multi_region=False,
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                policy=to_json(
                    key_policy(
                        account_id=args.account_id,
                        region=args.region,
                        partition=args.partition,
                        service=spec.service,
                    )
                ),
                tags=merge_tags(args.tags, {"purpose": spec.name}, spec.tags),
                opts=child_opts(self, protect=args.protect),
            )
            alias = f"alias/{args.alias_prefix}/{spec.name}"
            aws.kms.Alias(
                f"{name}-{spec.name}-alias",
                name=alias,
                target_key_id=key.key_id,
                opts=child_opts(self),
            )
            self.key_arns[spec.name] = key.arn
            self.key_ids[spec.name] = key.key_id
            self.alias_names[spec.name] = alias

        self.register_outputs(
            {"keyArns": self.key_arns, "keyIds": self.key_ids, "aliasNames": self.alias_names}
        )
