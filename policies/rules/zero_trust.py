"""Zero Trust rules for AWS: encryption at rest and in transit, exposure, least privilege.

Kubernetes workload-isolation rules live in :mod:`policies.rules.kubernetes`; both are
served by the ``zero-trust`` pack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies.rules import frameworks as fw
from policies.rules import kubernetes
from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    RulePolicy,
    StackCheck,
    StackResource,
    StackRulePolicy,
    as_list,
    dig,
    is_set,
    is_unknown,
    parse_json_document,
    statements,
    truthy,
)

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
SSE_TYPES = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
PAB_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
LOGGING_TYPES = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
BUCKET_POLICY_TYPE = "aws:s3/bucketPolicy:BucketPolicy"

_PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
_PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
_RESTRICTING_CONDITION_KEYS = {
    "aws:sourcevpce",
    "aws:sourcevpc",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:principalarn",
    "kms:calleraccount",
    "kms:viaservice",
}
_READ_ONLY_PREFIXES = ("Describe", "List", "Get")
DEFAULT_PROHIBITED_MANAGED_POLICIES = ["AdministratorAccess", "PowerUserAccess", "IAMFullAccess"]
EKS_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def _rule(
    name: str,
    description: str,
    validator: Any,
    types: set[str],
    remediation: str,
    *,
    severity: Severity,
    frameworks: tuple[fw.Framework, ...],
    **extra: Any,
) -> RulePolicy:
    return RulePolicy(
        name=name,
        description=description,
        validator=validator,
        resource_types=types,
        severity=severity,
        enforcement_level=EnforcementLevel.MANDATORY,
        frameworks=(*frameworks, *fw.SECURITY),
        remediation=remediation,
        **extra,
    )


# --- S3 ---------------------------------------------------------------------------------


def validate_s3_acl(check: ResourceCheck) -> None:
    """No public canned ACL and no grant to AllUsers / AuthenticatedUsers."""
    acl = check.get("acl")
    if acl is UNKNOWN:
        check.violation("'acl' could not be determined (unknown during preview).")
    elif acl in _PUBLIC_ACLS:
        check.violation(f"Canned ACL '{acl}' makes the bucket public.")
    grants = check.get("accessControlPolicy.grants")
    if check.resource_type in BUCKET_TYPES:
        grants = check.get("grants")
    for index, grant in enumerate(as_list(grants)):
        uri = dig(grant, "grantee.uri")
        if uri is MISSING:
            uri = dig(grant, "uri")
        if uri in _PUBLIC_GRANTEES:
            check.violation(f"Grant {index} gives access to '{uri.rsplit('/', 1)[-1]}'.")


def validate_public_access_block(check: ResourceCheck) -> None:
    """All four public-access-block settings are on."""
    for field in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        value = check.get(field)
        if value is UNKNOWN:
            check.violation(f"'{field}' could not be determined (unknown during preview).")
        elif truthy(value) is not True:
            check.violation(f"'{field}' is not true.")


def _principal_is_public(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(v == "*" or (isinstance(v, list) and "*" in v) for v in principal.values())
    return False


def _condition_keys(statement: Mapping[str, Any]) -> set[str]:
    keys: set[str] = set()
    condition = statement.get("Condition")
    if isinstance(condition, Mapping):
        for operator_block in condition.values():
            if isinstance(operator_block, Mapping):
                keys.update(str(k).lower() for k in operator_block)
    return keys


def _document_field(check: ResourceCheck) -> list[tuple[str, Any]]:
    if check.resource_type == "aws:iam/role:Role":
        fields = [("assumeRolePolicy", check.get("assumeRolePolicy"))]
    else:
        fields = [("policy", check.get("policy"))]
    return [(name, value) for name, value in fields if value is not MISSING]


def validate_public_principal(check: ResourceCheck) -> None:
    """No Allow statement for the '*' principal without a restricting condition."""
    for field, raw in _document_field(check):
        document = parse_json_document(raw)
        if document is UNKNOWN:
            check.violation(f"'{field}' could not be determined (unknown during preview).")
            continue
        # After UNKNOWN only a dict or None is left; isinstance lets the checker see that.
        if not isinstance(document, dict):
            check.violation(f"'{field}' is not a JSON policy document.")
            continue
        for index, statement in enumerate(statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            if _principal_is_public(statement.get("Principal")) and not (
                _condition_keys(statement) & _RESTRICTING_CONDITION_KEYS
            ):
                sid = statement.get("Sid", index)
                check.violation(
                    f"{field} statement {sid!r} allows the '*' principal without an account, "
                    "organisation, VPC-endpoint or service condition."
                )


def bucket_policy_denies_plain_http(document: Any) -> bool:
    """Whether a bucket policy denies every request made without TLS."""
    if not isinstance(document, Mapping):
        return False
    for statement in statements(document):
        if statement.get("Effect") != "Deny":
            continue
        actions = as_list(statement.get("Action"))
        if not any(a in ("s3:*", "*") for a in actions):
            continue
        condition = statement.get("Condition")
        block = dig(condition, "Bool") if isinstance(condition, Mapping) else MISSING
        value = dig(block, "aws:SecureTransport") if isinstance(block, Mapping) else MISSING
        if any(str(v).lower() == "false" for v in as_list(value)):
            return True
    return False


def _sse_problems(rules: Any, log_target: bool) -> list[str]:
    if rules is UNKNOWN:
        return ["Encryption rules could not be determined (unknown during preview)."]
    rules = as_list(rules)
    if not rules:
        return ["No server-side encryption rule is set."]
    problems = []
    for index, rule in enumerate(rules):
        algorithm = dig(rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
        key = dig(rule, "applyServerSideEncryptionByDefault.kmsMasterKeyId")
        if algorithm is UNKNOWN:
            problems.append(f"Rule {index}: the algorithm could not be determined.")
        elif algorithm == "AES256" and log_target:
            continue  # S3 server access logs can only be delivered to SSE-S3 buckets
        elif algorithm not in ("aws:kms", "aws:kms:dsse"):
            problems.append(f"Rule {index}: sseAlgorithm is {algorithm!r}, not 'aws:kms'.")
        elif not is_set(key):
            problems.append(f"Rule {index}: no customer-managed 'kmsMasterKeyId' (uses aws/s3).")
    return problems


def validate_sse_kms(check: StackCheck) -> None:
    """Default encryption is SSE-KMS with a customer key (SSE-S3 only for log targets)."""
    log_targets = set(_children(check, LOGGING_TYPES, key="targetBucket"))
    for bucket in check.of_type(*BUCKET_TYPES):
        inline = dig(bucket.props, "serverSideEncryptionConfiguration")
        if inline is MISSING:
            continue
        rules = dig(inline, "rules") if dig(inline, "rules") is not MISSING else dig(inline, "rule")
        for problem in _sse_problems(rules, bucket.urn in log_targets):
            check.violation(problem, bucket.urn)
    owners: dict[str, list[str]] = {}
    for bucket_urn, configs in _children(check, SSE_TYPES).items():
        for config in configs:
            owners.setdefault(config.urn, []).append(bucket_urn)
    for config in check.of_type(*SSE_TYPES):
        mine = owners.get(config.urn, [])
        log_target = bool(mine) and all(urn in log_targets for urn in mine)
        for problem in _sse_problems(dig(config.props, "rules"), log_target):
            check.violation(problem, config.urn)


aws_s3_no_public_acl = _rule(
    "aws-s3-bucket-no-public-acl",
    "S3 buckets grant nothing to AllUsers or AuthenticatedUsers through ACLs.",
    validate_s3_acl,
    {*BUCKET_TYPES, "aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"},
    "Remove the public ACL; keep 'BucketOwnerEnforced' object ownership so ACLs are disabled.",
    severity=Severity.CRITICAL,
    frameworks=fw.fsbp("S3.2", "S3.3"),
)
aws_s3_public_access_block = _rule(
    "aws-s3-public-access-block-enabled",
    "S3 public access blocks turn on all four settings.",
    validate_public_access_block,
    {PAB_TYPE, "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"},
    "Set blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets to true.",
    severity=Severity.CRITICAL,
    frameworks=fw.fsbp("S3.1", "S3.8"),
)
aws_resource_policy_no_public_principal = _rule(
    "aws-resource-policy-no-public-principal",
    "Bucket, key, queue, topic and repository policies and role trust policies do not allow "
    "the '*' principal unconditionally.",
    validate_public_principal,
    {
        BUCKET_POLICY_TYPE,
        "aws:kms/key:Key",
        "aws:kms/keyPolicy:KeyPolicy",
        "aws:iam/role:Role",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
    },
    "Name the account root, roles or service principals; if '*' is unavoidable, constrain it "
    "with aws:PrincipalAccount, aws:SourceVpce or aws:PrincipalOrgID.",
    severity=Severity.CRITICAL,
    frameworks=fw.fsbp("S3.2", "S3.3", "KMS.5"),
)
aws_s3_sse_kms = StackRulePolicy(
    name="aws-s3-bucket-sse-kms",
    description="S3 default encryption uses SSE-KMS with a customer-managed key (SSE-S3 only "
    "for server-access-log target buckets, which AWS requires).",
    validator=validate_sse_kms,
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.fsbp("S3.17"), *fw.SECURITY),
    remediation="Configure applyServerSideEncryptionByDefault with sseAlgorithm 'aws:kms' and the "
    "tenant's key as kmsMasterKeyId; enable bucketKeyEnabled to cut KMS costs.",
)


def _bucket_refs(resource: StackResource) -> set[str]:
    refs = {resource.urn}
    for key in ("bucket", "id"):
        value = resource.props.get(key)
        if isinstance(value, str) and not is_unknown(value):
            refs.update({value, f"arn:aws:s3:::{value}"})
    return refs


def _buckets_by_ref(check: StackCheck) -> dict[str, StackResource]:
    """Every way a child can name a bucket (URN, name, ARN) -> the bucket."""
    index: dict[str, StackResource] = {}
    for bucket in check.of_type(*BUCKET_TYPES):
        for ref in _bucket_refs(bucket):
            index.setdefault(ref, bucket)
    return index


def _children(
    check: StackCheck, types: tuple[str, ...], key: str = "bucket"
) -> dict[str, list[StackResource]]:
    """Bucket URN -> resources of ``types`` whose ``key`` input names it.

    A child names its bucket through a property dependency (the engine's record of
    which resource an input came from) or by the bucket's name or ARN.
    """
    index = _buckets_by_ref(check)
    found: dict[str, list[StackResource]] = {}
    for child in check.of_type(*types):
        owners = {index[u].urn for u in child.property_dependencies.get(key, ()) if u in index}
        target = child.props.get(key)
        if isinstance(target, str) and target in index:
            owners.add(index[target].urn)
        for owner in owners:
            found.setdefault(owner, []).append(child)
    return found


def _bucket_label(bucket: StackResource) -> str:
    name = bucket.props.get("bucket")
    return name if isinstance(name, str) and not is_unknown(name) else bucket.name


def validate_buckets_encrypted(check: StackCheck) -> None:
    """Every bucket has a default-encryption configuration."""
    configured = _children(check, SSE_TYPES)
    for bucket in check.of_type(*BUCKET_TYPES):
        inline = dig(bucket.props, "serverSideEncryptionConfiguration")
        if is_set(inline) or configured.get(bucket.urn):
            continue
        check.violation(
            f"Bucket '{_bucket_label(bucket)}' has no BucketServerSideEncryptionConfiguration.",
            bucket.urn,
        )


def validate_buckets_blocked(check: StackCheck) -> None:
    """Every bucket has a public access block."""
    blocked = _children(check, (PAB_TYPE,))
    for bucket in check.of_type(*BUCKET_TYPES):
        if not blocked.get(bucket.urn):
            check.violation(
                f"Bucket '{_bucket_label(bucket)}' has no BucketPublicAccessBlock.", bucket.urn
            )


def validate_buckets_tls_only(check: StackCheck) -> None:
    """Every bucket's policy denies requests made without TLS."""
    policies = _children(check, (BUCKET_POLICY_TYPE,))
    for bucket in check.of_type(*BUCKET_TYPES):
        documents = [parse_json_document(dig(bucket.props, "policy"))]
        documents += [
            parse_json_document(dig(p.props, "policy")) for p in policies.get(bucket.urn, [])
        ]
        if any(d is UNKNOWN for d in documents):
            continue  # a policy exists but is built from outputs; its resource rule reports it
        if not any(bucket_policy_denies_plain_http(d) for d in documents):
            check.violation(
                f"Bucket '{_bucket_label(bucket)}' has no policy denying requests where "
                "aws:SecureTransport is false.",
                bucket.urn,
            )


