"""Evasion case: A bucket whose inline policy lets anyone read."""

import sys
from pathlib import Path

# The shared secure baseline (_baseline.py) sits in the policy corpus folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "corpus"))
import json

import pulumi_aws as aws
from _baseline import KEY_ARN, TAGS, tls_only

NAME = "acme-inline"
bucket = aws.s3.Bucket(
    NAME,
    bucket=NAME,
    tags=TAGS,
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{NAME}/*",
                }
            ],
        }
    ),
)
aws.s3.BucketServerSideEncryptionConfiguration(
    f"{NAME}-sse",
    bucket=bucket.id,
    rules=[
        {
            "apply_server_side_encryption_by_default": {
                "sse_algorithm": "aws:kms",
                "kms_master_key_id": KEY_ARN,
            }
        }
    ],
)
aws.s3.BucketPublicAccessBlock(
    f"{NAME}-pab",
    bucket=bucket.id,
    block_public_acls=True,
    block_public_policy=True,
    ignore_public_acls=True,
    restrict_public_buckets=True,
)
aws.s3.BucketPolicy(f"{NAME}-policy", bucket=bucket.id, policy=tls_only(NAME))
