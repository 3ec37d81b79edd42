"""Evasion case: An encrypted Redshift cluster that is publicly accessible."""

import pulumi_aws as aws

KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
aws.redshift.Cluster(
    "open-warehouse",
    cluster_identifier="open-warehouse",
    node_type="ra3.xlplus",
    master_username="admin",
    manage_master_password=True,
    encrypted="true",
    kms_key_id=KEY_ARN,
    publicly_accessible=True,
)
