"""Evasion case: A Firehose delivery stream writing into an OpenSearch domain in Ireland."""

import pulumi_aws as aws

KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
ROLE = "arn:aws:iam::123456789012:role/firehose"
aws.kinesis.FirehoseDeliveryStream(
    "to-eu-search",
    destination="opensearch",
    server_side_encryption={
        "enabled": True,
        "key_type": "CUSTOMER_MANAGED_CMK",
        "key_arn": KEY_ARN,
    },
    opensearch_configuration={
        "domain_arn": "arn:aws:es:eu-west-1:123456789012:domain/central",
        "index_name": "predictions",
        "role_arn": ROLE,
        "s3_configuration": {"bucket_arn": "arn:aws:s3:::acme-firehose-backup", "role_arn": ROLE},
    },
)
