"""Evasion case: A long-lived access key for an IAM user."""

import pulumi_aws as aws

user = aws.iam.User("ci-bot", name="ci-bot")
aws.iam.AccessKey("ci-bot-key", user=user.name)
