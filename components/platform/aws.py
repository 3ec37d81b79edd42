"""The ``aws`` site: the shared foundation plus, per tenant, its AWS resources.

Per tenant: a customer-managed key, an encrypted data bucket, an object-locked audit
bucket (the alert receiver ships its keyed audit records there, each with an object-lock
retention from the tier; COMPLIANCE mode in prod) and the KMS HMAC key those records are
chained with (only the alert receiver's role may use it), the namespace component with its IRSA role scoped to those
buckets and that key, and the alert receiver's own role. The site backs each tenant's
Feast feature store (SMB: one DynamoDB table per feature view; enterprise: ElastiCache
Redis with TLS, AUTH, its CMK and multi-AZ failover) and its SQS queues, which the
alert receiver uses under a role limited to its own queues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components._util import irsa_trust_policy, merge_tags, to_json
from components.aws.backup import TenantBackup
from components.aws.queues import IngestionQueues, TenantQueues, keda_operator_role
from components.encryption import Encryption, EncryptionArgs, KeyService, KeySpec, key_policy
from components.featurestore import FeatureStore, FeatureStoreArgs
from components.k8s._resources import register, resolve_placeholders
from components.k8s.catalog import Registry, RegistryArgs, registry_of
from components.k8s.dr_copy import dr_copy_manifests, dr_copy_service_account
from components.k8s.placement import Placement
from components.k8s.velero import VeleroInstall
from components.network import plan_subnets
from components.nodepools import PURPOSE_LABEL
from components.platform.aws_foundation import Account, AwsFoundation
from components.platform.site import (
    AuditTrail,
    Credentials,
    IngestionTarget,
    ModelStorage,
    Site,
    TenantServices,
    tenant_args,
)
from components.platform.sizing import tenant_placement
from components.settings import Environment, PlatformSettings
from components.settings import Tenant as TenantSettings
from components.settings.models import DrSiteSettings
from components.storage import (
    DataClassification,
    ObjectLock,
    ObjectLockMode,
    SecureBucket,
    SecureBucketArgs,
    tenant_data_expiry,
)
from components.tenant import EgressRule, Tenant, TenantAwsIdentity
from contracts.backup import AUDIT_PREFIXES, DATA_PREFIXES, dr_bucket
from contracts.feature_store import FEATURE_VIEWS, dynamodb_table_name
from contracts.names import (
    LOOP_READ_PREFIXES,
    LOOP_WRITE_PREFIXES,
    automation_service_accounts,
    feast_project,
    feature_repo_config_map_name,
    tenant_data_bucket_name,
)
from contracts.telemetry import REDIS_PORT

DYNAMODB_ACTIONS: tuple[str, ...] = (
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
"""What Feast's DynamoDB online store does: serve reads, materialise writes. Tables are
created by Pulumi, so no CreateTable/DeleteTable."""
REDIS_TOKEN_SPECIALS = "!&#$^<>-"  # noqa: S105 (an alphabet, not a secret)
"""The only special characters ElastiCache allows in an AUTH token."""


def dynamodb_statements(
    partition: str, region: str, account_id: str, tenant: str, views: Sequence[str]
) -> list[dict[str, Any]]:
    """The feature server's access to its own online tables, by exact ARN."""
    project = feast_project(tenant)
    return [
        {
            "Sid": "FeastOnlineTables",
            "Effect": "Allow",
            "Action": list(DYNAMODB_ACTIONS),
            "Resource": sorted(
                f"arn:{partition}:dynamodb:{region}:{account_id}:table/"
                + dynamodb_table_name(project, view)
                for view in views
            ),
        }
    ]


