"""UAE data-residency rules: where every AWS resource lives and where its data can go.

Region of a resource, in the order the AWS provider applies them: the per-resource
``region`` input (pulumi-aws v7), then the region of its explicit provider, then (for
default providers only, which the engine configures from the stack) the stack's
``aws:region``. A region that cannot be determined is a violation, never a pass.

Global control-plane services (IAM, Route 53 by default) are exempt only through the
configurable ``exemptServices`` list. CloudFront is deliberately *not* exempt: it caches
content at edge locations outside the UAE.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pulumi.runtime
from pulumi_policy import EnforcementLevel, Severity

from policies.rules import frameworks as fw
from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    RulePolicy,
    StackCheck,
    StackRulePolicy,
    as_list,
    dig,
    is_set,
    is_unknown,
    truthy,
    walk,
)
from policies.rules.kubernetes import POD_SPEC_PATHS, containers_of

DEFAULT_ALLOWED_REGIONS = ["me-central-1"]
"""The UAE region. ``me-south-1`` is Bahrain, not the UAE."""

DEFAULT_EXEMPT_SERVICES = ["iam", "route53"]
"""Global control-plane services whose resources hold no tenant data."""

DEFAULT_APPROVED_REGISTRIES: list[str] = []
"""Registries approved besides ECR in an allowed region (e.g. an in-country on-prem host)."""

DEFAULT_REQUIRED_TAGS = {"tenant": "tenant", "classification": "data-classification"}
DEFAULT_CLASSIFICATIONS = ["public", "internal", "confidential", "restricted"]

_REGIONS_SCHEMA: dict[str, dict[str, Any]] = {
    "allowedRegions": {
        "type": "array",
        "items": {"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$"},
        "minItems": 1,
        "description": "AWS regions data may live in.",
    }
}
_REGISTRY_SCHEMA: dict[str, dict[str, Any]] = {
    **_REGIONS_SCHEMA,
    "approvedRegistries": {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "description": "Extra approved registry hosts (fnmatch patterns allowed, e.g. "
        "'registry.onprem.example.ae').",
    },
}
_ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com$")
_ARN = re.compile(r"^arn:(aws[a-z-]*):([a-z0-9-]+):([a-z0-9-]*):(\d{12}|aws)?:(.+)$")

_REMEDIATE_REGION = (
    "Create the resource in an allowed region: remove the per-resource 'region' input or set "
    "it to an allowed region, give the resource a provider whose 'region' is allowed, or set "
    "the stack's 'aws:region'. If the service is a global control plane that holds no data, "
    "add it to this policy's 'exemptServices' configuration after a review."
)


def stack_region() -> str | None:
    """The stack's ``aws:region`` as the engine passed it to the pack (PULUMI_CONFIG)."""
    value = pulumi.runtime.get_config("aws:region")
    return value if isinstance(value, str) and value else None


def aws_service(resource_type: str) -> str:
    """``aws:s3/bucket:Bucket`` -> ``s3``."""
    return resource_type.split(":", 2)[1].split("/", 1)[0] if ":" in resource_type else ""


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
    region = stack_region()
    if region:
        return region, "the stack's 'aws:region'"
    return MISSING, "no 'region' input, provider region or stack 'aws:region'"


def arn_region(arn: Any) -> Any:
    """The region field of an ARN, ``""`` for global ARNs, UNKNOWN/MISSING otherwise."""
    if is_unknown(arn):
        return UNKNOWN
    if not isinstance(arn, str):
        return MISSING
    match = _ARN.match(arn)
    return match.group(3) if match else MISSING


def _allowed(check_config: Mapping[str, Any]) -> list[str]:
    return list(check_config.get("allowedRegions") or DEFAULT_ALLOWED_REGIONS)


def _region_problem(region: Any, allowed: list[str], what: str) -> str | None:
    if region is UNKNOWN:
        return f"{what}: the region could not be determined (unknown during preview)."
    if region is MISSING or not isinstance(region, str) or not region:
        return f"{what}: the region could not be determined."
    if region not in allowed:
        return f"{what} is '{region}', outside the allowed regions {allowed}."
    return None


# --- region of every AWS resource ------------------------------------------------------


def _is_regional_aws(resource_type: str) -> bool:
    return resource_type.startswith("aws:")


