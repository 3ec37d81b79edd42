"""Evasion case: A log subscription filter shipping logs to a destination in Ireland."""

import pulumi_aws as aws

KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
logs = aws.cloudwatch.LogGroup(
    "app-logs",
    kms_key_id=KEY_ARN,
    tags={"tenant": "acme", "data-classification": "internal"},
)
aws.cloudwatch.LogSubscriptionFilter(
    "ship-logs",
    log_group=logs.name,
    filter_pattern="",
    destination_arn="arn:aws:logs:eu-west-1:123456789012:destination:central",
)
