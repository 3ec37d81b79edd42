"""Datastores and keys: KMS, DynamoDB, ElastiCache, RDS, Redshift, streams, queues, logs.

Customer-managed keys that rotate and cannot be deleted in a hurry; tables encrypted
with them and recoverable to a point in time; caches encrypted at rest and in transit
and requiring authentication; databases and warehouses encrypted and never publicly
accessible; streams, topics, queues and log groups encrypted with a customer key. An
AWS-managed alias (``alias/aws/<service>``) never counts as a customer key.
"""

from __future__ import annotations

from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    customer_key_problem,
    is_set,
    is_unknown,
    truthy,
)


def validate_kms_rotation(check: ResourceCheck) -> None:
    """Symmetric keys rotate automatically."""
    spec = check.get("customerMasterKeySpec")
    if spec is MISSING:
        spec = check.get("keySpec")
    if spec not in (MISSING, "SYMMETRIC_DEFAULT") and not is_unknown(spec):
        return  # asymmetric and HMAC keys cannot rotate automatically
    check.expect_flag(
        check.get("enableKeyRotation"),
        True,
        unknown="enableKeyRotation could not be determined.",
        wrong="enableKeyRotation is not true.",
    )


def validate_kms_deletion_window(check: ResourceCheck) -> None:
    """Scheduled deletion waits at least the configured window (default 30 days)."""
    minimum = int(check.config.get("minimumDays", 30))
    window = check.get("deletionWindowInDays")
    if window is MISSING:
        return  # AWS applies 30 days
    if window is UNKNOWN:
        check.violation("deletionWindowInDays could not be determined.")
    elif not isinstance(window, int | float) or window < minimum:
        check.violation(f"deletionWindowInDays is {window}; at least {minimum} is required.")


def validate_dynamodb_cmk(check: ResourceCheck) -> None:
    """Tables are encrypted with a customer-managed key."""
    enabled = check.expect_flag(
        check.get("serverSideEncryption.enabled"),
        True,
        unknown="serverSideEncryption.enabled could not be determined.",
        wrong="serverSideEncryption is not enabled with a customer key (AWS-owned key).",
    )
    key = check.get("serverSideEncryption.kmsKeyArn")
    if not enabled and not is_set(key):
        check.violation("serverSideEncryption has no kmsKeyArn (uses the aws/dynamodb key).")
    elif not enabled and (problem := customer_key_problem(key, "serverSideEncryption.kmsKeyArn")):
        check.violation(problem)


def validate_dynamodb_pitr(check: ResourceCheck) -> None:
    """Point-in-time recovery is on."""
    check.expect_flag(
        check.get("pointInTimeRecovery.enabled"),
        True,
        unknown="pointInTimeRecovery.enabled could not be determined.",
        wrong="pointInTimeRecovery is not enabled.",
    )


_REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
_CACHE = "aws:elasticache/cluster:Cluster"
_SERVERLESS = "aws:elasticache/serverlessCache:ServerlessCache"


def validate_cache_at_rest(check: ResourceCheck) -> None:
    """Caches are encrypted at rest with a customer key."""
    if check.resource_type == _CACHE:
        if check.get("replicationGroupId") is MISSING:
            check.violation(
                "A standalone cache cluster cannot encrypt at rest; use a replication group."
            )
        return
    if check.resource_type == _REPLICATION_GROUP and check.expect_flag(
        check.get("atRestEncryptionEnabled"),
        True,
        unknown="atRestEncryptionEnabled could not be determined.",
        wrong="atRestEncryptionEnabled is not true.",
    ):
        return
    key = check.get("kmsKeyId")
    if not is_set(key):
        check.violation("No kmsKeyId: data is encrypted with an AWS-owned key, not a tenant key.")
    elif problem := customer_key_problem(key, "kmsKeyId"):
        check.violation(problem)


def validate_cache_in_transit(check: ResourceCheck) -> None:
    """Caches require TLS."""
    if check.resource_type == _SERVERLESS:
        return  # serverless caches always require TLS
    if check.resource_type == _CACHE and check.get("replicationGroupId") is not MISSING:
        return  # members inherit the replication group's setting
    check.expect_flag(
        check.get("transitEncryptionEnabled"),
        True,
        unknown="transitEncryptionEnabled could not be determined.",
        wrong="transitEncryptionEnabled is not true.",
    )
    mode = check.get("transitEncryptionMode")
    if isinstance(mode, str) and mode.lower() == "preferred":
        check.violation("transitEncryptionMode is 'preferred': plaintext clients are accepted.")


def validate_cache_auth(check: ResourceCheck) -> None:
    """Caches require authentication (AUTH token or RBAC user groups)."""
    if check.resource_type == _SERVERLESS:
        if not is_set(check.get("userGroupId")):
            check.violation("No userGroupId: any client in the network can connect.")
        return
    if check.resource_type == _CACHE:
        if check.get("replicationGroupId") is not MISSING or check.get("engine") == "memcached":
            return
        check.violation("A standalone Redis/Valkey cluster cannot require AUTH with RBAC.")
        return
    if not (is_set(check.get("authToken")) or is_set(check.get("userGroupIds"))):
        check.violation("Neither authToken nor userGroupIds is set.")


