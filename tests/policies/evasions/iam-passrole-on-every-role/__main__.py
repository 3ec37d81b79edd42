"""Evasion case: iam:Pass* on every role of the account."""

import json

import pulumi_aws as aws

aws.iam.Policy(
    "pass-any-role",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iam:Pass*",
                    "Resource": "arn:aws:iam::123456789012:role/*",
                }
            ],
        }
    ),
)
