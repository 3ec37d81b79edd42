"""A tenant's MLOps loop in its namespace: drift monitors, the retraining controller and
the template of the training runs it starts.

- Drift monitors: one CronJob per served model (:mod:`components.k8s.drift_monitor`).
- Retraining controller: one Deployment running ``python -m workloads.retraining``
  (image ``mlplatform/loop``): it consumes the tenant's retraining queue, starts a
  training run per trigger (named after the trigger: a redelivery starts nothing),
  gives a registered challenger the tier's canary share through the model's router,
  promotes or rolls it back, keeps the registry (``s3://<bucket>/registry/``) and the
  audit log, and re-exports the drift monitors' latest reports on ``/metrics``.
- Training runs: the controller instantiates the run template rendered here into a
  ConfigMap (image, account, resources, placement, volumes, fixed arguments), so what a
  run executes is planned, reviewed and policy-checked like every other pod. The
  template is a Kubeflow Trainer ``TrainJob`` on the platform's runtime, queued through
  the tenant's Kueue ``LocalQueue`` (:mod:`contracts.training`): the tenant's quota
  decides when a run starts, its training pool where.

What the controller may do is exactly its namespace's (Role, no ClusterRole): create
and get TrainJobs (by name: no list, no delete); read, create, patch and delete
InferenceServices (it creates a
model's ``<model>-challenger`` when the stack declared none, and patches versions);
get and patch its canary routers' ConfigMaps and Deployments by name. AWS: the
automation role (the tenant's queues and bucket, its key). Training runs use the
tenant's workload role (features, models) under their own service account, and read the
private signing key from a Secret the operator provisions (``<tenant>-model-signing-key``,
never in stack state). On-prem (no IRSA, no KMS key) the controller's, the monitors' and
the training runs' pods get the in-country store's client instead
(:mod:`components.k8s.objectstore`: endpoint, credentials file, CA, store-side encryption).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import NotRequired, TypedDict

import pulumi

from components.k8s._resources import register, resolve_placeholders
from components.k8s.catalog import Registry, RegistryArgs, registry_of
from components.k8s.drift_monitor import drift_monitor_manifests
from components.k8s.invariants import API_ACCESS_ANNOTATION
from components.k8s.nats import QueueClient, add_queue_client
from components.k8s.objectstore import ObjectStoreClient, add_object_store_client
from components.k8s.placement import Placement
from components.k8s.podspec import (
    TMP_PATH,
    Manifest,
    Resources,
    config_map,
    container,
    deployment,
    pod_spec,
    role_binding,
    service_account,
    service_account_subject,
)
from components.k8s.podspec import role as podspec_role
from components.k8s.trainer import TrainingPlacement, train_job
from contracts.messaging import trigger_queue_spec
from contracts.names import (
    Tier,
    challenger_of,
    champion_of,
    feedback_uri,
    labels,
    models_uri,
    registry_uri,
    retraining_controller_name,
    retraining_service_account,
    signing_key_secret_name,
    training_service_account,
    training_template_name,
)
from contracts.router import router_name
from contracts.signing import SIGNING_KEY_DIR, SIGNING_KEY_ENV, SIGNING_KEY_FILE, SIGNING_KEY_PATH
from contracts.telemetry import CONTROLLER_METRICS_PORT
from contracts.training import GROUP, LOCAL_QUEUE, RUN_COMMAND, RUN_LABEL, TRAIN_JOB_PLURAL

COMPONENT = "retraining-controller"
"""``app.kubernetes.io/component`` of the controller's pods (the drift PodMonitor's target)."""
TRAINING_COMPONENT = "training"
AUDIT_DIR = "/var/lib/mlplatform/audit"
TEMPLATE_DIR = "/etc/mlplatform/retraining"
TEMPLATE_FILE = "run.json"
FEATURE_REPO_DIR = "/etc/mlplatform/feature-repo"
WORK_DIR = "/var/lib/mlplatform/run"
"""The run's scratch space (an ``emptyDir``): the model before upload."""
TEMPLATE_NAME = "run-template"
"""Name in the template; the controller names each run after its trigger."""


