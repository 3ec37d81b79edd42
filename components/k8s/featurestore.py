"""Feature store per tenant (Feast): online store, feature server and materialisation.

- Registry: a file in the tenant's encrypted S3 bucket, written with SSE-KMS (tenant key).
- Offline store: parquet under the same bucket (Feast's file store reads ``s3://``).
- Online store: DynamoDB for SMB (on-demand, tenant CMK, point-in-time recovery, no
  replicas: a global table would copy data out of the country) or ElastiCache Redis for
  enterprise (TLS in transit, AUTH token, CMK at rest, multi-AZ with automatic failover,
  reachable on 6379 from the cluster nodes only).
- ``feature_store.yaml`` is rendered by ``contracts.feature_store`` from the same
  settings the tenant's jobs use, and mounted from a ConfigMap.
- The feature server is a restricted Deployment with the tenant's workload identity
  (IRSA), a ClusterIP Service, and a CronJob runs ``materialize-incremental``.

The Redis AUTH token is an input, not generated here (the composition generates it
with ``pulumi_random``, so it is stable across runs and kept in state). It is stored in Secrets Manager under the tenant key (the
system of record, for rotation) and in a Kubernetes Secret the feature server reads
(EKS encrypts Secrets with the platform's KMS key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired

import pulumi
import pulumi_aws as aws
import yaml

from components.k8s._resources import register
from components.k8s.catalog import IMAGES, Registry, RegistryArgs, data_tags, registry_of
from components.k8s.placement import Placement
from components.k8s.podspec import (
    TMP_PATH,
    Manifest,
    Resources,
    cluster_ip_service,
    config_map,
    container,
    deployment,
    object_meta,
    pod_disruption_budget,
    pod_spec,
    selector_labels,
    service_account,
)
from contracts.feature_store import (
    DynamoDBOnlineStore,
    PlatformFeatureStoreSettings,
    RedisOnlineStore,
    dynamodb_table_name,
    render_platform_feature_store_yaml,
)
from contracts.names import DEFAULT_REGION, Tier, feast_project, feast_service_account, labels
from contracts.telemetry import REDIS_PORT

FEATURE_SERVER_PORT = 6566
"""Feast's default HTTP feature server port."""
FEATURE_SERVER_METRICS_PORT = 8000
"""Port of ``feast serve --metrics`` (Prometheus exposition)."""
REDIS_PASSWORD_ENV = "FEAST_REDIS_PASSWORD"  # noqa: S105 (a variable name, not a secret)
REPO_DIR = "/feature_repo"
COMPONENT = "feature-server"


class FeatureStoreArgs(RegistryArgs):
    """Inputs of :class:`FeatureStore`."""

    tenant: str
    """Tenant name (kebab-case); prefixes every name."""
    namespace: str
    """Tenant namespace (created by the tenant component)."""
    tier: Tier
    """``smb`` (DynamoDB) or ``enterprise`` (Redis)."""
    bucket_name: pulumi.Input[str]
    """Tenant's encrypted S3 bucket (registry + offline parquet)."""
    kms_key_arn: pulumi.Input[str]
    """Tenant CMK: DynamoDB SSE, Redis at-rest, registry SSE-KMS, the token secret."""
    feature_views: Sequence[str]
    """Feature views served online (one DynamoDB table each for SMB)."""
    project: NotRequired[str]
    """Feast project (default: tenant name with ``_`` for ``-``)."""
    role_arn: NotRequired[pulumi.Input[str] | None]
    """IRSA role of the tenant's workloads; ``None`` on a cluster without IRSA."""
    region: NotRequired[str]
    """AWS region of the stores (default ``me-central-1``)."""
    replicas: NotRequired[int]
    """Feature server replicas (default 1 SMB, 2 enterprise)."""
    materialize_schedule: NotRequired[str]
    """Cron schedule of ``materialize-incremental`` (default hourly)."""
    # enterprise only
    data_subnet_ids: NotRequired[Sequence[pulumi.Input[str]]]
    """Private data subnets (at least two zones) for the Redis subnet group."""
    vpc_id: NotRequired[pulumi.Input[str]]
    """VPC of the Redis security group."""
    node_security_group_id: NotRequired[pulumi.Input[str]]
    """Security group of the cluster nodes: the only source allowed on 6379."""
    redis_auth_token: NotRequired[pulumi.Input[str]]
    """AUTH token (16-128 printable chars, no ``@``, ``"`` or ``/``): a config secret."""
    redis_node_type: NotRequired[str]
    """ElastiCache node type (default ``cache.r7g.large``)."""
    protect: NotRequired[bool]
    """Protect the stateful resources (prod)."""
    tags: NotRequired[Mapping[str, str]]
    """Extra AWS tags."""
    data_classification: NotRequired[str]
    """Data classification tag (``public|internal|confidential|restricted``; default ``confidential``)."""
    placement: NotRequired[Placement]
    """Node pools of the tenant's pods (enterprise: its dedicated, tainted pools)."""


