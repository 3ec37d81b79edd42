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
  run executes is planned, reviewed and policy-checked like every other pod. Today a
  ``batch/v1`` Job; the platform's training engine is Kubeflow Trainer (``TrainJob``
  through Kueue): :func:`training_run_template` is the one place that changes when its
  builder lands, and the controller picks its launcher from the template's kind.

What the controller may do is exactly its namespace's (Role, no ClusterRole): create,
read and delete Jobs; read, create, patch and delete InferenceServices (it creates a
model's ``<model>-challenger`` when the stack declared none, and patches versions);
get and patch its canary routers' ConfigMaps and Deployments by name. AWS: the
automation role (the tenant's queues and bucket, its key). Training runs use the
tenant's workload role (features, models) under their own service account, and read the
private signing key from a Secret the operator provisions (``<tenant>-model-signing-key``,
never in stack state).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi

from components.k8s._resources import register, resolve_placeholders
from components.k8s.catalog import Registry, RegistryArgs, registry_of
from components.k8s.drift_monitor import drift_monitor_manifests
from components.k8s.invariants import API_ACCESS_ANNOTATION
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
from contracts.names import (
    Tier,
    challenger_of,
    champion_of,
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

COMPONENT = "retraining-controller"
"""``app.kubernetes.io/component`` of the controller's pods (the drift PodMonitor's target)."""
TRAINING_COMPONENT = "training"
AUDIT_DIR = "/var/lib/mlplatform/audit"
TEMPLATE_DIR = "/etc/mlplatform/retraining"
TEMPLATE_FILE = "run.json"
FEATURE_REPO_DIR = "/etc/mlplatform/feature-repo"
WORK_DIR = "/work"


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
    gpu: bool,
    bucket: str,
    kms_key_arn: str,
    feature_repo_config_map: str,
) -> Manifest:
    """The ``batch/v1`` Job every training run of the tenant starts from (pure).

    The controller sets the name (from the trigger), labels, and appends
    ``--model_name``, ``--version`` and ``--trigger``.
    """
    image = registry.own_image("training-cuda" if gpu else "training", image_tag)
    resources = (
        Resources("4", "16Gi", cpu_limit="8", memory_limit="32Gi", gpus=1)
        if gpu
        else Resources("2", "8Gi", cpu_limit="4", memory_limit="12Gi")
    )
    obj_labels = labels(tenant, TRAINING_COMPONENT, name=f"{tenant}-training")
    trainer = container(
        "train",
        image,
        resources,
        command=["python", "-m", "workloads.retraining.run"],
        args=[
            f"--repo={FEATURE_REPO_DIR}",
            f"--work_dir={WORK_DIR}",
            f"--models_uri={models_uri(bucket)}",
            f"--registry={registry_uri(bucket)}",
            f"--kms_key={kms_key_arn}",
        ],
        env=[
            {"name": "HOME", "value": TMP_PATH},
            {"name": SIGNING_KEY_ENV, "value": SIGNING_KEY_PATH},
            {"name": "FEAST_USAGE", "value": "False"},
        ],
        volume_mounts=[
            {"name": "feature-repo", "mountPath": FEATURE_REPO_DIR, "readOnly": True},
            {"name": "signing-key", "mountPath": SIGNING_KEY_DIR, "readOnly": True},
            {"name": "work", "mountPath": WORK_DIR},
        ],
    )
    spec = pod_spec(
        [trainer],
        service_account=training_service_account(tenant),
        restart_policy="Never",
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
        ],
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"namespace": namespace, "labels": obj_labels},
        "spec": {
            # A gate failure is an answer, not a fault: one retry for infrastructure hiccups.
            "backoffLimit": 1,
            "activeDeadlineSeconds": 6 * 3600,
            "ttlSecondsAfterFinished": 7 * 86400,
            "template": {"metadata": {"labels": dict(obj_labels)}, "spec": spec},
        },
    }


def controller_rbac(
    tenant: str, namespace: str, obj_labels: Mapping[str, str], models: Sequence[str], canary: bool
) -> list[Manifest]:
    """The controller's Role in its namespace and the binding to its account."""
    sa = retraining_service_account(tenant)
    isvcs = sorted(n for m in models for n in (champion_of(m), challenger_of(m)))
    rules: list[Manifest] = [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "delete"]},
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
    kms_key_arn: str,
    queue_url: str,
) -> Manifest:
    """One replica of ``python -m workloads.retraining`` (one consumer, one audit writer)."""
    name = retraining_controller_name(tenant)
    obj_labels = labels(tenant, COMPONENT, name=name)
    controller = container(
        "retraining-controller",
        registry.own_image("loop", image_tag),
        Resources("100m", "256Mi", cpu_limit="500m", memory_limit="512Mi"),
        command=["python", "-m", "workloads.retraining"],
        args=[
            f"--namespace={namespace}",
            f"--queue=sqs:{queue_url}",
            f"--run_template={TEMPLATE_DIR}/{TEMPLATE_FILE}",
            f"--registry={registry_uri(bucket)}",
            f"--models_uri={models_uri(bucket)}",
            f"--kms_key={kms_key_arn}",
            *(f"--model={m['name']}={m['version']}:{m['canary_percent']}" for m in models),
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


def loop_manifests(args: TenantLoopArgs, *, kms_key_arn: str, queue_url: str,
                   role_arn: str | None, training_role_arn: str | None) -> list[Manifest]:  # fmt: skip
    """Every object of a tenant's loop, in creation order (pure; tests use it directly)."""
    tenant, ns, tier = args["tenant"], args["namespace"], args["tier"]
    registry = registry_of(args)
    tag, bucket = args["image_tag"], args["bucket"]
    models = list(args["models"])
    obj_labels = labels(tenant, COMPONENT, name=retraining_controller_name(tenant))
    template = training_run_template(
        tenant, ns, registry, tag, gpu=args.get("gpu_training", False), bucket=bucket,
        kms_key_arn=kms_key_arn, feature_repo_config_map=args["feature_repo_config_map"],
    )  # fmt: skip
    if "placement" in args:
        # Place the run's pod as every other pod of the tenant (GPU runs on GPU pools).
        args["placement"].apply({"kind": "Job", "metadata": {"name": "run"}, **template})
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
    kms_key_arn: pulumi.Input[str]
    """The tenant key: every object the loop writes is SSE-KMS with it."""
    retraining_queue_url: pulumi.Input[str]
    feature_repo_config_map: str
    """ConfigMap with the tenant's ``feature_store.yaml`` (the feature store component's)."""
    role_arn: NotRequired[pulumi.Input[str] | None]
    """The automation role (queues, bucket) of the controller and the drift monitors."""
    training_role_arn: NotRequired[pulumi.Input[str] | None]
    """The tenant's workload role (features and models) of the training runs."""
    gpu_training: NotRequired[bool]
    """Train on GPU pools with the CUDA image (enterprise)."""
    placement: NotRequired[Placement]


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
        manifests = loop_manifests(
            args,
            kms_key_arn=_PLACEHOLDERS[0],
            queue_url=_PLACEHOLDERS[1],
            role_arn=_PLACEHOLDERS[2] if role_arn is not None else None,
            training_role_arn=_PLACEHOLDERS[3] if training_role is not None else None,
        )
        outputs = {
            _PLACEHOLDERS[0]: pulumi.Output.from_input(args["kms_key_arn"]),
            _PLACEHOLDERS[1]: pulumi.Output.from_input(args["retraining_queue_url"]),
        }
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
