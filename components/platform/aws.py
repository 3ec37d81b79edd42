"""The ``aws`` site: the shared foundation plus, per tenant, its AWS resources.

Per tenant: a customer-managed key, an encrypted data bucket (and an object-locked
audit bucket when asked), the namespace component with its IRSA role scoped to those
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
from components.aws.queues import TenantQueues
from components.encryption import Encryption, EncryptionArgs, KeySpec
from components.featurestore import FeatureStore, FeatureStoreArgs
from components.k8s.catalog import Registry, RegistryArgs
from components.k8s.placement import Placement
from components.network import plan_subnets
from components.platform.aws_foundation import Account, AwsFoundation
from components.platform.site import Credentials, ModelStorage, Site, TenantServices, tenant_args
from components.platform.sizing import tenant_placement
from components.settings import Environment, PlatformSettings
from components.settings import Tenant as TenantSettings
from components.storage import (
    DataClassification,
    ObjectLock,
    ObjectLockMode,
    SecureBucket,
    SecureBucketArgs,
)
from components.tenant import EgressRule, Tenant, TenantAwsIdentity
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


def audit_object_lock(environment: Environment) -> ObjectLock:
    """COMPLIANCE retention in prod; GOVERNANCE (removable by admins) elsewhere."""
    if environment is Environment.PROD:
        return ObjectLock(ObjectLockMode.COMPLIANCE, days=1825)
    return ObjectLock(ObjectLockMode.GOVERNANCE, days=30)


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
        self._name = name
        self._settings = settings
        self._account = account
        self._tags = tags
        self._parent = parent
        data_cidrs = [
            p.data for p in plan_subnets(settings.network.cidr, foundation.network.zone_ids)
        ]
        for tenant in settings.tenants:
            self.resources[tenant.name] = self._tenant(tenant, data_cidrs)

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
        return TenantAwsResources(
            data_bucket=data_bucket,
            bucket_names={purpose: b.bucket_name for purpose, b in buckets.items()},
            key_arn=key_arn,
            role_arn=role_arn,
            automation_role=self._automation_role(
                tenant, tenant_tags, buckets["data"].bucket_arn, key_arn
            ),
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
                    object_lock=audit_object_lock(settings.environment),
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
            bucket_arns=[b.bucket_arn for b in buckets.values()],
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
            },
            pulumi.ResourceOptions(parent=self._parent),
        )
        self.queues[tenant.name] = queues
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
        return TenantServices(
            retraining_queue_url=queues.queue_urls.apply(lambda urls: urls["retraining"]),
            automation_role_arn=resources.automation_role.arn,
            feature_repo_config_map=feature_repo_config_map_name(tenant.name),
        )