def feature_store_settings(
    project: str,
    bucket: str,
    kms_key_arn: str,
    tier: Tier,
    *,
    region: str = DEFAULT_REGION,
    redis_host: str | None = None,
) -> PlatformFeatureStoreSettings:
    """The settings both the feature server and the tenant's jobs render their YAML from."""
    online: DynamoDBOnlineStore | RedisOnlineStore
    if tier == "smb":
        online = DynamoDBOnlineStore(region=region)
    else:
        if not redis_host:
            raise ValueError("enterprise feature store: redis_host is required")
        online = RedisOnlineStore(host=redis_host, port=REDIS_PORT, password_env=REDIS_PASSWORD_ENV)
    return PlatformFeatureStoreSettings(
        project=project,
        registry_uri=f"s3://{bucket}/feast/registry.db",
        offline_data_uri=f"s3://{bucket}/feast/offline/",
        kms_key_id=kms_key_arn,
        online=online,
    )


def feature_server_env(region: str, tier: Tier, secret_name: str | None) -> list[Manifest]:
    """Environment of every Feast container (server and materialisation)."""
    env: list[Manifest] = [
        {"name": "HOME", "value": TMP_PATH},
        {"name": "AWS_REGION", "value": region},
        {"name": "AWS_DEFAULT_REGION", "value": region},
        # Sovereignty: no usage telemetry leaves the cluster.
        {"name": "FEAST_USAGE", "value": "False"},
    ]
    if tier == "enterprise":
        if not secret_name:
            raise ValueError("enterprise feature server needs the Redis token secret name")
        env.append(
            {
                "name": REDIS_PASSWORD_ENV,
                "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "auth-token"}},
            }
        )
    return env


def _repo_volume(config_name: str) -> tuple[Manifest, Manifest]:
    volume = {"name": "feature-repo", "configMap": {"name": config_name}}
    mount = {"name": "feature-repo", "mountPath": REPO_DIR, "readOnly": True}
    return volume, mount


def feature_server_manifests(
    tenant: str,
    namespace: str,
    tier: Tier,
    registry: Registry,
    *,
    service_account_name: str,
    config_name: str,
    secret_name: str | None,
    region: str,
    replicas: int,
    schedule: str,
) -> list[Manifest]:
    """Deployment, Service, CronJob (and PDB when replicated) of a tenant's Feast."""
    image = registry.image(IMAGES["feast-feature-server"])
    obj_labels = labels(tenant, COMPONENT, name=f"{tenant}-feast")
    env = feature_server_env(region, tier, secret_name)
    volume, mount = _repo_volume(config_name)
    server = container(
        "feature-server",
        image,
        Resources("250m", "512Mi", cpu_limit="1", memory_limit="1Gi"),
        command=["feast", "-c", REPO_DIR, "serve", "-h", "0.0.0.0", "-p", str(FEATURE_SERVER_PORT)],
        args=["--metrics", "--no-access-log"],
        ports=[
            {"name": "http", "containerPort": FEATURE_SERVER_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": FEATURE_SERVER_METRICS_PORT, "protocol": "TCP"},
        ],
        env=env,
        volume_mounts=[mount],
        probes={
            "readinessProbe": {
                "httpGet": {"path": "/health", "port": "http"},
                "periodSeconds": 10,
            },
            "livenessProbe": {
                "httpGet": {"path": "/health", "port": "http"},
                "initialDelaySeconds": 30,
                "periodSeconds": 20,
            },
        },
    )
    server_spec = pod_spec([server], service_account=service_account_name, volumes=[volume])
    dep = deployment(
        f"{tenant}-feature-server", namespace, obj_labels, server_spec, replicas=replicas
    )
    svc = cluster_ip_service(
        f"{tenant}-feature-server",
        namespace,
        obj_labels,
        selector_labels(obj_labels),
        [
            {"name": "http", "port": FEATURE_SERVER_PORT, "targetPort": "http", "protocol": "TCP"},
            {"name": "metrics", "port": FEATURE_SERVER_METRICS_PORT, "targetPort": "metrics"},
        ],
    )
    job_labels = labels(tenant, "feature-materialize", name=f"{tenant}-feast-materialize")
    materialize = container(
        "materialize",
        image,
        Resources("500m", "1Gi", cpu_limit="2", memory_limit="4Gi"),
        command=["/bin/sh", "-c"],
        # materialize-incremental needs an end timestamp: "now" in UTC, at run time.
        args=[f'exec feast -c {REPO_DIR} materialize-incremental "$(date -u +%Y-%m-%dT%H:%M:%S)"'],
        env=env,
        volume_mounts=[mount],
    )
    job_spec = pod_spec(
        [materialize],
        service_account=service_account_name,
        volumes=[volume],
        restart_policy="Never",
    )
    cron: Manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(f"{tenant}-feast-materialize", namespace, job_labels),
        "spec": {
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            # Two overlapping runs would write the same rows twice for nothing.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": dict(job_labels)},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": 3600,
                    "ttlSecondsAfterFinished": 86400,
                    "template": {"metadata": {"labels": dict(job_labels)}, "spec": job_spec},
                },
            },
        },
    }
    manifests = [dep, svc, cron]
    if replicas > 1:
        manifests.append(
            pod_disruption_budget(
                f"{tenant}-feature-server", namespace, obj_labels, selector_labels(obj_labels)
            )
        )
    return manifests


