"""Invariants every manifest of the Kubernetes layer must hold, as functions returning findings.

Tests run them over every object the components register (under Pulumi mocks) and over
each builder's output; the policy packs may import them too. Each function returns a
list of human-readable findings: empty means compliant. They read pod specs wherever a
manifest carries one: workloads (Deployment, DaemonSet, StatefulSet, Job, CronJob,
Pod), KServe ``InferenceService`` predictors and ``ServingRuntime`` containers, and the
``Prometheus`` custom resource.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from components.k8s.podspec import GPU_RESOURCE

Manifest = Mapping[str, Any]

_WORKLOAD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}

API_ACCESS_ANNOTATION = "mlplatform.io/kubernetes-api-access"
"""Pod template annotation giving the reason a pod mounts its service-account token."""

INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
}
"""Annotations that make an AWS load balancer internal (either one is enough)."""


def _dig(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _name(manifest: Manifest) -> str:
    meta = manifest.get("metadata") or {}
    return f"{manifest.get('kind', '?')}/{meta.get('namespace', '-')}/{meta.get('name', '?')}"


def pod_specs(manifest: Manifest) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every pod spec in a manifest, with a label saying where it was found.

    KServe objects are not pod specs but carry the same fields: a predictor is a pod spec
    plus ``model``; a ServingRuntime spec has ``containers``/``nodeSelector``/``tolerations``.
    """
    kind = manifest.get("kind")
    where = _name(manifest)
    if kind in _WORKLOAD_TEMPLATE_PATHS:
        spec = _dig(manifest, _WORKLOAD_TEMPLATE_PATHS[kind])
        if isinstance(spec, Mapping):
            yield where, spec
    elif kind == "InferenceService":
        for component in ("predictor", "transformer", "explainer"):
            spec = _dig(manifest, ("spec", component))
            if isinstance(spec, Mapping):
                yield f"{where}.{component}", spec
    elif kind in {"ServingRuntime", "ClusterServingRuntime"}:
        spec = manifest.get("spec")
        if isinstance(spec, Mapping):
            yield where, spec


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers"):
        yield from spec.get(key) or []
    model = spec.get("model")
    if isinstance(model, Mapping):
        yield {"name": "kserve-container", **model}


def restricted_findings(manifest: Manifest) -> list[str]:
    """Pod Security ``restricted`` violations (plus our own: read-only root, resources).

    For a ServingRuntime the pod-level security security is set by the InferenceService
    that uses it, so only container-level fields are checked there; for an
    InferenceService predictor the container fields come from its runtime, so only the
    pod level is checked there. Together they cover the predictor pod.
    """
    findings: list[str] = []
    kind = manifest.get("kind")
    template_path = _WORKLOAD_TEMPLATE_PATHS.get(str(kind), ())
    template_meta = _dig(manifest, (*template_path[:-1], "metadata")) if template_path else None
    token_reason = ((template_meta or {}).get("annotations") or {}).get(API_ACCESS_ANNOTATION)
    for where, spec in pod_specs(manifest):
        if kind != "ServingRuntime":
            findings += _pod_level_findings(where, spec, token_reason)
        if kind != "InferenceService":
            pod_security = spec.get("securityContext") or {}
            for container in _containers(spec):
                findings += _container_findings(
                    f"{where}[{container.get('name')}]", container, pod_security
                )
    return findings


