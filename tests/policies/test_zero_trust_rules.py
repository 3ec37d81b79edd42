"""zero-trust AWS rules: a compliant case, each violation, missing and unknown values."""

from __future__ import annotations

import json

import pytest
from policy_helpers import UNKNOWN, stack_resource, validate, validate_stack

from policies.rules import zero_trust as z


def check(policy, resource_type: str, props: dict, expected: list[str]) -> None:
    found = validate(policy, resource_type, props)
    assert len(found) == len(expected), found
    for message, text in zip(found, expected, strict=True):
        assert text in message, (message, text)


# --- S3 ----------------------------------------------------------------------------------

PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ALL_ON = dict.fromkeys(
    ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (ALL_ON, []),
        ({**ALL_ON, "blockPublicPolicy": False}, ["'blockPublicPolicy' is not true"]),
        ({k: v for k, v in ALL_ON.items() if k != "ignorePublicAcls"}, ["'ignorePublicAcls'"]),
        ({**ALL_ON, "restrictPublicBuckets": UNKNOWN}, ["could not be determined"]),
    ],
)
def test_public_access_block(props, expected) -> None:
    check(z.aws_s3_public_access_block, PAB, props, expected)


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        ("aws:s3/bucketAcl:BucketAcl", {"acl": "private"}, []),
        ("aws:s3/bucketAcl:BucketAcl", {"acl": "public-read"}, ["'public-read'"]),
        ("aws:s3/bucketAcl:BucketAcl", {"acl": UNKNOWN}, ["could not be determined"]),
        (
            "aws:s3/bucketAcl:BucketAcl",
            {
                "accessControlPolicy": {
                    "grants": [
                        {
                            "grantee": {
                                "type": "Group",
                                "uri": "http://acs.amazonaws.com/groups/global/AllUsers",
                            },
                            "permission": "READ",
                        }
                    ]
                }
            },
            ["'AllUsers'"],
        ),
        ("aws:s3/bucket:Bucket", {"acl": "public-read-write"}, ["'public-read-write'"]),
        ("aws:s3/bucket:Bucket", {}, []),
    ],
)
def test_public_acls(resource_type, props, expected) -> None:
    check(z.aws_s3_no_public_acl, resource_type, props, expected)


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (TLS_DENY, []),
        (
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "s3:GetObject",
            },
            [],
        ),
        ({"Sid": "Pub", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}, ["'Pub'"]),
        (
            {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "s3:GetObject"},
            ["'*' principal"],
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}},
            },
            [],
        ),
    ],
)
def test_public_principal_in_bucket_policy(statement, expected) -> None:
    check(
        z.aws_resource_policy_no_public_principal,
        "aws:s3/bucketPolicy:BucketPolicy",
        {"bucket": "b", "policy": _doc(statement)},
        expected,
    )


def test_public_principal_in_key_policy_and_trust_policy_and_unknowns() -> None:
    public = _doc({"Effect": "Allow", "Principal": "*", "Action": "kms:*"})
    check(
        z.aws_resource_policy_no_public_principal,
        "aws:kms/key:Key",
        {"policy": public},
        ["'*' principal"],
    )
    check(z.aws_resource_policy_no_public_principal, "aws:kms/key:Key", {}, [])
    check(
        z.aws_resource_policy_no_public_principal,
        "aws:iam/role:Role",
        {"assumeRolePolicy": public},
        ["assumeRolePolicy"],
    )
    # A document unknown as a whole at preview decides nothing: no violation.
    check(z.aws_resource_policy_no_public_principal, "aws:kms/key:Key", {"policy": UNKNOWN}, [])
    # An unknown part of a known document is skipped; what is known is still judged.
    partly_known = _doc(
        {"Effect": "Allow", "Principal": {"AWS": UNKNOWN}, "Action": "kms:Decrypt"},
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*"},
    )
    check(
        z.aws_resource_policy_no_public_principal,
        "aws:kms/key:Key",
        {"policy": partly_known},
        ["'*' principal"],
    )
    check(
        z.aws_resource_policy_no_public_principal,
        "aws:kms/key:Key",
        {"policy": "{not json"},
        ["not a JSON policy"],
    )


