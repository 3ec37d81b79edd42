"""Every ARN a resource names must be in an allowed region.

Data leaves the country wherever a resource points at something in another region: an
SNS subscription endpoint, a log subscription destination, an EventBridge target, a
Firehose source or destination, a dead-letter queue, a KMS key. Rather than one check
per input, every string input that is an ARN with a region is checked, wherever it sits
in the resource's inputs. Policy documents and tags are skipped (a grant or a label is
not a destination), and so are the types whose copies a dedicated rule already judges.

Deliberately not judged here: ARNs without a region (S3 buckets: resolved in the stack
by ``aws-s3-replication-destination-allowed`` only), non-ARN endpoints (an HTTPS URL or
an e-mail address of a subscription), and unknown values (decided at preview).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from policies.rules.common import ResourceCheck
from policies.rules.residency.copies import COPY_TYPES
from policies.rules.residency.regions import allowed_regions

_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}(?:-[a-z]+)+-\d):")
_SKIPPED_KEYS = frozenset(
    {
        "tags",
        "tagsAll",
        "policy",
        "assumeRolePolicy",
        "assumeRolePolicyDocument",
        "accessPolicies",
        "accessPolicy",
        "policyDocument",
        "resourcePolicy",
        "inlinePolicies",
        "policies",
        "keyPolicy",
    }
)
SKIPPED_TYPES = frozenset(
    {
        *COPY_TYPES,
        "aws:kms/replicaKey:ReplicaKey",
        "aws:kms/replicaExternalKey:ReplicaExternalKey",
    }
)
"""Types whose cross-region targets a dedicated residency rule reports."""


def _arns(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, region) for every string ARN with a region in nested inputs."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(props, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, Mapping):
            for key, child in value.items():
                if key in _SKIPPED_KEYS:
                    continue
                if isinstance(child, str):
                    if child.startswith("arn:") and (match := _ARN_REGION.match(child)):
                        found.append((f"{path}.{key}" if path else str(key), match.group(1)))
                elif isinstance(child, Mapping | list):
                    stack.append((child, f"{path}.{key}" if path else str(key)))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                if isinstance(child, str):
                    if child.startswith("arn:") and (match := _ARN_REGION.match(child)):
                        found.append((f"{path}[{index}]", match.group(1)))
                elif isinstance(child, Mapping | list):
                    stack.append((child, f"{path}[{index}]"))
    return found


def validate_arn_destinations(check: ResourceCheck) -> None:
    """Every regional ARN in the resource's inputs is in an allowed region."""
    if check.resource_type in SKIPPED_TYPES:
        return
    allowed = allowed_regions(check.config)
    for path, region in _arns(check.props):
        if region not in allowed:
            check.violation(
                f"'{path}' names a resource in '{region}', outside the allowed regions "
                f"{allowed}: data sent there leaves the country."
            )
