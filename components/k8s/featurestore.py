"""Kubernetes side of a tenant's feature store (Feast): pure manifest builders.

- ``feature_store.yaml`` is rendered by ``contracts.feature_store`` from the same
  settings the tenant's jobs use, and mounted from a ConfigMap.
- The feature server is a restricted Deployment with the tenant's workload identity
  (IRSA) and a ClusterIP Service, running the upstream Feast image (it only reads).
- A CronJob loads the online store up to now in the platform's loop image
  (:data:`contracts.feature_store.MATERIALIZE_COMMAND`): the same ``feature_store.yaml``,
  with the writer's store swapped in so every row expires after the tenant's online
  retention (DynamoDB ``expires_at``; upstream ``feast materialize-incremental`` writes
  none, so its items would never expire).

The component that composes these with the online store is
:class:`components.featurestore.FeatureStore`.
"""

from __future__ import annotations

from typing import Any

import yaml

from components.k8s.catalog import IMAGES, Registry
from components.k8s.podspec import (
    TMP_PATH,
    Manifest,
    Resources,
    cluster_ip_service,
    container,
    deployment,
    object_meta,
    pod_disruption_budget,
    pod_spec,
    selector_labels,
)
from contracts.feature_store import (
    MATERIALIZE_COMMAND,
    DynamoDBOnlineStore,
    PlatformFeatureStoreSettings,
    RedisOnlineStore,
    materialize_args,
)
from contracts.ingestion import OFFLINE_PREFIX
from contracts.names import DEFAULT_REGION, Tier, labels
from contracts.telemetry import REDIS_PORT

FEATURE_SERVER_PORT = 6566
"""Feast's default HTTP feature server port."""
FEATURE_SERVER_METRICS_PORT = 8000
"""Port of ``feast serve --metrics`` (Prometheus exposition)."""
REDIS_PASSWORD_ENV = "FEAST_REDIS_PASSWORD"  # noqa: S105 (a variable name, not a secret)
REPO_DIR = "/feature_repo"
COMPONENT = "feature-server"


def feature_store_settings(
    project: str,
    bucket: str,
    kms_key_arn: str | None,
    tier: Tier,
    *,
    region: str = DEFAULT_REGION,
    redis_host: str | None = None,
    online_ttl_seconds: int | None = None,
    redis_ca_file: str | None = None,
    s3_endpoint: str | None = None,
) -> PlatformFeatureStoreSettings:
    """The settings both the feature server and the tenant's jobs render their YAML from.

    AWS: DynamoDB (SMB) or ElastiCache (enterprise, ``redis_host``), SSE-KMS with the
    tenant key. In-country site: the tenant's in-cluster Valkey (``redis_host`` and the
    site CA ``redis_ca_file``, any tier) and the S3-compatible store (``s3_endpoint``).
    """
    online: DynamoDBOnlineStore | RedisOnlineStore
    if redis_host:
        online = RedisOnlineStore(
            host=redis_host,
            port=REDIS_PORT,
            password_env=REDIS_PASSWORD_ENV,
            key_ttl_seconds=online_ttl_seconds,
            ca_file=redis_ca_file,
        )
    elif tier == "smb":
        online = DynamoDBOnlineStore(region=region)
    else:
        raise ValueError("enterprise feature store: redis_host is required")
    return PlatformFeatureStoreSettings(
        project=project,
        registry_uri=f"s3://{bucket}/feast/registry.db",
        # The views read the partitioned store the ingestion worker writes (seed and events).
        offline_data_uri=f"s3://{bucket}/{OFFLINE_PREFIX}/",
        kms_key_id=kms_key_arn,
        s3_endpoint=s3_endpoint,
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
    if tier == "enterprise" and not secret_name:
        raise ValueError("enterprise feature server needs the Redis token secret name")
    if secret_name:
        # A Redis-protocol online store (ElastiCache, or the in-country site's Valkey).
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
    materialize_image: str,
    online_ttl_days: int | None = None,
    extra_env: list[Manifest] | None = None,
    extra_volumes: list[Manifest] | None = None,
    extra_mounts: list[Manifest] | None = None,
) -> list[Manifest]:
    """Deployment, Service, CronJob (and PDB when replicated) of a tenant's Feast.

    ``materialize_image``: the platform's loop image (the CronJob's writer);
    ``online_ttl_days``: the tenant's online retention, which every materialised row
    carries (required with DynamoDB, whose tables expire items by TTL only).
    ``extra_*``: what the site adds to both pods (on-prem: the object-store client and
    the online store's CA)."""
    image = registry.image(IMAGES["feast-feature-server"])
    obj_labels = labels(tenant, COMPONENT, name=f"{tenant}-feast")
    env = [*feature_server_env(region, tier, secret_name), *(extra_env or [])]
    volume, mount = _repo_volume(config_name)
    volumes, mounts = [volume, *(extra_volumes or [])], [mount, *(extra_mounts or [])]
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
        volume_mounts=mounts,
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
    server_spec = pod_spec([server], service_account=service_account_name, volumes=volumes)
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
        materialize_image,
        Resources("500m", "1Gi", cpu_limit="2", memory_limit="4Gi"),
        command=list(MATERIALIZE_COMMAND),
        # materialize_incremental up to "now" (the run's own clock), rows expiring.
        args=materialize_args(REPO_DIR, online_ttl_days),
        env=env,
        volume_mounts=mounts,
    )
    job_spec = pod_spec(
        [materialize],
        service_account=service_account_name,
        volumes=volumes,
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


def parse_feature_store_yaml(text: str) -> dict[str, Any]:
    """The YAML as data (used by tests and by ``mlplatform plan`` readers)."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("feature_store.yaml is not a mapping")
    return data
