"""Feature store per tenant (Feast): online store, feature server and materialisation.

- Registry: a file in the tenant's encrypted S3 bucket, written with SSE-KMS (tenant key).
- Offline store: parquet under the same bucket (Feast's file store reads ``s3://``).
- Online store (:mod:`components.aws.online_store`): DynamoDB for SMB or ElastiCache
  Redis with TLS, AUTH and multi-AZ failover for enterprise.
- Feature server and materialisation (:mod:`components.k8s.featurestore`): a restricted
  Deployment with the tenant's workload identity, a ClusterIP Service and a CronJob (in
  the platform's loop image, writing rows that expire after the tenant's online
  retention), configured by the ``feature_store.yaml`` that ``contracts.feature_store``
  renders.

On the in-country site (``in_cluster``) there is no AWS service: the online store is the
tenant's Valkey from the pinned chart (:mod:`components.k8s.valkey`: TLS with the site's
PKI, AUTH, a persistent volume), the registry and offline data live on the S3-compatible
store, which the pods reach with the operator's credentials file
(:mod:`components.k8s.objectstore`), and nothing is SSE-KMS (the store encrypts at rest).

The Redis AUTH token is an input, not generated here (the composition generates it, so
it is stable across runs and kept in state). Secrets Manager holds it under the tenant
key (the system of record, for rotation); a Kubernetes Secret holds the copy the feature
server reads (EKS encrypts Secrets with the platform's KMS key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi

from components.aws.online_store import REDIS_NODE_TYPE, RedisNetwork, dynamodb_tables, redis_store
from components.aws.tags import data_tags
from components.k8s._resources import pinned_release, register
from components.k8s.catalog import CHARTS, RegistryArgs, registry_of
from components.k8s.featurestore import (
    COMPONENT,
    feature_server_manifests,
    feature_store_settings,
)
from components.k8s.objectstore import ObjectStoreClient
from components.k8s.placement import Placement
from components.k8s.podspec import (
    IRSA_ANNOTATION,
    Manifest,
    config_map,
    object_meta,
    service_account,
)
from components.k8s.valkey import (
    AUTH_KEY,
    CHART,
    DEFAULT_STORAGE_GIB,
    TLS_CA_KEY,
    release_name,
    service_host,
    tls_secret_name,
    valkey_values,
)
from contracts.feature_store import render_platform_feature_store_yaml
from contracts.names import DEFAULT_REGION, Tier, feast_project, feast_service_account, labels


class InClusterStore(TypedDict):
    """The in-country site's stores: the tenant's Valkey and the S3-compatible endpoint."""

    auth_token: pulumi.Input[str]
    """The generated AUTH password of the tenant's Valkey (a secret Output)."""
    storage_class: str
    """StorageClass of the Valkey volume."""
    s3_endpoint: str
    """https endpoint of the in-country store (registry, offline data)."""
    object_store: ObjectStoreClient
    """Credentials file, CA and encryption mode of the pods' store access."""
    storage_gib: NotRequired[int]
    """Size of the Valkey volume (default 10 GiB)."""


VALKEY_CA_DIR = "/etc/mlplatform/online-store-ca"
"""Where the feature pods mount the CA of the tenant's Valkey certificate."""


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
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """Tenant CMK: DynamoDB SSE, Redis at-rest, registry SSE-KMS, the token secret (AWS;
    required there). None with ``in_cluster``: the in-country store encrypts at rest."""
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
    """Cron schedule of the materialisation job (default hourly)."""
    image_tag: str
    """Tag of the platform's own images (the loop image runs the materialisation job)."""
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
    online_ttl_days: NotRequired[int]
    """Retention of online rows: Redis key TTL; DynamoDB ``expires_at`` written by the
    materialisation job (required for DynamoDB: its tables expire items by TTL only)."""
    in_cluster: NotRequired[InClusterStore]
    """The in-country site: Valkey in the tenant namespace and the S3-compatible store
    instead of DynamoDB/ElastiCache and AWS S3."""


