"""Evasion case: An EventBridge rule whose target is an event bus in Ireland."""

import pulumi_aws as aws

rule = aws.cloudwatch.EventRule("nightly", schedule_expression="rate(1 day)")
aws.cloudwatch.EventTarget(
    "forward-to-eu",
    rule=rule.name,
    arn="arn:aws:events:eu-west-1:123456789012:event-bus/central",
    role_arn="arn:aws:iam::123456789012:role/events-forwarder",
)
