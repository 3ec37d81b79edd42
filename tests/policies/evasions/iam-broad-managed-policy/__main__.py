"""Evasion case: AmazonS3FullAccess attached to a workload role."""

import json

import pulumi_aws as aws

role = aws.iam.Role(
    "etl-role",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    ),
)
aws.iam.RolePolicyAttachment(
    "etl-s3-full",
    role=role.name,
    policy_arn="arn:aws:iam::aws:policy/AmazonS3FullAccess",
)
