"""Corpus case: a publicly accessible database."""

import pulumi_aws as aws

TAGS = {"tenant": "acme", "data-classification": "confidential"}
KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


aws.rds.Instance(
    "db",
    engine="postgres",
    engine_version="17.2",
    instance_class="db.m6i.large",
    allocated_storage=20,
    username="app",
    manage_master_user_password=True,
    storage_encrypted=True,
    kms_key_id=KEY_ARN,
    publicly_accessible=True,
    tags=TAGS,
)
