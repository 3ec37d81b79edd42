"""Evasion case: An SNS topic encrypted with the AWS-managed alias/aws/sns key."""

import pulumi_aws as aws

aws.sns.Topic("alerts", kms_master_key_id="alias/aws/sns")
