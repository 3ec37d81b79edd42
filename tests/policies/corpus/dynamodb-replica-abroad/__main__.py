"""Corpus case: a DynamoDB global-table replica in Frankfurt."""

import pulumi_aws as aws

TAGS = {"tenant": "acme", "data-classification": "confidential"}
KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


aws.dynamodb.Table(
    "features",
    hash_key="id",
    attributes=[{"name": "id", "type": "S"}],
    billing_mode="PAY_PER_REQUEST",
    stream_enabled=True,
    stream_view_type="NEW_AND_OLD_IMAGES",
    server_side_encryption={"enabled": True, "kms_key_arn": KEY_ARN},
    point_in_time_recovery={"enabled": True},
    replicas=[{"region_name": "eu-central-1"}],
    tags=TAGS,
)
