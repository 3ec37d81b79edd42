"""Small helpers shared by the AWS components: child options, tags, IAM documents.

Everything here is plain data or a thin wrapper over ``pulumi.ResourceOptions``, except
the two resource shapes several components need alike (a KMS-encrypted log group with a
retention, a security group admitting HTTPS from the VPC only); those register the
resource under the ``parent`` and the name they are given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

PolicyDocument = dict[str, Any]
"""An IAM (or KMS key / S3 bucket) policy document as plain JSON-compatible data."""

MANAGED_BY_TAG = {"managed-by": "pulumi", "blueprint": "sovereign-ml-platform"}
"""Tags every taggable resource carries, so auditors can find what this blueprint owns."""


def child_opts(
    parent: pulumi.Resource,
    *,
    protect: bool = False,
    depends_on: Sequence[pulumi.Resource] | None = None,
    ignore_changes: Sequence[str] | None = None,
    delete_before_replace: bool | None = None,
) -> pulumi.ResourceOptions:
    """Options for a child resource: parent only (it carries the providers), plus extras."""
    return pulumi.ResourceOptions(
        parent=parent,
        protect=protect,
        depends_on=list(depends_on) if depends_on else None,
        ignore_changes=list(ignore_changes) if ignore_changes else None,
        delete_before_replace=delete_before_replace,
    )


def merge_tags(*tag_sets: Mapping[str, str] | None) -> dict[str, str]:
    """The blueprint tags, then each tag set in order (later sets win)."""
    merged: dict[str, str] = dict(MANAGED_BY_TAG)
    for tags in tag_sets:
        if tags:
            merged.update(tags)
    return merged


def policy_document(statements: Iterable[Mapping[str, Any]]) -> PolicyDocument:
    """An IAM policy document (version 2012-10-17) with the given statements."""
    return {"Version": "2012-10-17", "Statement": [dict(s) for s in statements]}


def to_json(document: PolicyDocument) -> str:
    """Deterministic JSON for a policy document (stable diffs between runs)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def assume_role_policy(service: str, *, source_account: str | None = None) -> PolicyDocument:
    """Trust policy letting one AWS service principal assume a role.

    ``source_account`` adds the ``aws:SourceAccount`` condition AWS recommends against
    the confused-deputy problem for services that send it (VPC Flow Logs, for example).
    """
    statement: dict[str, Any] = {
        "Sid": "AllowServiceAssume",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if source_account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return policy_document([statement])


def managed_policy_arn(partition: str, name: str) -> str:
    """ARN of an AWS managed IAM policy (``AmazonEKSClusterPolicy`` and friends)."""
    return f"arn:{partition}:iam::aws:policy/{name}"


def wildcard_findings(document: PolicyDocument) -> list[str]:
    """Every ``*`` action, resource or principal in an Allow statement, as readable lines.

    Used by the tenant component's tests and by callers that want to assert least
    privilege on a document before registering it.
    """
    findings: list[str] = []
    statements = document.get("Statement", [])
    for index, statement in enumerate(statements):
        if statement.get("Effect") != "Allow":
            continue
        for key in ("Action", "Resource"):
            values = statement.get(key, [])
            values = [values] if isinstance(values, str) else list(values)
            for value in values:
                if value == "*" or (value.endswith(":*") and key == "Action"):
                    findings.append(f"Statement[{index}].{key} = {value!r}")
        principal = statement.get("Principal")
        if principal == "*" or (
            isinstance(principal, Mapping)
            and any(v == "*" or (isinstance(v, list) and "*" in v) for v in principal.values())
        ):
            findings.append(f"Statement[{index}].Principal = {principal!r}")
    return findings


def irsa_trust_policy(
    oidc_provider_arn: str,
    issuer_host: str,
    namespace: str,
    service_account: str | Sequence[str],
) -> PolicyDocument:
    """Trust policy for IAM Roles for Service Accounts: one service account, STS audience.

    ``issuer_host`` is the cluster's OIDC issuer without ``https://``. Both ``sub`` and
    ``aud`` are pinned with ``StringEquals`` (several service accounts of one namespace
    may be listed), so no other service account or token audience can assume the role.
    """
    accounts = [service_account] if isinstance(service_account, str) else sorted(service_account)
    if not accounts:
        raise ValueError("service_account: at least one service account is required")
    subjects = [f"system:serviceaccount:{namespace}:{sa}" for sa in accounts]
    subject: str | list[str] = subjects[0] if len(subjects) == 1 else subjects
    return policy_document(
        [
            {
                "Sid": "AllowServiceAccountWebIdentity",
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer_host}:sub": subject,
                        f"{issuer_host}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ]
    )


def encrypted_log_group(
    parent: pulumi.Resource,
    resource_name: str,
    *,
    log_group_name: str,
    retention_days: int,
    kms_key_arn: pulumi.Input[str],
    tags: Mapping[str, str],
) -> aws.cloudwatch.LogGroup:
    """A CloudWatch log group encrypted with a customer-managed key, with a retention."""
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=log_group_name,
        retention_in_days=retention_days,
        kms_key_id=kms_key_arn,
        tags=dict(tags),
        opts=child_opts(parent),
    )


def https_from_vpc_security_group(
    parent: pulumi.Resource,
    resource_name: str,
    *,
    vpc_id: pulumi.Input[str],
    vpc_cidr: str,
    description: str,
    rule_description: str,
    egress: Sequence[aws.ec2.SecurityGroupEgressArgs],
    tags: Mapping[str, str],
) -> aws.ec2.SecurityGroup:
    """A security group whose only ingress is HTTPS (443) from the VPC range."""
    return aws.ec2.SecurityGroup(
        resource_name,
        vpc_id=vpc_id,
        description=description,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                description=rule_description,
                protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_blocks=[vpc_cidr],
            )
        ],
        egress=list(egress),
        tags=merge_tags(tags, {"Name": resource_name}),
        opts=child_opts(parent),
    )
