"""Zero Trust rules for AWS: encryption at rest and in transit, exposure, least privilege.

Served by the ``zero-trust`` pack, together with the Kubernetes workload-isolation
rules of :mod:`policies.rules.kubernetes`. This module is the catalogue: every rule with
its name, description, severity, frameworks, remediation and settings. The validators
live in one module per AWS service area: :mod:`.s3`, :mod:`.iam` (IAM and resource
policies), :mod:`.eks`, :mod:`.ec2` (security groups, volumes, instance metadata) and
:mod:`.datastores` (KMS, DynamoDB, ElastiCache, RDS).
"""

from pulumi_policy import Severity

from policies.rules import frameworks as fw
from policies.rules import kubernetes
from policies.rules.declare import Setting, rule
from policies.rules.zero_trust.datastores import (
    CACHE_TYPES,
    validate_cache_at_rest,
    validate_cache_auth,
    validate_cache_in_transit,
    validate_dynamodb_cmk,
    validate_dynamodb_pitr,
    validate_kms_deletion_window,
    validate_kms_rotation,
    validate_rds_encrypted,
    validate_rds_public,
)
from policies.rules.zero_trust.ec2 import (
    validate_ebs_encryption,
    validate_imdsv2,
    validate_security_group,
)
from policies.rules.zero_trust.eks import (
    CLUSTER_TYPES,
    validate_eks_endpoint,
    validate_eks_logs,
    validate_eks_secrets,
)
from policies.rules.zero_trust.iam import (
    DEFAULT_PROHIBITED_MANAGED_POLICIES,
    IAM_DOCUMENT_TYPES,
    validate_admin_attachments,
    validate_iam_wildcards,
    validate_public_principal,
)
from policies.rules.zero_trust.s3 import (
    BUCKET_POLICY_TYPE,
    BUCKET_TYPES,
    PAB_TYPE,
    validate_buckets_blocked,
    validate_buckets_encrypted,
    validate_buckets_tls_only,
    validate_public_access_block,
    validate_s3_acl,
    validate_sse_kms,
)

# --- S3 ----------------------------------------------------------------------------------

aws_s3_no_public_acl = rule(
    "aws-s3-bucket-no-public-acl",
    "S3 buckets grant nothing to AllUsers or AuthenticatedUsers through ACLs.",
    validate_s3_acl,
    types={*BUCKET_TYPES, "aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"},
    severity=Severity.CRITICAL,
    frameworks=(*fw.fsbp("S3.2", "S3.3"), *fw.SECURITY),
    remediation="Remove the public ACL; keep 'BucketOwnerEnforced' object ownership so ACLs are "
    "disabled.",
)
aws_s3_public_access_block = rule(
    "aws-s3-public-access-block-enabled",
    "S3 public access blocks turn on all four settings.",
    validate_public_access_block,
    types={PAB_TYPE, "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"},
    severity=Severity.CRITICAL,
    frameworks=(*fw.fsbp("S3.1", "S3.8"), *fw.SECURITY),
    remediation="Set blockPublicAcls, blockPublicPolicy, ignorePublicAcls and "
    "restrictPublicBuckets to true.",
)
aws_s3_sse_kms = rule(
    "aws-s3-bucket-sse-kms",
    "S3 default encryption uses SSE-KMS with a customer-managed key (SSE-S3 only "
    "for server-access-log target buckets, which AWS requires).",
    validate_sse_kms,
    stack=True,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("S3.17"), *fw.SECURITY),
    remediation="Configure applyServerSideEncryptionByDefault with sseAlgorithm 'aws:kms' and the "
    "tenant's key as kmsMasterKeyId; enable bucketKeyEnabled to cut KMS costs.",
)
aws_s3_bucket_encryption_configured = rule(
    "aws-s3-bucket-encryption-configured",
    "Every S3 bucket in the stack has a default-encryption configuration.",
    validate_buckets_encrypted,
    stack=True,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("S3.17"), *fw.SECURITY),
    remediation="Add an aws.s3.BucketServerSideEncryptionConfiguration (SSE-KMS, tenant key) for "
    "the bucket.",
)
aws_s3_bucket_public_access_block_configured = rule(
    "aws-s3-bucket-public-access-block-configured",
    "Every S3 bucket in the stack has a public access block.",
    validate_buckets_blocked,
    stack=True,
    severity=Severity.CRITICAL,
    frameworks=(*fw.fsbp("S3.8"), *fw.SECURITY),
    remediation="Add an aws.s3.BucketPublicAccessBlock with all four settings true.",
)
aws_s3_bucket_tls_only = rule(
    "aws-s3-bucket-tls-only",
    "Every S3 bucket's policy denies requests not made over TLS.",
    validate_buckets_tls_only,
    stack=True,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("S3.5"), *fw.SECURITY),
    remediation="Add a bucket policy statement: Effect Deny, Principal '*', Action 's3:*', "
    "Resource the bucket and its objects, Condition Bool aws:SecureTransport 'false'.",
)


