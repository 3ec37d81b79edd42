"""Least privilege: IAM policies, managed-policy attachments, access keys, resource policies.

IAM statements are judged by their effective breadth, not their spelling:

- actions: ``NotAction`` with Allow grants everything else; a wildcard anywhere in an
  action (``*``, ``s3:*``, ``s3:*Object``, ``iam:Pass*``) is broad unless every action it
  can match is a read (its literal prefix is ``Get``/``List``/``Describe``...);
- resources: ``NotResource`` with Allow grants every other resource; ``*``, and ARNs whose
  service, account or resource name is a wildcard (``arn:aws:iam::123456789012:role/*``,
  ``arn:aws:s3:::*``) are broad; a named prefix (``bucket/*``, ``role/team-*``) is not;
- conditions: count only when they restrict, i.e. a positive operator (not ``...IfExists``,
  ``Not...``, ``Null`` or ``ForAllValues:``, which pass when the key is absent or match
  nearly everything) on a key that scopes the request (not transport or MFA flags) with
  a value that is not a bare wildcard.

Resource policies (every input that holds one, on every resource type) and role trust
policies may not open to the ``*`` principal (or ``NotPrincipal``) unless a condition
restricts the caller to an account, organisation, VPC endpoint or source with a concrete
value (``aws:PrincipalOrgID = "*"`` or ``"o-*"`` restricts nothing).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from typing import Any

from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    as_list,
    dig,
    is_unknown,
    parse_json_document,
    statements,
)
from policies.rules.zero_trust.policy_fields import POLICY_FIELDS

_RESTRICTING_CONDITION_KEYS = {
    "aws:sourcevpce",
    "aws:sourcevpc",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:sourceaccount",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourcearn",
    "aws:principalarn",
    "aws:sourceip",
    "aws:userid",
    "kms:calleraccount",
    "kms:viaservice",
}
"""Condition keys that restrict *who* may call (for the '*' principal)."""

_NON_SCOPING_KEYS = {
    "aws:securetransport",
    "aws:multifactorauthpresent",
    "aws:multifactorauthage",
    "aws:currenttime",
    "aws:epochtime",
    "aws:tokenissuetime",
    "aws:useragent",
    "aws:referer",
    "aws:viaawsservice",
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "kms:grantisforawsresource",
}
"""Condition keys that restrict how or when, never which resources or callers."""

_READ_ONLY_PREFIXES = ("Describe", "List", "Get", "BatchGet", "View", "Search")
DEFAULT_PROHIBITED_MANAGED_POLICIES = ["AdministratorAccess", "PowerUserAccess", "IAMFullAccess"]
DEFAULT_BROAD_MANAGED_POLICY_PATTERNS = [
    "*FullAccess",
    "*FullAccess_v2",
    "job-function/SystemAdministrator",
    "job-function/DatabaseAdministrator",
    "job-function/NetworkAdministrator",
    "job-function/DataScientist",
]
"""AWS managed policies (name after ``policy/``, fnmatch) that grant a whole service."""

_ARN = re.compile(r"^arn:([^:]*):([^:]*):([^:]*):([^:]*):(.*)$")
_WILDCARDS = ("*", "?")


# --- conditions --------------------------------------------------------------------------


def _positive_operator(operator: str) -> bool:
    """Whether a condition operator restricts when its key is absent or odd-valued."""
    op = operator.lower()
    if op.startswith("forallvalues:"):
        return False  # true when the key is absent from the request
    base = op.split(":", 1)[-1]
    return not (base.endswith("ifexists") or base == "null" or "not" in base)


def _concrete(value: Any, like: bool) -> bool:
    """Whether a condition value pins something down (not a bare or wide wildcard).

    With ``...Equals`` operators ``*`` is a literal; with ``...Like`` it is a wildcard, so
    the value must still name an account (ARNs) or carry no wildcard at all.
    """
    if is_unknown(value):
        return True  # decided at preview; never by itself a violation
    if isinstance(value, bool | int | float):
        return True
    if not isinstance(value, str) or not value.strip():
        return False
    if not like or not any(wild in value for wild in _WILDCARDS):
        return True
    match = _ARN.match(value)
    if match:
        account = match.group(4)
        return bool(re.fullmatch(r"\d{12}", account)) or (
            match.group(2) == "s3" and not value.split(":::", 1)[-1].startswith(_WILDCARDS)
        )
    return False


def restricting_conditions(statement: Mapping[str, Any], keys: set[str] | None = None) -> bool:
    """Whether the statement has a condition that really restricts it.

    ``keys`` limits which condition keys count (lower case); by default any key that
    scopes the request (not transport, time or MFA flags).
    """
    condition = statement.get("Condition")
    if is_unknown(condition):
        return True
    if not isinstance(condition, Mapping):
        return False
    for operator, block in condition.items():
        if not isinstance(block, Mapping) or not _positive_operator(str(operator)):
            continue
        like = "like" in str(operator).lower()
        for key, values in block.items():
            name = str(key).lower()
            if (keys is not None and name not in keys) or name in _NON_SCOPING_KEYS:
                continue
            listed = as_list(values) if not is_unknown(values) else [values]
            if listed and all(_concrete(value, like) for value in listed):
                return True
    return False


# --- resource policies: the public principal ---------------------------------------------


def _principal_is_public(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(
            value == "*" or (isinstance(value, list) and "*" in value)
            for value in principal.values()
        )
    return False


_KNOWN_POLICY_FIELDS: dict[str, tuple[str, ...]] = {
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
    "aws:kms/key:Key": ("policy",),
    "aws:kms/keyPolicy:KeyPolicy": ("policy",),
    "aws:iam/role:Role": ("assumeRolePolicy",),
    "aws:sqs/queuePolicy:QueuePolicy": ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy",),
}
"""Dedicated policy resources: a policy that is unknown or unparsable is reported."""

_AWS_NATIVE_POLICY_FIELDS = (
    "policyDocument",
    "policy",
    "accessPolicies",
    "resourcePolicy",
    "assumeRolePolicyDocument",
    "keyPolicy",
)
"""Inputs that may hold a resource policy on an aws-native type (no SDK here to list them)."""

_NOT_RESOURCE_POLICIES = frozenset(
    {
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy",
        "aws-native:ec2:VpcEndpoint",
        "aws:iam/policy:Policy",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
        "aws-native:iam:ManagedPolicy",
        "aws-native:iam:RolePolicy",
        "aws-native:iam:UserPolicy",
        "aws-native:iam:GroupPolicy",
    }
)
"""Types whose documents are not reachable from outside: VPC endpoint policies (only
callers inside the VPC) and identity policies (no principal)."""


def _policy_documents(check: ResourceCheck) -> Iterator[tuple[str, Any, bool]]:
    """(field, parsed document, strict) for every resource policy the resource carries.

    ``strict``: the field is a dedicated policy input, so an unknown or unparsable value is
    reported; elsewhere only parsed documents are judged.
    """
    known = _KNOWN_POLICY_FIELDS.get(check.resource_type)
    if known is not None:
        for field in known:
            raw = check.get(field)
            if raw is not MISSING:
                yield field, parse_json_document(raw), True
        return
    if check.resource_type in _NOT_RESOURCE_POLICIES:
        return
    props = check.props
    fields = POLICY_FIELDS.get(check.resource_type, _AWS_NATIVE_POLICY_FIELDS)
    for field in fields:
        raw = props.get(field)
        if raw is None:
            continue
        document = parse_json_document(raw)
        if isinstance(document, dict) and "Statement" in document:
            yield field, document, False


def _arn_names_owner(arn: Any) -> bool:
    """Whether an ARN pins its owner: a concrete account, or a named S3 bucket."""
    match = _ARN.match(arn) if isinstance(arn, str) else None
    if match is None:
        return False
    if re.fullmatch(r"\d{12}", match.group(4)):
        return True
    return match.group(2) == "s3" and not match.group(5).startswith(_WILDCARDS)


def _lambda_public(check: ResourceCheck) -> None:
    """Lambda permissions for '*' and function URLs without authentication."""
    if check.resource_type == "aws:lambda/functionUrl:FunctionUrl":
        if check.get("authorizationType") == "NONE":
            check.violation("The function URL has authorizationType 'NONE': anyone can invoke it.")
        return
    if check.get("principal") != "*":
        return
    if check.resource_type == "aws:lambda/layerVersionPermission:LayerVersionPermission":
        restricted = check.get("organizationId") is not MISSING
    else:
        source_arn = check.get("sourceArn")
        restricted = (
            any(
                value is UNKNOWN or _concrete(value, like=False)
                for value in (check.get("sourceAccount"), check.get("principalOrgId"))
                if value is not MISSING
            )
            or source_arn is UNKNOWN
            or _arn_names_owner(source_arn)
        )
    if not restricted:
        check.violation(
            "Grants the '*' principal without sourceAccount, a sourceArn naming its owner "
            "or principalOrgId: any AWS account can use it."
        )


LAMBDA_PUBLIC_TYPES = {
    "aws:lambda/permission:Permission",
    "aws:lambda/layerVersionPermission:LayerVersionPermission",
    "aws:lambda/functionUrl:FunctionUrl",
}


def validate_public_principal(check: ResourceCheck) -> None:
    """No Allow statement for the '*' principal without a restricting condition."""
    if check.resource_type in LAMBDA_PUBLIC_TYPES:
        _lambda_public(check)
        return
    for field, document, strict in _policy_documents(check):
        if document is UNKNOWN:
            # A document built from outputs of resources being created is unknown as a
            # whole at preview: nothing in it can be decided, so nothing is reported (the
            # update run and CI on the real plan judge it).
            continue
        # After UNKNOWN only a dict or None is left; isinstance lets the checker see that.
        if not isinstance(document, dict):
            if strict:
                check.violation(f"'{field}' is not a JSON policy document.")
            continue
        for index, statement in enumerate(statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            sid = statement.get("Sid", index)
            if "NotPrincipal" in statement:
                check.violation(
                    f"{field} statement {sid!r}: Allow with NotPrincipal grants every principal "
                    "except the listed ones."
                )
                continue
            if _principal_is_public(statement.get("Principal")) and not restricting_conditions(
                statement, _RESTRICTING_CONDITION_KEYS
            ):
                check.violation(
                    f"{field} statement {sid!r} allows the '*' principal without an account, "
                    "organisation, VPC-endpoint or service condition with a concrete value."
                )


def is_resource_policy_holder(resource_type: str) -> bool:
    """Every type that carries a resource policy: the pulumi-aws types whose inputs hold one
    (:data:`POLICY_FIELDS`), Lambda permissions and URLs, and every aws-native type."""
    return (
        resource_type in POLICY_FIELDS
        or resource_type in LAMBDA_PUBLIC_TYPES
        or resource_type.startswith("aws-native:")
    ) and resource_type not in _NOT_RESOURCE_POLICIES


# --- identity policies: effective breadth -------------------------------------------------


def _iam_documents(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    if check.resource_type in ("aws:iam/role:Role", "aws-native:iam:Role"):
        field, key = (
            ("inlinePolicies", "policy")
            if check.resource_type == "aws:iam/role:Role"
            else ("policies", "policyDocument")
        )
        inline = check.get(field)
        if inline is UNKNOWN:
            yield field, UNKNOWN
        for index, policy in enumerate(as_list(inline)):
            yield f"{field}.{index}", parse_json_document(dig(policy, key))
        return
    field = "policyDocument" if check.resource_type.startswith("aws-native:") else "policy"
    yield field, parse_json_document(check.get(field))


def _read_only(action: str) -> bool:
    return ":" in action and action.split(":", 1)[1].startswith(_READ_ONLY_PREFIXES)


def _broad_action(action: str) -> bool:
    """Whether a wildcard action can match a non-read action (or several services)."""
    if not any(wild in action for wild in _WILDCARDS):
        return False
    service, _, name = action.partition(":")
    if not name or any(wild in service for wild in _WILDCARDS):
        return True
    literal = re.split(r"[*?]", name, maxsplit=1)[0]
    return not literal.startswith(_READ_ONLY_PREFIXES)


def _broad_resource(resource: Any) -> bool:
    """``*``, or an ARN that names every resource of a kind, service or account."""
    if not isinstance(resource, str) or is_unknown(resource):
        return False
    if resource == "*":
        return True
    match = _ARN.match(resource)
    if not match:
        return False
    _partition, service, _region, account, name = match.groups()
    if any(wild in service for wild in _WILDCARDS) or any(wild in account for wild in _WILDCARDS):
        return True
    if not name or name.startswith(_WILDCARDS):
        return True
    if service == "s3" and not account:
        return False  # bucket[/key]: the bucket is named
    parts = re.split(r"[/:]", name, maxsplit=1)  # resource type, then its name
    return len(parts) == 2 and (not parts[1] or parts[1].startswith(_WILDCARDS))


def validate_iam_wildcards(check: ResourceCheck) -> None:
    """Allow statements grant named actions on named resources, or restrict by condition."""
    for where, document in _iam_documents(check):
        if document is UNKNOWN:
            continue  # undecidable at preview, as for resource policies above
        if document is None:
            check.violation(f"{where} is not a JSON policy document.")
            continue
        for index, statement in enumerate(statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            _judge_statement(check, where, statement.get("Sid", index), statement)


def _judge_statement(check: ResourceCheck, where: str, sid: Any, statement: dict) -> None:
    actions = [str(action) for action in as_list(statement.get("Action"))]
    restricted = restricting_conditions(statement)
    if "NotAction" in statement:
        check.violation(f"{where} statement {sid!r}: Allow with NotAction.")
    wide = [action for action in actions if _broad_action(action)]
    if wide:
        check.violation(f"{where} statement {sid!r}: wildcard actions {wide}.")
    if "NotResource" in statement and not restricted:
        check.violation(
            f"{where} statement {sid!r}: Allow with NotResource grants every resource except "
            f"{as_list(statement.get('NotResource'))[:3]}."
        )
    resources = as_list(statement.get("Resource"))
    if restricted:
        return
    writes = [action for action in actions if not _read_only(action) or _broad_action(action)]
    if "NotAction" in statement:
        writes = writes or ["(every action but the NotAction list)"]
    if not writes:
        return
    if "*" in resources:
        check.violation(
            f"{where} statement {sid!r}: Resource '*' without a restricting Condition for "
            f"non-read actions {writes[:5]}."
        )
    broad = [resource for resource in resources if resource != "*" and _broad_resource(resource)]
    if broad:
        check.violation(
            f"{where} statement {sid!r}: broad resources {broad[:3]} (every resource of a kind, "
            f"service or account) without a restricting Condition for non-read actions "
            f"{writes[:5]}."
        )


IAM_DOCUMENT_TYPES = {
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/role:Role",
    "aws-native:iam:Role",
    "aws-native:iam:ManagedPolicy",
    "aws-native:iam:RolePolicy",
    "aws-native:iam:UserPolicy",
    "aws-native:iam:GroupPolicy",
}


# --- managed-policy attachments and access keys ------------------------------------------

ATTACHMENT_TYPES = {
    "aws:iam/role:Role",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive",
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive",
    "aws-native:iam:Role",
    "aws-native:iam:User",
    "aws-native:iam:Group",
}


def _attached_arns(check: ResourceCheck) -> list[Any]:
    for field in ("managedPolicyArns", "policyArns", "policyArn"):
        value = check.get(field)
        if value is not MISSING:
            return as_list(value)
    return []


def _aws_managed_name(arn: Any) -> str | None:
    """``arn:aws:iam::aws:policy/job-function/X`` -> ``job-function/X`` (AWS managed only)."""
    if not isinstance(arn, str) or ":iam::aws:policy/" not in arn:
        return None
    return arn.split(":iam::aws:policy/", 1)[1]


def validate_admin_attachments(check: ResourceCheck) -> None:
    """No AWS administrator-level managed policy is attached."""
    prohibited = check.config.get("prohibitedManagedPolicies", DEFAULT_PROHIBITED_MANAGED_POLICIES)
    for arn in _attached_arns(check):
        name = _aws_managed_name(arn)
        if name is not None and name.rsplit("/", 1)[-1] in prohibited:
            check.violation(f"Attaches the administrator-level managed policy '{arn}'.")


def validate_broad_managed_policies(check: ResourceCheck) -> None:
    """No AWS managed policy that grants a whole service (``*FullAccess``) is attached."""
    patterns = check.config.get("broadManagedPolicies", DEFAULT_BROAD_MANAGED_POLICY_PATTERNS)
    allowed = set(check.config.get("allowedManagedPolicies", []))
    for arn in _attached_arns(check):
        name = _aws_managed_name(arn)
        if name is None or name in allowed:
            continue
        if name.rsplit("/", 1)[-1] in DEFAULT_PROHIBITED_MANAGED_POLICIES:
            continue  # reported by aws-iam-no-admin-policy-attachment
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            check.violation(
                f"Attaches the AWS managed policy '{name}', which grants every action of a "
                "service on every resource of the account."
            )


ACCESS_KEY_TYPES = {
    "aws:iam/accessKey:AccessKey",
    "aws:iam/serviceSpecificCredential:ServiceSpecificCredential",
    "aws:iam/signingCertificate:SigningCertificate",
    "aws-native:iam:AccessKey",
}


def validate_access_keys(check: ResourceCheck) -> None:
    """No long-lived credentials for IAM users."""
    user = check.get("user")
    if user is MISSING:
        user = check.get("userName")
    shown = user if isinstance(user, str) and not is_unknown(user) else "an IAM user"
    check.violation(
        f"Creates a long-lived credential for {shown!r}: it never expires and works from "
        "anywhere it leaks to."
    )