def validate_resource_region(check: ResourceCheck) -> None:
    """Every AWS resource outside the exempt global services is in an allowed region."""
    service = aws_service(check.resource_type)
    exempt = check.config.get("exemptServices", DEFAULT_EXEMPT_SERVICES)
    if service in exempt:
        return
    region, source = resolve_region(check)
    problem = _region_problem(region, _allowed(check.config), f"Region (from {source})")
    if problem:
        check.violation(problem)


aws_resource_region_allowed = RulePolicy(
    name="aws-resource-region-allowed",
    description="Every AWS resource is created in an allowed (UAE) region.",
    validator=validate_resource_region,
    resource_types=None,
    type_predicate=_is_regional_aws,
    severity=Severity.CRITICAL,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation=_REMEDIATE_REGION,
    config_defaults={
        "allowedRegions": DEFAULT_ALLOWED_REGIONS,
        "exemptServices": DEFAULT_EXEMPT_SERVICES,
    },
    config_schema={
        **_REGIONS_SCHEMA,
        "exemptServices": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[a-z0-9]+$"},
            "description": "AWS service modules (the 'iam' in 'aws:iam/role:Role') exempt "
            "from the region check because they are global control planes.",
        },
    },
)


def validate_provider_region(check: ResourceCheck) -> None:
    """An AWS provider is configured for an allowed region."""
    region = dig(check.props, "region")
    if region is MISSING and check.name.startswith("default"):
        region = stack_region() or MISSING
    problem = _region_problem(region, _allowed(check.config), f"AWS provider '{check.name}' region")
    if problem:
        check.violation(problem)


aws_provider_region_allowed = RulePolicy(
    name="aws-provider-region-allowed",
    description="Every AWS provider (default or explicit) targets an allowed region.",
    validator=validate_provider_region,
    resource_types={"pulumi:providers:aws"},
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation="Set 'region' on the provider (or 'aws:region' in the stack file for the "
    "default provider) to an allowed region; never rely on AWS_REGION or a profile.",
    config_defaults={"allowedRegions": DEFAULT_ALLOWED_REGIONS},
    config_schema=_REGIONS_SCHEMA,
)


# --- copies out of the region ----------------------------------------------------------


def validate_dynamodb_replicas(check: ResourceCheck) -> None:
    """DynamoDB global-table replicas stay in allowed regions."""
    allowed = _allowed(check.config)
    replicas = check.get("replicas") if "replicas" in check.props else check.get("replica")
    if replicas is UNKNOWN:
        check.violation("Replica regions could not be determined (unknown during preview).")
        return
    for index, replica in enumerate(as_list(replicas)):
        region = dig(replica, "regionName")
        problem = _region_problem(region, allowed, f"Replica {index} region")
        if problem:
            check.violation(problem)


aws_dynamodb_replica_region_allowed = RulePolicy(
    name="aws-dynamodb-replica-region-allowed",
    description="DynamoDB table replicas (global tables) are only in allowed regions.",
    validator=validate_dynamodb_replicas,
    resource_types={"aws:dynamodb/table:Table", "aws:dynamodb/globalTable:GlobalTable"},
    severity=Severity.CRITICAL,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation="Remove replicas outside the allowed regions. For disaster recovery use "
    "point-in-time recovery and on-demand backups in the region, or export to the "
    "in-country second site.",
    config_defaults={"allowedRegions": DEFAULT_ALLOWED_REGIONS},
    config_schema=_REGIONS_SCHEMA,
)


def _bucket_keys(resource_props: Mapping[str, Any], resource_name: str) -> set[str]:
    keys = {resource_name}
    for key in ("bucket", "id"):
        value = resource_props.get(key)
        if isinstance(value, str) and not is_unknown(value):
            keys.update({value, f"arn:aws:s3:::{value}"})
    return keys