def _sse(algorithm: str = "aws:kms", key: str | None = "arn:aws:kms:me-central-1:1:key/k") -> dict:
    default = {"sseAlgorithm": algorithm}
    if key is not None:
        default["kmsMasterKeyId"] = key
    return {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": default}]}


SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def _bucket_stack(*extra) -> list:
    return [stack_resource("aws:s3/bucket:Bucket", "b", {"bucket": "b"}), *extra]


@pytest.mark.parametrize(
    ("sse", "expected"),
    [
        (_sse(), []),
        (_sse(key=UNKNOWN), []),
        (_sse("AES256", None), ["not 'aws:kms'"]),
        (_sse(key=None), ["no customer-managed"]),
        ({"bucket": "b", "rules": []}, ["No server-side encryption rule"]),
        ({"bucket": "b", "rules": UNKNOWN}, ["could not be determined"]),
    ],
)
def test_sse_kms(sse, expected) -> None:
    found = validate_stack(z.aws_s3_sse_kms, _bucket_stack(stack_resource(SSE, "sse", sse)))
    assert [any(text in m for m, _ in found) for text in expected] == [True] * len(expected)
    assert len(found) == len(expected)


def test_sse_s3_allowed_only_for_access_log_targets() -> None:
    logging = stack_resource(
        "aws:s3/bucketLogging:BucketLogging", "log", {"bucket": "other", "targetBucket": "b"}
    )
    resources = _bucket_stack(stack_resource(SSE, "sse", _sse("AES256", None)), logging)
    assert validate_stack(z.aws_s3_sse_kms, resources) == []


def test_every_bucket_has_encryption_public_access_block_and_tls_policy() -> None:
    complete = _bucket_stack(
        stack_resource(SSE, "sse", _sse()),
        stack_resource(PAB, "pab", {"bucket": "b", **ALL_ON}),
        stack_resource(
            "aws:s3/bucketPolicy:BucketPolicy", "pol", {"bucket": "b", "policy": _doc(TLS_DENY)}
        ),
    )
    for policy in (
        z.aws_s3_bucket_encryption_configured,
        z.aws_s3_bucket_public_access_block_configured,
        z.aws_s3_bucket_tls_only,
    ):
        assert validate_stack(policy, complete) == [], policy.name
    bare = _bucket_stack()
    for policy, text in (
        (z.aws_s3_bucket_encryption_configured, "no BucketServerSideEncryptionConfiguration"),
        (z.aws_s3_bucket_public_access_block_configured, "no BucketPublicAccessBlock"),
        (z.aws_s3_bucket_tls_only, "aws:SecureTransport"),
    ):
        ((message, urn),) = validate_stack(policy, bare)
        assert text in message and urn.endswith("::b")


def test_bucket_children_matched_by_property_dependency() -> None:
    bucket = stack_resource("aws:s3/bucket:Bucket", "auto", {})  # autonamed: no name input
    pab = stack_resource(
        PAB, "pab", {"bucket": UNKNOWN, **ALL_ON}, property_dependencies={"bucket": [bucket]}
    )
    assert validate_stack(z.aws_s3_bucket_public_access_block_configured, [bucket, pab]) == []
    other = stack_resource(PAB, "pab2", {"bucket": "someone-else", **ALL_ON})
    assert validate_stack(z.aws_s3_bucket_public_access_block_configured, [bucket, other])


def test_tls_policy_without_deny_is_caught() -> None:
    allow_only = stack_resource(
        "aws:s3/bucketPolicy:BucketPolicy",
        "pol",
        {
            "bucket": "b",
            "policy": _doc(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::1:root"},
                    "Action": "s3:GetObject",
                }
            ),
        },
    )
    assert validate_stack(z.aws_s3_bucket_tls_only, _bucket_stack(allow_only))


# --- EKS ---------------------------------------------------------------------------------

EKS = "aws:eks/cluster:Cluster"
GOOD_EKS = {
    "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True, "subnetIds": ["s"]},
    "encryptionConfig": {
        "resources": ["secrets"],
        "provider": {"keyArn": "arn:aws:kms:me-central-1:1:key/k"},
    },
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
}


@pytest.mark.parametrize(
    ("vpc", "expected"),
    [
        ({"endpointPublicAccess": False, "endpointPrivateAccess": True}, []),
        ({"endpointPrivateAccess": True}, ["defaults to true"]),
        ({"endpointPublicAccess": True, "endpointPrivateAccess": True}, ["internet-facing"]),
        ({"endpointPublicAccess": False}, ["endpointPrivateAccess"]),
        (
            {"endpointPublicAccess": UNKNOWN, "endpointPrivateAccess": True},
            ["could not be determined"],
        ),
    ],
)
def test_eks_endpoint(vpc, expected) -> None:
    check(z.aws_eks_private_endpoint, EKS, {**GOOD_EKS, "vpcConfig": vpc}, expected)


