"""UAE data-residency rules: where every AWS resource lives and where its data can go.

Served by the ``uae-residency`` pack. This module is the catalogue: every rule with its
name, description, severity, frameworks, remediation and settings. The validators live
in :mod:`.regions` (every resource and provider in an allowed region), :mod:`.copies`
(replicas and copies stay there), :mod:`.destinations` (every ARN a resource names is
there too), :mod:`.images` (images and charts only from approved
in-region registries) and :mod:`.tags` (tenant and data-classification tags).
"""

from pulumi_policy import Severity

from policies.rules import frameworks as fw
from policies.rules.declare import Setting, rule
from policies.rules.residency.backups import (
    DEFAULT_APPROVED_OBJECT_STORES,
    is_backup_target,
    validate_backup_destinations,
)
from policies.rules.residency.copies import (
    COPY_TYPES,
    validate_copy_destinations,
    validate_dynamodb_replicas,
    validate_ecr_replication,
    validate_global_datastores,
    validate_kms_multi_region,
    validate_s3_replication,
)
from policies.rules.residency.destinations import validate_arn_destinations
from policies.rules.residency.images import (
    DEFAULT_APPROVED_REGISTRIES,
    runs_images,
    validate_helm_chart,
    validate_images,
)
from policies.rules.residency.regions import (
    DEFAULT_ALLOWED_REGIONS,
    DEFAULT_EXEMPT_SERVICES,
    is_regional_aws,
    validate_provider_region,
    validate_resource_region,
)
from policies.rules.residency.tags import (
    DATA_BEARING_TYPES,
    DEFAULT_CLASSIFICATIONS,
    DEFAULT_REQUIRED_TAGS,
    validate_data_tags,
)

# --- settings --------------------------------------------------------------------------

ALLOWED_REGIONS = Setting(
    DEFAULT_ALLOWED_REGIONS,
    {
        "type": "array",
        "items": {"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$"},
        "minItems": 1,
        "description": "AWS regions data may live in.",
    },
)
EXEMPT_SERVICES = Setting(
    DEFAULT_EXEMPT_SERVICES,
    {
        "type": "array",
        "items": {"type": "string", "pattern": "^[a-z0-9]+$"},
        "description": "AWS service modules (the 'iam' in 'aws:iam/role:Role') exempt "
        "from the region check because they are global control planes.",
    },
)
REGION_CONFIG = {"allowedRegions": ALLOWED_REGIONS}
"""The configuration of every rule that only needs the allowed regions."""

APPROVED_REGISTRIES = Setting(
    DEFAULT_APPROVED_REGISTRIES,
    {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "description": "Extra approved registry hosts (fnmatch patterns allowed, e.g. "
        "'registry.onprem.example.ae').",
    },
)
REGISTRY_CONFIG = {**REGION_CONFIG, "approvedRegistries": APPROVED_REGISTRIES}
APPROVED_OBJECT_STORES = Setting(
    DEFAULT_APPROVED_OBJECT_STORES,
    {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "description": "In-country S3-compatible object store hosts (fnmatch patterns allowed, "
        "e.g. 's3.dc1.onprem.example.ae') backups and copies may go to besides S3 in an "
        "allowed region.",
    },
)
OBJECT_STORE_CONFIG = {**REGION_CONFIG, "approvedObjectStores": APPROVED_OBJECT_STORES}

TAG_CONFIG = {
    "tenantTagKey": Setting(
        DEFAULT_REQUIRED_TAGS["tenant"],
        {"type": "string", "minLength": 1, "description": "Tenant tag key."},
    ),
    "classificationTagKey": Setting(
        DEFAULT_REQUIRED_TAGS["classification"],
        {"type": "string", "minLength": 1, "description": "Data-classification tag key."},
    ),
    "allowedClassifications": Setting(
        DEFAULT_CLASSIFICATIONS,
        {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "Accepted classification values.",
        },
    ),
}

REMEDIATE_REGION = (
    "Create the resource in an allowed region: remove the per-resource 'region' input or set "
    "it to an allowed region, give the resource a provider whose 'region' is allowed, or set "
    "the stack's 'aws:region'. If the service is a global control plane that holds no data, "
    "add it to this policy's 'exemptServices' configuration after a review."
)


