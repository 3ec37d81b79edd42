"""Evasion case: An internal ALB with a plain-HTTP listener that forwards instead of redirecting."""

import pulumi_aws as aws

alb = aws.lb.LoadBalancer(
    "internal-alb",
    internal=True,
    load_balancer_type="application",
    subnets=["subnet-0a1", "subnet-0b2"],
    security_groups=["sg-0c3"],
)
aws.lb.Listener(
    "plain-http",
    load_balancer_arn=alb.arn,
    port=80,
    protocol="HTTP",
    default_actions=[
        {
            "type": "forward",
            "target_group_arn": "arn:aws:elasticloadbalancing:me-central-1:123456789012:targetgroup/app/0123456789abcdef",
        }
    ],
)
