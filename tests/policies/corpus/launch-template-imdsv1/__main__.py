"""Corpus case: a launch template that still allows IMDSv1."""

import pulumi_aws as aws

KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


aws.ec2.LaunchTemplate(
    "nodes",
    metadata_options={"http_tokens": "optional", "http_endpoint": "enabled"},
    block_device_mappings=[
        {
            "device_name": "/dev/xvda",
            "ebs": {"encrypted": "true", "volume_size": 100, "kms_key_id": KEY_ARN},
        }
    ],
)
