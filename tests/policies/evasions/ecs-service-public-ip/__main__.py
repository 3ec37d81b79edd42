"""Evasion case: A Fargate service whose tasks get public IP addresses."""

import pulumi_aws as aws

aws.ecs.Service(
    "web-svc",
    cluster="arn:aws:ecs:me-central-1:123456789012:cluster/apps",
    task_definition="arn:aws:ecs:me-central-1:123456789012:task-definition/web:1",
    desired_count=1,
    launch_type="FARGATE",
    network_configuration={"subnets": ["subnet-0a1"], "assign_public_ip": True},
)