def validate_s3_replication(check: StackCheck) -> None:
    """S3 replication destinations are buckets in allowed regions (resolved in the stack)."""
    allowed = _allowed(check.config)
    buckets: dict[str, Any] = {}
    for bucket in check.of_type("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        region = dig(bucket.props, "region")
        if region is MISSING:
            region = dig(bucket.provider_props, "region")
        if region is MISSING:
            region = stack_region() or MISSING
        for key in _bucket_keys(bucket.props, bucket.name):
            buckets[key] = region
        buckets[bucket.urn] = region
    configs = list(
        check.of_type(
            "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
            "aws:s3/bucketReplicationConfiguration:BucketReplicationConfiguration",
        )
    )
    for bucket in check.of_type("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        if is_set(dig(bucket.props, "replicationConfiguration")):
            configs.append(bucket)
    for config in configs:
        rules = dig(config.props, "rules")
        if rules is MISSING:
            rules = dig(config.props, "replicationConfiguration.rules")
        if rules is UNKNOWN:
            check.violation("Replication rules could not be determined.", config.urn)
            continue
        for index, rule in enumerate(as_list(rules)):
            if dig(rule, "status") == "Disabled":
                continue
            destination = dig(rule, "destination.bucket")
            region = MISSING
            if isinstance(destination, str) and destination in buckets:
                region = buckets[destination]
            else:
                dep_urns = config.property_dependencies.get("rules", ())
                candidates = [buckets[u] for u in dep_urns if u in buckets]
                if len(candidates) == 1:
                    region = candidates[0]
            label = f"Replication rule {index} destination {destination!r} region"
            if region is MISSING:
                check.violation(
                    f"{label} could not be determined: the destination bucket is not in "
                    "this stack, so its region cannot be proven to be allowed.",
                    config.urn,
                )
                continue
            problem = _region_problem(region, allowed, label)
            if problem:
                check.violation(problem, config.urn)


aws_s3_replication_destination_allowed = StackRulePolicy(
    name="aws-s3-replication-destination-allowed",
    description="S3 replication rules only copy objects to buckets in allowed regions.",
    validator=validate_s3_replication,
    severity=Severity.CRITICAL,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation="Replicate only to a bucket defined in this stack in an allowed region "
    "(same-region replication), or to the in-country S3-compatible store of the hybrid site.",
    config_defaults={"allowedRegions": DEFAULT_ALLOWED_REGIONS},
    config_schema=_REGIONS_SCHEMA,
)


def validate_ecr_replication(check: ResourceCheck) -> None:
    """ECR registry replication only targets allowed regions."""
    allowed = _allowed(check.config)
    rules = check.get("replicationConfiguration.rules")
    if rules is UNKNOWN:
        check.violation("Replication rules could not be determined (unknown during preview).")
        return
    for r_index, rule in enumerate(as_list(rules)):
        destinations = dig(rule, "destinations")
        if destinations is UNKNOWN:
            check.violation(f"Rule {r_index} destinations could not be determined.")
            continue
        for d_index, destination in enumerate(as_list(destinations)):
            region = dig(destination, "region")
            problem = _region_problem(region, allowed, f"Rule {r_index} destination {d_index}")
            if problem:
                check.violation(problem)


aws_ecr_replication_destination_allowed = RulePolicy(
    name="aws-ecr-replication-destination-allowed",
    description="ECR replication only copies images to registries in allowed regions.",
    validator=validate_ecr_replication,
    resource_types={"aws:ecr/replicationConfiguration:ReplicationConfiguration"},
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation="Remove replication destinations outside the allowed regions.",
    config_defaults={"allowedRegions": DEFAULT_ALLOWED_REGIONS},
    config_schema=_REGIONS_SCHEMA,
)


def validate_kms_multi_region(check: ResourceCheck) -> None:
    """KMS keys are single-region; replica keys are only created in allowed regions."""
    if check.resource_type == "aws:kms/key:Key":
        multi = truthy(check.get("multiRegion"))
        if check.get("multiRegion") is UNKNOWN:
            check.violation("'multiRegion' could not be determined (unknown during preview).")
        elif multi:
            check.violation(
                "The key is multi-region: its material can be replicated to other regions."
            )
        return
    # Replica keys: the primary must itself be in an allowed region, and the replica's own
    # region is checked by aws-resource-region-allowed.
    region = arn_region(check.get("primaryKeyArn"))
    problem = _region_problem(region, _allowed(check.config), "Primary key region")
    if problem:
        check.violation(problem)
    else:
        check.violation(
            "Replica keys copy key material between regions; a UAE-only platform keeps "
            "single-region keys."
        )


aws_kms_multi_region_key_prohibited = RulePolicy(
    name="aws-kms-multi-region-key-prohibited",
    description="KMS keys are single-region and never replicated to another region.",
    validator=validate_kms_multi_region,
    resource_types={
        "aws:kms/key:Key",
        "aws:kms/replicaKey:ReplicaKey",
        "aws:kms/replicaExternalKey:ReplicaExternalKey",
    },
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation="Set 'multiRegion' to false (a new key is needed: the flag cannot change) "
    "and remove replica keys.",
    config_defaults={"allowedRegions": DEFAULT_ALLOWED_REGIONS},
    config_schema=_REGIONS_SCHEMA,
)


def _copy_targets(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    """(label, region) for every cross-region copy target of a backup/snapshot policy."""
    if check.resource_type == "aws:backup/plan:Plan":
        rules = check.get("rules")
        if rules is UNKNOWN:
            yield "Backup rules", UNKNOWN
            return
        for r_index, rule in enumerate(as_list(rules)):
            actions = dig(rule, "copyActions")
            if actions is UNKNOWN:
                yield f"Rule {r_index} copy actions", UNKNOWN
                continue
            for a_index, action in enumerate(as_list(actions)):
                arn = dig(action, "destinationVaultArn")
                yield f"Rule {r_index} copy action {a_index} vault", arn_region(arn)
    elif check.resource_type == "aws:dlm/lifecyclePolicy:LifecyclePolicy":
        schedules = check.get("policyDetails.schedules")
        if schedules is UNKNOWN:
            yield "Lifecycle schedules", UNKNOWN
            return
        for s_index, schedule in enumerate(as_list(schedules)):
            for c_index, rule in enumerate(as_list(dig(schedule, "crossRegionCopyRules"))):
                target = dig(rule, "target")
                if target is MISSING:
                    target = dig(rule, "targetRegion")
                yield f"Schedule {s_index} cross-region copy {c_index}", target
    elif check.resource_type == "aws:secretsmanager/secret:Secret":
        replicas = check.get("replicas")
        if replicas is UNKNOWN:
            yield "Secret replicas", UNKNOWN
            return
        for index, replica in enumerate(as_list(replicas)):
            yield f"Secret replica {index}", dig(replica, "region")
    elif check.resource_type == "aws:rds/clusterSnapshotCopy:ClusterSnapshotCopy":
        region = check.get("destinationRegion")
        if region is not MISSING:
            yield "Snapshot copy destination", region
    elif check.resource_type == "aws:efs/replicationConfiguration:ReplicationConfiguration":
        destination = check.get("destination")
        region = dig(destination, "region") if isinstance(destination, Mapping) else destination
        if region is MISSING and isinstance(destination, Mapping):
            # Without a region the replica is created in the source's region.
            return
        yield "EFS replication destination", region


def validate_copy_destinations(check: ResourceCheck) -> None:
    """Backup copies, snapshot copies, secret replicas and EFS replicas stay in region."""
    allowed = _allowed(check.config)
    for label, region in _copy_targets(check):
        problem = _region_problem(region, allowed, label)
        if problem:
            check.violation(problem)


aws_copy_destination_allowed = RulePolicy(
    name="aws-copy-destination-region-allowed",
    description="Backup copy actions, snapshot copy rules, secret replicas and file-system "
    "replicas only target allowed regions.",
    validator=validate_copy_destinations,
    resource_types={
        "aws:backup/plan:Plan",
        "aws:dlm/lifecyclePolicy:LifecyclePolicy",
        "aws:secretsmanager/secret:Secret",
        "aws:efs/replicationConfiguration:ReplicationConfiguration",
        "aws:rds/clusterSnapshotCopy:ClusterSnapshotCopy",
    },
    severity=Severity.CRITICAL,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation="Point copy actions at a backup vault in an allowed region (or the in-country "
    "second site) and remove replicas in other regions.",
    config_defaults={"allowedRegions": DEFAULT_ALLOWED_REGIONS},
    config_schema=_REGIONS_SCHEMA,
)


def validate_global_datastores(check: ResourceCheck) -> None:
    """Multi-region datastores (global databases, global replication groups) are refused."""
    check.violation(
        f"'{check.resource_type}' spans several regions by design; its secondaries can be "
        "created outside the allowed regions."
    )


aws_global_datastore_prohibited = RulePolicy(
    name="aws-global-datastore-prohibited",
    description="Multi-region datastores (Aurora global databases, ElastiCache global "
    "datastores, S3 multi-region access points) are not used.",
    validator=validate_global_datastores,
    resource_types={
        "aws:rds/globalCluster:GlobalCluster",
        "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup",
        "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint",
    },
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation="Use a regional (multi-AZ) deployment instead; disaster recovery goes to "
    "the in-country second site.",
)


# --- images and charts -----------------------------------------------------------------


def image_registry(image: str) -> str:
    """The registry host of an image reference (Docker Hub when none is named)."""
    name = image.split("@", 1)[0]
    first, sep, _rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def registry_approved(host: str, config: Mapping[str, Any]) -> bool:
    """ECR in an allowed region, or an explicitly approved host pattern."""
    match = _ECR_HOST.match(host)
    if match and match.group(3) in _allowed(config):
        return True
    for pattern in config.get("approvedRegistries") or []:
        if fnmatch.fnmatchcase(host, pattern.lower()):
            return True
    return False


def _image_problem(image: Any, where: str, config: Mapping[str, Any]) -> str | None:
    if is_unknown(image):
        return f"{where}: the image could not be determined (unknown during preview)."
    if not isinstance(image, str) or not image:
        return f"{where}: no image is set."
    host = image_registry(image)
    if not registry_approved(host, config):
        return (
            f"{where}: image '{image}' comes from '{host}', which is not an approved in-region "
            "registry."
        )
    return None


def _k8s_images(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    if check.resource_type == "kubernetes:apiextensions.k8s.io:CustomResource":
        for path, value in walk(check.get("spec")):
            if path.split(".")[-1] == "image" and (isinstance(value, str) or is_unknown(value)):
                yield f"spec.{path}", value
        return
    for path, container in containers_of(check.resource_type, check.props):
        yield f"{path}.image", dig(container, "image")


def _helm_value_images(values: Any) -> Iterator[tuple[str, Any]]:
    for path, value in walk(values):
        key = path.split(".")[-1] if path else ""
        if key != "image":
            continue
        if isinstance(value, str) or is_unknown(value):
            yield f"values.{path}", value
        elif isinstance(value, Mapping) and "repository" in value:
            repository = value.get("repository")
            registry = value.get("registry")
            if is_unknown(repository) or is_unknown(registry):
                yield f"values.{path}", UNKNOWN
            elif isinstance(repository, str):
                ref = f"{registry}/{repository}" if isinstance(registry, str) else repository
                yield f"values.{path}", ref


def validate_images(check: ResourceCheck) -> None:
    """Container images come only from approved in-region registries."""
    if check.resource_type.startswith("kubernetes:helm.sh/"):
        values = check.get("values")
        images = [] if values is MISSING else list(_helm_value_images(values))
    elif check.resource_type.startswith("kubernetes:"):
        images = list(_k8s_images(check))
    elif check.resource_type == "aws:lambda/function:Function":
        image_uri = check.get("imageUri")
        images = [] if check.get("packageType") != "Image" else [("imageUri", image_uri)]
    elif check.resource_type == "aws:sagemaker/model:Model":
        images = [("primaryContainer.image", check.get("primaryContainer.image"))]
        for index, container in enumerate(as_list(check.get("containers"))):
            images.append((f"containers.{index}.image", dig(container, "image")))
        images = [(p, i) for p, i in images if i is not MISSING]
    else:  # ECS task definitions carry their containers as a JSON string.
        images = list(_ecs_images(check.get("containerDefinitions")))
    for where, image in images:
        problem = _image_problem(image, where, check.config)
        if problem:
            check.violation(problem)


def _ecs_images(definitions: Any) -> Iterator[tuple[str, Any]]:
    if is_unknown(definitions):
        yield "containerDefinitions", UNKNOWN
        return
    try:
        parsed = json.loads(definitions) if isinstance(definitions, str) else definitions
    except ValueError:
        yield "containerDefinitions", "<unparsable JSON>"
        return
    for index, container in enumerate(as_list(parsed)):
        yield f"containerDefinitions.{index}.image", dig(container, "image")


_IMAGE_TYPES = {
    *POD_SPEC_PATHS,
    "kubernetes:apiextensions.k8s.io:CustomResource",
    "kubernetes:helm.sh/v3:Release",
    "kubernetes:helm.sh/v4:Chart",
    "aws:lambda/function:Function",
    "aws:sagemaker/model:Model",
    "aws:ecs/taskDefinition:TaskDefinition",
}

container_image_registry_approved = RulePolicy(
    name="container-image-registry-approved",
    description="Container images come only from approved registries in the UAE (ECR in an "
    "allowed region, or a configured in-country registry).",
    validator=validate_images,
    resource_types=_IMAGE_TYPES,
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation="Mirror the image into ECR in me-central-1 (a pull-through cache or a copy "
    "pinned by digest) and reference '<account>.dkr.ecr.me-central-1.amazonaws.com/...', or "
    "add an in-country registry host to 'approvedRegistries'.",
    config_defaults={
        "allowedRegions": DEFAULT_ALLOWED_REGIONS,
        "approvedRegistries": DEFAULT_APPROVED_REGISTRIES,
    },
    config_schema=_REGISTRY_SCHEMA,
)


def chart_source_host(chart: Any, repo: Any) -> Any:
    """Registry host a Helm chart is pulled from; ``""`` for a local chart; UNKNOWN/MISSING."""
    for source in (repo, chart):
        if is_unknown(source):
            return UNKNOWN
        if isinstance(source, str) and "://" in source:
            return source.split("://", 1)[1].split("/", 1)[0].split("@")[-1].lower()
    if isinstance(chart, str) and chart.startswith(("./", "../", "/")):
        return ""
    return MISSING


def validate_helm_chart(check: ResourceCheck) -> None:
    """Helm charts come from approved registries and are pinned to a version."""
    chart = check.get("chart")
    host = chart_source_host(chart, check.get("repositoryOpts.repo"))
    if host is UNKNOWN:
        check.violation("The chart source could not be determined (unknown during preview).")
    elif host is MISSING:
        check.violation(
            f"Chart {chart!r} names no repository URL: its source cannot be verified. Use "
            "'oci://<approved registry>/...' or 'repositoryOpts.repo'."
        )
    elif host and not registry_approved(host, check.config):
        check.violation(f"Chart {chart!r} comes from '{host}', which is not an approved registry.")
    if host != "" and not is_set(check.get("version")):
        check.violation(f"Chart {chart!r} has no pinned 'version'.")


helm_chart_source_approved = RulePolicy(
    name="helm-chart-source-approved",
    description="Helm charts are pulled from approved in-region registries and pinned.",
    validator=validate_helm_chart,
    resource_types={"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"},
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation="Push the chart to ECR in me-central-1 ('helm push chart.tgz "
    "oci://<account>.dkr.ecr.me-central-1.amazonaws.com/charts') and set chart to that oci:// "
    "URL with an exact 'version'.",
    config_defaults={
        "allowedRegions": DEFAULT_ALLOWED_REGIONS,
        "approvedRegistries": DEFAULT_APPROVED_REGISTRIES,
    },
    config_schema=_REGISTRY_SCHEMA,
)


# --- tenant and classification tags ----------------------------------------------------

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


data_resource_tagged = RulePolicy(
    name="aws-data-resource-tagged",
    description="Data-bearing resources are tagged with their tenant and data classification.",
    validator=validate_data_tags,
    resource_types=DATA_BEARING_TYPES,
    severity=Severity.MEDIUM,
    enforcement_level=EnforcementLevel.MANDATORY,
    frameworks=fw.RESIDENCY,
    remediation="Add the tenant tag ('platform' for shared resources) and a data-classification "
    "tag from the allowed set to the resource (or to the provider's defaultTags).",
    config_defaults={
        "tenantTagKey": DEFAULT_REQUIRED_TAGS["tenant"],
        "classificationTagKey": DEFAULT_REQUIRED_TAGS["classification"],
        "allowedClassifications": DEFAULT_CLASSIFICATIONS,
    },
    config_schema={
        "tenantTagKey": {"type": "string", "minLength": 1, "description": "Tenant tag key."},
        "classificationTagKey": {
            "type": "string",
            "minLength": 1,
            "description": "Data-classification tag key.",
        },
        "allowedClassifications": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "Accepted classification values.",
        },
    },
)


RESOURCE_POLICIES = [
    aws_resource_region_allowed,
    aws_provider_region_allowed,
    aws_dynamodb_replica_region_allowed,
    aws_ecr_replication_destination_allowed,
    aws_kms_multi_region_key_prohibited,
    aws_copy_destination_allowed,
    aws_global_datastore_prohibited,
    container_image_registry_approved,
    helm_chart_source_approved,
    data_resource_tagged,
]
STACK_POLICIES = [aws_s3_replication_destination_allowed]
POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
"""Every rule of the ``uae-residency`` pack."""
