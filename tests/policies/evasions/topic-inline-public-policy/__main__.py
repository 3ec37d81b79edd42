"""Evasion case: A topic whose inline policy lets anyone publish."""

import json

import pulumi_aws as aws

KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
aws.sns.Topic(
    "open-topic",
    kms_master_key_id=KEY_ARN,
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "*"}
            ],
        }
    ),
)
