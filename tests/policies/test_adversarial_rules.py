"""Every rule against its evasions: the plain violation is not enough.

For each rule, at least one variant an attacker (or a hurried engineer) would write to
slip past a rule that matches our spelling instead of the risk: a boolean as a string,
a wildcard inside a name, the internet in pieces, a custom resource instead of a
Deployment, a patch, an AWS-managed alias for a "customer" key, a destination ARN in
another region, an aws-native resource. ``test_every_rule_has_an_adversarial_case``
keeps the table complete as rules are added. The compliant baselines and the plain
violations of each rule stay in the per-package test modules.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy_helpers import ECR, UNKNOWN, stack_resource, validate, validate_stack
from pulumi_policy import EnforcementLevel

from policies.rules import kubernetes as k
from policies.rules import residency as r
from policies.rules import zero_trust as z

KEY = "arn:aws:kms:me-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "arn:aws:s3:::acme/*", **extra: Any) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


PUBLIC_GET = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
CONTAINER = {
    "name": "app",
    "image": f"{ECR}/app:1",
    "resources": {
        "limits": {"cpu": "1", "memory": "1Gi"},
        "requests": {"cpu": "1", "memory": "1Gi"},
    },
    "securityContext": RESTRICTED,
}
POD = {
    "serviceAccountName": "app",
    "automountServiceAccountToken": False,
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "containers": [CONTAINER],
}


def pod(**changes: Any) -> dict:
    """The restricted pod spec with pod-level ``changes``."""
    return {**POD, **changes}


def container(**security: Any) -> dict:
    """The restricted pod spec whose one container has ``security`` in its context."""
    return pod(containers=[{**CONTAINER, "securityContext": {**RESTRICTED, **security}}])


ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
RUNTIME = "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime"
PATCH = "kubernetes:apps/v1:DeploymentPatch"
PYTORCH = "kubernetes:kubeflow.org/v1:PyTorchJob"
WORKFLOW = "kubernetes:argoproj.io/v1alpha1:Workflow"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


def isvc_model(**model: Any) -> dict:
    """An InferenceService whose predictor has the platform's pod context and ``model``."""
    predictor = {
        "serviceAccountName": "serving",
        "automountServiceAccountToken": False,
        "securityContext": POD["securityContext"],
        "model": {"modelFormat": {"name": "onnx"}, "runtime": "onnx", **model},
    }
    return {"metadata": {"namespace": "t"}, "spec": {"predictor": predictor}}


VELERO_BSL = "kubernetes:velero.io/v1:BackupStorageLocation"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
DIGEST = "sha256:" + "ab" * 32
TAG_SPELLING_A_DIGEST = "sha256-" + "ab" * 32


def velero_location(config: dict) -> dict:
    """A Velero BackupStorageLocation with the AWS plugin and ``config``."""
    return {"spec": {"provider": "aws", "objectStorage": {"bucket": "b"}, "config": config}}


def pytorch_job(spec: dict) -> dict:
    return {"spec": {"pytorchReplicaSpecs": {"Worker": {"template": {"spec": spec}}}}}


def patch(containers: list[dict], **pod_fields: Any) -> dict:
    return {"spec": {"template": {"spec": {"containers": containers, **pod_fields}}}}