def test_eks_secrets_encryption_and_logs() -> None:
    check(z.aws_eks_secrets_encryption, EKS, GOOD_EKS, [])
    check(
        z.aws_eks_secrets_encryption,
        EKS,
        {**GOOD_EKS, "encryptionConfig": [GOOD_EKS["encryptionConfig"]]},
        [],
    )
    check(z.aws_eks_secrets_encryption, EKS, {}, ["No encryptionConfig"])
    check(
        z.aws_eks_secrets_encryption,
        EKS,
        {"encryptionConfig": {"resources": ["secrets"]}},
        ["No encryptionConfig"],
    )
    check(
        z.aws_eks_secrets_encryption,
        EKS,
        {"encryptionConfig": UNKNOWN},
        ["could not be determined"],
    )
    check(z.aws_eks_control_plane_logs, EKS, GOOD_EKS, [])
    check(z.aws_eks_control_plane_logs, EKS, {"enabledClusterLogTypes": ["api"]}, ["'audit'"])
    check(z.aws_eks_control_plane_logs, EKS, {}, ["not enabled"])
    check(
        z.aws_eks_control_plane_logs,
        EKS,
        {"enabledClusterLogTypes": UNKNOWN},
        ["could not be determined"],
    )


# --- network -----------------------------------------------------------------------------

SG = "aws:ec2/securityGroup:SecurityGroup"


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        (
            SG,
            {
                "ingress": [
                    {
                        "protocol": "tcp",
                        "fromPort": 443,
                        "toPort": 443,
                        "cidrBlocks": ["10.0.0.0/16"],
                    }
                ]
            },
            [],
        ),
        (
            SG,
            {
                "ingress": [
                    {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
                ]
            },
            ["port 22 open to 0.0.0.0/0"],
        ),
        (
            SG,
            {
                "ingress": [
                    {"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}
                ]
            },
            ["all ports open to ::/0"],
        ),
        (
            SG,
            {"ingress": [{"protocol": "tcp", "fromPort": 1, "toPort": 2, "cidrBlocks": [UNKNOWN]}]},
            ["could not be determined"],
        ),
        (SG, {"ingress": UNKNOWN}, ["could not be determined"]),
        (
            SG,
            {
                "egress": [
                    {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}
                ]
            },
            [],
        ),
        (
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            {
                "type": "ingress",
                "protocol": "tcp",
                "fromPort": 3389,
                "toPort": 3389,
                "cidrBlocks": ["0.0.0.0/0"],
            },
            ["port 3389"],
        ),
        (
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            {
                "type": "egress",
                "protocol": "-1",
                "fromPort": 0,
                "toPort": 0,
                "cidrBlocks": ["0.0.0.0/0"],
            },
            [],
        ),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"},
            ["port 22"],
        ),
    ],
)
def test_security_groups(resource_type, props, expected) -> None:
    check(z.aws_security_group_no_world_ingress, resource_type, props, expected)


# --- IAM ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": "arn:aws:s3:::b/*",
            },
            [],
        ),
        ({"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}, []),
        (
            {
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/x": "y"}},
            },
            [],
        ),
        (
            {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"},
            ["wildcard actions", "Resource '*'"],
        ),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}, ["['s3:*']"]),
        (
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"},
            ["non-read actions ['kms:Decrypt']"],
        ),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b"}, ["NotAction"]),
        ({"Effect": "Deny", "Action": "*", "Resource": "*"}, []),
    ],
)
def test_iam_wildcards(statement, expected) -> None:
    check(z.aws_iam_no_wildcards, "aws:iam/policy:Policy", {"policy": _doc(statement)}, expected)


def test_iam_documents_in_roles_and_unknowns() -> None:
    bad = _doc({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"})
    check(
        z.aws_iam_no_wildcards,
        "aws:iam/role:Role",
        {"inlinePolicies": [{"name": "x", "policy": bad}]},
        ["inlinePolicies.0"],
    )
    check(z.aws_iam_no_wildcards, "aws:iam/role:Role", {}, [])
    check(z.aws_iam_no_wildcards, "aws:iam/rolePolicy:RolePolicy", {"policy": UNKNOWN}, [])
    # Preview: an unknown resource ARN is skipped, a wildcard action in the same document is not.
    check(
        z.aws_iam_no_wildcards,
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": {"Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": UNKNOWN},
            {"Effect": "Allow", "Action": "*", "Resource": UNKNOWN},
        ]}},
        ["'*'"],
    )  # fmt: skip
    check(
        z.aws_iam_no_wildcards,
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "arn:x"}}},
        ["wildcard"],
    )


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"},
            [],
        ),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            ["AdministratorAccess"],
        ),
        (
            "aws:iam/userPolicyAttachment:UserPolicyAttachment",
            {"user": "u", "policyArn": "arn:aws:iam::aws:policy/IAMFullAccess"},
            ["IAMFullAccess"],
        ),
        (
            "aws:iam/role:Role",
            {"managedPolicyArns": ["arn:aws:iam::aws:policy/PowerUserAccess"]},
            ["PowerUserAccess"],
        ),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "r", "policyArn": "arn:aws:iam::123456789012:policy/AdministratorAccess"},
            [],
        ),
    ],
)
def test_admin_attachments(resource_type, props, expected) -> None:
    check(z.aws_iam_no_admin_policy, resource_type, props, expected)


