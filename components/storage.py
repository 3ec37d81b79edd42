"""Storage: S3 buckets that are encrypted, private, versioned, logged and TLS-only.

:class:`SecureBucket` holds data (features, artifacts, audit data): SSE-KMS with a
given customer-managed key and S3 bucket keys, all four public-access blocks, owner-
enforced object ownership (ACLs off), versioning, server access logs to a log bucket,
a bucket policy that denies plain HTTP and puts with another encryption or key, and
optional object lock for enterprise audit data.

:class:`AccessLogBucket` receives those server access logs. S3 only delivers access
logs to a bucket whose default encryption is SSE-S3 (SSE-KMS is not supported for the
log destination), so that one bucket uses AES256; everything else about it is locked
down the same way, and its objects expire after a retention period.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws

from components._util import child_opts, merge_tags, policy_document, to_json

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class DataClassification(StrEnum):
    """How sensitive a bucket's content is (drives tags and audit reports)."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"


class ObjectLockMode(StrEnum):
    """S3 object lock retention mode."""

    GOVERNANCE = "GOVERNANCE"
    """Privileged users can shorten retention (for testing the set-up)."""
    COMPLIANCE = "COMPLIANCE"
    """Nobody, root included, can delete a locked version before retention ends."""


@dataclass(frozen=True)
class ObjectLock:
    """Default object-lock retention for audit data."""

    mode: ObjectLockMode = ObjectLockMode.COMPLIANCE
    """Retention mode."""
    days: int = 365
    """Default retention in days."""


@dataclass(frozen=True)
class SecureBucketArgs:
    """Inputs of :class:`SecureBucket`."""

    kms_key_arn: pulumi.Input[str]
    """Customer-managed key used for default encryption; other keys are refused."""
    log_bucket: pulumi.Input[str]
    """Name of the bucket receiving server access logs."""
    data_classification: DataClassification = DataClassification.CONFIDENTIAL
    """Classification tag."""
    bucket_name: str | None = None
    """Exact bucket name; auto-named from the resource name when None."""
    tenant: str | None = None
    """Owning tenant (tag), None for platform buckets."""
    log_prefix: str | None = None
    """Prefix of this bucket's access logs; defaults to ``<resource name>/``."""
    object_lock: ObjectLock | None = None
    """Object lock for audit data; requires versioning (always on here)."""
    noncurrent_version_days: int = 90
    """Noncurrent versions expire after this many days (keeps versioning affordable)."""
    expire_prefixes: Mapping[str, int] = field(default_factory=dict)
    """Retention per key prefix (``predictions/`` -> 90): objects expire that many days
    after they were written, their noncurrent versions one day after they were replaced
    or deleted (so an erasure's rewrite leaves no old copy behind for long)."""
    protect: bool = False
    """Protect the bucket (and its lock configuration) from deletion (prod)."""
    force_destroy: bool = False
    """Allow deleting a non-empty bucket (dev only)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags."""


@dataclass(frozen=True)
class AccessLogBucketArgs:
    """Inputs of :class:`AccessLogBucket`."""

    account_id: str
    """Account whose buckets may deliver logs here."""
    bucket_name: str | None = None
    """Exact bucket name; auto-named when None."""
    retention_days: int = 400
    """Log objects expire after this many days."""
    protect: bool = False
    """Protect the bucket from deletion (prod)."""
    force_destroy: bool = False
    """Allow deleting a non-empty bucket (dev only)."""
    partition: str = "aws"
    """AWS partition."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags."""


def _check_bucket_name(name: str | None) -> None:
    if name is not None and not _BUCKET_NAME.match(name):
        raise ValueError(
            f"bucket_name {name!r}: 3-63 lowercase letters, digits, '.' or '-', "
            "starting and ending with a letter or digit"
        )