# --- region of every AWS resource ------------------------------------------------------

aws_resource_region_allowed = rule(
    "aws-resource-region-allowed",
    "Every AWS resource (pulumi-aws or aws-native) is created in an allowed (UAE) region.",
    validate_resource_region,
    types=is_regional_aws,
    severity=Severity.CRITICAL,
    frameworks=fw.RESIDENCY,
    remediation=REMEDIATE_REGION,
    config={**REGION_CONFIG, "exemptServices": EXEMPT_SERVICES},
)
aws_provider_region_allowed = rule(
    "aws-provider-region-allowed",
    "Every AWS provider (pulumi-aws or aws-native, default or explicit) targets an allowed region.",
    validate_provider_region,
    types={"pulumi:providers:aws", "pulumi:providers:aws-native"},
    severity=Severity.HIGH,
    frameworks=fw.RESIDENCY,
    remediation="Set 'region' on the provider (or 'aws:region' in the stack file for the default "
    "provider) to an allowed region; never rely on AWS_REGION or a profile.",
    config=REGION_CONFIG,
)


# --- copies out of the region ----------------------------------------------------------

aws_dynamodb_replica_region_allowed = rule(
    "aws-dynamodb-replica-region-allowed",
    "DynamoDB table replicas (global tables) are only in allowed regions.",
    validate_dynamodb_replicas,
    types={"aws:dynamodb/table:Table", "aws:dynamodb/globalTable:GlobalTable"},
    severity=Severity.CRITICAL,
    frameworks=fw.RESIDENCY,
    remediation="Remove replicas outside the allowed regions. For disaster recovery use "
    "point-in-time recovery and on-demand backups in the region, or export to the in-country "
    "second site.",
    config=REGION_CONFIG,
)
aws_s3_replication_destination_allowed = rule(
    "aws-s3-replication-destination-allowed",
    "S3 replication rules only copy objects to buckets in allowed regions.",
    validate_s3_replication,
    stack=True,
    severity=Severity.CRITICAL,
    frameworks=fw.RESIDENCY,
    remediation="Replicate only to a bucket defined in this stack in an allowed region "
    "(same-region replication), or to the in-country S3-compatible store of the hybrid site.",
    config=REGION_CONFIG,
)
aws_ecr_replication_destination_allowed = rule(
    "aws-ecr-replication-destination-allowed",
    "ECR replication only copies images to registries in allowed regions.",
    validate_ecr_replication,
    types={"aws:ecr/replicationConfiguration:ReplicationConfiguration"},
    severity=Severity.HIGH,
    frameworks=fw.RESIDENCY,
    remediation="Remove replication destinations outside the allowed regions.",
    config=REGION_CONFIG,
)
aws_kms_multi_region_key_prohibited = rule(
    "aws-kms-multi-region-key-prohibited",
    "KMS keys are single-region and never replicated to another region.",
    validate_kms_multi_region,
    types={
        "aws:kms/key:Key",
        "aws:kms/replicaKey:ReplicaKey",
        "aws:kms/replicaExternalKey:ReplicaExternalKey",
    },
    severity=Severity.HIGH,
    frameworks=fw.RESIDENCY,
    remediation="Set 'multiRegion' to false (a new key is needed: the flag cannot change) and "
    "remove replica keys.",
    config=REGION_CONFIG,
)
aws_copy_destination_allowed = rule(
    "aws-copy-destination-region-allowed",
    "Backup copy actions, snapshot copy rules, secret replicas and file-system "
    "replicas only target allowed regions.",
    validate_copy_destinations,
    types=COPY_TYPES,
    severity=Severity.CRITICAL,
    frameworks=fw.RESIDENCY,
    remediation="Point copy actions at a backup vault in an allowed region (or the in-country "
    "second site) and remove replicas in other regions.",
    config=REGION_CONFIG,
)
backup_destination_in_country = rule(
    "backup-destination-in-country",
    "Velero backup and snapshot locations, and the S3 endpoints and regions workloads set "
    "(scheduled copies), are in-country: an approved in-country object store or S3 in an "
    "allowed region.",
    validate_backup_destinations,
    types=is_backup_target,
    severity=Severity.CRITICAL,
    frameworks=fw.RESIDENCY,
    remediation="Point the location's 's3Url' (or the workload's AWS_ENDPOINT_URL_S3) at the "
    "in-country site's object store and add its host to 'approvedObjectStores', or use S3 in "
    "an allowed region; never a bucket abroad, GCS or Azure.",
    config=OBJECT_STORE_CONFIG,
)
aws_global_datastore_prohibited = rule(
    "aws-global-datastore-prohibited",
    "Multi-region datastores (Aurora global databases, ElastiCache global "
    "datastores, S3 multi-region access points) are not used.",
    validate_global_datastores,
    types={
        "aws:rds/globalCluster:GlobalCluster",
        "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup",
        "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint",
    },
    severity=Severity.HIGH,
    frameworks=fw.RESIDENCY,
    remediation="Use a regional (multi-AZ) deployment instead; disaster recovery goes to the "
    "in-country second site.",
)


