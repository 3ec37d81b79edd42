"""Helpers for the policy tests: call a policy's ``validate`` with a collecting reporter.

Rules are called exactly as the pack's servicer calls them (``ResourceValidationArgs`` /
``StackValidationArgs`` with pulumi-policy's unknown-checking proxies), without starting
a pack, so each test is a plain function call.
"""

from __future__ import annotations

import copy
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
