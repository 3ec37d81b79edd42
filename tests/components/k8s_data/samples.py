"""Sample inputs for the Kubernetes-layer tests: one SMB and one enterprise tenant.

Plain data shaped like what the platform's settings map onto the component args.
"""

from __future__ import annotations

from typing import Any

REGISTRY = "123456789012.dkr.ecr.me-central-1.amazonaws.com"
KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/1f0e2d3c-aaaa-bbbb-cccc-0123456789ab"
ROLE_ARN = "arn:aws:iam::123456789012:role/acme-workloads"
QUEUE_URL = "https://sqs.me-central-1.amazonaws.com/123456789012/big-bank-retraining"
CLUSTER_CIDRS = ["10.40.0.0/16"]
GPU_SELECTOR = {"nvidia.com/gpu.present": "true"}
TIERS = ("smb", "enterprise")


def tenant(tier: str) -> str:
    return "corner-shop" if tier == "smb" else "big-bank"


def serving_args(tier: str, *, gpu: bool | None = None) -> dict[str, Any]:
    t = tenant(tier)
    model: dict[str, Any] = {"name": "churn", "storage_uri": f"s3://{t}-data/models/churn/1/"}
    if tier == "enterprise":
        model |= {
            "challenger_storage_uri": f"s3://{t}-data/models/churn/2/",
            "canary_percent": 10,
            "gpu": True if gpu is None else gpu,
        }
    return {
        "tenant": t,
        "namespace": t,
        "tier": tier,
        "registry_host": REGISTRY,
        "image_tag": "0.1.0",
        "models": [model, {"name": "fraud", "storage_uri": f"s3://{t}-data/models/fraud/3/"}],
        "min_replicas": 2 if tier == "enterprise" else 1,
        "max_replicas": 6 if tier == "enterprise" else 3,
        "role_arn": ROLE_ARN,
    }


def feature_store_args(tier: str) -> dict[str, Any]:
    t = tenant(tier)
    args: dict[str, Any] = {
        "tenant": t,
        "namespace": t,
        "tier": tier,
        "registry_host": REGISTRY,
        "bucket_name": f"{t}-data",
        "kms_key_arn": KEY_ARN,
        "feature_views": ["customer_activity", "customer_profile"],
        "role_arn": ROLE_ARN,
        "image_tag": "0.1.0",
        "online_ttl_days": 90,
    }
    if tier == "enterprise":
        args |= {
            "data_subnet_ids": ["subnet-0a", "subnet-0c"],
            "vpc_id": "vpc-0123",
            "node_security_group_id": "sg-0nodes",
            "redis_auth_token": "t0ken-of-thirty-two-characters-xx",
        }
    return args


def monitoring_args(tier: str) -> dict[str, Any]:
    t = tenant(tier)
    return {
        "tenant": t,
        "namespace": t,
        "tier": tier,
        "registry_host": REGISTRY,
        "models": ["churn", "fraud"],
        "retention_days": 180,
    }


def queue_args(tier: str) -> dict[str, Any]:
    t = tenant(tier)
    return {"tenant": t, "kms_key_arn": KEY_ARN, "automation_role_name": f"{t}-automation"}
