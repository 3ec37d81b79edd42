"""Evasion case: Resource '*' with a condition that restricts nothing (IfExists on a wildcard)."""

import json

import pulumi_aws as aws

aws.iam.Policy(
    "tagged-anything",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:DeleteObject"],
                    "Resource": "*",
                    "Condition": {"StringLikeIfExists": {"aws:ResourceTag/tenant": "*"}},
                }
            ],
        }
    ),
)
