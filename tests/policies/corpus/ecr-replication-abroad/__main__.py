"""Corpus case: ECR registry replication to us-east-1."""

import pulumi_aws as aws

ECR = "123456789012.dkr.ecr.me-central-1.amazonaws.com"


aws.ecr.ReplicationConfiguration(
    "registry-replication",
    replication_configuration={
        "rules": [{"destinations": [{"region": "us-east-1", "registry_id": "123456789012"}]}]
    },
)