# --- EC2 / EBS ---------------------------------------------------------------------------

LT = "aws:ec2/launchTemplate:LaunchTemplate"
GOOD_LT = {
    "metadataOptions": {"httpTokens": "required", "httpEndpoint": "enabled"},
    "blockDeviceMappings": [
        {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeSize": 100}}
    ],
}


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        (LT, GOOD_LT, []),
        (
            LT,
            {**GOOD_LT, "blockDeviceMappings": [{"ebs": {"encrypted": "false"}}]},
            ["not encrypted"],
        ),
        (LT, {"metadataOptions": GOOD_LT["metadataOptions"]}, ["No EBS block device"]),
        (LT, {**GOOD_LT, "blockDeviceMappings": UNKNOWN}, ["could not be determined"]),
        ("aws:ebs/volume:Volume", {"encrypted": True, "size": 10}, []),
        ("aws:ebs/volume:Volume", {"size": 10}, ["not encrypted"]),
        ("aws:ebs/volume:Volume", {"encrypted": UNKNOWN}, ["could not be determined"]),
        ("aws:ec2/instance:Instance", {"rootBlockDevice": {"encrypted": True}}, []),
        ("aws:ec2/instance:Instance", {}, ["rootBlockDevice is not declared"]),
        (
            "aws:ec2/instance:Instance",
            {"rootBlockDevice": {"encrypted": True}, "ebsBlockDevices": [{"deviceName": "b"}]},
            ["ebsBlockDevices.0: not encrypted"],
        ),
    ],
)
def test_ebs_encryption(resource_type, props, expected) -> None:
    check(z.aws_ebs_encrypted, resource_type, props, expected)


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        (LT, GOOD_LT, []),
        (LT, {**GOOD_LT, "metadataOptions": {"httpTokens": "optional"}}, ["'optional'"]),
        (LT, {}, ["unset"]),
        (LT, {"metadataOptions": {"httpTokens": UNKNOWN}}, ["could not be determined"]),
        ("aws:ec2/instance:Instance", {"metadataOptions": {"httpTokens": "required"}}, []),
        ("aws:eks/nodeGroup:NodeGroup", {"launchTemplate": {"id": "lt-1", "version": "1"}}, []),
        ("aws:eks/nodeGroup:NodeGroup", {"scalingConfig": {"minSize": 0}}, ["no launchTemplate"]),
    ],
)
def test_imdsv2(resource_type, props, expected) -> None:
    check(z.aws_ec2_imdsv2, resource_type, props, expected)


# --- KMS, DynamoDB, ElastiCache, RDS -----------------------------------------------------

KEY = "aws:kms/key:Key"


def test_kms_rotation_and_deletion_window() -> None:
    check(z.aws_kms_rotation, KEY, {"enableKeyRotation": True}, [])
    check(z.aws_kms_rotation, KEY, {}, ["not true"])
    check(z.aws_kms_rotation, KEY, {"enableKeyRotation": UNKNOWN}, ["could not be determined"])
    check(z.aws_kms_rotation, KEY, {"customerMasterKeySpec": "RSA_2048"}, [])
    check(z.aws_kms_deletion_window, KEY, {"deletionWindowInDays": 30}, [])
    check(z.aws_kms_deletion_window, KEY, {}, [])
    check(z.aws_kms_deletion_window, KEY, {"deletionWindowInDays": 7}, ["at least 30"])
    check(
        z.aws_kms_deletion_window,
        KEY,
        {"deletionWindowInDays": UNKNOWN},
        ["could not be determined"],
    )
    assert (
        validate(
            z.aws_kms_deletion_window, KEY, {"deletionWindowInDays": 14}, config={"minimumDays": 14}
        )
        == []
    )


TABLE = "aws:dynamodb/table:Table"


