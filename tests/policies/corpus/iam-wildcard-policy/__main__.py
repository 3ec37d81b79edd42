"""Corpus case: an IAM policy granting every action on every resource."""

import json

import pulumi_aws as aws

aws.iam.Policy(
    "god-mode",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
    ),
)