# --- IAM and resource policies -----------------------------------------------------------

aws_resource_policy_no_public_principal = rule(
    "aws-resource-policy-no-public-principal",
    "Bucket, key, queue, topic and repository policies and role trust policies do not allow "
    "the '*' principal unconditionally.",
    validate_public_principal,
    types={
        BUCKET_POLICY_TYPE,
        "aws:kms/key:Key",
        "aws:kms/keyPolicy:KeyPolicy",
        "aws:iam/role:Role",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
    },
    severity=Severity.CRITICAL,
    frameworks=(*fw.fsbp("S3.2", "S3.3", "KMS.5"), *fw.SECURITY),
    remediation="Name the account root, roles or service principals; if '*' is unavoidable, "
    "constrain it with aws:PrincipalAccount, aws:SourceVpce or aws:PrincipalOrgID.",
)
aws_iam_no_wildcards = rule(
    "aws-iam-policy-no-wildcards",
    "IAM policies grant named actions on named resources: no '*' or 'service:*' actions, no "
    "Allow+NotAction, no '*' resource for write actions without a condition.",
    validate_iam_wildcards,
    types=IAM_DOCUMENT_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("IAM.1", "IAM.21"), *fw.SECURITY),
    remediation="List the exact actions; scope resources to ARNs (the tenant's buckets and keys); "
    "where an API only supports '*', add a Condition (aws:ResourceTag, aws:RequestedRegion).",
)
aws_iam_no_admin_policy = rule(
    "aws-iam-no-admin-policy-attachment",
    "No role, user or group gets AdministratorAccess, PowerUserAccess or IAMFullAccess.",
    validate_admin_attachments,
    types={
        "aws:iam/role:Role",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    },
    severity=Severity.CRITICAL,
    frameworks=(*fw.fsbp("IAM.1"), *fw.SECURITY),
    remediation="Attach a least-privilege customer-managed policy instead.",
    config={
        "prohibitedManagedPolicies": Setting(
            DEFAULT_PROHIBITED_MANAGED_POLICIES,
            {
                "type": "array",
                "items": {"type": "string"},
                "description": "AWS managed policy names that must never be attached.",
            },
        )
    },
)


# --- EKS ---------------------------------------------------------------------------------

