"""The secure baseline shared by the corpus programs.

Each corpus folder is a standalone Pulumi program; the ones that need a compliant
bucket or workload import these builders instead of copying them, then change exactly
one thing so that exactly one rule breaks. Nothing here creates a resource on import.
"""

import json

import pulumi_aws as aws
import pulumi_kubernetes as k8s

ECR = "123456789012.dkr.ecr.me-central-1.amazonaws.com"
TAGS = {"tenant": "acme", "data-classification": "confidential"}
KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
DIGEST = "sha256:" + "5f" * 32
"""A well-formed image digest (illustrative): images are referenced as ``repo:tag@DIGEST``
so that no program trips the digest rule unless it means to."""


def tls_only(bucket: str) -> str:
    """A bucket policy that denies every request made without TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def secure_bucket(name: str, algorithm: str = "aws:kms", **extra) -> aws.s3.Bucket:
    """A bucket with SSE-KMS, a public access block and a TLS-only policy."""
    bucket = aws.s3.Bucket(name, bucket=name, tags=TAGS, **extra)
    default = {"sse_algorithm": algorithm}
    if algorithm == "aws:kms":
        default["kms_master_key_id"] = KEY_ARN
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-sse",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": default, "bucket_key_enabled": True}],
        **extra,
    )
    aws.s3.BucketPublicAccessBlock(
        f"{name}-pab",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        **extra,
    )
    aws.s3.BucketPolicy(f"{name}-policy", bucket=bucket.id, policy=tls_only(name), **extra)
    return bucket


def restricted_pod(image: str, privileged: bool = False) -> dict:
    """A pod spec that meets Pod Security 'restricted' and the zero-trust rules."""
    security = {
        "allow_privilege_escalation": False,
        "read_only_root_filesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    if privileged:
        security["privileged"] = True
    return {
        "service_account_name": "app",
        "automount_service_account_token": False,
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": 10001,
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "app",
                "image": image,
                "resources": {
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                },
                "security_context": security,
            }
        ],
    }


def deployment(name: str, image: str, privileged: bool = False) -> k8s.apps.v1.Deployment:
    """A two-replica Deployment in ``tenant-acme`` running ``restricted_pod``."""
    labels = {"app": name}
    return k8s.apps.v1.Deployment(
        name,
        metadata={"name": name, "namespace": "tenant-acme"},
        spec={
            "replicas": 2,
            "selector": {"match_labels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": restricted_pod(image, privileged),
            },
        },
    )
