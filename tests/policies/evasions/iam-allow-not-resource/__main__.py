"""Evasion case: Allow with NotResource: every resource but one."""

import json

import pulumi_aws as aws

aws.iam.Policy(
    "all-but-one",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:PutObject"],
                    "NotResource": ["arn:aws:s3:::acme-audit/*"],
                }
            ],
        }
    ),
)
