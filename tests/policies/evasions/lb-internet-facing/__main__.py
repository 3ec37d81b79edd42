"""Evasion case: An application load balancer without 'internal' (AWS makes it internet-facing)."""

import pulumi_aws as aws

aws.lb.LoadBalancer(
    "public-alb",
    load_balancer_type="application",
    subnets=["subnet-0a1", "subnet-0b2"],
    security_groups=["sg-0c3"],
)
