"""Least privilege: IAM policies, managed-policy attachments and resource policies.

IAM statements are judged by what they allow (wildcard and ``service:*`` actions,
Allow with NotAction, ``*`` resources for write actions without a condition); resource
policies and role trust policies may not open to the ``*`` principal without a
condition that restricts it to an account, organisation, VPC endpoint or service.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    as_list,
    dig,
    parse_json_document,
    statements,
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


def _principal_is_public(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(
            value == "*" or (isinstance(value, list) and "*" in value)
            for value in principal.values()
        )
    return False


def _condition_keys(statement: Mapping[str, Any]) -> set[str]:
    keys: set[str] = set()
    condition = statement.get("Condition")
    if isinstance(condition, Mapping):
        for operator_block in condition.values():
            if isinstance(operator_block, Mapping):
                keys.update(str(key).lower() for key in operator_block)
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
            actions = [str(action) for action in as_list(statement.get("Action"))]
            if "NotAction" in statement:
                check.violation(f"{where} statement {sid!r}: Allow with NotAction.")
            wide = [action for action in actions if action == "*" or action.endswith(":*")]
            if wide:
                check.violation(f"{where} statement {sid!r}: wildcard actions {wide}.")
            resources = as_list(statement.get("Resource"))
            if "*" in resources and "Condition" not in statement:
                writes = [action for action in actions if not _read_only(action)]
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


IAM_DOCUMENT_TYPES = {
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/role:Role",
}
