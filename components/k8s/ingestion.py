"""A tenant's ingestion worker in its namespace, scaled by KEDA on its queue's depth.

- ServiceAccount ``<tenant>-ingestion``: on AWS bound (IRSA) to the tenant's workload
  role, which holds the tenant bucket, its online tables, its key, and (attached by
  :class:`~components.aws.queues.IngestionQueues`) its ingestion queue and DLQ only.
- Deployment running ``python -m workloads.ingestion`` (the loop image): restricted pod
  security, read-only root, the tenant's ``feature_store.yaml`` mounted, probes on its
  ``/metrics`` port (startup allows for Feast's import time). Its replica count belongs to
  the ScaledObject: the manifest omits ``spec.replicas``, so ``pulumi up`` never fights
  KEDA over it.
- ScaledObject (KEDA): ``aws-sqs-queue`` with pod identity on AWS, ``nats-jetstream``
  on-prem (:mod:`components.k8s.keda`); scale bounds from the tier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NotRequired

import pulumi

from components.k8s._resources import register, resolve_placeholders
from components.k8s.catalog import Registry, RegistryArgs, registry_of
from components.k8s.featurestore import feature_server_env
from components.k8s.keda import aws_trigger_authentication, nats_trigger, scaled_object, sqs_trigger
from components.k8s.placement import Placement
from components.k8s.podspec import (
    Manifest,
    Resources,
    container,
    deployment,
    pod_spec,
    service_account,
)
from contracts.ingestion import (
    INGESTION_COMMAND,
    INGESTION_COMPONENT,
    INGESTION_METRICS_PORT,
    LANDING_DONE_PREFIX,
    LANDING_PREFIX,
    OFFLINE_PREFIX,
    ingestion_service_account,
    ingestion_worker_name,
)
from contracts.names import Tier, labels

REPO_DIR = "/etc/mlplatform/feature-repo"
"""Where the tenant's ``feature_store.yaml`` is mounted."""


@dataclass(frozen=True)
class Scaling:
    """Replica bounds and the queue depth one replica is sized for."""

    min_replicas: int
    max_replicas: int
    events_per_replica: int = 500


TIER_SCALING: dict[Tier, Scaling] = {
    # SMB: scale to zero when no events wait (KEDA activates from the queue).
    Tier.SMB: Scaling(min_replicas=0, max_replicas=3),
    # Enterprise: one warm worker (latency of the first event), up to ten.
    Tier.ENTERPRISE: Scaling(min_replicas=1, max_replicas=10),
}


def worker_args(
    queue_spec: str,
    dlq_spec: str,
    bucket: str,
    kms_key_arn: str | None,
    online_ttl_days: int,
) -> list[str]:
    """The worker's arguments (see ``python -m workloads.ingestion --help``)."""
    args = [
        f"--repo={REPO_DIR}",
        f"--queue={queue_spec}",
        f"--dlq={dlq_spec}",
        f"--offline_uri=s3://{bucket}/{OFFLINE_PREFIX}",
        f"--landing_uri=s3://{bucket}/{LANDING_PREFIX}",
        f"--landing_done_uri=s3://{bucket}/{LANDING_DONE_PREFIX}",
        f"--online_ttl_days={online_ttl_days}",
        "--metrics_host=0.0.0.0",
        f"--metrics_port={INGESTION_METRICS_PORT}",
    ]
    if kms_key_arn:
        args.append(f"--kms_key={kms_key_arn}")
    return args


