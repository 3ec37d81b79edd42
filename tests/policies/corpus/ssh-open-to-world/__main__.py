"""Corpus case: SSH open to the whole internet."""

import pulumi_aws as aws

aws.ec2.SecurityGroup(
    "bastion-sg",
    description="ssh",
    ingress=[{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"]}],
)
