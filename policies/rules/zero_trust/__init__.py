"""Zero Trust rules for AWS: encryption at rest and in transit, exposure, least privilege.

Served by the ``zero-trust`` pack, together with the Kubernetes workload-isolation
rules of :mod:`policies.rules.kubernetes`. This module is the catalogue: every rule with
its name, description, severity, frameworks, remediation and settings. The validators
live in one module per AWS service area: :mod:`.s3`, :mod:`.iam` (IAM and resource
policies), :mod:`.eks`, :mod:`.ec2` (security groups, volumes, instance metadata),
:mod:`.datastores` (KMS, DynamoDB, ElastiCache, RDS, Redshift, streams, queues, topics,
logs) and :mod:`.exposure` (load balancers, listeners, ECS).
"""

from pulumi_policy import Severity

from policies.rules import frameworks as fw
from policies.rules import kubernetes
from policies.rules.declare import Setting, rule
from policies.rules.zero_trust.datastores import (
    CACHE_TYPES,
    MESSAGING_TYPES,
    REDSHIFT_ENCRYPTION_TYPES,
    REDSHIFT_PUBLIC_TYPES,
    validate_cache_at_rest,
    validate_cache_auth,
    validate_cache_in_transit,
    validate_dynamodb_cmk,
    validate_dynamodb_pitr,
    validate_kms_deletion_window,
    validate_kms_rotation,
    validate_messaging_key,
    validate_rds_encrypted,
    validate_rds_public,
    validate_redshift_encryption,
    validate_redshift_public,
)
from policies.rules.zero_trust.ec2 import (
    is_karpenter_node_class,
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
from policies.rules.zero_trust.exposure import (
    ECS_SERVICE_TYPES,
    ECS_TASK_TYPES,
    LB_TYPES,
    LISTENER_TYPES,
    validate_ecs_public_ip,
    validate_ecs_task_user,
    validate_lb_internal,
    validate_listener_https,
)
from policies.rules.zero_trust.iam import (
    ACCESS_KEY_TYPES,
    ATTACHMENT_TYPES,
    DEFAULT_BROAD_MANAGED_POLICY_PATTERNS,
    DEFAULT_PROHIBITED_MANAGED_POLICIES,
    IAM_DOCUMENT_TYPES,
    is_resource_policy_holder,
    validate_access_keys,
    validate_admin_attachments,
    validate_broad_managed_policies,
    validate_iam_wildcards,
    validate_public_principal,
)
from policies.rules.zero_trust.s3 import (
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
    "Resource policies (every input that holds one, on every resource type: bucket, key, queue, "
    "topic, repository, secret, domain... policies, inline or attached), role trust policies and "
    "Lambda permissions do not allow the '*' principal (or NotPrincipal) unless a condition "
    "with a concrete value restricts the caller.",
    validate_public_principal,
    types=is_resource_policy_holder,
    severity=Severity.CRITICAL,
    frameworks=(*fw.fsbp("S3.2", "S3.3", "KMS.5", "Lambda.1", "SNS.4", "SQS.3"), *fw.SECURITY),
    remediation="Name the account root, roles or service principals; if '*' is unavoidable, "
    "constrain it with aws:PrincipalAccount, aws:SourceVpce or aws:PrincipalOrgID set to your "
    "own account, endpoint or organisation id (a wildcard value restricts nothing).",
)
aws_iam_no_wildcards = rule(
    "aws-iam-policy-no-wildcards",
    "IAM policies grant named actions on named resources, judged by effective breadth: no "
    "wildcard action that reaches a write (anywhere in the name), no Allow with NotAction or "
    "NotResource, no write on '*' or on every resource of a kind, service or account unless a "
    "condition really restricts it.",
    validate_iam_wildcards,
    types=IAM_DOCUMENT_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("IAM.1", "IAM.21"), *fw.SECURITY),
    remediation="List the exact actions; scope resources to ARNs (the tenant's buckets and keys); "
    "where an API only supports '*', add a Condition that pins a value (aws:ResourceTag/tenant = "
    "'acme', aws:RequestedRegion = 'me-central-1'), not an IfExists, Null or wildcard one.",
)
aws_iam_no_admin_policy = rule(
    "aws-iam-no-admin-policy-attachment",
    "No role, user or group gets AdministratorAccess, PowerUserAccess or IAMFullAccess.",
    validate_admin_attachments,
    types=ATTACHMENT_TYPES,
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
aws_iam_no_broad_managed_policy = rule(
    "aws-iam-no-broad-managed-policy",
    "No role, user or group gets an AWS managed policy that grants a whole service on every "
    "resource (AmazonS3FullAccess and the other *FullAccess policies, job-function "
    "administrator policies).",
    validate_broad_managed_policies,
    types=ATTACHMENT_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("IAM.1"), *fw.SECURITY),
    remediation="Attach a customer-managed policy naming the actions and the tenant's resources "
    "the role needs (e.g. s3:GetObject on the tenant bucket instead of AmazonS3FullAccess).",
    config={
        "broadManagedPolicies": Setting(
            DEFAULT_BROAD_MANAGED_POLICY_PATTERNS,
            {
                "type": "array",
                "items": {"type": "string"},
                "description": "AWS managed policy names (the part after 'policy/', fnmatch "
                "patterns) that must not be attached.",
            },
        ),
        "allowedManagedPolicies": Setting(
            [],
            {
                "type": "array",
                "items": {"type": "string"},
                "description": "Exceptions to broadManagedPolicies, after a review.",
            },
        ),
    },
)
aws_iam_no_user_access_keys = rule(
    "aws-iam-no-user-access-keys",
    "No long-lived IAM user credentials (access keys, service-specific credentials, signing "
    "certificates): workloads use roles (IRSA, instance profiles), people use SSO.",
    validate_access_keys,
    types=ACCESS_KEY_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("IAM.3", "IAM.6"), *fw.SECURITY),
    remediation="Remove the access key; give the workload an IAM role (IRSA or EKS Pod Identity "
    "in the cluster, an instance profile or task role elsewhere) and people IAM Identity Center.",
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
    "Security groups allow no ingress from the internet: not 0.0.0.0/0 or ::/0, nor blocks "
    "whose union admits more public addresses than one /16 (IPv4) or /48 (IPv6).",
    validate_security_group,
    types={
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws-native:ec2:SecurityGroup",
        "aws-native:ec2:SecurityGroupIngress",
    },
    severity=Severity.CRITICAL,
    frameworks=(*fw.fsbp("EC2.13", "EC2.14", "EC2.18", "EC2.19"), *fw.SECURITY),
    remediation="Allow ingress only from the VPC CIDR, specific prefix lists or other security "
    "groups; administer hosts through SSM Session Manager instead of SSH/RDP.",
    config=kubernetes.CIDR_CONFIG,
)
aws_ebs_encrypted = rule(
    "aws-ebs-volume-encrypted",
    "EBS volumes, instance block devices, launch-template and Karpenter EC2NodeClass block "
    "devices are encrypted.",
    validate_ebs_encryption,
    types=lambda resource_type: (
        resource_type
        in {
            "aws:ebs/volume:Volume",
            "aws:ec2/instance:Instance",
            "aws:ec2/launchTemplate:LaunchTemplate",
            "aws:ec2/launchConfiguration:LaunchConfiguration",
        }
        or is_karpenter_node_class(resource_type)
    ),
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("EC2.3", "EC2.7"), *fw.SECURITY),
    remediation="Set encrypted true (launch templates: ebs.encrypted 'true') with the platform's "
    "EBS KMS key.",
)
aws_ec2_imdsv2 = rule(
    "aws-ec2-imdsv2-required",
    "EC2 instances, launch templates and Karpenter EC2NodeClasses require IMDSv2 (httpTokens "
    "'required').",
    validate_imdsv2,
    types=lambda resource_type: (
        resource_type
        in {
            "aws:ec2/instance:Instance",
            "aws:ec2/launchTemplate:LaunchTemplate",
            "aws:ec2/launchConfiguration:LaunchConfiguration",
            "aws:eks/nodeGroup:NodeGroup",
        }
        or is_karpenter_node_class(resource_type)
    ),
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

aws_redshift_no_public = rule(
    "aws-redshift-no-public-access",
    "Redshift clusters and serverless workgroups are not publicly accessible.",
    validate_redshift_public,
    types=REDSHIFT_PUBLIC_TYPES,
    severity=Severity.CRITICAL,
    frameworks=(*fw.fsbp("Redshift.1"), *fw.SECURITY),
    remediation="Set publiclyAccessible false and place the warehouse in private subnets.",
)
aws_redshift_encrypted = rule(
    "aws-redshift-encrypted-customer-key",
    "Redshift clusters and serverless namespaces encrypt data with a customer-managed KMS key.",
    validate_redshift_encryption,
    types=REDSHIFT_ENCRYPTION_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("Redshift.10"), *fw.SECURITY),
    remediation="Set encrypted 'true' and kmsKeyId to the tenant key (not an alias/aws/... key).",
)
aws_messaging_customer_key = rule(
    "aws-messaging-logs-customer-key",
    "Kinesis streams, Firehose delivery streams, SNS topics, SQS queues and CloudWatch log "
    "groups are encrypted with a customer-managed KMS key.",
    validate_messaging_key,
    types=MESSAGING_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("Kinesis.1", "SNS.1", "SQS.1", "CloudWatch.14"), *fw.SECURITY),
    remediation="Set the key input (Kinesis: encryptionType 'KMS' and kmsKeyId; Firehose: "
    "serverSideEncryption with keyType CUSTOMER_MANAGED_CMK; SNS/SQS: kmsMasterKeyId; log "
    "groups: kmsKeyId) to the tenant's or the platform's key, never an alias/aws/... key.",
)


