"""Corpus case: a multi-region KMS key."""

import pulumi_aws as aws

aws.kms.Key(
    "tenant-key",
    description="tenant key",
    enable_key_rotation=True,
    deletion_window_in_days=30,
    multi_region=True,
)