PROMETHEUS_PORT = 9090


def tenant_prometheus_url(namespace: str) -> str:
    """The tenant's dedicated Prometheus (the operator's ``prometheus-operated`` Service)."""
    return f"http://prometheus-operated.{namespace}.svc:{PROMETHEUS_PORT}"


class LoopModel(TypedDict):
    """A served model the loop looks after."""

    name: str
    version: str
    """The version the stack deployed (the champion until the registry names another)."""
    canary_percent: int
    """The tier's canary share for a retrained challenger (0: no canary, SMB)."""


def training_run_template(
    tenant: str,
    namespace: str,
    registry: Registry,
    image_tag: str,
    *,
    placement: TrainingPlacement,
    bucket: str,
    kms_key_arn: str | None,
    feature_repo_config_map: str,
    object_store: ObjectStoreClient | None = None,
) -> Manifest:
    """The ``TrainJob`` every training run of the tenant starts from (pure).

    Built by :func:`components.k8s.trainer.train_job` on the platform's runtime and
    submitted to the tenant's Kueue ``LocalQueue`` (its quota decides when it runs); the
    placement is the tenant's training pool (:func:`components.platform.batch.
    training_placement`), the CUDA image when it has GPUs. The controller sets the
    name (from the trigger), labels, and appends ``--model_name``, ``--version`` and
    ``--trigger`` (:func:`contracts.training.run_arguments`).

    ``kms_key_arn`` None: the run uploads and registers through ``object_store`` (the
    in-country store's endpoint, credentials file, CA and store-side encryption, added to
    every node's pod), the only case in which it writes without a key.
    """
    if kms_key_arn is None and object_store is None:
        raise ValueError(
            f"training runs of {tenant}: kms_key_arn is required unless the site's store "
            "encrypts at rest (object_store)"
        )
    store: ObjectStoreClient = object_store or {"env": [], "volumes": [], "volume_mounts": []}
    image = registry.own_image("training-cuda" if placement.gpus else "training", image_tag)
    run_placement = replace(
        placement,
        service_account=training_service_account(tenant),
        extra_labels={**placement.extra_labels, RUN_LABEL: "true"},
    )
    job = train_job(
        tenant,
        namespace,
        TEMPLATE_NAME,
        image,
        [
            f"--repo={FEATURE_REPO_DIR}",
            f"--work_dir={WORK_DIR}",
            f"--models_uri={models_uri(bucket)}",
            f"--registry={registry_uri(bucket)}",
            *([f"--kms_key={kms_key_arn}"] if kms_key_arn else []),
        ],
        LOCAL_QUEUE,
        run_placement,
        command=list(RUN_COMMAND),
        env=[
            {"name": SIGNING_KEY_ENV, "value": SIGNING_KEY_PATH},
            {"name": "FEAST_USAGE", "value": "False"},
            *store["env"],
        ],
        volumes=[
            {"name": "feature-repo", "configMap": {"name": feature_repo_config_map}},
            {
                "name": "signing-key",
                "secret": {
                    "secretName": signing_key_secret_name(tenant),
                    "items": [{"key": SIGNING_KEY_FILE, "path": SIGNING_KEY_FILE}],
                    "defaultMode": 0o400,
                },
            },
            {"name": "work", "emptyDir": {"sizeLimit": "20Gi"}},
            *store["volumes"],
        ],
        volume_mounts=[
            {"name": "feature-repo", "mountPath": FEATURE_REPO_DIR, "readOnly": True},
            {"name": "signing-key", "mountPath": SIGNING_KEY_DIR, "readOnly": True},
            {"name": "work", "mountPath": WORK_DIR},
            *store["volume_mounts"],
        ],
    )
    job["metadata"]["labels"] = {
        **labels(tenant, TRAINING_COMPONENT, name=f"{tenant}-training"),
        **job["metadata"]["labels"],
    }
    return job


