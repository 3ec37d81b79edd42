"""Corpus case: an explicit provider in me-south-1 (Bahrain, not the UAE)."""

import pulumi
import pulumi_aws as aws

bahrain = aws.Provider("bahrain", region="me-south-1")
aws.ec2.SecurityGroup(
    "bahrain-sg",
    description="no ingress",
    opts=pulumi.ResourceOptions(provider=bahrain),
)
