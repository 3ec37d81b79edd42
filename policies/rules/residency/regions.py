"""Where an AWS resource lives: its region, its provider's, the stack's.

Region of a resource, in the order the AWS provider applies them: the per-resource
``region`` input (pulumi-aws v7), then the region of its explicit provider, then (for
default providers only, which the engine configures from the stack) the stack's
``aws:region``. aws-native resources and providers are checked alike, from
``aws-native:region``. A region that cannot be determined is a violation, never a pass.

Global control-plane services (IAM, Route 53 by default) are exempt only through the
configurable ``exemptServices`` list. CloudFront is deliberately *not* exempt: it caches
content at edge locations outside the UAE.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pulumi.runtime

from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    StackResource,
    dig,
    is_unknown,
)

DEFAULT_ALLOWED_REGIONS = ["me-central-1"]
"""The UAE region. ``me-south-1`` is Bahrain, not the UAE."""

DEFAULT_EXEMPT_SERVICES = ["iam", "route53"]
"""Global control-plane services whose resources hold no tenant data."""

_ARN = re.compile(r"^arn:(aws[a-z-]*):([a-z0-9-]+):([a-z0-9-]*):(\d{12}|aws)?:(.+)$")


def stack_region(package: str = "aws") -> str | None:
    """The stack's ``<package>:region`` (``aws`` or ``aws-native``) as the engine passed it
    to the pack (PULUMI_CONFIG)."""
    value = pulumi.runtime.get_config(f"{package}:region")
    return value if isinstance(value, str) and value else None


def package_of(resource_type: str) -> str:
    """``aws`` or ``aws-native`` for a resource or provider type token."""
    if resource_type.startswith(("aws-native:", "pulumi:providers:aws-native")):
        return "aws-native"
    return "aws"


def aws_service(resource_type: str) -> str:
    """``aws:s3/bucket:Bucket`` -> ``s3``; ``aws-native:s3:Bucket`` -> ``s3``."""
    return resource_type.split(":", 2)[1].split("/", 1)[0].lower() if ":" in resource_type else ""


def resolve_region(check: ResourceCheck) -> tuple[Any, str]:
    """The region a resource is created in, and where that came from.

    Returns ``(region, source)``; region is a string, :data:`UNKNOWN` (unknown value at
    preview) or :data:`MISSING` (no source sets it).
    """
    own = check.get("region")
    if own is UNKNOWN:
        return UNKNOWN, "the resource's 'region' input"
    if isinstance(own, str) and own:
        return own, "the resource's 'region' input"
    if check.provider_type is not None:
        provider_region = dig(check.provider_props, "region")
        if provider_region is UNKNOWN:
            return UNKNOWN, f"provider '{check.provider_name}'"
        if isinstance(provider_region, str) and provider_region:
            return provider_region, f"provider '{check.provider_name}'"
        if not (check.provider_name or "").startswith("default"):
            # An explicit provider does not read the stack's aws:region; without its own
            # region the AWS SDK falls back to the environment, unknown to any review.
            return MISSING, f"explicit provider '{check.provider_name}' has no 'region'"
    package = package_of(check.resource_type)
    region = stack_region(package)
    if region:
        return region, f"the stack's '{package}:region'"
    return MISSING, f"no 'region' input, provider region or stack '{package}:region'"


def arn_region(arn: Any) -> Any:
    """The region field of an ARN, ``""`` for global ARNs, UNKNOWN/MISSING otherwise."""
    if is_unknown(arn):
        return UNKNOWN
    if not isinstance(arn, str):
        return MISSING
    match = _ARN.match(arn)
    return match.group(3) if match else MISSING


def stack_resource_region(resource: StackResource) -> Any:
    """A stack resource's region: its ``region`` input, else its provider's, else the stack's.

    Returns a string, :data:`UNKNOWN` or :data:`MISSING`.
    """
    region = dig(resource.props, "region")
    if region is MISSING:
        region = dig(resource.provider_props, "region")
    if region is MISSING:
        region = stack_region(package_of(resource.resource_type)) or MISSING
    return region


def allowed_regions(config: Mapping[str, Any]) -> list[str]:
    """The regions a rule's configuration allows."""
    return list(config.get("allowedRegions") or DEFAULT_ALLOWED_REGIONS)


def region_problem(region: Any, allowed: list[str], what: str) -> str | None:
    """Why ``region`` (what ``what`` names) is not allowed, or None when it is."""
    if region is UNKNOWN:
        return f"{what}: the region could not be determined (unknown during preview)."
    if region is MISSING or not isinstance(region, str) or not region:
        return f"{what}: the region could not be determined."
    if region not in allowed:
        return f"{what} is '{region}', outside the allowed regions {allowed}."
    return None


def report_region(check: ResourceCheck, region: Any, what: str) -> None:
    """Report a violation unless ``region`` is one the rule's configuration allows."""
    problem = region_problem(region, allowed_regions(check.config), what)
    if problem:
        check.violation(problem)


def is_regional_aws(resource_type: str) -> bool:
    """Whether the type is an AWS resource of pulumi-aws or aws-native (all are checked)."""
    return resource_type.startswith(("aws:", "aws-native:"))


def validate_resource_region(check: ResourceCheck) -> None:
    """Every AWS resource outside the exempt global services is in an allowed region."""
    service = aws_service(check.resource_type)
    exempt = check.config.get("exemptServices", DEFAULT_EXEMPT_SERVICES)
    if service in exempt:
        return
    region, source = resolve_region(check)
    report_region(check, region, f"Region (from {source})")


def validate_provider_region(check: ResourceCheck) -> None:
    """An AWS provider is configured for an allowed region."""
    region = dig(check.props, "region")
    if region is MISSING and check.name.startswith("default"):
        region = stack_region(package_of(check.resource_type)) or MISSING
    report_region(check, region, f"AWS provider '{check.name}' region")
