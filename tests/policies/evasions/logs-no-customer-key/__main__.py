"""Evasion case: A CloudWatch log group without a KMS key."""

import pulumi_aws as aws

aws.cloudwatch.LogGroup(
    "audit-logs",
    retention_in_days=365,
    tags={"tenant": "acme", "data-classification": "confidential"},
)
