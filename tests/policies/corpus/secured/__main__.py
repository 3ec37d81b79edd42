"""Corpus case: a carefully secured program that must pass every rule."""

import json
import sys
from pathlib import Path

import pulumi_aws as aws
import pulumi_kubernetes as k8s

# The shared secure baseline (_baseline.py) sits in the corpus folder, one level up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _baseline import DIGEST, ECR, KEY_ARN, TAGS, deployment, secure_bucket

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
deployment("api", f"{ECR}/acme/api:1.4.2@{DIGEST}")
k8s.helm.v3.Release(
    "kserve",
    chart=f"oci://{ECR}/charts/kserve",
    version="v0.16.0",
    namespace="platform",
    values={"kserve": {"controller": {"image": f"{ECR}/kserve/kserve-controller@{DIGEST}"}}},
)
