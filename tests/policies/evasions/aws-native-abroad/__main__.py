"""Evasion case: An aws-native queue created by the default aws-native provider in Ireland."""

import pulumi

KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
# No aws-native SDK is needed: the type token is what the engine and the packs see.
pulumi.CustomResource(
    "aws-native:sqs:Queue",
    "native-queue",
    {"queueName": "exports", "kmsMasterKeyId": KEY_ARN},
)
