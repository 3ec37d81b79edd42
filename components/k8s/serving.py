"""A tenant's model serving on KServe (RawDeployment), and a canary that really splits traffic.

The cluster-wide part (cert-manager, KServe CRDs and controller) is
:class:`components.k8s.kserve.KServeInstall`. Per tenant, :class:`ModelServing`: a ``ServingRuntime`` for the ONNX Runtime model
server image built from ``workloads/serving`` (CPU; a GPU runtime for enterprise), one
``InferenceService`` per model with the tier's autoscaling bounds, and for enterprise
min 2 replicas, PodDisruptionBudgets and a champion/challenger canary.

The server loads a model only after verifying its Ed25519 signature. The public key it
verifies with is written by the platform into the tenant's ``ServingRuntime`` itself
(``MLPLATFORM_VERIFY_KEY_PEM`` in the container's environment): tenant admins may edit
ConfigMaps and InferenceServices in their namespace, but no tenant role can write a
``ServingRuntime`` (``tests/components/test_verify_key_rbac.py`` proves it over every
Role and binding the stacks plan), so a tenant cannot swap the trust root.

What the runtime exposes (:mod:`contracts.serving`): V1/V2 inference, model metadata,
health and readiness on ``http1``; metrics on their own port (``metrics``); gRPC off (the
router, probes and PodMonitor speak HTTP only). Each server records the newest model
version it served in the tenant bucket (``serving-state/<inferenceservice>.json``) and
refuses an older one (anti-rollback, ``workloads.serving.rollback``).

Canary decision (checked against the pinned KServe 0.16):

- ``canaryTrafficPercent`` is honoured only in Serverless (Knative) mode; in
  RawDeployment it is silently ignored (kserve/kserve#4074, #5335). RawDeployment
  canaries arrived in v0.20 as a new ``spec.canary`` field (kserve/kserve#5672), which
  0.16 and its SDK do not have. So we never set it.
- KServe's own weighted router (an ``InferenceGraph`` with a ``Splitter`` node) does
  split traffic in RawDeployment, but its router pod gets no seccomp profile (the
  controller builds the pod spec; kserve/kserve#3917 added the other restricted fields,
  not ``seccompProfile``), so Pod Security ``restricted`` admission rejects it in a
  tenant namespace; the controller also ignores the graph's service account.

So each enterprise model is two InferenceServices, ``<model>-champion`` and
``<model>-challenger``, behind our own router: an Envoy Deployment (restricted, pinned,
mirrored) whose single route uses ``weighted_clusters`` with weights ``100 - p`` and
``p`` over the two predictors' Services. Envoy picks a cluster per request by weight, so
the split is real and needs no mesh. The router's Service ``<model>`` is the stable
endpoint. Both versions serve under the model's name (the runtime passes
``--model_name={{.Labels.modelName}}``), so a request path is valid for either. The
canary actuator (``workloads/rollout``) moves traffic with :func:`router_traffic_patch`
(the weights in the router's ConfigMap plus a pod-template annotation that rolls the
router pods, under a PodDisruptionBudget); rollback sends 100 % to the champion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi

from components.k8s._resources import register, resolve_placeholders
from components.k8s.canary_router import ROUTER_COMPONENT, router_manifests
from components.k8s.catalog import Registry, RegistryArgs, registry_of
from components.k8s.kserve import DEPLOYMENT_MODE
from components.k8s.placement import Placement
from components.k8s.podspec import (
    DEFAULT_GPU_NODE_SELECTOR,
    IRSA_ANNOTATION,
    TMP_PATH,
    TMP_VOLUME,
    GpuScheduling,
    Manifest,
    Resources,
    container_security_context,
    object_meta,
    pod_disruption_budget,
    pod_security_context,
    service_account,
)
from contracts.names import (
    INFERENCE_SERVICE_LABEL,
    MODEL_LABEL,
    MODEL_NAME,
    ROLE_LABEL,
    TENANT_LABEL,
    Tier,
    challenger_of,
    champion_of,
    labels,
    runtime_name,
    serving_service_account,
)
from contracts.router import ROUTER_CONFIG_KEY, WEIGHTS_ANNOTATION
from contracts.serving import METRICS_PATH, METRICS_PORT, METRICS_PORT_NAME
from contracts.signing import VERIFY_KEY_PEM_ENV, ed25519_public_pem

KSERVE_GROUP = "serving.kserve.io"
SERVER_PORT = 8080
"""HTTP port of the model server (KServe's convention)."""
SERVER_PORT_NAME = "http1"
"""Port name KServe expects on the serving container; the PodMonitor scrapes it."""
MODEL_SERVER_COMPONENT = "model-server"
BIND_ARG = "--bind_address=0.0.0.0"
"""The workloads server binds loopback by default; in a pod it must listen on all addresses."""
SERVED_STATE_PREFIX = "serving-state"
"""Prefix in the tenant bucket of the servers' anti-rollback records."""
SLOT_PLACEHOLDER = "{{.Name}}"
"""KServe fills runtime args from the InferenceService's metadata: its name is the slot."""
PREDICTION_SPOOL_VOLUME = "prediction-spool"
PREDICTION_SPOOL_PATH = "/var/lib/mlplatform/predictions"
"""The server's bounded spool of prediction-log segments (an ``emptyDir``)."""
KMS_KEY_PLACEHOLDER = "__TENANT_KMS_KEY_ARN__"

RUNTIME_OWNED: dict[str, list[str]] = {
    # The model version each InferenceService serves: the loop deploys challengers and
    # promotes them by changing it.
    "InferenceService": ["spec.predictor.model.storageUri"],
    # The router's traffic weights: the loop's canary, promotion and rollback.
    "ConfigMap": [f'data["{ROUTER_CONFIG_KEY}"]'],
    "Deployment": [f'spec.template.metadata.annotations["{WEIGHTS_ANNOTATION}"]'],
}
"""Fields the loop owns after the first deploy, by kind (``ignoreChanges`` paths).

Pulumi creates them with the stack's values and never sets them again: ``pulumi up``
and ``pulumi up --refresh`` keep whatever the loop last wrote (a rollback stays rolled
back, a promotion stays promoted). To change a version or weight by hand, use the
registry CLI (``python -m workloads.registry``) or the controller, not the stack file.
"""


# --- tenant builders -----------------------------------------------------------------


def served_state_uri(models: list[ModelSpec]) -> str | None:
    """``s3://<tenant bucket>/serving-state/`` from the models' storage, None without S3."""
    buckets = {
        uri.removeprefix("s3://").split("/", 1)[0]
        for model in models
        for uri in (model["storage_uri"], model.get("challenger_storage_uri", ""))
        if uri.startswith("s3://")
    }
    if len(buckets) > 1:
        raise ValueError(f"models are stored in several buckets {sorted(buckets)}; want one")
    return f"s3://{buckets.pop()}/{SERVED_STATE_PREFIX}/" if buckets else None


def prediction_log_args(log_uri: str, kms_key_arn: str | None) -> list[str]:
    """Server flags that ship the prediction log to the tenant bucket.

    The server spools closed segments in an ``emptyDir`` and uploads them under
    ``<log_uri><model>/<hour>/`` off the request path; the spool is bounded, and a full
    one drops (and counts) records instead of slowing requests. With a key the segments
    are SSE-KMS with it (AWS); without one (on-prem) the server must run with the
    in-country store's client, whose ``MLPLATFORM_OBJECT_STORE_SSE=store`` is the only
    case in which it writes without a key (``workloads.common.s3.sse_arguments``).
    """
    return [
        f"--prediction_log_dir={PREDICTION_SPOOL_PATH}",
        f"--prediction_log_uri={log_uri}",
        *([f"--prediction_log_kms_key={kms_key_arn}"] if kms_key_arn else []),
    ]


def serving_runtime(
    tenant: str,
    namespace_name: str,
    registry: Registry,
    image_tag: str,
    *,
    gpu: GpuScheduling | None,
    resources: Resources,
    prediction_log: tuple[str, str | None] | None = None,
    verify_key_pem: str = "",
    served_state: str | None = None,
    kms_key_arn: str | None = None,
    s3_endpoint: str | None = None,
    object_store: Mapping[str, Any] | None = None,
) -> Manifest:
    """ServingRuntime running the platform's ONNX Runtime server (V1 and V2 protocols).

    ``verify_key_pem`` is the Ed25519 public key models are verified with (in the
    runtime, which tenants cannot write). ``prediction_log`` (``(log uri, kms key
    arn)``; the key None on-prem, with ``object_store``) turns on prediction logging to
    the tenant's bucket, where the drift monitor reads it. ``served_state`` (``s3://<bucket>/serving-state/``) is where each server
    records the newest version it served (anti-rollback); without it the record is in
    the pod's scratch volume and lasts as long as the pod. ``object_store`` (on-prem: the
    in-country store's client, ``env``/``volumes``/``volume_mounts``) lets the server
    write there without a KMS key.
    """
    name = runtime_name(tenant, gpu is not None)
    args = [
        "--model_name={{.Labels.modelName}}",
        "--model_dir=/mnt/models",
        f"--http_port={SERVER_PORT}",
        BIND_ARG,
        # Nothing in the platform speaks gRPC (router, probes, PodMonitor use HTTP).
        "--enable_grpc=false",
        f"--metrics_port={METRICS_PORT}",
        f"--served_slot={SLOT_PLACEHOLDER}",
        f"--served_state={served_state or TMP_PATH + '/' + SERVED_STATE_PREFIX}",
    ]
    if served_state and kms_key_arn:
        args.append(f"--served_state_kms_key={kms_key_arn}")
    env = [
        {"name": "HOME", "value": TMP_PATH},
        {"name": VERIFY_KEY_PEM_ENV, "value": verify_key_pem},
    ]
    if s3_endpoint:
        env.append({"name": "AWS_ENDPOINT_URL_S3", "value": s3_endpoint})
    volumes: list[Manifest] = [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "256Mi"}}]
    mounts: list[Manifest] = [{"name": TMP_VOLUME, "mountPath": TMP_PATH}]
    if object_store is not None:
        names = {e["name"] for e in object_store["env"]}
        env = [*(e for e in env if e["name"] not in names), *object_store["env"]]
        volumes += list(object_store["volumes"])
        mounts += list(object_store["volume_mounts"])
    spec: Manifest = {
        "supportedModelFormats": [
            {"name": "onnx", "version": "1", "autoSelect": True, "priority": 1}
        ],
        "protocolVersions": ["v1", "v2"],
        "annotations": {
            "prometheus.kserve.io/port": str(METRICS_PORT),
            "prometheus.kserve.io/path": METRICS_PATH,
        },
        "containers": [
            {
                # KServe merges the InferenceService's ``model`` into this container by name.
                "name": "kserve-container",
                "image": registry.serving_image(image_tag),
                "imagePullPolicy": "IfNotPresent",
                "args": args,
                "env": env,
                "ports": [
                    {"name": SERVER_PORT_NAME, "containerPort": SERVER_PORT, "protocol": "TCP"},
                    {"name": METRICS_PORT_NAME, "containerPort": METRICS_PORT, "protocol": "TCP"},
                ],
                "readinessProbe": {
                    "httpGet": {"path": "/v2/health/ready", "port": SERVER_PORT_NAME},
                    "periodSeconds": 5,
                },
                "livenessProbe": {
                    "httpGet": {"path": "/v2/health/live", "port": SERVER_PORT_NAME},
                    "periodSeconds": 20,
                    "failureThreshold": 3,
                },
                "resources": resources.to_manifest(),
                "securityContext": container_security_context(),
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    if prediction_log is not None:
        server = spec["containers"][0]
        server["args"] += prediction_log_args(*prediction_log)
        server["volumeMounts"].append(
            {"name": PREDICTION_SPOOL_VOLUME, "mountPath": PREDICTION_SPOOL_PATH}
        )
        # The shipper keeps at most 256 MiB of closed segments; room for the open one.
        spec["volumes"].append(
            {"name": PREDICTION_SPOOL_VOLUME, "emptyDir": {"sizeLimit": "512Mi"}}
        )
    if gpu is not None:
        spec["nodeSelector"] = dict(gpu.node_selector)
        spec["tolerations"] = gpu.tolerations()
    return {
        "apiVersion": f"{KSERVE_GROUP}/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": object_meta(name, namespace_name, labels(tenant, MODEL_SERVER_COMPONENT)),
        "spec": spec,
    }


def predictor_labels(tenant: str, model: str, isvc: str, role: str) -> dict[str, str]:
    """Pod labels of a predictor: the PDB, the PodMonitor and dashboards select on them."""
    return {
        "app.kubernetes.io/component": MODEL_SERVER_COMPONENT,
        "app.kubernetes.io/part-of": "mlplatform",
        TENANT_LABEL: tenant,
        MODEL_LABEL: model,
        INFERENCE_SERVICE_LABEL: isvc,
        ROLE_LABEL: role,
    }


def inference_service(
    tenant: str,
    namespace_name: str,
    model: str,
    isvc: str,
    role: str,
    storage_uri: str,
    *,
    runtime: str,
    service_account_name: str,
    min_replicas: int,
    max_replicas: int,
    resources: Resources,
    gpu: GpuScheduling | None,
) -> Manifest:
    """One InferenceService (RawDeployment, HPA on CPU) for one model version."""
    if not 1 <= min_replicas <= max_replicas:
        raise ValueError(
            f"inference service {isvc}: need 1 <= min_replicas <= max_replicas, "
            f"got {min_replicas}..{max_replicas}"
        )
    if not storage_uri.startswith(("s3://", "pvc://")):
        raise ValueError(f"inference service {isvc}: storage_uri must be s3:// or pvc://")
    predictor: Manifest = {
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "scaleMetric": "cpu",
        "scaleTarget": 70,
        "labels": predictor_labels(tenant, model, isvc, role),
        "serviceAccountName": service_account_name,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "model": {
            "modelFormat": {"name": "onnx"},
            "runtime": runtime,
            "protocolVersion": "v2",
            "storageUri": storage_uri,
            "resources": resources.to_manifest(),
        },
    }
    if gpu is not None:
        predictor["nodeSelector"] = dict(gpu.node_selector)
        predictor["tolerations"] = gpu.tolerations()
    return {
        "apiVersion": f"{KSERVE_GROUP}/v1beta1",
        "kind": "InferenceService",
        "metadata": object_meta(
            isvc,
            namespace_name,
            # ``modelName`` feeds the runtime's ``--model_name={{.Labels.modelName}}``.
            {**labels(tenant, MODEL_SERVER_COMPONENT, name=model), "modelName": model},
            annotations={
                "serving.kserve.io/deploymentMode": DEPLOYMENT_MODE,
                "serving.kserve.io/autoscalerClass": "hpa",
            },
        ),
        "spec": {"predictor": predictor},
    }


class ModelSpec(TypedDict):
    """One model a tenant serves."""

    name: str
    """Model name (DNS label): the stable endpoint's name."""
    storage_uri: str
    """Champion version, ``s3://<tenant bucket>/models/<name>/<version>/``."""
    challenger_storage_uri: NotRequired[str]
    """Challenger version (enterprise canary)."""
    canary_percent: NotRequired[int]
    """Share of requests to the challenger, 1..99 (default 10)."""
    gpu: NotRequired[bool]
    """Serve on the GPU runtime (enterprise with GPU pools only)."""


class ModelServingArgs(RegistryArgs):
    """Inputs of :class:`ModelServing`."""

    tenant: str
    """Tenant name."""
    namespace: str
    """Tenant namespace."""
    tier: Tier
    """``smb`` or ``enterprise``."""
    image_tag: str
    """Tag of the model-server image built from ``workloads/serving``."""
    models: list[ModelSpec]
    """Models to serve."""
    verify_key_pem: str
    """PEM of the Ed25519 public key the model servers verify model signatures with
    (written into the ServingRuntimes, which no tenant role may modify)."""
    min_replicas: int
    """Tier lower bound (enterprise: at least 2)."""
    max_replicas: int
    """Tier upper bound."""
    role_arn: NotRequired[pulumi.Input[str] | None]
    """IRSA role that may read the tenant's model artifacts."""
    gpu_image_tag: NotRequired[str]
    """Tag of the CUDA build of the server (default: ``image_tag``)."""
    gpu_node_selector: NotRequired[Mapping[str, str]]
    """GPU pool labels."""
    cpu: NotRequired[str]
    """CPU request per replica (default ``500m``)."""
    memory: NotRequired[str]
    """Memory request per replica (default ``1Gi``)."""
    placement: NotRequired[Placement]
    """Node pools of the tenant's pods (enterprise: its dedicated, tainted pools)."""
    s3_endpoint: NotRequired[str]
    """S3-compatible endpoint of the model store (on-prem); default: AWS S3 in the region."""
    prediction_log_uri: NotRequired[str]
    """``s3://<tenant bucket>/predictions/``: where the servers ship their prediction log
    (with ``kms_key_arn`` on AWS, through ``object_store`` on-prem); off when absent."""
    kms_key_arn: NotRequired[pulumi.Input[str]]
    """The tenant key the shipped prediction log and the servers' anti-rollback records are
    encrypted with (SSE-KMS)."""
    object_store: NotRequired[Mapping[str, Any]]
    """On-prem: how pods reach the in-country store (``components.k8s.objectstore``'s
    client: ``env``, ``volumes``, ``volume_mounts``); the servers write their
    anti-rollback records and prediction log there without a KMS key."""


def serving_manifests(args: ModelServingArgs) -> list[Manifest]:
    """Every object of a tenant's serving, in creation order (pure: tests use it directly)."""
    tenant, ns, tier = args["tenant"], args["namespace"], args["tier"]
    if tier not in ("smb", "enterprise"):
        raise ValueError(f"serving {tenant}: tier must be smb or enterprise, got {tier!r}")
    registry = registry_of(args)
    lo, hi = args["min_replicas"], args["max_replicas"]
    if tier == "enterprise" and lo < 2:
        raise ValueError(f"serving {tenant}: enterprise needs min_replicas >= 2, got {lo}")
    cpu, mem = args.get("cpu", "500m"), args.get("memory", "1Gi")
    sa = serving_service_account(tenant)
    gpu_sched = GpuScheduling(dict(args.get("gpu_node_selector", DEFAULT_GPU_NODE_SELECTOR)))
    uses_gpu = any(m.get("gpu", False) for m in args["models"])
    if uses_gpu and tier != "enterprise":
        raise ValueError(f"serving {tenant}: GPU inference is an enterprise feature (tier smb)")
    cpu_res = Resources(cpu, mem, cpu_limit="2", memory_limit="2Gi")
    gpu_res = Resources(cpu, mem, cpu_limit="4", memory_limit="8Gi", gpus=1)

    log: tuple[str, str | None] | None = None
    key = args.get("kms_key_arn")
    kms = None if key is None else key if isinstance(key, str) else KMS_KEY_PLACEHOLDER
    if "prediction_log_uri" in args:
        # The segments are SSE-KMS with the tenant key (AWS), or written through the
        # in-country store's client, which encrypts at rest (on-prem); never neither.
        if kms is None and "object_store" not in args:
            raise ValueError(
                f"serving {tenant}: prediction_log_uri needs kms_key_arn (AWS) or "
                "object_store (the in-country store)"
            )
        log = (args["prediction_log_uri"], kms)
    runtime_options: dict[str, Any] = {
        "verify_key_pem": args.get("verify_key_pem", ""),
        "served_state": served_state_uri(args["models"]),
        "kms_key_arn": kms,
        "s3_endpoint": args.get("s3_endpoint"),
        "object_store": args.get("object_store"),
    }
    manifests: list[Manifest] = [
        serving_runtime(
            tenant, ns, registry, args["image_tag"], gpu=None, resources=cpu_res,
            prediction_log=log, **runtime_options,
        )
    ]  # fmt: skip
    if uses_gpu:
        manifests.append(
            serving_runtime(
                tenant,
                ns,
                registry,
                args.get("gpu_image_tag", args["image_tag"]),
                gpu=gpu_sched,
                resources=gpu_res,
                prediction_log=log,
                **runtime_options,
            )
        )
    names = [m["name"] for m in args["models"]]
    for model_name in names:
        # "<name>-challenger-predictor" must still be a DNS label (63 characters).
        if not MODEL_NAME.match(model_name):
            raise ValueError(
                f"serving {tenant}: model name {model_name!r} must be a DNS-1123 label of at "
                "most 40 characters (lowercase letters, digits, '-')"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"serving {tenant}: duplicate model names in {names}")
    for model in args["models"]:
        gpu = gpu_sched if model.get("gpu", False) else None
        runtime = runtime_name(tenant, gpu is not None)
        res = gpu_res if gpu else cpu_res
        name = model["name"]
        if tier == "smb":
            if "challenger_storage_uri" in model:
                raise ValueError(
                    f"serving {tenant}/{name}: canary rollouts are an enterprise feature (tier smb)"
                )
            manifests.append(
                inference_service(
                    tenant, ns, name, name, "champion", model["storage_uri"],
                    runtime=runtime, service_account_name=sa, min_replicas=lo,
                    max_replicas=hi, resources=res, gpu=gpu,
                )
            )  # fmt: skip
            continue
        champion = champion_of(name)
        challenger = challenger_of(name) if "challenger_storage_uri" in model else None
        versions = [(champion, "champion", model["storage_uri"])]
        if challenger:
            versions.append((challenger, "challenger", model["challenger_storage_uri"]))
        for isvc, role, uri in versions:
            manifests.append(
                inference_service(
                    tenant, ns, name, isvc, role, uri,
                    runtime=runtime, service_account_name=sa, min_replicas=lo,
                    max_replicas=hi, resources=res, gpu=gpu,
                )
            )  # fmt: skip
            manifests.append(
                pod_disruption_budget(
                    isvc,
                    ns,
                    labels(tenant, MODEL_SERVER_COMPONENT, name=name),
                    {
                        TENANT_LABEL: tenant,
                        INFERENCE_SERVICE_LABEL: isvc,
                    },
                )
            )
        manifests += router_manifests(
            tenant, ns, name, registry, champion, challenger, model.get("canary_percent", 10),
            replicas=lo,
        )  # fmt: skip
    if "placement" in args:
        for manifest in manifests:
            args["placement"].apply(manifest)
    return manifests


def runtime_owned_fields(manifest: Manifest) -> list[str] | None:
    """The ``ignoreChanges`` of one serving object: what the loop owns after the first deploy.

    InferenceServices (their ``storageUri``) and the canary routers' ConfigMap and
    Deployment (their weights); nothing else of the tenant's serving.
    """
    kind, name = manifest["kind"], manifest["metadata"]["name"]
    if kind == "InferenceService":
        return list(RUNTIME_OWNED[kind])
    component = manifest["metadata"].get("labels", {}).get("app.kubernetes.io/component")
    if kind in {"ConfigMap", "Deployment"} and component == ROUTER_COMPONENT:
        assert name.endswith("-router"), name
        return list(RUNTIME_OWNED[kind])
    return None


class ModelServing(pulumi.ComponentResource):
    """A tenant's ServingRuntime(s), InferenceServices, canary routers and PDBs."""

    endpoints: pulumi.Output[dict[str, str]]
    """Model name -> in-cluster URL of its stable endpoint."""
    inference_services: pulumi.Output[list[str]]
    """Names of every InferenceService created."""

    def __init__(
        self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:serving:ModelServing", name, None, opts)
        tenant, ns = args["tenant"], args["namespace"]
        manifests = serving_manifests(args)
        pem = args.get("verify_key_pem")
        if not pem:
            raise ValueError(
                f"serving {tenant}: verify_key_pem is required (the model server refuses "
                "models it cannot verify)"
            )
        try:
            ed25519_public_pem(pem)
        except ValueError as exc:
            raise ValueError(f"serving {tenant}: verify_key_pem {exc}") from None
        child = pulumi.ResourceOptions(parent=self)
        sa_manifest = service_account(
            serving_service_account(tenant), ns, labels(tenant, MODEL_SERVER_COMPONENT), None
        )
        annotations: dict[str, Any] = {}
        role_arn = args.get("role_arn")
        if role_arn is not None:
            annotations[IRSA_ANNOTATION] = role_arn
        endpoint = args.get("s3_endpoint")
        if endpoint:
            # KServe's storage initializer reads the model store from these annotations.
            annotations["serving.kserve.io/s3-endpoint"] = endpoint.removeprefix("https://")
            annotations["serving.kserve.io/s3-usehttps"] = "1"
            annotations["serving.kserve.io/s3-verifyssl"] = "1"
        if annotations:
            sa_manifest["metadata"]["annotations"] = annotations
        sa = register(f"{name}-sa", sa_manifest, child)
        after_sa = pulumi.ResourceOptions(parent=self, depends_on=[sa])
        runtimes: list[pulumi.Resource] = []
        isvcs: list[str] = []
        key_arn = args.get("kms_key_arn")
        outputs = (
            {} if key_arn is None else {KMS_KEY_PLACEHOLDER: pulumi.Output.from_input(key_arn)}
        )
        for manifest in manifests:
            kind = manifest["kind"]
            obj = manifest["metadata"]["name"]
            if kind == "ServingRuntime":
                resolved = resolve_placeholders(manifest, outputs)
                runtimes.append(register(f"{name}-{obj}", resolved, after_sa))
                continue
            if kind == "InferenceService":
                isvcs.append(obj)
            suffix = "pdb" if kind == "PodDisruptionBudget" else kind.lower()
            register(
                f"{name}-{obj}-{suffix}",
                manifest,
                pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[sa, *runtimes],
                    ignore_changes=runtime_owned_fields(manifest),
                ),
            )
        endpoints = {
            m["name"]: (
                f"http://{m['name']}.{ns}.svc.cluster.local"
                if args["tier"] == "enterprise"
                else f"http://{m['name']}-predictor.{ns}.svc.cluster.local"
            )
            for m in args["models"]
        }
        self.endpoints = pulumi.Output.from_input(endpoints)
        self.inference_services = pulumi.Output.from_input(isvcs)
        self.register_outputs(
            {"endpoints": self.endpoints, "inferenceServices": self.inference_services}
        )
