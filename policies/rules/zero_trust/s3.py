"""S3 buckets: no public ACLs or policies, all public-access blocks on, SSE-KMS, TLS only.

Resource rules check each ACL, public access block and bucket; stack rules tie every
bucket to its separately declared children (encryption configuration, public access
block, policy, logging) to find the buckets that have none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    StackCheck,
    StackResource,
    as_list,
    dig,
    is_aws_managed_key,
    is_set,
    is_unknown,
    parse_json_document,
    s3_bucket_refs,
    statements,
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
        check.expect_flag(
            check.get(field),
            True,
            unknown=f"'{field}' could not be determined (unknown during preview).",
            wrong=f"'{field}' is not true.",
        )


def bucket_policy_denies_plain_http(document: Any) -> bool:
    """Whether a bucket policy denies every request made without TLS."""
    if not isinstance(document, Mapping):
        return False
    for statement in statements(document):
        if statement.get("Effect") != "Deny":
            continue
        actions = as_list(statement.get("Action"))
        if not any(action in ("s3:*", "*") for action in actions):
            continue
        condition = statement.get("Condition")
        block = dig(condition, "Bool") if isinstance(condition, Mapping) else MISSING
        value = dig(block, "aws:SecureTransport") if isinstance(block, Mapping) else MISSING
        if any(str(item).lower() == "false" for item in as_list(value)):
            return True
    return False


def _sse_problems(rules: Any, log_target: bool) -> list[str]:
    if rules is UNKNOWN:
        return ["Encryption rules could not be determined (unknown during preview)."]
    rules = as_list(rules)
    if not rules:
        return ["No server-side encryption rule is set."]
    problems = []
    for index, sse_rule in enumerate(rules):
        algorithm = dig(sse_rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
        key = dig(sse_rule, "applyServerSideEncryptionByDefault.kmsMasterKeyId")
        if algorithm is UNKNOWN:
            problems.append(f"Rule {index}: the algorithm could not be determined.")
        elif algorithm == "AES256" and log_target:
            continue  # S3 server access logs can only be delivered to SSE-S3 buckets
        elif algorithm not in ("aws:kms", "aws:kms:dsse"):
            problems.append(f"Rule {index}: sseAlgorithm is {algorithm!r}, not 'aws:kms'.")
        elif not is_set(key):
            problems.append(f"Rule {index}: no customer-managed 'kmsMasterKeyId' (uses aws/s3).")
        elif is_aws_managed_key(key):
            problems.append(
                f"Rule {index}: 'kmsMasterKeyId' is the AWS-managed key {key!r}, not a "
                "customer-managed key."
            )
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
        buckets = owners.get(config.urn, [])
        log_target = bool(buckets) and all(urn in log_targets for urn in buckets)
        for problem in _sse_problems(dig(config.props, "rules"), log_target):
            check.violation(problem, config.urn)


def _buckets_by_ref(check: StackCheck) -> dict[str, StackResource]:
    """Every way a child can name a bucket (URN, name, ARN) -> the bucket."""
    index: dict[str, StackResource] = {}
    for bucket in check.of_type(*BUCKET_TYPES):
        for ref in {bucket.urn, *s3_bucket_refs(bucket.props)}:
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
        owners = {
            index[urn].urn for urn in child.property_dependencies.get(key, ()) if urn in index
        }
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
            parse_json_document(dig(policy.props, "policy"))
            for policy in policies.get(bucket.urn, [])
        ]
        if any(document is UNKNOWN for document in documents):
            continue  # a policy exists but is built from outputs; its resource rule reports it
        if not any(bucket_policy_denies_plain_http(document) for document in documents):
            check.violation(
                f"Bucket '{_bucket_label(bucket)}' has no policy denying requests where "
                "aws:SecureTransport is false.",
                bucket.urn,
            )