aws_s3_bucket_encryption_configured = StackRulePolicy(
    name="aws-s3-bucket-encryption-configured",
    description="Every S3 bucket in the stack has a default-encryption configuration.",
    validator=validate_buckets_encrypted,
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.fsbp("S3.17"), *fw.SECURITY),
    remediation="Add an aws.s3.BucketServerSideEncryptionConfiguration (SSE-KMS, tenant key) "
    "for the bucket.",
)
aws_s3_bucket_public_access_block_configured = StackRulePolicy(
    name="aws-s3-bucket-public-access-block-configured",
    description="Every S3 bucket in the stack has a public access block.",
    validator=validate_buckets_blocked,
    severity=Severity.CRITICAL,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.fsbp("S3.8"), *fw.SECURITY),
    remediation="Add an aws.s3.BucketPublicAccessBlock with all four settings true.",
)
aws_s3_bucket_tls_only = StackRulePolicy(
    name="aws-s3-bucket-tls-only",
    description="Every S3 bucket's policy denies requests not made over TLS.",
    validator=validate_buckets_tls_only,
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=(*fw.fsbp("S3.5"), *fw.SECURITY),
    remediation="Add a bucket policy statement: Effect Deny, Principal '*', Action 's3:*', "
    "Resource the bucket and its objects, Condition Bool aws:SecureTransport 'false'.",
)


