"""Evasion case: A wildcard inside an action name (s3:*Object reaches PutObject and DeleteObject)."""

import json

import pulumi_aws as aws

aws.iam.Policy(
    "object-star",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*Object", "Resource": "arn:aws:s3:::acme-data/*"}
            ],
        }
    ),
)
