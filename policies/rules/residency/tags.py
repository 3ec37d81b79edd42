"""Tenant and data-classification tags on every resource that stores tenant data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.rules.common import MISSING, UNKNOWN, ResourceCheck, dig, is_set, is_unknown

DEFAULT_REQUIRED_TAGS = {"tenant": "tenant", "classification": "data-classification"}
DEFAULT_CLASSIFICATIONS = ["public", "internal", "confidential", "restricted"]

DATA_BEARING_TYPES = frozenset(
    {
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:dynamodb/table:Table",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:elasticache/cluster:Cluster",
        "aws:elasticache/serverlessCache:ServerlessCache",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:efs/fileSystem:FileSystem",
        "aws:ebs/volume:Volume",
        "aws:secretsmanager/secret:Secret",
        "aws:sagemaker/featureGroup:FeatureGroup",
        "aws:opensearch/domain:Domain",
        "aws:kinesis/stream:Stream",
        "aws:sqs/queue:Queue",
        "aws:ecr/repository:Repository",
        "aws:cloudwatch/logGroup:LogGroup",
    }
)
"""Resource types that store tenant data (or logs that can contain it)."""


def validate_data_tags(check: ResourceCheck) -> None:
    """Data-bearing resources carry tenant and data-classification tags."""
    tags = check.get("tags")
    default_tags = dig(check.provider_props, "defaultTags.tags")
    if tags is UNKNOWN or default_tags is UNKNOWN:
        check.violation("Tags could not be determined (unknown during preview).")
        return
    merged: dict[str, Any] = {}
    if isinstance(default_tags, Mapping):
        merged.update(default_tags)
    if isinstance(tags, Mapping):
        merged.update(tags)
    tenant_key = check.config.get("tenantTagKey", DEFAULT_REQUIRED_TAGS["tenant"])
    class_key = check.config.get("classificationTagKey", DEFAULT_REQUIRED_TAGS["classification"])
    allowed = check.config.get("allowedClassifications", DEFAULT_CLASSIFICATIONS)
    if not is_set(merged.get(tenant_key, MISSING)):
        check.violation(f"Missing tag '{tenant_key}' (the owning tenant, or 'platform').")
    classification = merged.get(class_key, MISSING)
    if not is_set(classification):
        check.violation(f"Missing tag '{class_key}' (one of {allowed}).")
    elif not is_unknown(classification) and classification not in allowed:
        check.violation(f"Tag '{class_key}' is {classification!r}; allowed: {allowed}.")