# --- EKS ---------------------------------------------------------------------------------


def validate_eks_endpoint(check: ResourceCheck) -> None:
    """The API server endpoint is private only."""
    public = check.get("vpcConfig.endpointPublicAccess")
    private = check.get("vpcConfig.endpointPrivateAccess")
    if public is UNKNOWN or private is UNKNOWN:
        check.violation("The endpoint access settings could not be determined.")
        return
    if truthy(public) is not False:
        shown = "defaults to true" if public is MISSING else "is true"
        check.violation(f"vpcConfig.endpointPublicAccess {shown}: the API is internet-facing.")
    if truthy(private) is not True:
        check.violation("vpcConfig.endpointPrivateAccess is not true.")


def validate_eks_secrets(check: ResourceCheck) -> None:
    """Kubernetes secrets are envelope-encrypted with a KMS key."""
    configs = check.get("encryptionConfig")
    if configs is UNKNOWN:
        check.violation("encryptionConfig could not be determined (unknown during preview).")
        return
    for config in as_list(configs):
        resources = dig(config, "resources")
        if "secrets" in as_list(resources) and is_set(dig(config, "provider.keyArn")):
            return
        if resources is UNKNOWN:
            return
    check.violation("No encryptionConfig with resources ['secrets'] and a provider.keyArn.")


