"""Storage components: SSE-KMS with the given key, PAB, TLS-only, versioning, logs, lock."""

from __future__ import annotations

import json

import pytest

from components.storage import (
    AccessLogBucket,
    AccessLogBucketArgs,
    ObjectLock,
    ObjectLockMode,
    SecureBucket,
    SecureBucketArgs,
    data_bucket_policy,
)

KEY = "arn:aws:kms:me-central-1:123456789012:key/tenant-acme"


def test_data_bucket_policy_denies_plain_http_and_other_keys() -> None:
    doc = data_bucket_policy("arn:aws:s3:::b", KEY)
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    tls = by_sid["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    other_key = by_sid["DenyOtherKmsKeys"]["Condition"]["StringNotEqualsIfExists"]
    assert other_key == {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY}
    assert all(s["Effect"] == "Deny" for s in doc["Statement"])


def _bucket(**overrides: object):
    args = {"kms_key_arn": KEY, "log_bucket": "logs-bucket", "tenant": "acme"}
    args.update(overrides)
    return lambda: SecureBucket("acme-data", SecureBucketArgs(**args))  # type: ignore[arg-type]


def test_secure_bucket(run_program) -> None:
    mocks = run_program(_bucket())
    (sse,) = mocks.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    (rule,) = sse.inputs["rules"]
    default = rule["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}
    assert rule["bucketKeyEnabled"] is True

    (public_access_block,) = mocks.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert public_access_block.inputs[flag] is True
    (ownership,) = mocks.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    (versioning,) = mocks.of_type("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    (logging,) = mocks.of_type("aws:s3/bucketLogging:BucketLogging")
    assert logging.inputs["targetBucket"] == "logs-bucket"
    (policy,) = mocks.of_type("aws:s3/bucketPolicy:BucketPolicy")
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert any(s["Sid"] == "DenyInsecureTransport" for s in statements)
    (bucket,) = mocks.of_type("aws:s3/bucket:Bucket")
    assert bucket.inputs["tags"]["tenant"] == "acme"
    assert bucket.inputs["tags"]["data-classification"] == "confidential"
    assert not mocks.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")


def test_object_lock_for_audit_data(run_program) -> None:
    mocks = run_program(_bucket(object_lock=ObjectLock(ObjectLockMode.COMPLIANCE, 2555)))
    (bucket,) = mocks.of_type("aws:s3/bucket:Bucket")
    assert bucket.inputs["objectLockEnabled"] is True
    (lock,) = mocks.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 2555}


def test_protect_reaches_the_stateful_resources(run_program) -> None:
    seen: dict[str, bool] = {}

    def program():
        bucket = SecureBucket(
            "acme-data", SecureBucketArgs(kms_key_arn=KEY, log_bucket="l", protect=True)
        )
        for child in bucket._childResources:
            seen[child._name] = child._protect
        return bucket.bucket_name

    run_program(program)
    assert seen["acme-data-bucket"] is True
    assert seen["acme-data-sse"] is True
    assert seen["acme-data-policy"] is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bucket_name": "Bad_Name"}, "bucket_name 'Bad_Name'"),
        ({"object_lock": ObjectLock(days=0)}, "at least 1"),
    ],
)
def test_bad_bucket_args(run_program, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_program(_bucket(**overrides))


def test_access_log_bucket(run_program) -> None:
    mocks = run_program(
        lambda: AccessLogBucket("logs", AccessLogBucketArgs(account_id="123456789012"))
    )
    (sse,) = mocks.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    (policy,) = mocks.of_type("aws:s3/bucketPolicy:BucketPolicy")
    statements = json.loads(policy.inputs["policy"])["Statement"]
    writer = next(s for s in statements if s["Effect"] == "Allow")
    assert writer["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert writer["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