# (policy, resource type, inputs, text of the one expected violation or None for a pass)
CASES: list[tuple[Any, str, dict, str | None]] = [
    # --- S3 ------------------------------------------------------------------------------
    (
        z.aws_s3_no_public_acl,
        "aws:s3/bucketAcl:BucketAcl",
        {
            "accessControlPolicy": {
                "grants": [
                    {
                        "grantee": {
                            "type": "Group",
                            "uri": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
                        },
                        "permission": "WRITE",
                    }
                ]
            }
        },
        "AuthenticatedUsers",
    ),
    (
        z.aws_s3_public_access_block,
        "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
        {
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": "false",
        },
        "restrictPublicBuckets",
    ),
    # --- resource policies: conditions by value, every type that carries one ------------
    (
        z.aws_resource_policy_no_public_principal,
        "aws:s3/bucketPolicy:BucketPolicy",
        {"policy": doc({**PUBLIC_GET, "Condition": {"StringLike": {"aws:PrincipalOrgID": "o-*"}}})},
        "concrete value",
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws:kms/key:Key",
        {"policy": doc({**PUBLIC_GET, "Condition": {"StringLike": {"aws:PrincipalOrgID": "*"}}})},
        "'*' principal",
    ),
    (  # IfExists passes when the key is absent: it restricts nothing
        z.aws_resource_policy_no_public_principal,
        "aws:sns/topicPolicy:TopicPolicy",
        {
            "policy": doc(
                {
                    **PUBLIC_GET,
                    "Condition": {"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}},
                }
            )
        },
        "'*' principal",
    ),
    (  # a restricting key under a negated operator admits every other account
        z.aws_resource_policy_no_public_principal,
        "aws:sqs/queuePolicy:QueuePolicy",
        {
            "policy": doc(
                {
                    **PUBLIC_GET,
                    "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "999999999999"}},
                }
            )
        },
        "'*' principal",
    ),
    (  # ARN-like with the account wildcarded
        z.aws_resource_policy_no_public_principal,
        "aws:sns/topic:Topic",
        {
            "policy": doc(
                {**PUBLIC_GET, "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}}}
            )
        },
        "'*' principal",
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws:s3/bucketPolicy:BucketPolicy",
        {
            "policy": doc(
                {
                    **PUBLIC_GET,
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
                }
            )
        },
        None,
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws:sqs/queue:Queue",
        {"policy": doc(PUBLIC_GET)},
        "'*' principal",
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws:s3/bucket:Bucket",
        {"policy": {"Version": "2012-10-17", "Statement": [PUBLIC_GET]}},
        "'*' principal",
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws:opensearch/domain:Domain",
        {"accessPolicies": doc(PUBLIC_GET)},
        "accessPolicies",
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws:secretsmanager/secretPolicy:SecretPolicy",
        {"policy": doc({**PUBLIC_GET, "Principal": {"AWS": ["*"]}})},
        "'*' principal",
    ),
    (  # Allow with NotPrincipal: everyone but the listed
        z.aws_resource_policy_no_public_principal,
        "aws:s3/bucketPolicy:BucketPolicy",
        {
            "policy": doc(
                {
                    "Effect": "Allow",
                    "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "s3:GetObject",
                    "Resource": "*",
                }
            )
        },
        "NotPrincipal",
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws-native:s3:BucketPolicy",
        {"policyDocument": {"Statement": [PUBLIC_GET]}},
        "policyDocument",
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws:lambda/permission:Permission",
        {"principal": "*", "action": "lambda:InvokeFunction", "function": "f"},
        "'*' principal",
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws:lambda/permission:Permission",
        {"principal": "*", "sourceArn": "arn:aws:execute-api:me-central-1:*:api/*"},
        "'*' principal",
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws:lambda/permission:Permission",
        {"principal": "*", "sourceAccount": "123456789012"},
        None,
    ),
    (
        z.aws_resource_policy_no_public_principal,
        "aws:lambda/functionUrl:FunctionUrl",
        {"functionName": "f", "authorizationType": "NONE"},
        "NONE",
    ),
    (  # VPC endpoint policies only apply to callers inside the VPC: '*' is the norm there
        z.aws_resource_policy_no_public_principal,
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        {"policy": doc(PUBLIC_GET)},
        None,
    ),
    (  # unknown at preview on a type that merely may carry a policy: never by itself
        z.aws_resource_policy_no_public_principal,
        "aws:sqs/queue:Queue",
        {"policy": UNKNOWN},
        None,
    ),
    # --- IAM: effective breadth ----------------------------------------------------------
    (
        z.aws_iam_no_wildcards,
        "aws:iam/policy:Policy",
        {"policy": doc(allow("s3:*Object"))},
        "s3:*Object",
    ),
    (
        z.aws_iam_no_wildcards,
        "aws:iam/policy:Policy",
        {"policy": doc(allow("s?:PutObject"))},
        "wildcard",
    ),
    (z.aws_iam_no_wildcards, "aws:iam/policy:Policy", {"policy": doc(allow("s3:Get*"))}, None),
    (
        z.aws_iam_no_wildcards,
        "aws:iam/policy:Policy",
        {"policy": doc(allow("ec2:Describe*", "*"))},
        None,
    ),
    (
        z.aws_iam_no_wildcards,
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": doc(allow("iam:PassRole", "arn:aws:iam::123456789012:role/*"))},
        "broad resources",
    ),
    (
        z.aws_iam_no_wildcards,
        "aws:iam/policy:Policy",
        {"policy": doc(allow("s3:PutObject", "arn:aws:s3:::*"))},
        "broad resources",
    ),
    (
        z.aws_iam_no_wildcards,
        "aws:iam/policy:Policy",
        {"policy": doc(allow("kms:Decrypt", "arn:aws:kms:me-central-1:*:key/*"))},
        "broad resources",
    ),
    (
        z.aws_iam_no_wildcards,
        "aws:iam/policy:Policy",
        {"policy": doc(allow("iam:PassRole", "arn:aws:iam::123456789012:role/team-*"))},
        None,
    ),
    (
        z.aws_iam_no_wildcards,
        "aws:iam/userPolicy:UserPolicy",
        {
            "policy": doc(
                {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::x/*"}
            )
        },
        "NotResource",
    ),
    (  # a transport condition does not narrow which resources
        z.aws_iam_no_wildcards,
        "aws:iam/policy:Policy",
        {
            "policy": doc(
                allow("s3:PutObject", "*", Condition={"Bool": {"aws:SecureTransport": "true"}})
            )
        },
        "restricting Condition",
    ),
    (
        z.aws_iam_no_wildcards,
        "aws:iam/policy:Policy",
        {
            "policy": doc(
                allow(
                    "s3:PutObject",
                    "*",
                    Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["tenant"]}},
                )
            )
        },
        "restricting Condition",
    ),
    (
        z.aws_iam_no_wildcards,
        "aws:iam/policy:Policy",
        {
            "policy": doc(
                allow("s3:PutObject", "*", Condition={"Null": {"aws:ResourceTag/t": "false"}})
            )
        },
        "restricting Condition",
    ),
    (
        z.aws_iam_no_wildcards,
        "aws:iam/policy:Policy",
        {
            "policy": doc(
                allow(
                    "ec2:TerminateInstances",
                    "*",
                    Condition={"StringEquals": {"aws:ResourceTag/tenant": "acme"}},
                )
            )
        },
        None,
    ),
    (
        z.aws_iam_no_wildcards,
        "aws-native:iam:ManagedPolicy",
        {"policyDocument": {"Statement": [allow("*", "*")]}},
        "wildcard actions",
    ),
    # --- managed policies and access keys ------------------------------------------------
    (
        z.aws_iam_no_admin_policy,
        "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
        {"roleName": "r", "policyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
        "AdministratorAccess",
    ),
    (
        z.aws_iam_no_broad_managed_policy,
        "aws:iam/role:Role",
        {"managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]},
        "AmazonS3FullAccess",
    ),
    (
        z.aws_iam_no_broad_managed_policy,
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        {"group": "g", "policyArn": "arn:aws:iam::aws:policy/job-function/SystemAdministrator"},
        "SystemAdministrator",
    ),
    (
        z.aws_iam_no_broad_managed_policy,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"},
        None,
    ),
    (  # reported once, by the administrator rule
        z.aws_iam_no_broad_managed_policy,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/IAMFullAccess"},
        None,
    ),
    (
        z.aws_iam_no_user_access_keys,
        "aws:iam/accessKey:AccessKey",
        {"user": "ci", "status": "Inactive"},
        "long-lived",
    ),
    (
        z.aws_iam_no_user_access_keys,
        "aws:iam/serviceSpecificCredential:ServiceSpecificCredential",
        {"userName": "ci", "serviceName": "codecommit.amazonaws.com"},
        "'ci'",
    ),
    # --- EKS -----------------------------------------------------------------------------
    (
        z.aws_eks_private_endpoint,
        "aws:eks/cluster:Cluster",
        {"vpcConfig": {"endpointPublicAccess": "true", "endpointPrivateAccess": True}},
        "internet-facing",
    ),
    (
        z.aws_eks_secrets_encryption,
        "aws:eks/cluster:Cluster",
        {
            "encryptionConfig": {
                "resources": ["secrets"],
                "provider": {"keyArn": "arn:aws:kms:me-central-1:123456789012:alias/aws/eks"},
            }
        },
        "AWS-managed",
    ),
    (
        z.aws_eks_control_plane_logs,
        "aws:eks/cluster:Cluster",
        {"enabledClusterLogTypes": ["api", "api", "audit", "authenticator", "controllerManager"]},
        "scheduler",
    ),
    # --- network -------------------------------------------------------------------------
    (
        z.aws_security_group_no_world_ingress,
        "aws:ec2/securityGroup:SecurityGroup",
        {
            "ingress": [
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/1"]},
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["128.0.0.0/1"]},
            ]
        },
        "public IPv4 addresses",
    ),
    (
        z.aws_security_group_no_world_ingress,
        "aws:ec2/securityGroup:SecurityGroup",
        {
            "ingress": [
                {
                    "protocol": "-1",
                    "fromPort": 0,
                    "toPort": 0,
                    "ipv6CidrBlocks": ["::/1", "8000::/1"],
                }
            ]
        },
        "public IPv6 addresses",
    ),
    (
        z.aws_security_group_no_world_ingress,
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "1.0.0.0/8"},
        "more than one /16",
    ),
    (  # private ranges, however large, are not the internet; a partner /24 is accepted
        z.aws_security_group_no_world_ingress,
        "aws:ec2/securityGroup:SecurityGroup",
        {
            "ingress": [
                {
                    "protocol": "tcp",
                    "fromPort": 443,
                    "toPort": 443,
                    "cidrBlocks": [
                        "10.0.0.0/8",
                        "172.16.0.0/12",
                        "192.168.0.0/16",
                        "203.0.113.0/24",
                    ],
                }
            ]
        },
        None,
    ),
    (
        z.aws_security_group_no_world_ingress,
        "aws-native:ec2:SecurityGroup",
        {
            "securityGroupIngress": [
                {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIp": "0.0.0.0/0"}
            ]
        },
        "open to 0.0.0.0/0",
    ),
    # --- EC2 -----------------------------------------------------------------------------
    (
        z.aws_ebs_encrypted,
        "aws:ec2/launchTemplate:LaunchTemplate",
        {
            "blockDeviceMappings": [
                {"ebs": {"encrypted": "true"}},
                {"deviceName": "/dev/sdb", "ebs": {"volumeSize": 100}},
            ]
        },
        "blockDeviceMappings.1",
    ),
    (
        z.aws_ec2_imdsv2,
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"metadataOptions": {"httpTokens": "Required"}},
        "IMDSv1",
    ),
    (  # Karpenter's node class is a launch template by another name
        z.aws_ec2_imdsv2,
        NODE_CLASS,
        {"spec": {"metadataOptions": {"httpTokens": "optional"}}},
        "IMDSv1",
    ),
    (z.aws_ec2_imdsv2, NODE_CLASS, {"spec": {"amiSelectorTerms": []}}, None),
    (
        z.aws_ebs_encrypted,
        NODE_CLASS,
        {"spec": {"blockDeviceMappings": [{"ebs": {"volumeSize": "100Gi", "encrypted": False}}]}},
        "not encrypted",
    ),
    # --- keys and datastores -------------------------------------------------------------
    (z.aws_kms_rotation, "aws:kms/key:Key", {"enableKeyRotation": "false"}, "not true"),
    (z.aws_kms_deletion_window, "aws:kms/key:Key", {"deletionWindowInDays": "7"}, "at least 30"),
    (
        z.aws_dynamodb_cmk,
        "aws:dynamodb/table:Table",
        {
            "serverSideEncryption": {
                "enabled": True,
                "kmsKeyArn": "arn:aws:kms:me-central-1:123456789012:alias/aws/dynamodb",
            }
        },
        "AWS-managed",
    ),
    (
        z.aws_dynamodb_pitr,
        "aws:dynamodb/table:Table",
        {"pointInTimeRecovery": {"enabled": "false"}},
        "not enabled",
    ),
    (
        z.aws_elasticache_at_rest,
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"atRestEncryptionEnabled": True, "kmsKeyId": "alias/aws/elasticache"},
        "AWS-managed",
    ),
    (
        z.aws_elasticache_in_transit,
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"transitEncryptionEnabled": "true", "transitEncryptionMode": "Preferred"},
        "preferred",
    ),
    (
        z.aws_elasticache_auth,
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"authToken": "", "userGroupIds": []},
        "Neither",
    ),
    (z.aws_rds_no_public, "aws:rds/instance:Instance", {"publiclyAccessible": "true"}, "true"),
    (z.aws_rds_encrypted, "aws:rds/cluster:Cluster", {"storageEncrypted": "false"}, "not true"),
    (
        z.aws_redshift_no_public,
        "aws:redshiftserverless/workgroup:Workgroup",
        {"publiclyAccessible": True},
        "public endpoint",
    ),
    (
        z.aws_redshift_no_public,
        "aws:redshift/cluster:Cluster",
        {"publiclyAccessible": UNKNOWN},
        None,
    ),
    (
        z.aws_redshift_encrypted,
        "aws:redshift/cluster:Cluster",
        {
            "encrypted": "true",
            "kmsKeyId": "arn:aws:kms:me-central-1:123456789012:alias/aws/redshift",
        },
        "AWS-managed",
    ),
    (
        z.aws_redshift_encrypted,
        "aws:redshiftserverless/namespace:Namespace",
        {"namespaceName": "n"},
        "No 'kmsKeyId'",
    ),
    (
        z.aws_redshift_encrypted,
        "aws:redshift/cluster:Cluster",
        {"encrypted": "true", "kmsKeyId": KEY},
        None,
    ),
    (
        z.aws_messaging_customer_key,
        "aws:kinesis/stream:Stream",
        {"encryptionType": "KMS", "kmsKeyId": "alias/aws/kinesis"},
        "AWS-managed",
    ),
    (
        z.aws_messaging_customer_key,
        "aws:kinesis/stream:Stream",
        {"encryptionType": "KMS", "kmsKeyId": KEY},
        None,
    ),
    (
        z.aws_messaging_customer_key,
        "aws:sqs/queue:Queue",
        {"sqsManagedSseEnabled": True},
        "No 'kmsMasterKeyId'",
    ),
    (
        z.aws_messaging_customer_key,
        "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream",
        {"serverSideEncryption": {"enabled": True, "keyType": "AWS_OWNED_CMK"}},
        "CUSTOMER_MANAGED_CMK",
    ),
    (z.aws_messaging_customer_key, "aws:cloudwatch/logGroup:LogGroup", {"kmsKeyId": UNKNOWN}, None),
    # --- load balancers and ECS ----------------------------------------------------------
    (z.aws_lb_internal, "aws:lb/loadBalancer:LoadBalancer", {"internal": "false"}, "is false"),
    (z.aws_lb_internal, "aws:elb/loadBalancer:LoadBalancer", {"listeners": []}, "not set"),
    (
        z.aws_lb_internal,
        "aws-native:elasticloadbalancingv2:LoadBalancer",
        {"type": "application"},
        "internet-facing",
    ),
    (z.aws_lb_internal, "aws:alb/loadBalancer:LoadBalancer", {"internal": True}, None),
    (z.aws_lb_listener_https, "aws:lb/listener:Listener", {"port": 80}, "plain HTTP"),
    (
        z.aws_lb_listener_https,
        "aws:lb/listener:Listener",
        {
            "port": 80,
            "protocol": "HTTP",
            "defaultActions": [{"type": "redirect", "redirect": {"statusCode": "HTTP_301"}}],
        },
        "plain HTTP",
    ),
    (
        z.aws_lb_listener_https,
        "aws:lb/listener:Listener",
        {
            "port": 80,
            "protocol": "HTTP",
            "defaultActions": [
                {"type": "redirect", "redirect": {"protocol": "HTTPS", "statusCode": "HTTP_301"}}
            ],
        },
        None,
    ),
    (
        z.aws_lb_listener_https,
        "aws:elb/loadBalancer:LoadBalancer",
        {"internal": True, "listeners": [{"lbProtocol": "http", "lbPort": 80}]},
        "plain HTTP",
    ),
    (z.aws_lb_listener_https, "aws:lb/listener:Listener", {"port": 443, "protocol": "HTTPS"}, None),
    (
        z.aws_ecs_no_public_ip,
        "aws:ecs/taskSet:TaskSet",
        {"networkConfiguration": {"subnets": ["s"], "assignPublicIp": "true"}},
        "public IPs",
    ),
    (
        z.aws_ecs_no_public_ip,
        "aws-native:ecs:Service",
        {"networkConfiguration": {"awsvpcConfiguration": {"assignPublicIp": "ENABLED"}}},
        "ENABLED",
    ),
    (
        z.aws_ecs_task_non_root,
        "aws:ecs/taskDefinition:TaskDefinition",
        {"containerDefinitions": json.dumps([{"name": "a", "image": "x", "user": "0:0"}])},
        "runs the container as root",
    ),
    (
        z.aws_ecs_task_non_root,
        "aws-native:ecs:TaskDefinition",
        {"containerDefinitions": [{"name": "a", "user": "10001", "privileged": True}]},
        "privileged",
    ),
    (
        z.aws_ecs_task_non_root,
        "aws:ecs/taskDefinition:TaskDefinition",
        {"containerDefinitions": json.dumps([{"name": "a", "user": "10001:10001"}])},
        None,
    ),
    (
        z.aws_ecs_task_non_root,
        "aws:ecs/taskDefinition:TaskDefinition",
        {"containerDefinitions": UNKNOWN},
        None,
    ),
    # --- Kubernetes: pods found by walking ------------------------------------------------
    (
        k.kubernetes_pod_no_privileged,
        ISVC,
        isvc_model(securityContext={"privileged": True}),
        "spec.predictor.model",
    ),
    (k.kubernetes_pod_no_privileged, ISVC, isvc_model(), None),
    (
        k.kubernetes_pod_no_privileged,
        PATCH,
        patch([{"name": "a", "securityContext": {"privileged": "true"}}]),
        "runs privileged",
    ),
    (k.kubernetes_pod_no_privileged, PATCH, patch([{"name": "a", "image": "x:1"}]), None),
    (
        k.kubernetes_pod_no_host_access,
        "kubernetes:monitoring.coreos.com/v1:Prometheus",
        {"spec": {"hostNetwork": True, "image": f"{ECR}/p:1"}},
        "spec.hostNetwork",
    ),
    (
        k.kubernetes_pod_no_host_access,
        PYTORCH,
        pytorch_job(pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}])),
        "hostPath",
    ),
    (k.kubernetes_pod_no_host_access, PATCH, patch([], hostNetwork=True), "hostNetwork"),
    (
        k.kubernetes_pod_run_as_non_root,
        RUNTIME,
        {
            "spec": {
                "containers": [{**CONTAINER, "securityContext": {**RESTRICTED, "runAsUser": 0}}]
            }
        },
        "runAsNonRoot",
    ),
    (
        k.kubernetes_pod_run_as_non_root,
        ISVC,
        isvc_model(securityContext={"runAsUser": 0}),
        "runAsUser: 0",
    ),
    (
        k.kubernetes_pod_no_privilege_escalation,
        WORKFLOW,
        {"spec": {"templates": [{"name": "step", "container": {"image": f"{ECR}/s:1"}}]}},
        "spec.templates[0].container",
    ),
    (
        k.kubernetes_pod_no_privilege_escalation,
        ISVC,
        isvc_model(securityContext={"allowPrivilegeEscalation": True}),
        "allowPrivilegeEscalation",
    ),
    (
        k.kubernetes_pod_drop_capabilities,
        PATCH,
        patch([{"name": "a", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]),
        "SYS_ADMIN",
    ),
    (
        k.kubernetes_pod_drop_capabilities,
        PYTORCH,
        pytorch_job(container(capabilities={"drop": ["NET_RAW"]})),
        "'ALL'",
    ),
    (
        k.kubernetes_pod_seccomp,
        ISVC,
        isvc_model(securityContext={"seccompProfile": {"type": "Unconfined"}}),
        "Unconfined",
    ),
    (
        k.kubernetes_pod_seccomp,
        PYTORCH,
        pytorch_job(pod(securityContext={"runAsNonRoot": True})),
        "unset",
    ),
    (
        k.kubernetes_pod_read_only_root,
        PYTORCH,
        pytorch_job(container(readOnlyRootFilesystem="false")),
        "readOnlyRootFilesystem",
    ),
    (
        k.kubernetes_pod_read_only_root,
        PATCH,
        patch([{"name": "a", "securityContext": {"readOnlyRootFilesystem": False}}]),
        "readOnlyRootFilesystem",
    ),
    (
        k.kubernetes_pod_resource_limits,
        "kubernetes:ray.io/v1:RayCluster",
        {
            "spec": {
                "headGroupSpec": {
                    "template": {"spec": pod(containers=[{**CONTAINER, "resources": {}}])}
                }
            }
        },
        "limits.cpu",
    ),
    (k.kubernetes_pod_resource_limits, ISVC, isvc_model(), None),
    (
        k.kubernetes_service_account_token,
        PYTORCH,
        pytorch_job(pod(serviceAccountName="default", automountServiceAccountToken=True)),
        "default service account",
    ),
    (k.kubernetes_service_account_token, RUNTIME, {"spec": {"containers": [CONTAINER]}}, None),
    (
        k.kubernetes_service_account_token,
        "kubernetes:core/v1:ServiceAccountPatch",
        {"metadata": {"name": "default"}, "automountServiceAccountToken": True},
        "automountServiceAccountToken",
    ),
    # --- Kubernetes: exposure, namespaces, RBAC, traffic ---------------------------------
    (
        k.kubernetes_service_not_exposed,
        "kubernetes:core/v1:ServicePatch",
        {"spec": {"type": "NodePort"}},
        "NodePort",
    ),
    (
        k.kubernetes_service_not_exposed,
        "kubernetes:core/v1:ServicePatch",
        {"spec": {"ports": []}},
        None,
    ),
    (
        k.kubernetes_service_not_exposed,
        "kubernetes:core/v1:Service",
        {
            "metadata": {
                "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "Internal "}
            },
            "spec": {"type": "LoadBalancer"},
        },
        "internet-facing",
    ),
    (
        k.kubernetes_no_default_namespace,
        "kubernetes:core/v1:ConfigMap",
        {"metadata": {"namespace": ""}},
        "'default'",
    ),
    (
        k.kubernetes_rbac_no_cluster_admin,
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        {
            "roleRef": {"kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts:tenant-a"}],
        },
        "every service account of namespace 'tenant-a'",
    ),
    (
        k.kubernetes_rbac_no_cluster_admin,
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        {
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "system:anonymous"}],
        },
        "anonymous",
    ),
    (
        k.kubernetes_rbac_no_cluster_admin,
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        {
            "roleRef": {"kind": "ClusterRole", "name": "system:public-info-viewer"},
            "subjects": [{"kind": "Group", "name": "system:unauthenticated"}],
        },
        None,
    ),
    (
        k.kubernetes_rbac_no_cluster_admin,
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        {
            "roleRef": {"kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "Group", "name": "mlplatform:acme:admins"}],
        },
        None,
    ),
    (
        k.kubernetes_rbac_no_cluster_admin,
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBindingPatch",
        {"subjects": [{"kind": "Group", "name": "system:authenticated"}]},
        "every authenticated identity",
    ),
    (
        k.kubernetes_rbac_no_wildcards,
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRolePatch",
        {"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]},
        "'verbs' contains '*'",
    ),
    (
        k.kubernetes_rbac_no_escalation,
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        {
            "rules": [
                {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}
            ]
        },
        "mint tokens",
    ),
    (
        k.kubernetes_rbac_no_escalation,
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
        {
            "rules": [
                {
                    "apiGroups": ["rbac.authorization.k8s.io"],
                    "resources": ["roles"],
                    "verbs": ["Escalate"],
                }
            ]
        },
        "'escalate'",
    ),
    (
        k.kubernetes_rbac_no_escalation,
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
        {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
        None,
    ),
    (
        k.kubernetes_network_policy_no_allow_all,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        {"spec": {"podSelector": {}, "egress": [{"to": []}]}},
        "every destination",
    ),
    (
        k.kubernetes_network_policy_no_allow_all,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        {
            "spec": {
                "podSelector": {},
                "ingress": [
                    {"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}
                ],
            }
        },
        "public IPv4 addresses",
    ),
    (
        k.kubernetes_network_policy_no_allow_all,
        "kubernetes:networking.k8s.io/v1:NetworkPolicyPatch",
        {
            "spec": {
                "egress": [
                    {
                        "to": [
                            {"ipBlock": {"cidr": "0.0.0.0/1"}},
                            {"ipBlock": {"cidr": "128.0.0.0/1"}},
                        ]
                    }
                ]
            }
        },
        "public IPv4 addresses",
    ),
    (
        k.kubernetes_network_policy_no_allow_all,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        {
            "spec": {
                "podSelector": {},
                "egress": [
                    {"to": [{"namespaceSelector": {}}]},
                    {"to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}], "ports": [{"port": 443}]},
                ],
            }
        },
        None,
    ),
    (
        k.kubernetes_ingress_internal,
        "kubernetes:networking.k8s.io/v1:IngressPatch",
        {"metadata": {"annotations": {"alb.ingress.kubernetes.io/scheme": " Internet-Facing"}}},
        "internet-facing",
    ),
    (
        k.kubernetes_ingress_internal,
        "kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams",
        {"spec": {"scheme": "internet-facing"}},
        "spec.scheme",
    ),
    (
        k.kubernetes_ingress_internal,
        "kubernetes:networking.k8s.io/v1:Ingress",
        {"metadata": {"annotations": {"alb.ingress.kubernetes.io/scheme": "internal"}}},
        None,
    ),
    (
        k.kubernetes_namespace_pod_security_restricted,
        "kubernetes:core/v1:Namespace",
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "Restricted"}}},
        "'Restricted'",
    ),
    # --- residency -----------------------------------------------------------------------
    (r.aws_resource_region_allowed, "aws:s3/bucket:Bucket", {"region": "me-south-1"}, "me-south-1"),
    (r.aws_resource_region_allowed, "aws-native:s3:Bucket", {"bucketName": "b"}, None),
    (
        r.aws_provider_region_allowed,
        "pulumi:providers:aws-native",
        {"region": "eu-central-1"},
        "eu-central-1",
    ),
    (
        r.aws_dynamodb_replica_region_allowed,
        "aws:dynamodb/table:Table",
        {"replicas": [{"regionName": "ME-CENTRAL-1"}]},
        "ME-CENTRAL-1",
    ),
    (
        r.aws_ecr_replication_destination_allowed,
        "aws:ecr/replicationConfiguration:ReplicationConfiguration",
        {
            "replicationConfiguration": {
                "rules": [
                    {
                        "destinations": [
                            {"region": "me-central-1", "registryId": "1"},
                            {"region": "me-south-1", "registryId": "1"},
                        ]
                    }
                ]
            }
        },
        "me-south-1",
    ),
    (
        r.aws_kms_multi_region_key_prohibited,
        "aws:kms/key:Key",
        {"multiRegion": "true"},
        "multi-region",
    ),
    (
        r.aws_copy_destination_allowed,
        "aws:backup/plan:Plan",
        {
            "rules": [
                {
                    "copyActions": [
                        {
                            "destinationVaultArn": "arn:aws:backup:eu-west-1:123456789012:backup-vault:dr"
                        }
                    ]
                }
            ]
        },
        "eu-west-1",
    ),
    (
        r.aws_global_datastore_prohibited,
        "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint",
        {},
        "several regions",
    ),
    (
        r.aws_arn_destination_region_allowed,
        "aws:sqs/queue:Queue",
        {"redrivePolicy": {"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:dlq"}},
        "redrivePolicy.deadLetterTargetArn",
    ),
    (
        r.aws_arn_destination_region_allowed,
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        {"alarmActions": ["arn:aws:sns:me-central-1:1:a", "arn:aws:sns:us-east-1:1:b"]},
        "alarmActions[1]",
    ),
    (
        r.aws_arn_destination_region_allowed,
        "aws-native:logs:SubscriptionFilter",
        {"destinationArn": "arn:aws:kinesis:eu-central-1:1:stream/s"},
        "eu-central-1",
    ),
    (  # a grant in a policy document or a tag value is not a destination
        r.aws_arn_destination_region_allowed,
        "aws:sqs/queue:Queue",
        {
            "policy": {"Statement": [{"Resource": "arn:aws:sqs:eu-west-1:1:q"}]},
            "tags": {"source": "arn:aws:sqs:eu-west-1:1:q"},
        },
        None,
    ),
    (
        r.aws_arn_destination_region_allowed,
        "aws:sns/topicSubscription:TopicSubscription",
        {"protocol": "sqs", "endpoint": UNKNOWN},
        None,
    ),
    (
        r.container_image_registry_approved,
        "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime",
        {"spec": {"containers": [{"name": "c", "image": "docker.io/library/python:3"}]}},
        "docker.io",
    ),
    (
        r.helm_chart_source_approved,
        "kubernetes:helm.sh/v3:Release",
        {
            "chart": "kserve",
            "repositoryOpts": {"repo": f"https://{ECR}.evil.example/charts"},
            "version": "1",
        },
        "evil.example",
    ),
    (
        r.data_resource_tagged,
        "aws:s3/bucket:Bucket",
        {"tags": {"tenant": "acme", "data-classification": "Confidential"}},
        "'Confidential'",
    ),
    # --- backups and copies in the country ----------------------------------------------
    (  # an allowed host as userinfo: the request goes to the host after '@'
        r.backup_destination_in_country,
        VELERO_BSL,
        velero_location({"s3Url": "https://s3.me-central-1.amazonaws.com@backup.example.de/"}),
        "'https://s3.me-central-1.amazonaws.com@backup.example.de/' is neither",
    ),
    (  # the dual-stack spelling of S3 abroad
        r.backup_destination_in_country,
        VELERO_BSL,
        velero_location({"s3Url": "https://s3.dualstack.eu-west-1.amazonaws.com"}),
        "region is 'eu-west-1'",
    ),
    (  # an allowed region as a prefix of the host of another endpoint
        r.backup_destination_in_country,
        VELERO_BSL,
        velero_location({"s3Url": "https://s3.me-central-1.amazonaws.com.backup.example.de"}),
        "is neither S3 in an allowed region",
    ),
    (  # Velero wrapped in an umbrella chart from a tarball: judged by its values, not name
        r.backup_destination_in_country,
        HELM_RELEASE,
        {
            "chart": "./charts/platform-backup-1.0.0.tgz",
            "values": {
                "velero": {
                    "configuration": {
                        "volumeSnapshotLocation": {
                            "provider": "aws",
                            "config": {"region": "eu-west-1"},
                        }
                    }
                }
            },
        },
        "values.velero.configuration.volumeSnapshotLocation[0] region is 'eu-west-1'",
    ),
    (  # the copy as an Argo Workflow step instead of a CronJob
        r.backup_destination_in_country,
        WORKFLOW,
        {
            "spec": {
                "templates": [
                    {
                        "name": "copy",
                        "container": {
                            **CONTAINER,
                            "env": [{"name": "AWS_ENDPOINT_URL_S3", "value": "https://x.de"}],
                        },
                    }
                ]
            }
        },
        "spec.templates[0].container (app).env[0] AWS_ENDPOINT_URL_S3",
    ),
    (  # a patch that points an existing Deployment's SDK at another region
        r.backup_destination_in_country,
        PATCH,
        patch([{"name": "app", "env": [{"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"}]}]),
        "AWS_DEFAULT_REGION is 'eu-west-1'",
    ),
    (  # a model server's environment (KServe's model spec is a container)
        r.backup_destination_in_country,
        ISVC,
        isvc_model(storageUri="s3://b/m/1/", env=[{"name": "AWS_REGION", "value": "eu-central-1"}]),
        "spec.predictor.model.env[0] AWS_REGION is 'eu-central-1'",
    ),
    # --- images by digest (advisory) --------------------------------------------------------
    (  # a tag that spells a digest (cosign's signature tags look like this) is still a tag
        k.kubernetes_image_digest,
        "kubernetes:apps/v1:Deployment",
        {
            "spec": {
                "template": {
                    "spec": pod(
                        containers=[{**CONTAINER, "image": f"{ECR}/app:{TAG_SPELLING_A_DIGEST}"}]
                    )
                }
            }
        },
        "by tag only",
    ),
    (  # not the OCI encoding of a sha256 digest (lower-case hex only): no content is pinned
        k.kubernetes_image_digest,
        "kubernetes:apps/v1:Deployment",
        {
            "spec": {
                "template": {
                    "spec": pod(containers=[{**CONTAINER, "image": f"{ECR}/app@{DIGEST.upper()}"}])
                }
            }
        },
        "by tag only",
    ),
    (  # a custom resource's container instead of a Deployment's
        k.kubernetes_image_digest,
        ISVC,
        {
            "metadata": {"namespace": "t"},
            "spec": {"predictor": {"containers": [{**CONTAINER, "name": "kserve-container"}]}},
        },
        "spec.predictor.containers[0].image",
    ),
    (  # a patch that swaps the image of a pinned Deployment for a tag
        k.kubernetes_image_digest,
        PATCH,
        patch([{"name": "app", "image": f"{ECR}/app:2"}]),
        "spec.template.spec.containers[0].image",
    ),
    (  # chart values: a digest field that is no digest
        k.kubernetes_image_digest,
        HELM_RELEASE,
        {
            "chart": "kps",
            "values": {"image": {"registry": ECR, "repository": "p", "digest": "sha256:latest"}},
        },
        "values.image",
    ),
    (  # chart values: the digest on a sibling, not on the image that is run
        k.kubernetes_image_digest,
        HELM_RELEASE,
        {
            "chart": "kps",
            "values": {
                "server": {"image": {"registry": ECR, "repository": "p", "tag": "v3"}},
                "sidecar": {"image": {"digest": DIGEST}},
            },
        },
        "values.server.image",
    ),
]


def _label(case: tuple[Any, str, dict, str | None]) -> str:
    policy, resource_type, _props, expected = case
    return (
        f"{policy.name}|{resource_type.split(':')[-1]}|{'pass' if expected is None else expected}"
    )


@pytest.mark.parametrize("case", CASES, ids=[_label(case) for case in CASES])
def test_adversarial_variant(case, stack_region) -> None:
    policy, resource_type, props, expected = case
    found = validate(policy, resource_type, props)
    if expected is None:
        assert found == []
    else:
        assert found, f"{policy.name} missed it"
        assert any(expected in message for message in found), found


# --- stack rules ---------------------------------------------------------------------------

BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ALL_ON = dict.fromkeys(
    ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
)


def _bucket(name: str = "b", **inputs: Any) -> Any:
    return stack_resource(BUCKET, name, {"bucket": name, **inputs})


def _sse(bucket: str, key: str | None) -> Any:
    default = {"sseAlgorithm": "aws:kms"} | ({"kmsMasterKeyId": key} if key else {})
    rules = [{"applyServerSideEncryptionByDefault": default}]
    return stack_resource(SSE, f"{bucket}-sse", {"bucket": bucket, "rules": rules})


STACK_CASES: list[tuple[Any, list[Any], str]] = [
    (z.aws_s3_sse_kms, [_bucket(), _sse("b", "alias/aws/s3")], "AWS-managed"),
    (  # configured, but for another bucket of the same logical name family
        z.aws_s3_bucket_encryption_configured,
        [_bucket(), _sse("b-copy", KEY)],
        "no BucketServerSideEncryptionConfiguration",
    ),
    (
        z.aws_s3_bucket_public_access_block_configured,
        [_bucket(), stack_resource(PAB, "pab", {"bucket": "other", **ALL_ON})],
        "no BucketPublicAccessBlock",
    ),
    (  # a Deny with the polarity reversed denies TLS requests, not plain ones
        z.aws_s3_bucket_tls_only,
        [
            _bucket(),
            stack_resource(
                BUCKET_POLICY,
                "pol",
                {
                    "bucket": "b",
                    "policy": doc(
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": "*",
                            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                        }
                    ),
                },
            ),
        ],
        "aws:SecureTransport",
    ),
    (  # a "default deny" that selects only some pods leaves the rest open
        k.kubernetes_namespace_default_deny,
        [
            stack_resource("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "t"}}),
            stack_resource(
                "kubernetes:networking.k8s.io/v1:NetworkPolicy",
                "deny",
                {
                    "metadata": {"namespace": "t"},
                    "spec": {
                        "podSelector": {"matchLabels": {"app": "web"}},
                        "policyTypes": ["Ingress", "Egress"],
                    },
                },
            ),
        ],
        "no default-deny",
    ),
    (  # the destination named by ARN instead of by name
        r.aws_s3_replication_destination_allowed,
        [
            _bucket("src"),
            _bucket("dst", region="eu-west-1"),
            stack_resource(
                "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
                "repl",
                {
                    "bucket": "src",
                    "role": "arn:aws:iam::123456789012:role/r",
                    "rules": [{"status": "Enabled", "destination": {"bucket": "arn:aws:s3:::dst"}}],
                },
            ),
        ],
        "eu-west-1",
    ),
]


@pytest.mark.parametrize(
    ("policy", "resources", "expected"),
    STACK_CASES,
    ids=[policy.name for policy, _, _ in STACK_CASES],
)
def test_adversarial_variant_of_stack_rule(policy, resources, expected, stack_region) -> None:
    found = validate_stack(policy, resources)
    assert any(expected in message for message, _ in found), found


def test_every_rule_has_an_adversarial_case() -> None:
    covered = {policy.name for policy, _type, _props, expected in CASES if expected is not None}
    covered |= {policy.name for policy, _resources, _expected in STACK_CASES}
    every = {policy.name for policy in [*r.POLICIES, *z.POLICIES]}
    assert every - covered == set()


def test_custom_resources_and_patches_are_walked_not_named() -> None:
    applies = k.kubernetes_pod_no_privileged.applies_to
    for resource_type in (
        ISVC,
        RUNTIME,
        PATCH,
        PYTORCH,
        WORKFLOW,
        "kubernetes:core/v1:PodTemplate",
    ):
        assert applies(resource_type), resource_type
    for resource_type in (
        "kubernetes:core/v1:ConfigMap",
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "kubernetes:helm.sh/v3:Release",
        "kubernetes:apiextensions.k8s.io:CustomResource",
        "aws:ecs/taskDefinition:TaskDefinition",
    ):
        assert not applies(resource_type), resource_type
    # A CRD's schema mentions containers but is no pod; a CR without a pod has nothing to check.
    assert validate(k.kubernetes_pod_no_privileged, PYTORCH, {"spec": {"runPolicy": {}}}) == []


def test_platform_kserve_objects_pass_every_pod_rule() -> None:
    """The InferenceService/ServingRuntime split the platform deploys: container security
    on the runtime, pod security on the predictor.

    With its image pinned by digest (as the program references it once ``mlplatform
    mirror --copy`` has filled the lock) the runtime passes every rule. Referenced by tag
    (an empty lock, as offline) it passes every mandatory rule and only the advisory
    digest rule reports it: advisory, so the gate does not fail on it.
    """

    def runtime(image: str) -> dict:
        container = {
            **CONTAINER,
            "image": image,
            "securityContext": {
                **RESTRICTED,
                "runAsNonRoot": True,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        }
        return {"spec": {"containers": [container]}}

    pinned, tagged = runtime(f"{ECR}/app:1@{DIGEST}"), runtime(f"{ECR}/app:1")
    by_tag: dict[str, list[str]] = {}
    for policy in k.RESOURCE_POLICIES:
        if policy.applies_to(ISVC):
            assert validate(policy, ISVC, isvc_model(storageUri="s3://b/m/1/")) == [], policy.name
        if policy.applies_to(RUNTIME):
            assert validate(policy, RUNTIME, pinned) == [], policy.name
            found = validate(policy, RUNTIME, tagged)
            if found:
                by_tag[policy.name] = found
    assert list(by_tag) == [k.kubernetes_image_digest.name], by_tag
    assert by_tag[k.kubernetes_image_digest.name] == [
        f"spec.containers[0].image: image '{ECR}/app:1' is referenced by tag only, not by digest."
    ]
    assert k.kubernetes_image_digest.enforcement_level == EnforcementLevel.ADVISORY


def test_every_pulumi_aws_type_with_a_policy_input_is_read() -> None:
    """The installed pulumi-aws SDK: every resource with a policy-document input is listed."""
    import importlib.util
    import pathlib
    import re

    from policies.rules.zero_trust.policy_fields import POLICY_FIELDS

    spec = importlib.util.find_spec("pulumi_aws")
    assert spec is not None and spec.origin is not None
    names = {
        "policy": "policy",
        "access_policies": "accessPolicies",
        "access_policy": "accessPolicy",
        "policy_document": "policyDocument",
        "resource_policy": "resourcePolicy",
        "assume_role_policy": "assumeRolePolicy",
        "key_policy": "keyPolicy",
        "policy_text": "policyText",
    }
    found: dict[str, set[str]] = {}
    for path in pathlib.Path(spec.origin).parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        token = re.search(r"super\(\w+, __self__\).__init__\(\s*'(aws:[^']+)'", text)
        if token is None or "def _internal_init" not in text:
            continue
        body = text.split("def _internal_init", 1)[1].split("super(", 1)[0]
        for name, value in re.findall(r'__props__\.__dict__\["(\w+)"\] = (\w+)', body):
            if name in names and value == name:
                found.setdefault(token.group(1), set()).add(names[name])
    assert found, "the SDK layout changed: no resource with a policy input found"
    missing = {
        token: sorted(fields - set(POLICY_FIELDS.get(token, ())))
        for token, fields in found.items()
        if fields - set(POLICY_FIELDS.get(token, ()))
    }
    assert missing == {}