aws_arn_destination_region_allowed = rule(
    "aws-arn-destination-region-allowed",
    "Every ARN a resource names (subscription endpoints, log subscription destinations, "
    "event targets, delivery-stream sources and destinations, dead-letter queues, keys...) is "
    "in an allowed region.",
    validate_arn_destinations,
    types=is_regional_aws,
    severity=Severity.CRITICAL,
    frameworks=fw.RESIDENCY,
    remediation="Point the resource at a queue, stream, function, log destination or key in an "
    "allowed region; cross-border delivery needs a documented transfer basis and belongs in the "
    "in-country second site, not another region.",
    config=REGION_CONFIG,
)


# --- images and charts -----------------------------------------------------------------

container_image_registry_approved = rule(
    "container-image-registry-approved",
    "Container images come only from approved registries in the UAE (ECR in an "
    "allowed region, or a configured in-country registry).",
    validate_images,
    types=runs_images,
    severity=Severity.HIGH,
    frameworks=fw.RESIDENCY,
    remediation="Mirror the image into ECR in me-central-1 (a pull-through cache or a copy pinned "
    "by digest) and reference '<account>.dkr.ecr.me-central-1.amazonaws.com/...', or add an "
    "in-country registry host to 'approvedRegistries'.",
    config=REGISTRY_CONFIG,
)
helm_chart_source_approved = rule(
    "helm-chart-source-approved",
    "Helm charts are pulled from approved in-region registries and pinned.",
    validate_helm_chart,
    types={"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"},
    severity=Severity.HIGH,
    frameworks=fw.RESIDENCY,
    remediation="Push the chart to ECR in me-central-1 ('helm push chart.tgz "
    "oci://<account>.dkr.ecr.me-central-1.amazonaws.com/charts') and set chart to that oci:// URL "
    "with an exact 'version'.",
    config=REGISTRY_CONFIG,
)


# --- tenant and classification tags ----------------------------------------------------

data_resource_tagged = rule(
    "aws-data-resource-tagged",
    "Data-bearing resources are tagged with their tenant and data classification.",
    validate_data_tags,
    types=DATA_BEARING_TYPES,
    severity=Severity.MEDIUM,
    frameworks=fw.RESIDENCY,
    remediation="Add the tenant tag ('platform' for shared resources) and a data-classification "
    "tag from the allowed set to the resource (or to the provider's defaultTags).",
    config=TAG_CONFIG,
)

RESOURCE_POLICIES = [
    aws_resource_region_allowed,
    aws_provider_region_allowed,
    aws_dynamodb_replica_region_allowed,
    aws_ecr_replication_destination_allowed,
    aws_kms_multi_region_key_prohibited,
    aws_copy_destination_allowed,
    backup_destination_in_country,
    aws_global_datastore_prohibited,
    aws_arn_destination_region_allowed,
    container_image_registry_approved,
    helm_chart_source_approved,
    data_resource_tagged,
]
STACK_POLICIES = [aws_s3_replication_destination_allowed]
POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
"""Every rule of the ``uae-residency`` pack."""
