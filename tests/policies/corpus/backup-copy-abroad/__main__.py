"""Corpus case: an AWS Backup copy action to a vault in Ireland."""

import pulumi_aws as aws

aws.backup.Plan(
    "nightly",
    rules=[
        {
            "rule_name": "nightly",
            "target_vault_name": "local-vault",
            "schedule": "cron(0 1 * * ? *)",
            "copy_actions": [
                {"destination_vault_arn": "arn:aws:backup:eu-west-1:123456789012:backup-vault:dr"}
            ],
        }
    ],
)