def _pod_level_findings(where: str, spec: Mapping[str, Any], token_reason: str | None) -> list[str]:
    """Host namespaces and paths, non-root and seccomp at pod level, the token mount."""
    findings: list[str] = []
    pod_security = spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            findings.append(f"{where}: {flag} is true")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            findings.append(f"{where}: hostPath volume {volume.get('name')}")
    if pod_security.get("runAsNonRoot") is not True:
        findings.append(f"{where}: pod securityContext.runAsNonRoot is not true")
    if (pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        findings.append(f"{where}: pod seccompProfile is not RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False and not token_reason:
        findings.append(
            f"{where}: automountServiceAccountToken is not false "
            f"(and no {API_ACCESS_ANNOTATION} annotation says why)"
        )
    return findings


def _container_findings(
    where: str, container: Mapping[str, Any], pod_security: Mapping[str, Any]
) -> list[str]:
    """One container's security context (pod-level values as fallback) and resources."""
    findings: list[str] = []
    security = container.get("securityContext") or {}
    uid = security.get("runAsUser", pod_security.get("runAsUser"))
    # A plan carries numbers as doubles (protobuf Struct): 65532.0 is UID 65532.
    if isinstance(uid, float) and uid.is_integer():
        uid = int(uid)
    if not isinstance(uid, int) or isinstance(uid, bool) or uid == 0:
        findings.append(f"{where}: runAsUser is not a non-zero integer")
    if security.get("allowPrivilegeEscalation") is not False:
        findings.append(f"{where}: allowPrivilegeEscalation is not false")
    if security.get("privileged"):
        findings.append(f"{where}: privileged")
    if (security.get("capabilities") or {}).get("drop") != ["ALL"]:
        findings.append(f"{where}: capabilities.drop is not [ALL]")
    if (security.get("capabilities") or {}).get("add"):
        findings.append(f"{where}: adds capabilities")
    if security.get("readOnlyRootFilesystem") is not True:
        findings.append(f"{where}: readOnlyRootFilesystem is not true")
    seccomp = (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get(
        "type"
    )
    if seccomp != "RuntimeDefault":
        findings.append(f"{where}: seccompProfile is not RuntimeDefault")
    resources = container.get("resources") or {}
    for part in ("requests", "limits"):
        block = resources.get(part) or {}
        if "cpu" not in block or "memory" not in block:
            findings.append(f"{where}: resources.{part} lacks cpu or memory")
    return findings


def image_findings(manifest: Manifest, registry_host: str) -> list[str]:
    """Images not pulled from the approved registry, or not pinned to a tag or digest."""
    findings: list[str] = []
    for where, spec in pod_specs(manifest):
        for container in _containers(spec):
            image = container.get("image")
            if image is None:
                continue  # a predictor's model container takes the runtime's image
            if not str(image).startswith(f"{registry_host}/"):
                findings.append(
                    f"{where}[{container.get('name')}]: image {image} not from {registry_host}"
                )
            last = str(image).rsplit("/", 1)[-1]
            if "@sha256:" not in str(image) and (":" not in last or last.endswith(":latest")):
                findings.append(f"{where}[{container.get('name')}]: image {image} is not pinned")
    return findings


def service_findings(manifest: Manifest) -> list[str]:
    """Services exposed outside the cluster without an explicit internal annotation."""
    if manifest.get("kind") != "Service":
        return []
    spec_type = (manifest.get("spec") or {}).get("type", "ClusterIP")
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    if spec_type == "NodePort":
        return [f"{_name(manifest)}: type NodePort"]
    if spec_type == "LoadBalancer" and not any(
        annotations.get(k) == v for k, v in INTERNAL_LB_ANNOTATIONS.items()
    ):
        return [f"{_name(manifest)}: LoadBalancer without an internal annotation"]
    return []


def requests_gpu(spec: Mapping[str, Any]) -> bool:
    """Whether any container of a pod spec requests ``nvidia.com/gpu``."""
    for container in _containers(spec):
        resources = container.get("resources") or {}
        for part in ("requests", "limits"):
            if GPU_RESOURCE in (resources.get(part) or {}):
                return True
    return False


def gpu_placement_findings(
    manifest: Manifest, gpu_node_selector: Mapping[str, str], taint_key: str = GPU_RESOURCE
) -> list[str]:
    """GPU pods not pinned to GPU pools, and non-GPU pods that tolerate the GPU taint.

    A pod requesting ``nvidia.com/gpu`` must select the GPU pool labels and tolerate its
    taint; a pod that does not request GPUs must not tolerate the taint (it would take a
    GPU node's capacity). ServingRuntimes are checked through their InferenceService.
    """
    findings: list[str] = []
    for where, spec in pod_specs(manifest):
        if manifest.get("kind") == "ServingRuntime":
            continue
        tolerates = any(t.get("key") == taint_key for t in spec.get("tolerations") or [])
        selector = spec.get("nodeSelector") or {}
        if requests_gpu(spec):
            missing = {k: v for k, v in gpu_node_selector.items() if selector.get(k) != v}
            if missing:
                findings.append(f"{where}: requests GPUs but nodeSelector lacks {missing}")
            if not tolerates:
                findings.append(f"{where}: requests GPUs but does not tolerate {taint_key}")
        elif tolerates:
            findings.append(f"{where}: tolerates {taint_key} without requesting a GPU")
    return findings


def all_findings(
    manifest: Manifest,
    registry_host: str,
    gpu_node_selector: Mapping[str, str],
) -> list[str]:
    """Every invariant above, for one manifest."""
    return [
        *restricted_findings(manifest),
        *image_findings(manifest, registry_host),
        *service_findings(manifest),
        *gpu_placement_findings(manifest, gpu_node_selector),
    ]


def helm_value_images(values: Any) -> list[str]:
    """Every image reference a chart's values spell out, in the shapes charts use.

    ``{registry, repository, tag}`` (kube-prometheus-stack, Grafana), ``{repository,
    tag}`` (NVIDIA, cert-manager), ``{image, tag}`` (KServe) and full references under
    keys named ``image``/``*Image`` (``rbacProxyImage``).
    """
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            repo, tag = node.get("repository"), node.get("tag")
            if isinstance(repo, str) and isinstance(tag, str):
                registry = node.get("registry")
                found.append(f"{registry}/{repo}:{tag}" if registry else f"{repo}:{tag}")
            image = node.get("image")
            if isinstance(image, str) and isinstance(tag, str):
                found.append(f"{image}:{tag}")
            for key, value in node.items():
                if isinstance(value, str) and key.endswith("Image") and ":" in value:
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(values)
    return found


def helm_values_findings(values: Any, registry_host: str) -> list[str]:
    """Images in chart values that are not from the approved registry, or unpinned."""
    findings = []
    for ref in helm_value_images(values):
        if not ref.startswith(f"{registry_host}/"):
            findings.append(f"values image {ref} not from {registry_host}")
        if ref.endswith((":latest", ":")):
            findings.append(f"values image {ref} is not pinned")
    return findings
