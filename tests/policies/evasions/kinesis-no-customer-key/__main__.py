"""Evasion case: A Kinesis stream without KMS encryption."""

import pulumi_aws as aws

aws.kinesis.Stream(
    "clicks",
    shard_count=1,
    tags={"tenant": "acme", "data-classification": "internal"},
)