def loop_state_policy(bucket_arn: str, key_arn: str, region: str) -> dict[str, Any]:
    """The loop's access to its folders of the tenant bucket, and the key through S3."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListLoopFolders",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": [f"{p}/*" for p in LOOP_READ_PREFIXES]}},
            },
            {
                "Sid": "ReadLoopState",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": sorted(f"{bucket_arn}/{p}/*" for p in LOOP_READ_PREFIXES),
            },
            {
                "Sid": "WriteLoopState",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": sorted(f"{bucket_arn}/{p}/*" for p in LOOP_WRITE_PREFIXES),
            },
            {
                "Sid": "TenantKeyThroughS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": [key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ],
    }


AUDIT_PREFIX = "alerts"
"""Folder of the audit bucket the alert receiver ships its log to."""


def audit_object_lock(environment: Environment, days: int = 1825) -> ObjectLock:
    """COMPLIANCE retention of ``days`` (the tier's) in prod; GOVERNANCE elsewhere, at most
    30 days, so test stacks can still be torn down by an administrator."""
    if environment is Environment.PROD:
        return ObjectLock(ObjectLockMode.COMPLIANCE, days=days)
    return ObjectLock(ObjectLockMode.GOVERNANCE, days=min(days, 30))


def audit_trail_policy(bucket_arn: str, mac_key_arn: str) -> dict[str, Any]:
    """The alert receiver's access to its audit folder and its MAC key: write records with
    a retention, read them back (restart, verification), never delete or shorten."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListAuditFolder",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                "Resource": [bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": [f"{AUDIT_PREFIX}/*"]}},
            },
            {
                "Sid": "WriteAndReadAuditRecords",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:PutObjectRetention",
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                ],
                "Resource": [f"{bucket_arn}/{AUDIT_PREFIX}/*"],
            },
            {
                "Sid": "ChainRecordsWithTheAuditKey",
                "Effect": "Allow",
                "Action": ["kms:GenerateMac", "kms:VerifyMac"],
                "Resource": [mac_key_arn],
            },
        ],
    }


def dr_copy_policy(
    data_arn: str, audit_arn: str | None, key_arn: str, region: str
) -> dict[str, Any]:
    """The in-country copy's read-only access: the data bucket's models, registry and
    feature folders, the audit folder (with retention, to keep it on the copy), the key
    through S3. No write, no delete, nothing else."""
    folders = [(data_arn, p) for p in DATA_PREFIXES]
    if audit_arn is not None:
        folders += [(audit_arn, p) for p in AUDIT_PREFIXES]
    statements: list[dict[str, Any]] = [
        {
            "Sid": f"List{index}",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [arn],
            "Condition": {"StringLike": {"s3:prefix": [f"{p}/*" for a, p in folders if a == arn]}},
        }
        for index, arn in enumerate(sorted({a for a, _ in folders}))
    ]
    statements += [
        {
            "Sid": "ReadFolders",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention"],
            "Resource": sorted(f"{arn}/{p}/*" for arn, p in folders),
        },
        {
            "Sid": "TenantKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [key_arn],
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class TenantAwsResources:
    """What the AWS site made for one tenant that its Kubernetes layer needs."""

    data_bucket: str
    """Name of the tenant's data bucket (models, features, prediction logs)."""
    bucket_names: dict[str, pulumi.Output[str]]
    """Bucket purpose (``data``, ``audit``) -> bucket name."""
    key_arn: pulumi.Output[str]
    """The tenant's customer-managed key."""
    role_arn: pulumi.Output[str]
    """IRSA role of the feature server and model servers."""
    automation_role: aws.iam.Role
    """IRSA role of the alert receiver (its queue policy is attached by the queues)."""
    audit: AuditTrail | None = None
    """The audit bucket and MAC key of the alert receiver's log."""


class AwsSite(Site):
    """An AWS stack in the UAE region: everything from the keys up."""

    def __init__(
        self,
        name: str,
        settings: PlatformSettings,
        tags: dict[str, str],
        parent: pulumi.Resource,
    ) -> None:
        account = Account.current()
        foundation = AwsFoundation(name, settings, account, tags, parent)
        registry: RegistryArgs = {
            "registry_host": settings.registry.host
            or Registry.ecr(account.account_id, settings.region).host,
            "image_prefix": settings.registry.image_prefix,
            "chart_prefix": settings.registry.chart_prefix,
        }
        super().__init__(
            k8s_provider=foundation.cluster.provider,
            registry=registry,
            cluster_cidrs=[settings.network.cidr],
            storage_class="gp3",
            k8s_depends=[foundation.storage_class],
        )
        self.foundation = foundation
        self.resources: dict[str, TenantAwsResources] = {}
        self.queues: dict[str, TenantQueues] = {}
        self.feature_stores: dict[str, FeatureStore] = {}
        self._dr_copy_roles: dict[str, aws.iam.Role] = {}
        self._name = name
        self._settings = settings
        self._account = account
        self._tags = tags
        self._parent = parent
        # KEDA reads the depth of the tenants' ingestion queues under its own IRSA role.
        self._keda_role = keda_operator_role(
            name,
            foundation.cluster.oidc_provider_arn,
            foundation.cluster.oidc_issuer_host,
            tags,
            parent,
        )
        self.keda_role_arn = self._keda_role.arn
        data_cidrs = [
            p.data for p in plan_subnets(settings.network.cidr, foundation.network.zone_ids)
        ]
        for tenant in settings.tenants:
            self.resources[tenant.name] = self._tenant(tenant, data_cidrs)
        if settings.dr_site is not None:
            self._velero(settings.dr_site)

    def _velero(self, site: DrSiteSettings) -> VeleroInstall:
        """The cluster's objects, backed up to the in-country store (issue 14): at the
        tightest tenant interval, kept for the longest tenant retention."""
        settings = self._settings
        return VeleroInstall(
            f"{self._name}-velero",
            {
                **self.registry,
                "endpoint": site.object_store_endpoint,
                "store_cidrs": list(site.object_store_cidrs),
                "bucket": site.bucket_template.replace("{tenant}", f"platform-{settings.stack}"),
                "interval_minutes": min(
                    t.disaster_recovery.backup_interval_minutes for t in settings.tenants
                ),
                "retention_days": max(
                    t.disaster_recovery.backup_retention_days for t in settings.tenants
                ),
                "cluster_cidrs": self.cluster_cidrs,
                "system_selector": {PURPOSE_LABEL: "system"},
            },
            pulumi.ResourceOptions(
                parent=self._parent,
                providers=[self.k8s_provider],
                depends_on=list(self.k8s_depends),
            ),
        )

    # -- per tenant AWS resources --------------------------------------------------------
    def _tenant(self, tenant: TenantSettings, data_cidrs: list[str]) -> TenantAwsResources:
        settings, name = self._settings, self._name
        tenant_tags = {
            **self._tags,
            "tenant": tenant.name,
            "data-classification": tenant.data_classification.value,
        }
        key_arn = self._tenant_key(tenant, tenant_tags)
        data_bucket = tenant_data_bucket_name(settings.stack, tenant.name, self._account.account_id)
        buckets = self._tenant_buckets(tenant, data_bucket, key_arn, tenant_tags)
        self.tenants[tenant.name] = Tenant(
            f"{name}-{tenant.name}",
            tenant_args(
                tenant,
                https_cidrs=[settings.network.cidr],
                extra_egress=(
                    [EgressRule("redis", data_cidrs, [REDIS_PORT])]
                    if tenant.online_store == "redis"
                    else []
                ),
                aws_identity=self._identity(tenant, buckets, key_arn, tenant_tags),
                pss_version=f"v{settings.cluster.kubernetes_version}",
            ),
            pulumi.ResourceOptions(parent=self._parent, providers=[self.k8s_provider]),
        )
        role_arn = self.tenants[tenant.name].role_arn
        assert role_arn is not None  # a tenant with an AWS identity always has the role
        automation_role = self._automation_role(
            tenant, tenant_tags, buckets["data"].bucket_arn, key_arn
        )
        audit = None
        if "audit" in buckets:
            audit = self._audit_trail(tenant, tenant_tags, buckets["audit"], automation_role)
        # Backups of everything tagged with the tenant, in a locked vault (issue 14).
        dr = tenant.disaster_recovery
        TenantBackup(
            f"{name}-{tenant.name}-backup",
            {
                "tenant": tenant.name,
                "kms_key_arn": key_arn,
                "interval_minutes": dr.backup_interval_minutes,
                "retention_days": dr.backup_retention_days,
                "rpo_minutes": dr.rpo_minutes,
                "lock_mode": audit_object_lock(settings.environment).mode.value,
                "partition": self._account.partition,
                "account_id": self._account.account_id,
                "tags": tenant_tags,
                "protect": self.foundation.protect,
            },
            pulumi.ResourceOptions(parent=self._parent),
        )
        if settings.dr_site is not None:
            self._dr_copy_roles[tenant.name] = self._dr_copy_role(
                tenant, tenant_tags, buckets, key_arn
            )
        return TenantAwsResources(
            data_bucket=data_bucket,
            bucket_names={purpose: b.bucket_name for purpose, b in buckets.items()},
            key_arn=key_arn,
            role_arn=role_arn,
            automation_role=automation_role,
            audit=audit,
        )

    def _dr_copy_role(
        self,
        tenant: TenantSettings,
        tags: dict[str, str],
        buckets: dict[str, SecureBucket],
        key_arn: pulumi.Output[str],
    ) -> aws.iam.Role:
        """IRSA role of the tenant's in-country copy job: read-only on what it copies."""
        cluster = self.foundation.cluster
        account = dr_copy_service_account(tenant.name)
        trust = pulumi.Output.all(cluster.oidc_provider_arn, cluster.oidc_issuer_host).apply(
            lambda v: to_json(irsa_trust_policy(v[0], v[1], tenant.namespace, account))
        )
        role = aws.iam.Role(
            f"{self._name}-{tenant.name}-dr-copy-role",
            description=f"In-country copy of tenant {tenant.name}'s data (read-only) via IRSA",
            assume_role_policy=trust,
            max_session_duration=3600,
            tags=merge_tags(tags, {"tenant": tenant.name}),
            opts=pulumi.ResourceOptions(parent=self._parent),
        )
        region = self._settings.region
        audit = buckets["audit"].bucket_arn if "audit" in buckets else None
        aws.iam.RolePolicy(
            f"{self._name}-{tenant.name}-dr-copy-read",
            role=role.id,
            policy=pulumi.Output.all(buckets["data"].bucket_arn, audit, key_arn).apply(
                lambda v: to_json(dr_copy_policy(v[0], v[1], v[2], region))
            ),
            opts=pulumi.ResourceOptions(parent=self._parent),
        )
        return role

    def _audit_trail(
        self,
        tenant: TenantSettings,
        tags: dict[str, str],
        bucket: SecureBucket,
        automation_role: aws.iam.Role,
    ) -> AuditTrail:
        """The HMAC key of the tenant's audit chain, and the receiver's grant on it.

        The key never leaves KMS. Its policy delegates to IAM (account root, as every key
        here), and the only IAM grant is the automation role's ``GenerateMac``/``VerifyMac``:
        the tenant's workload role, and the tenant's Kubernetes groups (which have no AWS
        identity), cannot use it.
        """
        account = self._account
        mac_key = aws.kms.Key(
            f"{self._name}-{tenant.name}-audit-mac",
            description=f"Chains the audit log of tenant {tenant.name}'s alert receiver (HMAC)",
            key_usage="GENERATE_VERIFY_MAC",
            customer_master_key_spec="HMAC_256",
            # HMAC keys cannot rotate automatically; the key id is in every record, so a
            # new key (a new resource) starts a new chain and old records still verify.
            deletion_window_in_days=30,
            policy=to_json(
                key_policy(
                    account_id=account.account_id,
                    region=self._settings.region,
                    partition=account.partition,
                    service=KeyService.NONE,
                )
            ),
            tags=merge_tags(tags, {"tenant": tenant.name, "purpose": "audit-mac"}),
            opts=pulumi.ResourceOptions(parent=self._parent, protect=self.foundation.protect),
        )
        aws.iam.RolePolicy(
            f"{self._name}-{tenant.name}-automation-audit",
            role=automation_role.id,
            policy=pulumi.Output.all(bucket.bucket_arn, mac_key.arn).apply(
                lambda v: to_json(audit_trail_policy(v[0], v[1]))
            ),
            opts=pulumi.ResourceOptions(parent=self._parent),
        )
        lock = audit_object_lock(self._settings.environment, tenant.audit_retention_days)
        return AuditTrail(
            bucket=bucket.bucket_name,
            mac_key_arn=mac_key.arn,
            lock_mode=lock.mode.value,
            retention_days=lock.days,
            region=self._settings.region,
        )

    def _tenant_key(self, tenant: TenantSettings, tags: dict[str, str]) -> pulumi.Output[str]:
        key_name = f"tenant-{tenant.name}"
        keys = Encryption(
            f"{self._name}-{tenant.name}-keys",
            EncryptionArgs(
                account_id=self._account.account_id,
                region=self._settings.region,
                keys=[
                    KeySpec(key_name, f"Data of tenant {tenant.name}", tags={"tenant": tenant.name})
                ],
                alias_prefix=f"mlplatform/{self._settings.stack}",
                partition=self._account.partition,
                protect=self.foundation.protect,
                tags=tags,
            ),
            pulumi.ResourceOptions(parent=self._parent),
        )
        return keys.key_arns[key_name]

    def _tenant_buckets(
        self,
        tenant: TenantSettings,
        data_bucket: str,
        key_arn: pulumi.Output[str],
        tags: dict[str, str],
    ) -> dict[str, SecureBucket]:
        settings, name = self._settings, self._name
        child = pulumi.ResourceOptions(parent=self._parent)
        classification = DataClassification(tenant.data_classification.value)
        log_bucket = self.foundation.log_bucket.bucket_name
        buckets = {
            "data": SecureBucket(
                f"{name}-{tenant.name}-data",
                SecureBucketArgs(
                    bucket_name=data_bucket,
                    kms_key_arn=key_arn,
                    log_bucket=log_bucket,
                    data_classification=classification,
                    tenant=tenant.name,
                    # Retention per prefix from the tenant's retention settings (PDPL).
                    expire_prefixes=tenant_data_expiry(
                        raw_events_days=tenant.retention.raw_events_days,
                        offline_features_days=tenant.retention.offline_features_days,
                        prediction_logs_days=tenant.retention.prediction_logs_days,
                    ),
                    protect=self.foundation.protect,
                    force_destroy=settings.environment is Environment.DEV,
                    tags=tags,
                ),
                child,
            )
        }
        if tenant.object_lock:
            buckets["audit"] = SecureBucket(
                f"{name}-{tenant.name}-audit",
                SecureBucketArgs(
                    kms_key_arn=key_arn,
                    log_bucket=log_bucket,
                    data_classification=classification,
                    tenant=tenant.name,
                    object_lock=audit_object_lock(
                        settings.environment, tenant.audit_retention_days
                    ),
                    protect=self.foundation.protect,
                    tags=tags,
                ),
                child,
            )
        return buckets

    def _identity(
        self,
        tenant: TenantSettings,
        buckets: dict[str, SecureBucket],
        key_arn: pulumi.Output[str],
        tags: dict[str, str],
    ) -> TenantAwsIdentity:
        """The tenant's workload identity: its buckets, its key, its online tables."""
        dynamodb = tenant.online_store == "dynamodb"
        region, cluster = self._settings.region, self.foundation.cluster
        return TenantAwsIdentity(
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer_host=cluster.oidc_issuer_host,
            # Not the audit bucket: only the alert receiver writes there.
            bucket_arns=[b.bucket_arn for p, b in buckets.items() if p != "audit"],
            kms_key_arn=key_arn,
            region=region,
            kms_via_services=["s3", "dynamodb"] if dynamodb else ["s3"],
            extra_statements=(
                dynamodb_statements(
                    self._account.partition,
                    region,
                    self._account.account_id,
                    tenant.name,
                    FEATURE_VIEWS,
                )
                if dynamodb
                else []
            ),
            tags=tags,
        )

    def _automation_role(
        self,
        tenant: TenantSettings,
        tags: dict[str, str],
        bucket_arn: pulumi.Output[str],
        key_arn: pulumi.Output[str],
    ) -> aws.iam.Role:
        """The loop's own IRSA role: only its service accounts may assume it.

        :class:`TenantQueues` attaches the policy for exactly this tenant's queues and key;
        here it gets the loop's folders of the tenant bucket (read: prediction logs,
        models, registry, canary observations; write: drift reports, registry), the key
        through S3 only.
        """
        cluster = self.foundation.cluster
        accounts = automation_service_accounts(tenant.name)
        trust = pulumi.Output.all(cluster.oidc_provider_arn, cluster.oidc_issuer_host).apply(
            lambda v: to_json(irsa_trust_policy(v[0], v[1], tenant.namespace, accounts))
        )
        role = aws.iam.Role(
            f"{self._name}-{tenant.name}-automation-role",
            description=f"MLOps loop of tenant {tenant.name} (queues, loop state) via IRSA",
            assume_role_policy=trust,
            max_session_duration=3600,
            tags=merge_tags(tags, {"tenant": tenant.name}),
            opts=pulumi.ResourceOptions(parent=self._parent),
        )
        region = self._settings.region
        aws.iam.RolePolicy(
            f"{self._name}-{tenant.name}-automation-loop-state",
            role=role.id,
            policy=pulumi.Output.all(bucket_arn, key_arn).apply(
                lambda v: to_json(loop_state_policy(v[0], v[1], region))
            ),
            opts=pulumi.ResourceOptions(parent=self._parent),
        )
        return role

    # -- what the Kubernetes layer asks of the site ---------------------------------------
    def model_storage(self, tenant: TenantSettings) -> ModelStorage:
        """The tenant's data bucket, read with the tenant's IRSA role."""
        resources = self.resources[tenant.name]
        return ModelStorage(
            bucket=resources.data_bucket, role_arn=resources.role_arn, kms_key_arn=resources.key_arn
        )

    def placement(self, tenant: TenantSettings) -> Placement | None:
        """The tenant's dedicated pools (enterprise) or the shared CPU pool (SMB)."""
        return tenant_placement(tenant)

    def _dr_copy(self, tenant: TenantSettings, opts: pulumi.ResourceOptions) -> None:
        """The tenant's scheduled copy to the in-country store (CronJob, account, egress)."""
        site = self._settings.dr_site
        assert site is not None
        resources = self.resources[tenant.name]
        audit = resources.bucket_names.get("audit")
        manifests = dr_copy_manifests(
            tenant.name,
            tenant.namespace,
            registry_of(self.registry),
            self._settings.registry.serving_image_tag,
            data_bucket=resources.data_bucket,
            audit_bucket="__AUDIT_BUCKET__" if audit is not None else None,
            dr_bucket=dr_bucket(tenant.name, site.bucket_template),
            endpoint=site.object_store_endpoint,
            store_cidrs=site.object_store_cidrs,
            interval_minutes=tenant.disaster_recovery.backup_interval_minutes,
            region=self._settings.region,
            role_arn="__DR_COPY_ROLE__",
        )
        placement = self.placement(tenant)
        if placement is not None:
            for manifest in manifests:
                placement.apply(manifest)
        outputs = {"__DR_COPY_ROLE__": self._dr_copy_roles[tenant.name].arn}
        if audit is not None:
            outputs["__AUDIT_BUCKET__"] = audit
        created: list[pulumi.Resource] = []
        for manifest in manifests:
            kind, obj = manifest["kind"], manifest["metadata"]["name"]
            created.append(
                register(
                    f"{tenant.name}-{obj}-{kind.lower()}",
                    resolve_placeholders(manifest, outputs),
                    pulumi.ResourceOptions.merge(
                        opts, pulumi.ResourceOptions(depends_on=list(created))
                    ),
                )
            )

    def tenant_services(
        self, tenant: TenantSettings, opts: pulumi.ResourceOptions, credentials: Credentials
    ) -> TenantServices:
        """The tenant's SQS queues and Feast (DynamoDB for SMB, Redis for enterprise)."""
        resources = self.resources[tenant.name]
        classification = tenant.data_classification.value
        tags = {**self._tags, "tenant": tenant.name, "data-classification": classification}
        queues = TenantQueues(
            f"{tenant.name}-queues",
            {
                "tenant": tenant.name,
                "kms_key_arn": resources.key_arn,
                "automation_role_name": resources.automation_role.name,
                "region": self._settings.region,
                "tags": tags,
                "data_classification": classification,
                "message_retention_seconds": tenant.retention.queue_messages_days * 86400,
                "dead_letter_retention_seconds": tenant.retention.dead_letter_days * 86400,
            },
            pulumi.ResourceOptions(parent=self._parent),
        )
        self.queues[tenant.name] = queues
        ingestion = IngestionQueues(
            f"{tenant.name}-ingestion",
            {
                "tenant": tenant.name,
                "kms_key_arn": resources.key_arn,
                "worker_role_name": self.tenants[tenant.name].role_name,
                "scaler_role_name": self._keda_role.name,
                "region": self._settings.region,
                "message_retention_seconds": tenant.retention.queue_messages_days * 86400,
                "dead_letter_retention_seconds": tenant.retention.dead_letter_days * 86400,
                "tags": tags,
                "data_classification": classification,
            },
            pulumi.ResourceOptions(parent=self._parent),
        )
        store: FeatureStoreArgs = {
            **self.registry,
            "tenant": tenant.name,
            "namespace": tenant.namespace,
            "tier": tenant.tier,
            "bucket_name": resources.data_bucket,
            "kms_key_arn": resources.key_arn,
            "role_arn": resources.role_arn,
            "feature_views": list(FEATURE_VIEWS),
            "region": self._settings.region,
            "data_classification": classification,
            "protect": self.foundation.protect,
            "tags": tags,
            "online_ttl_days": tenant.retention.online_features_days,
            "image_tag": self._settings.registry.serving_image_tag,
        }
        if tenant.online_store == "redis":
            network, cluster = self.foundation.network, self.foundation.cluster
            store["data_subnet_ids"] = [network.data_subnet_ids[z] for z in network.zone_ids]
            store["vpc_id"] = network.vpc_id
            # Managed node groups without their own security groups use the cluster's.
            store["node_security_group_id"] = cluster.cluster_security_group_id
            store["redis_auth_token"] = credentials.generate(
                f"{tenant.name}-redis-auth", length=48, specials=REDIS_TOKEN_SPECIALS
            )
        store["placement"] = tenant_placement(tenant)
        self.feature_stores[tenant.name] = FeatureStore(f"{tenant.name}-features", store, opts)
        if tenant.name in self._dr_copy_roles:
            self._dr_copy(tenant, opts)
        return TenantServices(
            retraining_queue_url=queues.queue_urls.apply(lambda urls: urls["retraining"]),
            automation_role_arn=resources.automation_role.arn,
            feature_repo_config_map=feature_repo_config_map_name(tenant.name),
            audit=resources.audit,
            ingestion=IngestionTarget(
                trigger="aws-sqs",
                queue_spec=ingestion.queue_url.apply(lambda url: f"sqs:{url}"),
                dlq_spec=ingestion.dlq_url.apply(lambda url: f"sqs:{url}"),
                bucket=resources.data_bucket,
                queue_url=ingestion.queue_url,
                kms_key_arn=resources.key_arn,
                role_arn=resources.role_arn,
                redis_secret_name=self.feature_stores[tenant.name].redis_secret_name,
            ),
        )
