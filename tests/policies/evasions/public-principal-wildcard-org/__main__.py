"""Evasion case: '*' principal 'restricted' to any organisation (aws:PrincipalOrgID like 'o-*')."""

import json

import pulumi_aws as aws

aws.s3.BucketPolicy(
    "any-org",
    bucket="acme-shared",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::acme-shared/*",
                    "Condition": {"StringLike": {"aws:PrincipalOrgID": "o-*"}},
                }
            ],
        }
    ),
)