def redis_security_group_rules(node_security_group_id: pulumi.Input[str]) -> dict[str, list[Any]]:
    """Ingress 6379 from the node security group only; no egress (Redis initiates nothing)."""
    return {
        "ingress": [
            {
                "protocol": "tcp",
                "from_port": REDIS_PORT,
                "to_port": REDIS_PORT,
                "security_groups": [node_security_group_id],
                "description": "Redis TLS from cluster nodes",
            }
        ],
        "egress": [],
    }


class FeatureStore(pulumi.ComponentResource):
    """A tenant's Feast: online store (DynamoDB or Redis), feature server, materialisation."""

    feature_store_yaml: pulumi.Output[str]
    """The rendered ``feature_store.yaml`` (no secrets: the token is an env reference)."""
    service_name: pulumi.Output[str]
    """ClusterIP Service of the feature server."""
    online_store_kind: str
    """``dynamodb`` or ``redis``."""
    online_table_names: pulumi.Output[list[str]]
    """DynamoDB tables (SMB); empty for Redis."""
    redis_endpoint: pulumi.Output[str | None]
    """Redis primary endpoint (enterprise); ``None`` for DynamoDB."""

    def __init__(
        self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:featurestore:FeatureStore", name, None, opts)
        tenant, ns, tier = args["tenant"], args["namespace"], args["tier"]
        if tier not in ("smb", "enterprise"):
            raise ValueError(
                f"feature store {tenant}: tier must be smb or enterprise, got {tier!r}"
            )
        registry = registry_of(args)
        project = args.get("project", feast_project(tenant))
        region = args.get("region", DEFAULT_REGION)
        protect = args.get("protect", False)
        replicas = args.get("replicas", 2 if tier == "enterprise" else 1)
        tags = data_tags(tenant, args.get("data_classification", "confidential"), args.get("tags"))
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=protect)

        secret_name: str | None = None
        table_names: list[pulumi.Output[str]] = []
        redis_host: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if tier == "smb":
            self.online_store_kind = "dynamodb"
            for view in args["feature_views"]:
                table = aws.dynamodb.Table(
                    f"{name}-online-{view}",
                    name=dynamodb_table_name(project, view),
                    billing_mode="PAY_PER_REQUEST",
                    hash_key="entity_id",
                    attributes=[{"name": "entity_id", "type": "S"}],
                    server_side_encryption={"enabled": True, "kms_key_arn": args["kms_key_arn"]},
                    point_in_time_recovery={"enabled": True},
                    deletion_protection_enabled=protect,
                    tags=tags,
                    opts=stateful,
                )
                table_names.append(table.name)
        else:
            self.online_store_kind = "redis"
            missing = [
                k
                for k in ("data_subnet_ids", "vpc_id", "node_security_group_id", "redis_auth_token")
                if not args.get(k)
            ]
            if missing:
                raise ValueError(f"enterprise feature store {tenant}: missing {', '.join(missing)}")
            token = pulumi.Output.secret(args["redis_auth_token"])
            secret = aws.secretsmanager.Secret(
                f"{name}-redis-auth",
                name=f"mlplatform/{tenant}/feast-redis-auth",
                description=f"ElastiCache AUTH token of {tenant}'s Feast online store",
                kms_key_id=args["kms_key_arn"],
                recovery_window_in_days=30,
                tags=tags,
                opts=stateful,
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-redis-auth-value", secret_id=secret.id, secret_string=token, opts=child
            )
            subnets = aws.elasticache.SubnetGroup(
                f"{name}-redis-subnets",
                name=f"{tenant}-feast",
                description=f"{tenant} Feast online store: private data subnets",
                subnet_ids=list(args["data_subnet_ids"]),
                tags=tags,
                opts=child,
            )
            rules = redis_security_group_rules(args["node_security_group_id"])
            sg = aws.ec2.SecurityGroup(
                f"{name}-redis-sg",
                name=f"{tenant}-feast-redis",
                description=f"{tenant} Feast Redis: 6379 from cluster nodes only",
                vpc_id=args["vpc_id"],
                ingress=rules["ingress"],
                egress=rules["egress"],
                tags=tags,
                opts=child,
            )
            redis = aws.elasticache.ReplicationGroup(
                f"{name}-redis",
                replication_group_id=f"{tenant}-feast"[:40],
                description=f"{tenant} Feast online store",
                engine="redis",
                engine_version="7.1",
                node_type=args.get("redis_node_type", "cache.r7g.large"),
                port=REDIS_PORT,
                # Primary + replica in two zones: what multi-AZ failover needs.
                num_cache_clusters=2,
                automatic_failover_enabled=True,
                multi_az_enabled=True,
                at_rest_encryption_enabled=True,
                kms_key_id=args["kms_key_arn"],
                transit_encryption_enabled=True,
                transit_encryption_mode="required",
                auth_token=token,
                auth_token_update_strategy="ROTATE",  # noqa: S106 (a strategy name)
                subnet_group_name=subnets.name,
                security_group_ids=[sg.id],
                snapshot_retention_limit=7,
                apply_immediately=False,
                tags=tags,
                opts=stateful,
            )
            redis_host = redis.primary_endpoint_address
            secret_name = f"{tenant}-feast-redis"
            register(
                f"{name}-redis-secret",
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": object_meta(
                        secret_name, ns, labels(tenant, COMPONENT, name=f"{tenant}-feast")
                    ),
                    "type": "Opaque",
                    "stringData": {"auth-token": token},
                },
                child,
            )

        bucket = pulumi.Output.from_input(args["bucket_name"])
        key = pulumi.Output.from_input(args["kms_key_arn"])
        self.feature_store_yaml = pulumi.Output.all(bucket, key, redis_host).apply(
            lambda v: render_platform_feature_store_yaml(
                feature_store_settings(project, v[0], v[1], tier, region=region, redis_host=v[2])
            )
        )

        sa_name = feast_service_account(tenant)
        obj_labels = labels(tenant, COMPONENT, name=f"{tenant}-feast")
        sa_manifest = service_account(sa_name, ns, obj_labels, None)
        role_arn = args.get("role_arn")
        if role_arn is not None:
            sa_manifest["metadata"]["annotations"] = {"eks.amazonaws.com/role-arn": role_arn}
        sa = register(f"{name}-sa", sa_manifest, child)
        config_name = f"{tenant}-feature-repo"
        cfg_manifest = config_map(config_name, ns, obj_labels, {"feature_store.yaml": ""})
        cfg_manifest["data"] = {"feature_store.yaml": self.feature_store_yaml}
        cfg = register(f"{name}-config", cfg_manifest, child)

        after = pulumi.ResourceOptions(parent=self, depends_on=[sa, cfg])
        for manifest in feature_server_manifests(
            tenant,
            ns,
            tier,
            registry,
            service_account_name=sa_name,
            config_name=config_name,
            secret_name=secret_name,
            region=region,
            replicas=replicas,
            schedule=args.get("materialize_schedule", "0 * * * *"),
        ):
            suffix = manifest["kind"].lower()
            if "placement" in args:
                args["placement"].apply(manifest)
            register(f"{name}-{suffix}", manifest, after)

        self.service_name = pulumi.Output.from_input(f"{tenant}-feature-server")
        self.online_table_names = pulumi.Output.all(*table_names).apply(list)
        self.redis_endpoint = redis_host
        self.register_outputs(
            {
                "featureStoreYaml": self.feature_store_yaml,
                "serviceName": self.service_name,
                "onlineTableNames": self.online_table_names,
                "redisEndpoint": self.redis_endpoint,
            }
        )


def parse_feature_store_yaml(text: str) -> dict[str, Any]:
    """The YAML as data (used by tests and by ``mlplatform plan`` readers)."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("feature_store.yaml is not a mapping")
    return data