def validate_eks_logs(check: ResourceCheck) -> None:
    """Every control-plane log type is sent to CloudWatch Logs."""
    types = check.get("enabledClusterLogTypes")
    if types is UNKNOWN:
        check.violation("enabledClusterLogTypes could not be determined.")
        return
    missing = [t for t in EKS_LOG_TYPES if t not in as_list(types)]
    if missing:
        check.violation(f"Control-plane log types not enabled: {missing}.")


_EKS = {"aws:eks/cluster:Cluster"}
aws_eks_private_endpoint = _rule(
    "aws-eks-cluster-private-endpoint",
    "The EKS API server endpoint is private; public access is off.",
    validate_eks_endpoint,
    _EKS,
    "Set vpcConfig.endpointPublicAccess false and endpointPrivateAccess true; reach the API "
    "through the VPC (SSM, VPN or a bastion in a private subnet).",
    severity=Severity.CRITICAL,
    frameworks=(*fw.cis_eks("5.4.1", "5.4.2"), *fw.fsbp("EKS.1")),
)
aws_eks_secrets_encryption = _rule(
    "aws-eks-cluster-secrets-encryption",
    "EKS envelope-encrypts Kubernetes secrets with a customer-managed KMS key.",
    validate_eks_secrets,
    _EKS,
    "Set encryptionConfig = {resources: ['secrets'], provider: {keyArn: <platform key>}}.",
    severity=Severity.HIGH,
    frameworks=(*fw.cis_eks("5.3.1"), *fw.fsbp("EKS.3")),
)
aws_eks_control_plane_logs = _rule(
    "aws-eks-cluster-control-plane-logs",
    "EKS sends all control-plane log types (api, audit, authenticator, controllerManager, "
    "scheduler) to CloudWatch Logs.",
    validate_eks_logs,
    _EKS,
    "Set enabledClusterLogTypes to all five types and encrypt the log group with a KMS key.",
    severity=Severity.MEDIUM,
    frameworks=(*fw.cis_eks("2.1.1"), *fw.fsbp("EKS.8")),
)


# --- network ----------------------------------------------------------------------------

_WORLD = ("0.0.0.0/0", "::/0")


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _ports(rule: Any) -> str:
    low, high = _number(dig(rule, "fromPort")), _number(dig(rule, "toPort"))
    protocol = dig(rule, "protocol")
    if protocol is MISSING:
        protocol = dig(rule, "ipProtocol")
    if str(protocol) in ("-1", "all"):
        return "all ports"
    if low == high:
        return f"port {low}"
    return f"ports {low}-{high}"


def _world_ingress(rule: Any, where: str) -> Iterator[str]:
    cidrs = [*as_list(dig(rule, "cidrBlocks")), *as_list(dig(rule, "ipv6CidrBlocks"))]
    cidrs += [c for c in (dig(rule, "cidrIpv4"), dig(rule, "cidrIpv6")) if c is not MISSING]
    for cidr in cidrs:
        if is_unknown(cidr):
            yield f"{where}: a CIDR could not be determined (unknown during preview)."
        elif cidr in _WORLD:
            yield f"{where}: {_ports(rule)} open to {cidr}."


