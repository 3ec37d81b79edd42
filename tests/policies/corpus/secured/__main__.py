"""Corpus case: a carefully secured program that must pass every rule."""

import json

import pulumi_aws as aws
import pulumi_kubernetes as k8s

ECR = "123456789012.dkr.ecr.me-central-1.amazonaws.com"
TAGS = {"tenant": "acme", "data-classification": "confidential"}
KEY_ARN = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def tls_only(bucket: str) -> str:
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


secure_bucket("acme-data")
aws.kms.Key(
    "tenant-key",
    description="tenant key",
    enable_key_rotation=True,
    deletion_window_in_days=30,
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Root",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    ),
)
aws.ec2.SecurityGroup(
    "internal-https",
    description="https from the VPC",
    ingress=[
        {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.40.0.0/16"]}
    ],
)
aws.dynamodb.Table(
    "features",
    hash_key="id",
    attributes=[{"name": "id", "type": "S"}],
    billing_mode="PAY_PER_REQUEST",
    server_side_encryption={"enabled": True, "kms_key_arn": KEY_ARN},
    point_in_time_recovery={"enabled": True},
    tags=TAGS,
)
aws.iam.Policy(
    "read-features",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": "arn:aws:s3:::acme-data/*",
                }
            ],
        }
    ),
)
namespace = k8s.core.v1.Namespace(
    "tenant-acme",
    metadata={
        "name": "tenant-acme",
        "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
    },
)
k8s.networking.v1.NetworkPolicy(
    "default-deny",
    metadata={"name": "default-deny", "namespace": "tenant-acme"},
    spec={"pod_selector": {}, "policy_types": ["Ingress", "Egress"]},
)
k8s.core.v1.ServiceAccount(
    "app",
    metadata={"name": "app", "namespace": "tenant-acme"},
    automount_service_account_token=False,
)
deployment("api", f"{ECR}/acme/api:1.4.2")
k8s.helm.v3.Release(
    "kserve",
    chart=f"oci://{ECR}/charts/kserve",
    version="v0.16.0",
    namespace="platform",
    values={"kserve": {"controller": {"image": f"{ECR}/kserve/kserve-controller"}}},
)