aws_eks_private_endpoint = rule(
    "aws-eks-cluster-private-endpoint",
    "The EKS API server endpoint is private; public access is off.",
    validate_eks_endpoint,
    types=CLUSTER_TYPES,
    severity=Severity.CRITICAL,
    frameworks=(*fw.cis_eks("5.4.1", "5.4.2"), *fw.fsbp("EKS.1"), *fw.SECURITY),
    remediation="Set vpcConfig.endpointPublicAccess false and endpointPrivateAccess true; reach "
    "the API through the VPC (SSM, VPN or a bastion in a private subnet).",
)
aws_eks_secrets_encryption = rule(
    "aws-eks-cluster-secrets-encryption",
    "EKS envelope-encrypts Kubernetes secrets with a customer-managed KMS key.",
    validate_eks_secrets,
    types=CLUSTER_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("5.3.1"), *fw.fsbp("EKS.3"), *fw.SECURITY),
    remediation="Set encryptionConfig = {resources: ['secrets'], provider: {keyArn: <platform "
    "key>}}.",
)
aws_eks_control_plane_logs = rule(
    "aws-eks-cluster-control-plane-logs",
    "EKS sends all control-plane log types (api, audit, authenticator, controllerManager, "
    "scheduler) to CloudWatch Logs.",
    validate_eks_logs,
    types=CLUSTER_TYPES,
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("2.1.1"), *fw.fsbp("EKS.8"), *fw.SECURITY),
    remediation="Set enabledClusterLogTypes to all five types and encrypt the log group with a "
    "KMS key.",
)


# --- EC2 ---------------------------------------------------------------------------------

aws_security_group_no_world_ingress = rule(
    "aws-security-group-no-world-ingress",
    "Security groups allow no ingress from the whole internet (0.0.0.0/0 or ::/0).",
    validate_security_group,
    types={
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    },
    severity=Severity.CRITICAL,
    frameworks=(*fw.fsbp("EC2.13", "EC2.14", "EC2.18", "EC2.19"), *fw.SECURITY),
    remediation="Allow ingress only from the VPC CIDR, specific prefix lists or other security "
    "groups; administer hosts through SSM Session Manager instead of SSH/RDP.",
)
aws_ebs_encrypted = rule(
    "aws-ebs-volume-encrypted",
    "EBS volumes, instance block devices and launch-template block devices are encrypted.",
    validate_ebs_encryption,
    types={
        "aws:ebs/volume:Volume",
        "aws:ec2/instance:Instance",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/launchConfiguration:LaunchConfiguration",
    },
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("EC2.3", "EC2.7"), *fw.SECURITY),
    remediation="Set encrypted true (launch templates: ebs.encrypted 'true') with the platform's "
    "EBS KMS key.",
)
aws_ec2_imdsv2 = rule(
    "aws-ec2-imdsv2-required",
    "EC2 instances and launch templates require IMDSv2 (httpTokens 'required').",
    validate_imdsv2,
    types={
        "aws:ec2/instance:Instance",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/launchConfiguration:LaunchConfiguration",
        "aws:eks/nodeGroup:NodeGroup",
    },
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("EC2.8", "EC2.170", "AutoScaling.3"), *fw.SECURITY),
    remediation="Set metadataOptions {httpTokens: 'required', httpPutResponseHopLimit: 1 or 2, "
    "httpEndpoint: 'enabled'}; give node groups a launch template.",
)


# --- KMS, DynamoDB, ElastiCache, RDS -----------------------------------------------------