def deny_insecure_transport(bucket_arn: str) -> dict[str, Any]:
    """Statement denying every request not made over TLS (FSBP S3.5)."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def data_bucket_policy(bucket_arn: str, kms_key_arn: str) -> dict[str, Any]:
    """TLS-only policy that also refuses puts naming another encryption or another key.

    ``...IfExists`` lets clients that send no encryption header rely on the bucket's
    default encryption (which is the tenant key), while a client asking for SSE-S3 or
    a different KMS key is denied.
    """
    return policy_document(
        [
            deny_insecure_transport(bucket_arn),
            {
                "Sid": "DenyNonKmsEncryption",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {
                    "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
                },
            },
            {
                "Sid": "DenyOtherKmsKeys",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {
                    "StringNotEqualsIfExists": {
                        "s3:x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn
                    }
                },
            },
        ]
    )


def log_bucket_policy(bucket_arn: str, account_id: str, partition: str) -> dict[str, Any]:
    """TLS-only, and lets the S3 logging service of this account (only) write logs."""
    return policy_document(
        [
            deny_insecure_transport(bucket_arn),
            {
                "Sid": "AllowS3ServerAccessLogsFromThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:s3:::*"},
                },
            },
        ]
    )


class _LockedDownBucket(pulumi.ComponentResource):
    """What both bucket components share: a private, owner-enforced, versioned bucket
    with default encryption (SSE-C refused), a bucket policy and a lifecycle rule."""

    bucket_name: pulumi.Output[str]
    """The bucket's name."""
    bucket_arn: pulumi.Output[str]
    """The bucket's ARN."""

    def _locked_bucket(
        self,
        name: str,
        *,
        bucket_name: str | None,
        tags: Mapping[str, str],
        force_destroy: bool,
        protect: bool,
        encryption: aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs,
        policy: Callable[[pulumi.Output[str]], pulumi.Output[str]],
        bucket_key_enabled: bool | None = None,
        protect_encryption: bool = False,
        object_lock_enabled: bool | None = None,
    ) -> tuple[aws.s3.Bucket, pulumi.Resource]:
        """The bucket, its public access block, ownership, versioning, default encryption
        and ``policy`` (a function of the bucket ARN); returns the bucket and its
        versioning (which noncurrent-version and lock rules must wait for)."""
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name,
            object_lock_enabled=object_lock_enabled,
            force_destroy=force_destroy,
            tags=tags,
            opts=child_opts(self, protect=protect),
        )
        public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child_opts(self),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child_opts(self),
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child_opts(self, protect=protect),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=encryption,
                    bucket_key_enabled=bucket_key_enabled,
                    # Customer-provided keys would bypass the bucket's chosen encryption entirely.
                    blocked_encryption_types=["SSE-C"],
                )
            ],
            opts=child_opts(self, protect=protect_encryption),
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=policy(bucket.arn),
            # A policy put while the public-access block is being created can be refused.
            opts=child_opts(self, depends_on=[public_access_block]),
        )
        return bucket, versioning

    def _expire(
        self,
        name: str,
        bucket: aws.s3.Bucket,
        versioning: pulumi.Resource,
        *,
        rule_id: str,
        noncurrent_days: int,
        extra_rules: Sequence[aws.s3.BucketLifecycleConfigurationRuleArgs] = (),
        **rule: Any,
    ) -> None:
        """One lifecycle rule over the whole bucket that also expires old object versions,
        plus ``extra_rules`` (per-prefix retention)."""
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id=rule_id,
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=noncurrent_days
                    ),
                    **rule,
                ),
                *extra_rules,
            ],
            # Noncurrent-version rules need versioning in place first.
            opts=child_opts(self, depends_on=[versioning]),
        )


def tenant_data_expiry(
    *, raw_events_days: int, offline_features_days: int, prediction_logs_days: int
) -> dict[str, int]:
    """Retention per prefix of a tenant's data bucket (the loop's and ingestion's folders)."""
    from contracts.ingestion import LANDING_DONE_PREFIX, LANDING_PREFIX, OFFLINE_PREFIX
    from contracts.names import PREDICTION_LOG_PREFIX

    return {
        f"{PREDICTION_LOG_PREFIX}/": prediction_logs_days,
        f"{OFFLINE_PREFIX}/": offline_features_days,
        f"{LANDING_PREFIX}/": raw_events_days,
        f"{LANDING_DONE_PREFIX}/": raw_events_days,
    }