# --- load balancers and containers outside Kubernetes ------------------------------------

aws_lb_internal = rule(
    "aws-lb-not-internet-facing",
    "Load balancers (ALB, NLB, classic) are internal; AWS makes them internet-facing unless "
    "told otherwise.",
    validate_lb_internal,
    types=LB_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("ELB.1"), *fw.SECURITY),
    remediation="Set internal true (aws-native: scheme 'internal') and reach the service through "
    "the VPN, a private link or the private ingress tier.",
)
aws_lb_listener_https = rule(
    "aws-lb-listener-https-only",
    "Load balancer listeners serve HTTPS or TLS; a plain-HTTP listener only redirects to HTTPS.",
    validate_listener_https,
    types=LISTENER_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("ELB.1", "ELB.3"), *fw.SECURITY),
    remediation="Use protocol HTTPS with an ACM certificate (and a current sslPolicy), or make "
    "the HTTP listener's default action a redirect with protocol HTTPS.",
)
aws_ecs_no_public_ip = rule(
    "aws-ecs-service-no-public-ip",
    "ECS services and task sets do not assign public IP addresses to their tasks.",
    validate_ecs_public_ip,
    types=ECS_SERVICE_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("ECS.2"), *fw.SECURITY),
    remediation="Set networkConfiguration.assignPublicIp false; run tasks in private subnets and "
    "reach AWS services through VPC endpoints or a NAT gateway.",
)
aws_ecs_task_non_root = rule(
    "aws-ecs-task-non-root",
    "ECS container definitions name a non-root user and are not privileged.",
    validate_ecs_task_user,
    types=ECS_TASK_TYPES,
    severity=Severity.HIGH,
    frameworks=(*fw.fsbp("ECS.4", "ECS.5"), *fw.SECURITY),
    remediation="Set 'user' to a numeric non-root uid (e.g. '10001:10001') in every container "
    "definition, build the image with that USER, and remove 'privileged'.",
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
    aws_iam_no_broad_managed_policy,
    aws_iam_no_user_access_keys,
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
    aws_redshift_no_public,
    aws_redshift_encrypted,
    aws_messaging_customer_key,
    aws_lb_internal,
    aws_lb_listener_https,
    aws_ecs_no_public_ip,
    aws_ecs_task_non_root,
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
