"""Evasion case: An ECS task definition whose container runs as the image's default user (root)."""

import json

import pulumi_aws as aws

aws.ecs.TaskDefinition(
    "web-task",
    family="web",
    requires_compatibilities=["FARGATE"],
    network_mode="awsvpc",
    cpu="256",
    memory="512",
    container_definitions=json.dumps(
        [
            {
                "name": "web",
                "image": "123456789012.dkr.ecr.me-central-1.amazonaws.com/web:1.0.0",
                "essential": True,
            }
        ]
    ),
)
