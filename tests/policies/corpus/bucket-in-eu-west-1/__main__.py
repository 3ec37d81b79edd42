"""Corpus case: a bucket created in Ireland through the per-resource region input."""

import json

import pulumi_aws as aws

TAGS = {"tenant": "acme", "data-classification": "confidential"}
KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def tls_only(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def secure_bucket(name: str, algorithm: str = "aws:kms", **extra) -> aws.s3.Bucket:
    """A bucket with SSE-KMS, a public access block and a TLS-only policy."""
    bucket = aws.s3.Bucket(name, bucket=name, tags=TAGS, **extra)
    default = {"sse_algorithm": algorithm}
    if algorithm == "aws:kms":
        default["kms_master_key_id"] = KEY_ARN
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-sse",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": default, "bucket_key_enabled": True}],
        **extra,
    )
    aws.s3.BucketPublicAccessBlock(
        f"{name}-pab",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        **extra,
    )
    aws.s3.BucketPolicy(f"{name}-policy", bucket=bucket.id, policy=tls_only(name), **extra)
    return bucket


secure_bucket("acme-eu-data", region="eu-west-1")
