"""Copies of data out of the region: replicas, replication, backup and snapshot copies.

Every destination a resource can copy data to (global-table replicas, S3 and ECR
replication rules, multi-region KMS keys, backup copy actions, snapshot copy rules,
secret and file-system replicas) must be in an allowed region; multi-region datastores
are refused outright.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    StackCheck,
    StackResource,
    as_list,
    dig,
    is_set,
    s3_bucket_refs,
)
from policies.rules.residency.regions import (
    allowed_regions,
    arn_region,
    region_problem,
    report_region,
    stack_resource_region,
)


def validate_dynamodb_replicas(check: ResourceCheck) -> None:
    """DynamoDB global-table replicas stay in allowed regions."""
    path = "replicas" if "replicas" in check.props else "replica"
    unknown = "Replica regions could not be determined (unknown during preview)."
    if (replicas := check.require_known(path, unknown)) is None:
        return
    for index, replica in enumerate(as_list(replicas)):
        report_region(check, dig(replica, "regionName"), f"Replica {index} region")


_BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
_REPLICATION_CONFIG_TYPES = (
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
    "aws:s3/bucketReplicationConfiguration:BucketReplicationConfiguration",
)


def _bucket_regions(check: StackCheck) -> dict[str, Any]:
    """Every way a replication rule can name a bucket of the stack -> the bucket's region.

    A bucket is named by its URN, its logical name, its bucket name or its ARN; a later
    bucket with the same name wins.
    """
    regions: dict[str, Any] = {}
    for bucket in check.of_type(*_BUCKET_TYPES):
        region = stack_resource_region(bucket)
        for key in {bucket.name, *s3_bucket_refs(bucket.props)}:
            regions[key] = region
        regions[bucket.urn] = region
    return regions


def _replication_configs(check: StackCheck) -> list[StackResource]:
    """Replication configurations, and buckets that declare one inline."""
    configs = list(check.of_type(*_REPLICATION_CONFIG_TYPES))
    for bucket in check.of_type(*_BUCKET_TYPES):
        if is_set(dig(bucket.props, "replicationConfiguration")):
            configs.append(bucket)
    return configs


def _destination_region(
    config: StackResource, destination: Any, bucket_regions: Mapping[str, Any]
) -> Any:
    """The region of a rule's destination bucket: named, or the one bucket its rules came from."""
    if isinstance(destination, str) and destination in bucket_regions:
        return bucket_regions[destination]
    dependency_urns = config.property_dependencies.get("rules", ())
    candidates = [bucket_regions[urn] for urn in dependency_urns if urn in bucket_regions]
    return candidates[0] if len(candidates) == 1 else MISSING


def validate_s3_replication(check: StackCheck) -> None:
    """S3 replication destinations are buckets in allowed regions (resolved in the stack)."""
    allowed = allowed_regions(check.config)
    bucket_regions = _bucket_regions(check)
    for config in _replication_configs(check):
        rules = dig(config.props, "rules")
        if rules is MISSING:
            rules = dig(config.props, "replicationConfiguration.rules")
        if rules is UNKNOWN:
            check.violation("Replication rules could not be determined.", config.urn)
            continue
        for index, replication_rule in enumerate(as_list(rules)):
            if dig(replication_rule, "status") == "Disabled":
                continue
            destination = dig(replication_rule, "destination.bucket")
            region = _destination_region(config, destination, bucket_regions)
            label = f"Replication rule {index} destination {destination!r} region"
            if region is MISSING:
                check.violation(
                    f"{label} could not be determined: the destination bucket is not in "
                    "this stack, so its region cannot be proven to be allowed.",
                    config.urn,
                )
                continue
            problem = region_problem(region, allowed, label)
            if problem:
                check.violation(problem, config.urn)


def validate_ecr_replication(check: ResourceCheck) -> None:
    """ECR registry replication only targets allowed regions."""
    unknown = "Replication rules could not be determined (unknown during preview)."
    if (rules := check.require_known("replicationConfiguration.rules", unknown)) is None:
        return
    for rule_index, replication_rule in enumerate(as_list(rules)):
        destinations = dig(replication_rule, "destinations")
        if destinations is UNKNOWN:
            check.violation(f"Rule {rule_index} destinations could not be determined.")
            continue
        for index, destination in enumerate(as_list(destinations)):
            label = f"Rule {rule_index} destination {index}"
            report_region(check, dig(destination, "region"), label)


