"""Evasion case: The whole internet written as two /1 blocks."""

import pulumi_aws as aws

aws.ec2.SecurityGroup(
    "pieces-sg",
    description="https from 'two ranges'",
    ingress=[
        {
            "protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "cidr_blocks": ["0.0.0.0/1", "128.0.0.0/1"],
        }
    ],
)
