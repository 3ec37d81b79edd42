"""Evasion case: An SNS subscription delivering to a queue in Ireland."""

import pulumi_aws as aws

KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
topic = aws.sns.Topic("predictions", kms_master_key_id=KEY_ARN)
aws.sns.TopicSubscription(
    "export-to-eu",
    topic=topic.arn,
    protocol="sqs",
    endpoint="arn:aws:sqs:eu-west-1:123456789012:exports",
)