class FeatureStore(pulumi.ComponentResource):
    """A tenant's Feast: online store (DynamoDB or Redis), feature server, materialisation."""

    feature_store_yaml: pulumi.Output[str]
    """The rendered ``feature_store.yaml`` (no secrets: the token is an env reference)."""
    service_name: pulumi.Output[str]
    """ClusterIP Service of the feature server."""
    online_store_kind: str
    """``dynamodb``, ``redis`` (ElastiCache) or ``valkey`` (in-cluster, in-country site)."""
    online_table_names: pulumi.Output[list[str]]
    """DynamoDB tables (SMB); empty for Redis."""
    redis_endpoint: pulumi.Output[str | None]
    """Redis primary endpoint (enterprise); ``None`` for DynamoDB."""
    redis_secret_name: str | None
    """Secret with the Redis AUTH token (enterprise); ``None`` for DynamoDB."""
    pod_access: dict[str, list[Manifest]]
    """On-prem: ``extra_env``/``extra_volumes``/``extra_mounts`` a pod needs to use this
    store (object-store client, Valkey CA); empty on AWS."""

    def __init__(
        self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:featurestore:FeatureStore", name, None, opts)
        tenant, tier = args["tenant"], args["tier"]
        if tier not in ("smb", "enterprise"):
            raise ValueError(
                f"feature store {tenant}: tier must be smb or enterprise, got {tier!r}"
            )
        self._name = name
        self._args = args
        self._project = args.get("project", feast_project(tenant))
        self._region = args.get("region", DEFAULT_REGION)
        self._tags = data_tags(
            tenant, args.get("data_classification", "confidential"), args.get("tags")
        )
        table_names: list[pulumi.Output[str]] = []
        redis_host: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        secret_name: str | None = None
        in_cluster = args.get("in_cluster")
        if in_cluster is None and not args.get("kms_key_arn"):
            raise ValueError(f"feature store {tenant}: kms_key_arn is required on AWS")
        if in_cluster is not None:
            self.online_store_kind = "valkey"
            redis_host, secret_name = self._valkey(in_cluster)
        elif tier == "smb":
            self.online_store_kind = "dynamodb"
            if not args.get("online_ttl_days"):
                raise ValueError(
                    f"feature store {tenant}: online_ttl_days is required with DynamoDB "
                    "(its items expire only by the expires_at the writers set)"
                )
            table_names = self._dynamodb()
        else:
            self.online_store_kind = "redis"
            redis_host, secret_name = self._redis()

        bucket = pulumi.Output.from_input(args["bucket_name"])
        key = pulumi.Output.from_input(args.get("kms_key_arn"))
        project, region = self._project, self._region
        ttl_days = args.get("online_ttl_days")
        ttl = ttl_days * 86400 if ttl_days else None
        ca_file = f"{VALKEY_CA_DIR}/{TLS_CA_KEY}" if in_cluster is not None else None
        endpoint = in_cluster["s3_endpoint"] if in_cluster is not None else None
        self.feature_store_yaml = pulumi.Output.all(bucket, key, redis_host).apply(
            lambda v: render_platform_feature_store_yaml(
                feature_store_settings(
                    project,
                    v[0],
                    v[1],
                    tier,
                    region=region,
                    redis_host=v[2],
                    online_ttl_seconds=ttl,
                    redis_ca_file=ca_file,
                    s3_endpoint=endpoint,
                )
            )
        )
        self._feature_server(secret_name)
        self.redis_secret_name = secret_name
        self.pod_access = _in_cluster_access(args)

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

    def _kms_key(self) -> pulumi.Input[str]:
        """The tenant key of the AWS stores (checked present in the constructor)."""
        key = self._args.get("kms_key_arn")
        if key is None:
            raise ValueError(f"feature store {self._args['tenant']}: kms_key_arn is required")
        return key

    def _dynamodb(self) -> list[pulumi.Output[str]]:
        """SMB: one on-demand table per feature view."""
        args = self._args
        return dynamodb_tables(
            self._name,
            project=self._project,
            feature_views=args["feature_views"],
            kms_key_arn=self._kms_key(),
            protect=args.get("protect", False),
            tags=self._tags,
            parent=self,
        )

    def _redis(self) -> tuple[pulumi.Output[str], str]:
        """Enterprise: ElastiCache Redis, and the Secret the feature server reads its token from."""
        args, tenant = self._args, self._args["tenant"]
        missing = [
            k
            for k in ("data_subnet_ids", "vpc_id", "node_security_group_id", "redis_auth_token")
            if not args.get(k)
        ]
        if missing:
            raise ValueError(f"enterprise feature store {tenant}: missing {', '.join(missing)}")
        token = pulumi.Output.secret(args["redis_auth_token"])
        host = redis_store(
            self._name,
            tenant=tenant,
            network=RedisNetwork(
                data_subnet_ids=args["data_subnet_ids"],
                vpc_id=args["vpc_id"],
                node_security_group_id=args["node_security_group_id"],
            ),
            auth_token=token,
            kms_key_arn=self._kms_key(),
            node_type=args.get("redis_node_type", REDIS_NODE_TYPE),
            protect=args.get("protect", False),
            tags=self._tags,
            parent=self,
        )
        secret_name = f"{tenant}-feast-redis"
        register(
            f"{self._name}-redis-secret",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": object_meta(
                    secret_name,
                    args["namespace"],
                    labels(tenant, COMPONENT, name=f"{tenant}-feast"),
                ),
                "type": "Opaque",
                "stringData": {"auth-token": token},
            },
            pulumi.ResourceOptions(parent=self),
        )
        return host, secret_name

    def _valkey(self, store: InClusterStore) -> tuple[pulumi.Output[str | None], str]:
        """In-country site: the AUTH Secret and the tenant's pinned Valkey release."""
        args, tenant, namespace = self._args, self._args["tenant"], self._args["namespace"]
        secret_name = f"{tenant}-feast-redis"
        secret = register(
            f"{self._name}-redis-secret",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": object_meta(
                    secret_name, namespace, labels(tenant, COMPONENT, name=f"{tenant}-feast")
                ),
                "type": "Opaque",
                "stringData": {AUTH_KEY: pulumi.Output.secret(store["auth_token"])},
            },
            pulumi.ResourceOptions(parent=self),
        )
        registry = registry_of(args)
        pinned_release(
            f"{self._name}-valkey",
            release_name(tenant),
            CHARTS[CHART],
            registry,
            namespace,
            pulumi.ResourceOptions(
                parent=self, depends_on=[secret], protect=args.get("protect", False)
            ),
            values=valkey_values(
                registry,
                auth_secret=secret_name,
                tls_secret=tls_secret_name(tenant),
                storage_class=store["storage_class"],
                storage_gib=store.get("storage_gib", DEFAULT_STORAGE_GIB),
            ),
            timeout=600,
        )
        return pulumi.Output.from_input(service_host(tenant, namespace)), secret_name

    def _feature_server(self, secret_name: str | None) -> None:
        """Service account, ``feature_store.yaml`` ConfigMap, server, Service, materialisation."""
        args, name = self._args, self._name
        tenant, namespace, tier = args["tenant"], args["namespace"], args["tier"]
        child = pulumi.ResourceOptions(parent=self)
        sa_name = feast_service_account(tenant)
        obj_labels = labels(tenant, COMPONENT, name=f"{tenant}-feast")
        sa_manifest = service_account(sa_name, namespace, obj_labels, None)
        role_arn = args.get("role_arn")
        if role_arn is not None:
            sa_manifest["metadata"]["annotations"] = {IRSA_ANNOTATION: role_arn}
        service_account_resource = register(f"{name}-sa", sa_manifest, child)
        config_name = f"{tenant}-feature-repo"
        config_manifest = config_map(config_name, namespace, obj_labels, {"feature_store.yaml": ""})
        config_manifest["data"] = {"feature_store.yaml": self.feature_store_yaml}
        config_resource = register(f"{name}-config", config_manifest, child)

        after = pulumi.ResourceOptions(
            parent=self, depends_on=[service_account_resource, config_resource]
        )
        for manifest in feature_server_manifests(
            tenant,
            namespace,
            tier,
            registry_of(args),
            service_account_name=sa_name,
            config_name=config_name,
            secret_name=secret_name,
            region=self._region,
            replicas=args.get("replicas", 2 if tier == "enterprise" else 1),
            schedule=args.get("materialize_schedule", "0 * * * *"),
            materialize_image=registry_of(args).own_image("loop", args["image_tag"]),
            online_ttl_days=args.get("online_ttl_days"),
            **_in_cluster_access(args),
        ):
            if "placement" in args:
                args["placement"].apply(manifest)
            register(f"{name}-{manifest['kind'].lower()}", manifest, after)


def _in_cluster_access(args: FeatureStoreArgs) -> dict[str, list[Manifest]]:
    """On-prem: the store client (endpoint, credentials file, CA, mode) and the Valkey CA
    (only ``ca.crt`` of the operator's TLS Secret) for both Feast pods; AWS: nothing."""
    store = args.get("in_cluster")
    if store is None:
        return {}
    client = store["object_store"]
    ca_volume: Manifest = {
        "name": "online-store-ca",
        "secret": {
            "secretName": tls_secret_name(args["tenant"]),
            "items": [{"key": TLS_CA_KEY, "path": TLS_CA_KEY}],
            "defaultMode": 0o444,
        },
    }
    return {
        "extra_env": list(client["env"]),
        "extra_volumes": [*client["volumes"], ca_volume],
        "extra_mounts": [
            *client["volume_mounts"],
            {"name": "online-store-ca", "mountPath": VALKEY_CA_DIR, "readOnly": True},
        ],
    }