def test_dynamodb_customer_key_and_pitr() -> None:
    good = {
        "serverSideEncryption": {"enabled": True, "kmsKeyArn": "arn:aws:kms:me-central-1:1:key/k"},
        "pointInTimeRecovery": {"enabled": True},
    }
    check(z.aws_dynamodb_cmk, TABLE, good, [])
    check(z.aws_dynamodb_cmk, TABLE, {}, ["AWS-owned key"])
    check(z.aws_dynamodb_cmk, TABLE, {"serverSideEncryption": {"enabled": True}}, ["no kmsKeyArn"])
    check(
        z.aws_dynamodb_cmk,
        TABLE,
        {"serverSideEncryption": {"enabled": UNKNOWN}},
        ["could not be determined"],
    )
    check(z.aws_dynamodb_pitr, TABLE, good, [])
    check(z.aws_dynamodb_pitr, TABLE, {}, ["not enabled"])
    check(
        z.aws_dynamodb_pitr,
        TABLE,
        {"pointInTimeRecovery": {"enabled": UNKNOWN}},
        ["could not be determined"],
    )


RG = "aws:elasticache/replicationGroup:ReplicationGroup"
GOOD_RG = {
    "atRestEncryptionEnabled": True,
    "kmsKeyId": "arn:k",
    "transitEncryptionEnabled": True,
    "transitEncryptionMode": "required",
    "authToken": "[secret]",
}


@pytest.mark.parametrize(
    ("policy", "props", "expected"),
    [
        (z.aws_elasticache_at_rest, GOOD_RG, []),
        (
            z.aws_elasticache_at_rest,
            {**GOOD_RG, "atRestEncryptionEnabled": False},
            ["atRestEncryptionEnabled"],
        ),
        (
            z.aws_elasticache_at_rest,
            {k: v for k, v in GOOD_RG.items() if k != "kmsKeyId"},
            ["No kmsKeyId"],
        ),
        (
            z.aws_elasticache_at_rest,
            {**GOOD_RG, "atRestEncryptionEnabled": UNKNOWN},
            ["could not be determined"],
        ),
        (z.aws_elasticache_in_transit, GOOD_RG, []),
        (
            z.aws_elasticache_in_transit,
            {**GOOD_RG, "transitEncryptionEnabled": False},
            ["transitEncryptionEnabled"],
        ),
        (
            z.aws_elasticache_in_transit,
            {**GOOD_RG, "transitEncryptionMode": "preferred"},
            ["'preferred'"],
        ),
        (z.aws_elasticache_auth, GOOD_RG, []),
        (z.aws_elasticache_auth, {**GOOD_RG, "authToken": None}, ["Neither authToken"]),
        (z.aws_elasticache_auth, {"userGroupIds": ["g"]}, []),
    ],
)
def test_elasticache(policy, props, expected) -> None:
    check(policy, RG, props, expected)


def test_elasticache_standalone_and_serverless() -> None:
    cluster = "aws:elasticache/cluster:Cluster"
    check(z.aws_elasticache_at_rest, cluster, {"engine": "redis"}, ["standalone"])
    check(z.aws_elasticache_at_rest, cluster, {"replicationGroupId": "rg"}, [])
    serverless = "aws:elasticache/serverlessCache:ServerlessCache"
    check(z.aws_elasticache_at_rest, serverless, {"kmsKeyId": "arn:k"}, [])
    check(z.aws_elasticache_auth, serverless, {}, ["No userGroupId"])


def test_rds() -> None:
    check(z.aws_rds_no_public, "aws:rds/instance:Instance", {"publiclyAccessible": False}, [])
    check(z.aws_rds_no_public, "aws:rds/instance:Instance", {}, [])
    check(
        z.aws_rds_no_public,
        "aws:rds/clusterInstance:ClusterInstance",
        {"publiclyAccessible": True},
        ["publiclyAccessible"],
    )
    check(
        z.aws_rds_no_public,
        "aws:rds/instance:Instance",
        {"publiclyAccessible": UNKNOWN},
        ["could not be determined"],
    )
    check(z.aws_rds_encrypted, "aws:rds/cluster:Cluster", {"storageEncrypted": True}, [])
    check(z.aws_rds_encrypted, "aws:rds/instance:Instance", {}, ["storageEncrypted"])
    check(z.aws_rds_encrypted, "aws:rds/instance:Instance", {"replicateSourceDb": "src"}, [])
    check(
        z.aws_rds_encrypted,
        "aws:rds/cluster:Cluster",
        {"storageEncrypted": UNKNOWN},
        ["could not be determined"],
    )


def test_every_rule_has_complete_metadata() -> None:
    names = [p.name for p in z.POLICIES]
    assert len(names) == len(set(names))
    for policy in z.POLICIES:
        assert policy.description and policy.remediation_steps and policy.severity is not None
        assert any(t.startswith("framework:") for t in policy.tags)
