"""Corpus case: an EKS cluster with a public API endpoint."""

import pulumi_aws as aws

KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


aws.eks.Cluster(
    "platform",
    role_arn="arn:aws:iam::123456789012:role/eks",
    version="1.35",
    vpc_config={
        "subnet_ids": ["subnet-1", "subnet-2"],
        "endpoint_private_access": True,
        "endpoint_public_access": True,
    },
    encryption_config={"resources": ["secrets"], "provider": {"key_arn": KEY_ARN}},
    enabled_cluster_log_types=["api", "audit", "authenticator", "controllerManager", "scheduler"],
)