aws_kms_rotation = rule(
    "aws-kms-key-rotation-enabled",
    "Symmetric customer-managed KMS keys rotate automatically.",
    validate_kms_rotation,
    types={"aws:kms/key:Key"},
    severity=Severity.MEDIUM,
    frameworks=(*fw.fsbp("KMS.4"), *fw.SECURITY),
    remediation="Set enableKeyRotation true (optionally rotationPeriodInDays).",
)
aws_kms_deletion_window = rule(
    "aws-kms-key-deletion-window",
    "KMS keys keep the longest deletion window so an accidental deletion can be cancelled.",
    validate_kms_deletion_window,
    types={"aws:kms/key:Key"},
    severity=Severity.MEDIUM,
    frameworks=(*fw.fsbp("KMS.3"), *fw.SECURITY),
    remediation="Set deletionWindowInDays to 30 (or remove it: AWS defaults to 30).",
    config={
        "minimumDays": Setting(
            30, {"type": "integer", "minimum": 7, "maximum": 30, "description": "Days."}
        )
    },
)
aws_dynamodb_cmk = rule(
    "aws-dynamodb-table-customer-key",
    "DynamoDB tables are encrypted with a customer-managed KMS key.",
    validate_dynamodb_cmk,
    types={"aws:dynamodb/table:Table"},
    severity=Severity.HIGH,
    frameworks=fw.SECURITY,
    remediation="Set serverSideEncryption {enabled: true, kmsKeyArn: <tenant key ARN>}.",
)
aws_dynamodb_pitr = rule(
    "aws-dynamodb-table-pitr",
    "DynamoDB tables have point-in-time recovery enabled.",
    validate_dynamodb_pitr,
    types={"aws:dynamodb/table:Table"},
    severity=Severity.MEDIUM,
    frameworks=(*fw.fsbp("DynamoDB.2"), *fw.SECURITY),
    remediation="Set pointInTimeRecovery {enabled: true}.",
)
aws_elasticache_at_rest = rule(
    "aws-elasticache-at-rest-encryption",
    "ElastiCache data is encrypted at rest with a customer-managed key.",
    validate_cache_at_rest,
    types=CACHE_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("ElastiCache.4"), *fw.SECURITY),
    remediation="Use a replication group with atRestEncryptionEnabled true and kmsKeyId the "
    "tenant key.",
)
aws_elasticache_in_transit = rule(
    "aws-elasticache-in-transit-encryption",
    "ElastiCache requires TLS for every connection.",
    validate_cache_in_transit,
    types=CACHE_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("ElastiCache.5"), *fw.SECURITY),
    remediation="Set transitEncryptionEnabled true and transitEncryptionMode 'required'.",
)
aws_elasticache_auth = rule(
    "aws-elasticache-auth-required",
    "ElastiCache requires authentication (AUTH token or RBAC user groups).",
    validate_cache_auth,
    types=CACHE_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("ElastiCache.6"), *fw.SECURITY),
    remediation="Set authToken (from a secret) or userGroupIds with per-tenant users.",
)
aws_rds_no_public = rule(
    "aws-rds-no-public-access",
    "RDS instances are not publicly accessible.",
    validate_rds_public,
    types={"aws:rds/instance:Instance", "aws:rds/clusterInstance:ClusterInstance"},
    severity=Severity.CRITICAL,
    frameworks=(*fw.fsbp("RDS.2"), *fw.SECURITY),
    remediation="Set publiclyAccessible false and place the database in private subnets.",
)
aws_rds_encrypted = rule(
    "aws-rds-storage-encrypted",
    "RDS instances and clusters encrypt their storage.",
    validate_rds_encrypted,
    types={"aws:rds/instance:Instance", "aws:rds/cluster:Cluster"},
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("RDS.3"), *fw.SECURITY),
    remediation="Set storageEncrypted true with kmsKeyId the tenant key (needs a new instance or "
    "a snapshot restore).",
)

RESOURCE_POLICIES = [
    aws_s3_no_public_acl,
    aws_s3_public_access_block,
    aws_resource_policy_no_public_principal,
    aws_eks_private_endpoint,
    aws_eks_secrets_encryption,
    aws_eks_control_plane_logs,
    aws_security_group_no_world_ingress,
    aws_iam_no_wildcards,
    aws_iam_no_admin_policy,
    aws_ebs_encrypted,
    aws_ec2_imdsv2,
    aws_kms_rotation,
    aws_kms_deletion_window,
    aws_dynamodb_cmk,
    aws_dynamodb_pitr,
    aws_elasticache_at_rest,
    aws_elasticache_in_transit,
    aws_elasticache_auth,
    aws_rds_no_public,
    aws_rds_encrypted,
    *kubernetes.RESOURCE_POLICIES,
]
STACK_POLICIES = [
    aws_s3_sse_kms,
    aws_s3_bucket_encryption_configured,
    aws_s3_bucket_public_access_block_configured,
    aws_s3_bucket_tls_only,
    *kubernetes.STACK_POLICIES,
]
POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
"""Every rule of the ``zero-trust`` pack."""