def ingestion_manifests(
    tenant: str,
    namespace: str,
    tier: Tier,
    registry: Registry,
    image_tag: str,
    *,
    trigger: Literal["aws-sqs", "nats"],
    queue_spec: str,
    queue_url: str | None,
    dlq_spec: str,
    bucket: str,
    kms_key_arn: str | None,
    role_arn: str | None,
    feature_repo_config_map: str,
    region: str,
    online_ttl_days: int,
    redis_secret_name: str | None = None,
    s3_endpoint: str | None = None,
    pod_access: Sequence[Mapping[str, Sequence[Manifest]]] = (),
) -> list[Manifest]:
    """ServiceAccount, Deployment, (TriggerAuthentication,) ScaledObject; pure.

    ``pod_access``: what the site's clients need in the pod (``env``, ``volumes``,
    ``volume_mounts``: the on-prem broker's credentials and CA, the in-country store's
    client, the online store's CA); a later variable replaces an earlier one of its name.
    """
    name = ingestion_worker_name(tenant)
    obj_labels = labels(tenant, INGESTION_COMPONENT, name=name)
    scaling = TIER_SCALING[tier]
    env = feature_server_env(region, tier, redis_secret_name)  # HOME, region, Redis token
    if s3_endpoint:
        env.append({"name": "AWS_ENDPOINT_URL_S3", "value": s3_endpoint})
    worker = container(
        "ingestion-worker",
        registry.own_image("loop", image_tag),
        Resources("250m", "512Mi", cpu_limit="1", memory_limit="1Gi"),
        command=INGESTION_COMMAND,
        args=worker_args(queue_spec, dlq_spec, bucket, kms_key_arn, online_ttl_days),
        ports=[{"name": "metrics", "containerPort": INGESTION_METRICS_PORT, "protocol": "TCP"}],
        env=env,
        volume_mounts=[{"name": "feature-repo", "mountPath": REPO_DIR, "readOnly": True}],
        probes={
            # Importing Feast takes seconds; the worker serves /metrics once it is ready.
            "startupProbe": {
                "httpGet": {"path": "/metrics", "port": "metrics"},
                "periodSeconds": 5,
                "failureThreshold": 36,
            },
            "readinessProbe": {
                "httpGet": {"path": "/metrics", "port": "metrics"},
                "periodSeconds": 15,
            },
            "livenessProbe": {
                "httpGet": {"path": "/metrics", "port": "metrics"},
                "periodSeconds": 30,
                "failureThreshold": 3,
            },
        },
    )
    spec = pod_spec(
        [worker],
        service_account=ingestion_service_account(tenant),
        volumes=[{"name": "feature-repo", "configMap": {"name": feature_repo_config_map}}],
    )
    dep = deployment(name, namespace, obj_labels, spec, replicas=1)
    # The replica count is KEDA's: the manifest leaves it out (server-side apply then never
    # manages it), so ``pulumi up`` cannot undo a scale-out or a scale to zero.
    del dep["spec"]["replicas"]
    _add_access(dep, pod_access)
    if trigger == "aws-sqs":
        if not queue_url:
            raise ValueError(f"ingestion {tenant}: the aws-sqs trigger needs the queue URL")
        auth = f"{name}-aws"
        keda_trigger = sqs_trigger(queue_url, region, auth, scaling.events_per_replica)
        extra = [aws_trigger_authentication(auth, namespace, obj_labels)]
    else:
        keda_trigger = nats_trigger(tenant, scaling.events_per_replica)
        extra = []
    return [
        service_account(ingestion_service_account(tenant), namespace, obj_labels, role_arn),
        dep,
        *extra,
        scaled_object(
            name,
            namespace,
            obj_labels,
            name,
            keda_trigger,
            min_replicas=scaling.min_replicas,
            max_replicas=scaling.max_replicas,
        ),
    ]


def _add_access(dep: Manifest, access: Sequence[Mapping[str, Sequence[Manifest]]]) -> None:
    spec = dep["spec"]["template"]["spec"]
    for client in access:
        spec["volumes"] = [*spec.get("volumes", []), *client.get("volumes", [])]
        names = {e["name"] for e in client.get("env", [])}
        for c in spec["containers"]:
            env = [e for e in c.get("env", []) if e["name"] not in names]
            c["env"] = [*env, *client.get("env", [])]
            c["volumeMounts"] = [*c.get("volumeMounts", []), *client.get("volume_mounts", [])]


