"""Helpers for the policy tests: call a policy's ``validate`` with a collecting reporter.

Rules are called exactly as the pack's servicer calls them (``ResourceValidationArgs`` /
``StackValidationArgs`` with pulumi-policy's unknown-checking proxies), without starting
a pack, so each test is a plain function call.
"""

from __future__ import annotations

import copy
import json
import pathlib
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's unknown-string sentinel, as it appears in a preview."""

ACCOUNT = "123456789012"
ECR = f"{ACCOUNT}.dkr.ecr.me-central-1.amazonaws.com"


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def aws_provider(region: str | None = "me-central-1", name: str = "default_7_51_1") -> Any:
    """An AWS provider resource as the engine passes it in AnalyzeRequest."""
    props = {} if region is None else {"region": region}
    return PolicyProviderResource(
        "pulumi:providers:aws",
        unknown_checking_proxy(props),
        f"urn:pulumi:test::proj::pulumi:providers:aws::{name}",
        name,
    )


def validate(
    policy: Any,
    resource_type: str,
    props: Mapping[str, Any],
    *,
    provider: Any = "default",
    config: Mapping[str, Any] | None = None,
    name: str = "res",
) -> list[str]:
    """The violation messages ``policy`` reports for one resource."""
    messages: list[str] = []
    if provider == "default":
        provider = aws_provider() if resource_type.startswith("aws:") else None
    args = ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(copy.deepcopy(dict(props))),
        f"urn:pulumi:test::proj::{resource_type}::{name}",
        name,
        _opts(),
        provider,
        dict(config) if config is not None else None,
    )
    result = policy.validate(args, lambda message, urn=None: messages.append(message))
    assert result is None, "rules are synchronous"
    return messages


def stack_resource(
    resource_type: str,
    name: str,
    props: Mapping[str, Any],
    *,
    property_dependencies: Mapping[str, list[Any]] | None = None,
) -> PolicyResource:
    """A resource as AnalyzeStack hands it to a stack policy."""
    return PolicyResource(
        resource_type,
        unknown_checking_proxy(copy.deepcopy(dict(props))),
        f"urn:pulumi:test::proj::{resource_type}::{name}",
        name,
        _opts(),
        aws_provider() if resource_type.startswith("aws:") else None,
        None,
        [],
        dict(property_dependencies or {}),
    )


def validate_stack(
    policy: Any, resources: list[PolicyResource], config: Mapping[str, Any] | None = None
) -> list[tuple[str, str | None]]:
    """(message, urn) for every violation a stack policy reports."""
    found: list[tuple[str, str | None]] = []
    args = StackValidationArgs(resources, dict(config) if config is not None else None)
    policy.validate(args, lambda message, urn=None: found.append((message, urn)))
    return found


# --- hand-written plans in the offline engine's plan.json format -----------------------

REPO = pathlib.Path(__file__).resolve().parents[2]
PACKS = sorted(p.parent for p in (REPO / "policies").glob("*/PulumiPolicy.yaml"))
P = "urn:pulumi:test::proj::"
AWS = f"{P}pulumi:providers:aws::default_7_51_1"
K8S = f"{P}pulumi:providers:kubernetes::default_4_34_2"


def resource(rtype: str, name: str, inputs: dict, **extra) -> dict:
    provider = AWS if rtype.startswith("aws:") else K8S if rtype.startswith("kubernetes:") else None
    return {
        "urn": f"{P}{rtype}::{name}",
        "id": f"{name}-id",
        "type": rtype,
        "name": name,
        "parent": f"{P}pulumi:pulumi:Stack::proj-test",
        "provider": f"{provider}::pid" if provider else None,
        "custom": True,
        "inputs": inputs,
        "options": {"protect": False, "dependsOn": [], "ignoreChanges": [], "aliases": []},
        **extra,
    }


def plan(*resources: dict) -> dict:
    base = [
        {
            "urn": f"{P}pulumi:pulumi:Stack::proj-test",
            "type": "pulumi:pulumi:Stack",
            "name": "proj-test",
            "custom": False,
            "inputs": {},
            "options": {},
        },
        {
            "urn": AWS,
            "id": "pid",
            "type": "pulumi:providers:aws",
            "name": "default_7_51_1",
            "custom": True,
            "inputs": {"region": "me-central-1"},
            "options": {},
        },
        {
            "urn": K8S,
            "id": "pid",
            "type": "pulumi:providers:kubernetes",
            "name": "default_4_34_2",
            "custom": True,
            "inputs": {},
            "options": {},
        },
    ]
    return {
        "project": "proj",
        "stack": "test",
        "config": {"aws:region": "me-central-1"},
        "resources": base + list(resources),
    }


TLS_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
)


def secure_bucket(name: str, region: str | None = None) -> list[dict]:
    tags = {"tenant": "acme", "data-classification": "confidential"}
    inputs = {"bucket": name, "tags": tags} | ({"region": region} if region else {})
    return [
        resource("aws:s3/bucket:Bucket", name, inputs),
        resource(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{name}-sse",
            {
                "bucket": name,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": "arn:aws:kms:me-central-1:123456789012:key/k",
                        }
                    }
                ],
            },
        ),
        resource(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{name}-pab",
            {
                "bucket": name,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
        ),
        resource(
            "aws:s3/bucketPolicy:BucketPolicy",
            f"{name}-policy",
            {"bucket": name, "policy": TLS_POLICY},
        ),
    ]