def validate_security_group(check: ResourceCheck) -> None:
    """No ingress from 0.0.0.0/0 or ::/0."""
    if check.resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        if check.get("type") != "ingress":
            return
        rules = [("Rule", check.props)]
    elif check.resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        rules = [("Rule", check.props)]
    else:
        ingress = check.get("ingress")
        if ingress is UNKNOWN:
            check.violation("Ingress rules could not be determined (unknown during preview).")
            return
        rules = [(f"Ingress {i}", r) for i, r in enumerate(as_list(ingress))]
    for where, rule in rules:
        for problem in _world_ingress(rule, where):
            check.violation(problem)


aws_security_group_no_world_ingress = _rule(
    "aws-security-group-no-world-ingress",
    "Security groups allow no ingress from the whole internet (0.0.0.0/0 or ::/0).",
    validate_security_group,
    {
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    },
    "Allow ingress only from the VPC CIDR, specific prefix lists or other security groups; "
    "administer hosts through SSM Session Manager instead of SSH/RDP.",
    severity=Severity.CRITICAL,
    frameworks=fw.fsbp("EC2.13", "EC2.14", "EC2.18", "EC2.19"),
)


# --- IAM ---------------------------------------------------------------------------------


def _iam_documents(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    if check.resource_type == "aws:iam/role:Role":
        inline = check.get("inlinePolicies")
        if inline is UNKNOWN:
            yield "inlinePolicies", UNKNOWN
        for index, policy in enumerate(as_list(inline)):
            yield f"inlinePolicies.{index}", parse_json_document(dig(policy, "policy"))
        return
    yield "policy", parse_json_document(check.get("policy"))


def _read_only(action: str) -> bool:
    return ":" in action and action.split(":", 1)[1].startswith(_READ_ONLY_PREFIXES)


def validate_iam_wildcards(check: ResourceCheck) -> None:
    """No '*' or 'service:*' actions, no NotAction allows, no unconditioned '*' resources."""
    for where, document in _iam_documents(check):
        if document is UNKNOWN:
            check.violation(f"{where} could not be determined (unknown during preview).")
            continue
        if document is None:
            check.violation(f"{where} is not a JSON policy document.")
            continue
        for index, statement in enumerate(statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            sid = statement.get("Sid", index)
            actions = [str(a) for a in as_list(statement.get("Action"))]
            if "NotAction" in statement:
                check.violation(f"{where} statement {sid!r}: Allow with NotAction.")
            wide = [a for a in actions if a == "*" or a.endswith(":*")]
            if wide:
                check.violation(f"{where} statement {sid!r}: wildcard actions {wide}.")
            resources = as_list(statement.get("Resource"))
            if "*" in resources and "Condition" not in statement:
                writes = [a for a in actions if not _read_only(a)]
                if writes:
                    check.violation(
                        f"{where} statement {sid!r}: Resource '*' without a Condition for "
                        f"non-read actions {writes[:5]}."
                    )


def validate_admin_attachments(check: ResourceCheck) -> None:
    """No AWS administrator-level managed policy is attached."""
    prohibited = check.config.get("prohibitedManagedPolicies", DEFAULT_PROHIBITED_MANAGED_POLICIES)
    if check.resource_type == "aws:iam/role:Role":
        arns = check.get("managedPolicyArns")
    else:
        arns = check.get("policyArn")
    for arn in as_list(arns):
        if isinstance(arn, str) and arn.rsplit("/", 1)[-1] in prohibited and ":iam::aws:" in arn:
            check.violation(f"Attaches the administrator-level managed policy '{arn}'.")


_IAM_DOCUMENT_TYPES = {
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/role:Role",
}
aws_iam_no_wildcards = _rule(
    "aws-iam-policy-no-wildcards",
    "IAM policies grant named actions on named resources: no '*' or 'service:*' actions, no "
    "Allow+NotAction, no '*' resource for write actions without a condition.",
    validate_iam_wildcards,
    _IAM_DOCUMENT_TYPES,
    "List the exact actions; scope resources to ARNs (the tenant's buckets and keys); where an "
    "API only supports '*', add a Condition (aws:ResourceTag, aws:RequestedRegion).",
    severity=Severity.HIGH,
    frameworks=fw.fsbp("IAM.1", "IAM.21"),
)
aws_iam_no_admin_policy = _rule(
    "aws-iam-no-admin-policy-attachment",
    "No role, user or group gets AdministratorAccess, PowerUserAccess or IAMFullAccess.",
    validate_admin_attachments,
    {
        "aws:iam/role:Role",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    },
    "Attach a least-privilege customer-managed policy instead.",
    severity=Severity.CRITICAL,
    frameworks=fw.fsbp("IAM.1"),
    config_defaults={"prohibitedManagedPolicies": DEFAULT_PROHIBITED_MANAGED_POLICIES},
    config_schema={
        "prohibitedManagedPolicies": {
            "type": "array",
            "items": {"type": "string"},
            "description": "AWS managed policy names that must never be attached.",
        }
    },
)


# --- EC2 / EBS ---------------------------------------------------------------------------


def validate_ebs_encryption(check: ResourceCheck) -> None:
    """Volumes, instance block devices and launch-template block devices are encrypted."""
    if check.resource_type == "aws:ebs/volume:Volume":
        devices = [("Volume", check.props)]
    elif check.resource_type == "aws:ec2/instance:Instance":
        devices = [("rootBlockDevice", check.get("rootBlockDevice"))]
        devices += [
            (f"ebsBlockDevices.{i}", d) for i, d in enumerate(as_list(check.get("ebsBlockDevices")))
        ]
        devices = [(w, d) for w, d in devices if d is not MISSING]
        if check.get("rootBlockDevice") is MISSING:
            check.violation("rootBlockDevice is not declared, so its encryption is not enforced.")
    else:  # launch template / launch configuration
        mappings = check.get("blockDeviceMappings")
        if mappings is UNKNOWN:
            check.violation("blockDeviceMappings could not be determined.")
            return
        if check.resource_type == "aws:ec2/launchConfiguration:LaunchConfiguration":
            devices = [("rootBlockDevice", check.get("rootBlockDevice"))]
        else:
            devices = [
                (f"blockDeviceMappings.{i}", dig(m, "ebs")) for i, m in enumerate(as_list(mappings))
            ]
        if not [d for _, d in devices if d is not MISSING]:
            check.violation(
                "No EBS block device is declared, so the root volume's encryption is left to "
                "the AMI and account defaults."
            )
            return
    for where, device in devices:
        if device is MISSING:
            continue
        encrypted = dig(device, "encrypted")
        if encrypted is UNKNOWN:
            check.violation(f"{where}: 'encrypted' could not be determined.")
        elif truthy(encrypted) is not True:
            check.violation(f"{where}: not encrypted.")


def validate_imdsv2(check: ResourceCheck) -> None:
    """Instances and launch templates require IMDSv2 tokens; node groups use a template."""
    if check.resource_type == "aws:eks/nodeGroup:NodeGroup":
        if check.get("launchTemplate") is MISSING:
            check.violation(
                "The node group has no launchTemplate, so IMDSv2 and volume encryption are "
                "not enforced."
            )
        return
    tokens = check.get("metadataOptions.httpTokens")
    if tokens is UNKNOWN:
        check.violation("metadataOptions.httpTokens could not be determined.")
    elif tokens != "required":
        shown = "unset" if tokens is MISSING else repr(tokens)
        check.violation(f"metadataOptions.httpTokens is {shown}: IMDSv1 is allowed.")


aws_ebs_encrypted = _rule(
    "aws-ebs-volume-encrypted",
    "EBS volumes, instance block devices and launch-template block devices are encrypted.",
    validate_ebs_encryption,
    {
        "aws:ebs/volume:Volume",
        "aws:ec2/instance:Instance",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/launchConfiguration:LaunchConfiguration",
    },
    "Set encrypted true (launch templates: ebs.encrypted 'true') with the platform's EBS KMS key.",
    severity=Severity.HIGH,
    frameworks=fw.fsbp("EC2.3", "EC2.7"),
)
aws_ec2_imdsv2 = _rule(
    "aws-ec2-imdsv2-required",
    "EC2 instances and launch templates require IMDSv2 (httpTokens 'required').",
    validate_imdsv2,
    {
        "aws:ec2/instance:Instance",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/launchConfiguration:LaunchConfiguration",
        "aws:eks/nodeGroup:NodeGroup",
    },
    "Set metadataOptions {httpTokens: 'required', httpPutResponseHopLimit: 1 or 2, "
    "httpEndpoint: 'enabled'}; give node groups a launch template.",
    severity=Severity.HIGH,
    frameworks=fw.fsbp("EC2.8", "EC2.170", "AutoScaling.3"),
)


# --- KMS ---------------------------------------------------------------------------------


def validate_kms_rotation(check: ResourceCheck) -> None:
    """Symmetric keys rotate automatically."""
    spec = check.get("customerMasterKeySpec")
    if spec is MISSING:
        spec = check.get("keySpec")
    if spec not in (MISSING, "SYMMETRIC_DEFAULT") and not is_unknown(spec):
        return  # asymmetric and HMAC keys cannot rotate automatically
    rotation = check.get("enableKeyRotation")
    if rotation is UNKNOWN:
        check.violation("enableKeyRotation could not be determined.")
    elif truthy(rotation) is not True:
        check.violation("enableKeyRotation is not true.")


def validate_kms_deletion_window(check: ResourceCheck) -> None:
    """Scheduled deletion waits at least the configured window (default 30 days)."""
    minimum = int(check.config.get("minimumDays", 30))
    window = check.get("deletionWindowInDays")
    if window is MISSING:
        return  # AWS applies 30 days
    if window is UNKNOWN:
        check.violation("deletionWindowInDays could not be determined.")
    elif not isinstance(window, int | float) or window < minimum:
        check.violation(f"deletionWindowInDays is {window}; at least {minimum} is required.")


aws_kms_rotation = _rule(
    "aws-kms-key-rotation-enabled",
    "Symmetric customer-managed KMS keys rotate automatically.",
    validate_kms_rotation,
    {"aws:kms/key:Key"},
    "Set enableKeyRotation true (optionally rotationPeriodInDays).",
    severity=Severity.MEDIUM,
    frameworks=fw.fsbp("KMS.4"),
)
aws_kms_deletion_window = _rule(
    "aws-kms-key-deletion-window",
    "KMS keys keep the longest deletion window so an accidental deletion can be cancelled.",
    validate_kms_deletion_window,
    {"aws:kms/key:Key"},
    "Set deletionWindowInDays to 30 (or remove it: AWS defaults to 30).",
    severity=Severity.MEDIUM,
    frameworks=fw.fsbp("KMS.3"),
    config_defaults={"minimumDays": 30},
    config_schema={
        "minimumDays": {"type": "integer", "minimum": 7, "maximum": 30, "description": "Days."}
    },
)


# --- DynamoDB, ElastiCache, RDS ----------------------------------------------------------


def validate_dynamodb_cmk(check: ResourceCheck) -> None:
    """Tables are encrypted with a customer-managed key."""
    enabled = check.get("serverSideEncryption.enabled")
    key = check.get("serverSideEncryption.kmsKeyArn")
    if enabled is UNKNOWN:
        check.violation("serverSideEncryption.enabled could not be determined.")
    elif truthy(enabled) is not True:
        check.violation("serverSideEncryption is not enabled with a customer key (AWS-owned key).")
    elif not is_set(key):
        check.violation("serverSideEncryption has no kmsKeyArn (uses the aws/dynamodb key).")


def validate_dynamodb_pitr(check: ResourceCheck) -> None:
    """Point-in-time recovery is on."""
    enabled = check.get("pointInTimeRecovery.enabled")
    if enabled is UNKNOWN:
        check.violation("pointInTimeRecovery.enabled could not be determined.")
    elif truthy(enabled) is not True:
        check.violation("pointInTimeRecovery is not enabled.")


aws_dynamodb_cmk = _rule(
    "aws-dynamodb-table-customer-key",
    "DynamoDB tables are encrypted with a customer-managed KMS key.",
    validate_dynamodb_cmk,
    {"aws:dynamodb/table:Table"},
    "Set serverSideEncryption {enabled: true, kmsKeyArn: <tenant key ARN>}.",
    severity=Severity.HIGH,
    frameworks=(),
)
aws_dynamodb_pitr = _rule(
    "aws-dynamodb-table-pitr",
    "DynamoDB tables have point-in-time recovery enabled.",
    validate_dynamodb_pitr,
    {"aws:dynamodb/table:Table"},
    "Set pointInTimeRecovery {enabled: true}.",
    severity=Severity.MEDIUM,
    frameworks=fw.fsbp("DynamoDB.2"),
)

_RG = "aws:elasticache/replicationGroup:ReplicationGroup"
_CACHE = "aws:elasticache/cluster:Cluster"
_SERVERLESS = "aws:elasticache/serverlessCache:ServerlessCache"


def validate_cache_at_rest(check: ResourceCheck) -> None:
    """Caches are encrypted at rest with a customer key."""
    if check.resource_type == _CACHE:
        if check.get("replicationGroupId") is MISSING:
            check.violation(
                "A standalone cache cluster cannot encrypt at rest; use a replication group."
            )
        return
    if check.resource_type == _RG:
        enabled = check.get("atRestEncryptionEnabled")
        if enabled is UNKNOWN:
            check.violation("atRestEncryptionEnabled could not be determined.")
            return
        if truthy(enabled) is not True:
            check.violation("atRestEncryptionEnabled is not true.")
            return
    if not is_set(check.get("kmsKeyId")):
        check.violation("No kmsKeyId: data is encrypted with an AWS-owned key, not a tenant key.")


def validate_cache_in_transit(check: ResourceCheck) -> None:
    """Caches require TLS."""
    if check.resource_type == _SERVERLESS:
        return  # serverless caches always require TLS
    if check.resource_type == _CACHE and check.get("replicationGroupId") is not MISSING:
        return  # members inherit the replication group's setting
    enabled = check.get("transitEncryptionEnabled")
    if enabled is UNKNOWN:
        check.violation("transitEncryptionEnabled could not be determined.")
    elif truthy(enabled) is not True:
        check.violation("transitEncryptionEnabled is not true.")
    mode = check.get("transitEncryptionMode")
    if mode == "preferred":
        check.violation("transitEncryptionMode is 'preferred': plaintext clients are accepted.")


def validate_cache_auth(check: ResourceCheck) -> None:
    """Caches require authentication (AUTH token or RBAC user groups)."""
    if check.resource_type == _SERVERLESS:
        if not is_set(check.get("userGroupId")):
            check.violation("No userGroupId: any client in the network can connect.")
        return
    if check.resource_type == _CACHE:
        if check.get("replicationGroupId") is not MISSING or check.get("engine") == "memcached":
            return
        check.violation("A standalone Redis/Valkey cluster cannot require AUTH with RBAC.")
        return
    if not (is_set(check.get("authToken")) or is_set(check.get("userGroupIds"))):
        check.violation("Neither authToken nor userGroupIds is set.")


_CACHES = {_RG, _CACHE, _SERVERLESS}
aws_elasticache_at_rest = _rule(
    "aws-elasticache-at-rest-encryption",
    "ElastiCache data is encrypted at rest with a customer-managed key.",
    validate_cache_at_rest,
    _CACHES,
    "Use a replication group with atRestEncryptionEnabled true and kmsKeyId the tenant key.",
    severity=Severity.HIGH,
    frameworks=fw.fsbp("ElastiCache.4"),
)
aws_elasticache_in_transit = _rule(
    "aws-elasticache-in-transit-encryption",
    "ElastiCache requires TLS for every connection.",
    validate_cache_in_transit,
    _CACHES,
    "Set transitEncryptionEnabled true and transitEncryptionMode 'required'.",
    severity=Severity.HIGH,
    frameworks=fw.fsbp("ElastiCache.5"),
)
aws_elasticache_auth = _rule(
    "aws-elasticache-auth-required",
    "ElastiCache requires authentication (AUTH token or RBAC user groups).",
    validate_cache_auth,
    _CACHES,
    "Set authToken (from a secret) or userGroupIds with per-tenant users.",
    severity=Severity.HIGH,
    frameworks=fw.fsbp("ElastiCache.6"),
)


def validate_rds_public(check: ResourceCheck) -> None:
    """Databases are not publicly accessible."""
    value = check.get("publiclyAccessible")
    if value is UNKNOWN:
        check.violation("publiclyAccessible could not be determined.")
    elif truthy(value):
        check.violation("publiclyAccessible is true.")


def validate_rds_encrypted(check: ResourceCheck) -> None:
    """Database storage is encrypted."""
    replica = check.get("replicateSourceDb") is not MISSING
    if check.resource_type == "aws:rds/instance:Instance" and replica:
        return  # a read replica inherits its source's encryption
    value = check.get("storageEncrypted")
    if value is UNKNOWN:
        check.violation("storageEncrypted could not be determined.")
    elif truthy(value) is not True:
        check.violation("storageEncrypted is not true.")


aws_rds_no_public = _rule(
    "aws-rds-no-public-access",
    "RDS instances are not publicly accessible.",
    validate_rds_public,
    {"aws:rds/instance:Instance", "aws:rds/clusterInstance:ClusterInstance"},
    "Set publiclyAccessible false and place the database in private subnets.",
    severity=Severity.CRITICAL,
    frameworks=fw.fsbp("RDS.2"),
)
aws_rds_encrypted = _rule(
    "aws-rds-storage-encrypted",
    "RDS instances and clusters encrypt their storage.",
    validate_rds_encrypted,
    {"aws:rds/instance:Instance", "aws:rds/cluster:Cluster"},
    "Set storageEncrypted true with kmsKeyId the tenant key (needs a new instance or a "
    "snapshot restore).",
    severity=Severity.HIGH,
    frameworks=fw.fsbp("RDS.3"),
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