class TenantIngestionArgs(RegistryArgs):
    """Inputs of :class:`TenantIngestion`."""

    tenant: str
    namespace: str
    tier: Tier
    image_tag: str
    """Tag of the platform's own images (the loop image)."""
    trigger: Literal["aws-sqs", "nats"]
    queue_spec: pulumi.Input[str]
    """``--queue`` of the worker: ``sqs:<url>`` or a NATS spec."""
    queue_url: NotRequired[pulumi.Input[str] | None]
    """The SQS queue URL the scaler reads (aws-sqs only)."""
    dlq_spec: pulumi.Input[str]
    """``--dlq``: ``sqs:<dlq url>`` or the broker's dead-letter stream spec (on-prem)."""
    bucket: str
    """The tenant's data bucket (offline store, landing prefix)."""
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    role_arn: NotRequired[pulumi.Input[str] | None]
    feature_repo_config_map: str
    region: str
    online_ttl_days: int
    redis_secret_name: NotRequired[str | None]
    s3_endpoint: NotRequired[str | None]
    pod_access: NotRequired[Sequence[Mapping[str, Sequence[Manifest]]]]
    """Env, volumes and mounts of the site's clients (on-prem: broker, store, Valkey CA)."""
    placement: NotRequired[Placement]
    depends_on: NotRequired[list[pulumi.Resource]]
    """What the ScaledObject waits for (the KEDA release: its CRDs)."""


_PLACEHOLDERS = {
    "queue_spec": "__INGEST_QUEUE__",
    "queue_url": "__INGEST_QUEUE_URL__",
    "dlq_spec": "__INGEST_DLQ__",
    "kms_key_arn": "__INGEST_KMS_KEY__",
    "role_arn": "__INGEST_ROLE_ARN__",
}


class TenantIngestion(pulumi.ComponentResource):
    """The tenant's ingestion worker, its identity and its ScaledObject."""

    deployment: pulumi.Output[str]
    """``<namespace>/<deployment>`` of the worker."""

    def __init__(
        self, name: str, args: TenantIngestionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:ingestion:TenantIngestion", name, None, opts)
        given: Mapping[str, pulumi.Input[str] | None] = {
            key: args.get(key)  # type: ignore[misc]
            for key in _PLACEHOLDERS
        }
        outputs = {
            _PLACEHOLDERS[key]: pulumi.Output.from_input(value)
            for key, value in given.items()
            if value is not None
        }

        def placeholder(key: str) -> str | None:
            return _PLACEHOLDERS[key] if given[key] is not None else None

        manifests = ingestion_manifests(
            args["tenant"],
            args["namespace"],
            args["tier"],
            registry_of(args),
            args["image_tag"],
            trigger=args["trigger"],
            queue_spec=_PLACEHOLDERS["queue_spec"],
            queue_url=placeholder("queue_url"),
            dlq_spec=_PLACEHOLDERS["dlq_spec"],
            bucket=args["bucket"],
            kms_key_arn=placeholder("kms_key_arn"),
            role_arn=placeholder("role_arn"),
            feature_repo_config_map=args["feature_repo_config_map"],
            region=args["region"],
            online_ttl_days=args["online_ttl_days"],
            redis_secret_name=args.get("redis_secret_name"),
            s3_endpoint=args.get("s3_endpoint"),
            pod_access=args.get("pod_access", ()),
        )
        if "placement" in args:
            for manifest in manifests:
                args["placement"].apply(manifest)
        identity: list[pulumi.Resource] = []
        for manifest in manifests:
            kind, obj = manifest["kind"], manifest["metadata"]["name"]
            resolved = resolve_placeholders(manifest, outputs)
            depends = list(identity)
            options = pulumi.ResourceOptions(parent=self, depends_on=depends)
            if kind in {"ScaledObject", "TriggerAuthentication"}:
                options = pulumi.ResourceOptions(
                    parent=self, depends_on=[*depends, *args.get("depends_on", [])]
                )
            res = register(f"{name}-{obj}-{kind.lower()}", resolved, options)
            if kind in {"ServiceAccount", "Deployment", "TriggerAuthentication"}:
                identity.append(res)
        self.deployment = pulumi.Output.from_input(
            f"{args['namespace']}/{ingestion_worker_name(args['tenant'])}"
        )
        self.register_outputs({"deployment": self.deployment})