def validate_kms_multi_region(check: ResourceCheck) -> None:
    """KMS keys are single-region; replica keys are only created in allowed regions."""
    if check.resource_type == "aws:kms/key:Key":
        check.expect_flag(
            check.get("multiRegion"),
            False,
            unset_ok=True,
            unknown="'multiRegion' could not be determined (unknown during preview).",
            wrong="The key is multi-region: its material can be replicated to other regions.",
        )
        return
    # Replica keys: the primary must itself be in an allowed region, and the replica's own
    # region is checked by aws-resource-region-allowed.
    region = arn_region(check.get("primaryKeyArn"))
    problem = region_problem(region, allowed_regions(check.config), "Primary key region")
    if problem:
        check.violation(problem)
    else:
        check.violation(
            "Replica keys copy key material between regions; a UAE-only platform keeps "
            "single-region keys."
        )


def _backup_plan_targets(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    rules = check.get("rules")
    if rules is UNKNOWN:
        yield "Backup rules", UNKNOWN
        return
    for rule_index, backup_rule in enumerate(as_list(rules)):
        actions = dig(backup_rule, "copyActions")
        if actions is UNKNOWN:
            yield f"Rule {rule_index} copy actions", UNKNOWN
            continue
        for index, action in enumerate(as_list(actions)):
            vault_arn = dig(action, "destinationVaultArn")
            yield f"Rule {rule_index} copy action {index} vault", arn_region(vault_arn)


def _lifecycle_policy_targets(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    schedules = check.get("policyDetails.schedules")
    if schedules is UNKNOWN:
        yield "Lifecycle schedules", UNKNOWN
        return
    for schedule_index, schedule in enumerate(as_list(schedules)):
        for index, copy_rule in enumerate(as_list(dig(schedule, "crossRegionCopyRules"))):
            target = dig(copy_rule, "target")
            if target is MISSING:
                target = dig(copy_rule, "targetRegion")
            yield f"Schedule {schedule_index} cross-region copy {index}", target


def _secret_replica_targets(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    replicas = check.get("replicas")
    if replicas is UNKNOWN:
        yield "Secret replicas", UNKNOWN
        return
    for index, replica in enumerate(as_list(replicas)):
        yield f"Secret replica {index}", dig(replica, "region")


def _snapshot_copy_targets(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    region = check.get("destinationRegion")
    if region is not MISSING:
        yield "Snapshot copy destination", region


def _efs_replica_targets(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    destination = check.get("destination")
    region = dig(destination, "region") if isinstance(destination, Mapping) else destination
    if region is MISSING and isinstance(destination, Mapping):
        # Without a region the replica is created in the source's region.
        return
    yield "EFS replication destination", region


_COPY_TARGETS: dict[str, Callable[[ResourceCheck], Iterator[tuple[str, Any]]]] = {
    "aws:backup/plan:Plan": _backup_plan_targets,
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": _lifecycle_policy_targets,
    "aws:secretsmanager/secret:Secret": _secret_replica_targets,
    "aws:efs/replicationConfiguration:ReplicationConfiguration": _efs_replica_targets,
    "aws:rds/clusterSnapshotCopy:ClusterSnapshotCopy": _snapshot_copy_targets,
}
"""Per resource type: (label, region) for every cross-region copy target it declares."""

COPY_TYPES = frozenset(_COPY_TARGETS)
"""The resource types that declare copies to other regions."""


def validate_copy_destinations(check: ResourceCheck) -> None:
    """Backup copies, snapshot copies, secret replicas and EFS replicas stay in region."""
    for label, region in _COPY_TARGETS[check.resource_type](check):
        report_region(check, region, label)


def validate_global_datastores(check: ResourceCheck) -> None:
    """Multi-region datastores (global databases, global replication groups) are refused."""
    check.violation(
        f"'{check.resource_type}' spans several regions by design; its secondaries can be "
        "created outside the allowed regions."
    )