def controller_rbac(
    tenant: str, namespace: str, obj_labels: Mapping[str, str], models: Sequence[str], canary: bool
) -> list[Manifest]:
    """The controller's Role in its namespace and the binding to its account."""
    sa = retraining_service_account(tenant)
    # <model> is an SMB model's one InferenceService (it follows the registry's champion).
    isvcs = sorted(n for m in models for n in (m, champion_of(m), challenger_of(m)))
    rules: list[Manifest] = [
        # Exactly what starting and following a run needs: create (named after the
        # trigger) and get (its state, by name); no list, no delete, no other namespace.
        {"apiGroups": [GROUP], "resources": [TRAIN_JOB_PLURAL], "verbs": ["create", "get"]},
        {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"],
         "resourceNames": isvcs, "verbs": ["get", "patch", "delete"]},
    ]  # fmt: skip
    if canary:
        routers = sorted(router_name(m) for m in models)
        rules += [
            # create cannot be limited by name; the controller only ever creates
            # <model>-challenger (and refuses other namespaces).
            {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": routers,
             "verbs": ["get", "patch"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": routers,
             "verbs": ["get", "patch"]},
        ]  # fmt: skip
    return [
        podspec_role(sa, namespace, obj_labels, rules),
        role_binding(sa, namespace, obj_labels, sa, [service_account_subject(sa, namespace)]),
    ]


def controller_deployment(
    tenant: str,
    namespace: str,
    registry: Registry,
    image_tag: str,
    *,
    models: Sequence[LoopModel],
    bucket: str,
    kms_key_arn: str | None,
    queue_url: str,
) -> Manifest:
    """One replica of ``python -m workloads.retraining`` (one consumer, one audit writer).

    ``queue_url``: an SQS URL or a NATS spec (:func:`contracts.messaging.trigger_queue_spec`);
    ``kms_key_arn`` None: the site's store encrypts at rest (on-prem)."""
    name = retraining_controller_name(tenant)
    obj_labels = labels(tenant, COMPONENT, name=name)
    controller = container(
        "retraining-controller",
        registry.own_image("loop", image_tag),
        Resources("100m", "256Mi", cpu_limit="500m", memory_limit="512Mi"),
        command=["python", "-m", "workloads.retraining"],
        args=[
            f"--namespace={namespace}",
            f"--queue={trigger_queue_spec(queue_url)}",
            f"--run_template={TEMPLATE_DIR}/{TEMPLATE_FILE}",
            f"--registry={registry_uri(bucket)}",
            f"--models_uri={models_uri(bucket)}",
            *([f"--kms_key={kms_key_arn}"] if kms_key_arn else []),
            *(f"--model={m['name']}={m['version']}:{m['canary_percent']}" for m in models),
            *(
                # The canary's numbers: per-arm traffic from the tenant's own Prometheus
                # (same namespace), accuracy per version from labelled feedback.
                [
                    f"--prometheus_url={tenant_prometheus_url(namespace)}",
                    f"--feedback={feedback_uri(bucket)}",
                ]
                if any(m["canary_percent"] for m in models)
                else []
            ),
            f"--audit_log={AUDIT_DIR}/retraining.jsonl",
            "--metrics_host=0.0.0.0",
            f"--metrics_port={CONTROLLER_METRICS_PORT}",
        ],
        ports=[{"name": "metrics", "containerPort": CONTROLLER_METRICS_PORT, "protocol": "TCP"}],
        env=[{"name": "HOME", "value": TMP_PATH}],
        volume_mounts=[
            {"name": "run-template", "mountPath": TEMPLATE_DIR, "readOnly": True},
            {"name": "audit", "mountPath": AUDIT_DIR},
        ],
        probes={
            "readinessProbe": {
                "httpGet": {"path": "/metrics", "port": "metrics"},
                "periodSeconds": 30,
            }
        },
    )
    spec = pod_spec(
        [controller],
        service_account=retraining_service_account(tenant),
        automount_token=True,
        volumes=[
            {"name": "run-template", "configMap": {"name": training_template_name(tenant)}},
            {"name": "audit", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    )
    dep = deployment(name, namespace, obj_labels, spec, replicas=1)
    dep["spec"]["template"]["metadata"]["annotations"] = {
        API_ACCESS_ANNOTATION: "retraining controller creates training Jobs and moves canaries"
    }
    dep["spec"]["strategy"] = {"type": "Recreate"}
    return dep


def loop_manifests(args: TenantLoopArgs, *, kms_key_arn: str | None, queue_url: str,
                   role_arn: str | None, training_role_arn: str | None) -> list[Manifest]:  # fmt: skip
    """Every object of a tenant's loop, in creation order (pure; tests use it directly)."""
    tenant, ns, tier = args["tenant"], args["namespace"], args["tier"]
    registry = registry_of(args)
    tag, bucket = args["image_tag"], args["bucket"]
    models = list(args["models"])
    obj_labels = labels(tenant, COMPONENT, name=retraining_controller_name(tenant))
    template = training_run_template(
        tenant, ns, registry, tag, placement=args.get("training_placement", CPU_RUN),
        bucket=bucket, kms_key_arn=kms_key_arn,
        feature_repo_config_map=args["feature_repo_config_map"],
        object_store=args.get("object_store"),
    )  # fmt: skip
    canary = tier == Tier.ENTERPRISE and any(m["canary_percent"] for m in models)
    manifests = [
        service_account(training_service_account(tenant), ns,
                        labels(tenant, TRAINING_COMPONENT), training_role_arn),
        service_account(retraining_service_account(tenant), ns, obj_labels, role_arn),
        *controller_rbac(tenant, ns, obj_labels, [m["name"] for m in models], canary),
        config_map(training_template_name(tenant), ns, obj_labels,
                   {TEMPLATE_FILE: json.dumps(template, indent=1, sort_keys=True)}),
        controller_deployment(tenant, ns, registry, tag, models=models, bucket=bucket,
                              kms_key_arn=kms_key_arn, queue_url=queue_url),
        *drift_monitor_manifests(
            tenant, ns, tier, registry, tag, models=[(m["name"], m["version"]) for m in models],
            bucket=bucket, kms_key_arn=kms_key_arn, queue_url=queue_url, role_arn=role_arn,
        ),
    ]  # fmt: skip
    if "placement" in args:
        for manifest in manifests:
            args["placement"].apply(manifest)
    # What the site gives the controller's and the monitors' pods (on-prem: the broker's
    # client, and the in-country store's endpoint, credentials file, CA and mode).
    for manifest in manifests:
        if manifest["kind"] in {"Deployment", "CronJob"}:
            if "queue_client" in args:
                add_queue_client(manifest, args["queue_client"])
            if "object_store" in args:
                add_object_store_client(manifest, args["object_store"])
    return manifests


class TenantLoopArgs(RegistryArgs):
    """Inputs of :class:`TenantLoop`."""

    tenant: str
    namespace: str
    tier: Tier
    image_tag: str
    """Tag of the platform's own images (one release builds them all)."""
    models: Sequence[LoopModel]
    bucket: str
    """The tenant's data bucket (predictions, models, registry)."""
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """The tenant key: every object the loop writes is SSE-KMS with it (AWS). None only
    with ``object_store`` (the in-country store encrypts at rest)."""
    retraining_queue_url: pulumi.Input[str]
    """SQS URL (AWS) or NATS spec (on-prem) of the tenant's retraining triggers."""
    queue_client: NotRequired[QueueClient]
    """The broker's client settings (on-prem NATS); absent on AWS (IRSA)."""
    object_store: NotRequired[ObjectStoreClient]
    """The in-country store's client (on-prem); absent on AWS (IRSA + the tenant key)."""
    feature_repo_config_map: str
    """ConfigMap with the tenant's ``feature_store.yaml`` (the feature store component's)."""
    role_arn: NotRequired[pulumi.Input[str] | None]
    """The automation role (queues, bucket) of the controller and the drift monitors."""
    training_role_arn: NotRequired[pulumi.Input[str] | None]
    """The tenant's workload role (features and models) of the training runs."""
    training_placement: NotRequired[TrainingPlacement]
    """Where the tenant's runs go and what each node requests (the batch layer's
    :func:`~components.platform.batch.training_placement`; GPUs: the CUDA image).
    Default: the runtime's CPU shape, placed by Kueue's flavor only."""
    placement: NotRequired[Placement]


CPU_RUN = TrainingPlacement({}, ())
"""A run without placement: one CPU node of the runtime's default shape."""

_PLACEHOLDERS = ("__KMS_KEY_ARN__", "__QUEUE_URL__", "__ROLE_ARN__", "__TRAINING_ROLE_ARN__")


class TenantLoop(pulumi.ComponentResource):
    """Drift monitors, the retraining controller and the training-run template of a tenant."""

    controller: pulumi.Output[str]
    """``<namespace>/<deployment>`` of the retraining controller."""

    def __init__(
        self, name: str, args: TenantLoopArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:loop:TenantLoop", name, None, opts)
        role_arn, training_role = args.get("role_arn"), args.get("training_role_arn")
        kms_key = args.get("kms_key_arn")
        if kms_key is None and "object_store" not in args:
            raise ValueError(
                f"loop {args['tenant']}: kms_key_arn is required unless the site's store "
                "encrypts at rest (object_store)"
            )
        manifests = loop_manifests(
            args,
            kms_key_arn=_PLACEHOLDERS[0] if kms_key is not None else None,
            queue_url=_PLACEHOLDERS[1],
            role_arn=_PLACEHOLDERS[2] if role_arn is not None else None,
            training_role_arn=_PLACEHOLDERS[3] if training_role is not None else None,
        )
        outputs = {
            # The builders write --queue=<trigger_queue_spec(placeholder)>: resolve the
            # whole spec (sqs:<url>, or a NATS spec as is).
            trigger_queue_spec(_PLACEHOLDERS[1]): pulumi.Output.from_input(
                args["retraining_queue_url"]
            ).apply(trigger_queue_spec),
        }
        if kms_key is not None:
            outputs[_PLACEHOLDERS[0]] = pulumi.Output.from_input(kms_key)
        if role_arn is not None:
            outputs[_PLACEHOLDERS[2]] = pulumi.Output.from_input(role_arn)
        if training_role is not None:
            outputs[_PLACEHOLDERS[3]] = pulumi.Output.from_input(training_role)
        identities: list[pulumi.Resource] = []
        for manifest in manifests:
            kind, obj = manifest["kind"], manifest["metadata"]["name"]
            if kind == "ConfigMap":
                # The template is JSON text: substitute inside it, then serialise.
                template = json.loads(manifest["data"][TEMPLATE_FILE])
                manifest["data"][TEMPLATE_FILE] = pulumi.Output.json_dumps(
                    resolve_placeholders(template, outputs), indent=1, sort_keys=True
                )
            resolved = resolve_placeholders(manifest, outputs)
            depends = identities if kind in {"Deployment", "CronJob"} else []
            res = register(
                f"{name}-{obj}-{kind.lower()}",
                resolved,
                pulumi.ResourceOptions(parent=self, depends_on=list(depends)),
            )
            if kind in {"ServiceAccount", "Role", "RoleBinding", "ConfigMap"}:
                identities.append(res)
        self.controller = pulumi.Output.from_input(
            f"{args['namespace']}/{retraining_controller_name(args['tenant'])}"
        )
        self.register_outputs({"controller": self.controller})
