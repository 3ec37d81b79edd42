"""Evasion case: An Ingress asking the AWS Load Balancer Controller for an internet-facing ALB."""

import pulumi_kubernetes as k8s

k8s.networking.v1.Ingress(
    "public-api",
    metadata={
        "name": "public-api",
        "namespace": "tenant-acme",
        "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"},
    },
    spec={
        "ingress_class_name": "alb",
        "rules": [
            {
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "path_type": "Prefix",
                            "backend": {"service": {"name": "api", "port": {"number": 8080}}},
                        }
                    ]
                }
            }
        ],
    },
)