CACHE_TYPES = {_REPLICATION_GROUP, _CACHE, _SERVERLESS}


def validate_rds_public(check: ResourceCheck) -> None:
    """Databases are not publicly accessible."""
    check.expect_flag(
        check.get("publiclyAccessible"),
        False,
        unset_ok=True,
        unknown="publiclyAccessible could not be determined.",
        wrong="publiclyAccessible is true.",
    )


def validate_rds_encrypted(check: ResourceCheck) -> None:
    """Database storage is encrypted."""
    replica = check.get("replicateSourceDb") is not MISSING
    if check.resource_type == "aws:rds/instance:Instance" and replica:
        return  # a read replica inherits its source's encryption
    check.expect_flag(
        check.get("storageEncrypted"),
        True,
        unknown="storageEncrypted could not be determined.",
        wrong="storageEncrypted is not true.",
    )


# --- Redshift ----------------------------------------------------------------------------

REDSHIFT_PUBLIC_TYPES = {
    "aws:redshift/cluster:Cluster",
    "aws:redshiftserverless/workgroup:Workgroup",
    "aws-native:redshift:Cluster",
    "aws-native:redshiftserverless:Workgroup",
}
REDSHIFT_ENCRYPTION_TYPES = {
    "aws:redshift/cluster:Cluster",
    "aws:redshiftserverless/namespace:Namespace",
    "aws-native:redshift:Cluster",
    "aws-native:redshiftserverless:Namespace",
}


def validate_redshift_public(check: ResourceCheck) -> None:
    """Redshift clusters and serverless workgroups are not publicly accessible."""
    value = check.get("publiclyAccessible")
    if truthy(value) is True:
        check.violation("publiclyAccessible is true: the warehouse gets a public endpoint.")


def validate_redshift_encryption(check: ResourceCheck) -> None:
    """Redshift data is encrypted at rest with a customer-managed key."""
    if check.resource_type.endswith(":Cluster"):
        # pulumi-aws v7 models 'encrypted' as a string ("true"/"false").
        encrypted = check.get("encrypted")
        if truthy(encrypted) is False:
            check.violation("encrypted is false: the cluster stores data unencrypted.")
            return
    problem = customer_key_problem(check.get("kmsKeyId"), "kmsKeyId")
    if problem:
        check.violation(problem)


# --- streams, queues, topics, logs -------------------------------------------------------


def _kinesis_key(check: ResourceCheck) -> str | None:
    encryption = check.get("encryptionType")
    if encryption is UNKNOWN:
        return None
    if encryption is MISSING or str(encryption).upper() != "KMS":
        return "encryptionType is not 'KMS': the stream is stored unencrypted."
    return customer_key_problem(check.get("kmsKeyId"), "kmsKeyId")


def _firehose_key(check: ResourceCheck) -> str | None:
    enabled = check.get("serverSideEncryption.enabled")
    if enabled is UNKNOWN:
        return None
    if truthy(enabled) is not True:
        return "serverSideEncryption is not enabled with a customer key."
    key_type = check.get("serverSideEncryption.keyType")
    if key_type != "CUSTOMER_MANAGED_CMK" and not is_unknown(key_type):
        return "serverSideEncryption.keyType is not 'CUSTOMER_MANAGED_CMK' (AWS-owned key)."
    return customer_key_problem(check.get("serverSideEncryption.keyArn"), "keyArn")


_CUSTOMER_KEY_FIELDS = {
    "aws:sns/topic:Topic": "kmsMasterKeyId",
    "aws:sqs/queue:Queue": "kmsMasterKeyId",
    "aws:cloudwatch/logGroup:LogGroup": "kmsKeyId",
    "aws-native:sns:Topic": "kmsMasterKeyId",
    "aws-native:sqs:Queue": "kmsMasterKeyId",
    "aws-native:logs:LogGroup": "kmsKeyId",
}

MESSAGING_TYPES = {
    *_CUSTOMER_KEY_FIELDS,
    "aws:kinesis/stream:Stream",
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream",
}


def validate_messaging_key(check: ResourceCheck) -> None:
    """Streams, delivery streams, topics, queues and log groups use a customer-managed key."""
    if check.resource_type == "aws:kinesis/stream:Stream":
        problem = _kinesis_key(check)
    elif check.resource_type == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream":
        problem = _firehose_key(check)
    else:
        problem = customer_key_problem(
            check.get(_CUSTOMER_KEY_FIELDS[check.resource_type]),
            _CUSTOMER_KEY_FIELDS[check.resource_type],
        )
    if problem:
        check.violation(problem)