def prefix_expiration_rules(
    expire_prefixes: Mapping[str, int],
) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    """One rule per prefix: expire current objects after N days, replaced ones after 1."""
    rules = []
    for prefix, days in sorted(expire_prefixes.items()):
        if days < 1 or not prefix.endswith("/") or prefix.startswith("/"):
            raise ValueError(f"expire_prefixes[{prefix!r}]={days}: need 'folder/' and days >= 1")
        rule_id = "retain-" + prefix.strip("/").replace("/", "-")
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id=rule_id[:255],
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=1
                ),
            )
        )
    return rules


class SecureBucket(_LockedDownBucket):
    """An S3 data bucket encrypted with a given customer-managed key."""

    kms_key_arn: pulumi.Output[str]
    """The key that encrypts it."""

    def __init__(
        self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:storage:SecureBucket", name, None, opts)
        _check_bucket_name(args.bucket_name)
        if args.object_lock is not None and args.object_lock.days < 1:
            raise ValueError(f"object_lock.days={args.object_lock.days}: must be at least 1")
        bucket, versioning = self._locked_bucket(
            name,
            bucket_name=args.bucket_name,
            tags=merge_tags(
                args.tags,
                {"data-classification": str(args.data_classification)},
                {"tenant": args.tenant} if args.tenant else None,
            ),
            force_destroy=args.force_destroy,
            protect=args.protect,
            object_lock_enabled=True if args.object_lock else None,
            encryption=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms",
                kms_master_key_id=args.kms_key_arn,
            ),
            policy=lambda bucket_arn: pulumi.Output.all(bucket_arn, args.kms_key_arn).apply(
                lambda arn_and_key: to_json(data_bucket_policy(*arn_and_key))
            ),
            # Bucket keys cut KMS requests (and cost) by ~99 % for busy buckets.
            bucket_key_enabled=True,
            protect_encryption=args.protect,
        )
        aws.s3.BucketLogging(
            f"{name}-logging",
            bucket=bucket.id,
            target_bucket=args.log_bucket,
            target_prefix=args.log_prefix or f"{name}/",
            opts=child_opts(self),
        )
        self._expire(
            name,
            bucket,
            versioning,
            rule_id="expire-noncurrent-and-abort-uploads",
            noncurrent_days=args.noncurrent_version_days,
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=7
            ),
            extra_rules=prefix_expiration_rules(args.expire_prefixes),
        )
        if args.object_lock is not None:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                object_lock_enabled="Enabled",
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode=str(args.object_lock.mode), days=args.object_lock.days
                    )
                ),
                opts=child_opts(self, protect=args.protect, depends_on=[versioning]),
            )

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.kms_key_arn = pulumi.Output.from_input(args.kms_key_arn)
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "kmsKeyArn": self.kms_key_arn,
            }
        )


class AccessLogBucket(_LockedDownBucket):
    """The destination of S3 server access logs (SSE-S3: the only encryption S3 allows)."""

    def __init__(
        self, name: str, args: AccessLogBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:storage:AccessLogBucket", name, None, opts)
        _check_bucket_name(args.bucket_name)
        bucket, versioning = self._locked_bucket(
            name,
            bucket_name=args.bucket_name,
            tags=merge_tags(
                args.tags, {"data-classification": "internal", "purpose": "access-logs"}
            ),
            force_destroy=args.force_destroy,
            protect=args.protect,
            encryption=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            ),
            policy=lambda bucket_arn: bucket_arn.apply(
                lambda arn: to_json(log_bucket_policy(arn, args.account_id, args.partition))
            ),
        )
        self._expire(
            name,
            bucket,
            versioning,
            rule_id="expire-access-logs",
            noncurrent_days=30,
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                days=args.retention_days
            ),
        )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "bucketArn": self.bucket_arn})
