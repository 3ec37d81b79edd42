"""Pure builders for Kubernetes objects: restricted pod specs, GPU scheduling, Services, RBAC.

Every function returns plain JSON-compatible data in the Kubernetes wire format
(camelCase keys), so the same dict is what the Pulumi resource receives, what
``mlplatform plan`` writes to ``manifests/`` and what the tests validate against the
Kubernetes 1.31 OpenAPI schema. Nothing here touches Pulumi.

Pod Security ``restricted`` (the tenant namespaces enforce it) is met by construction:
non-root with a numeric UID, no privilege escalation, every capability dropped,
``RuntimeDefault`` seccomp, a read-only root filesystem with an ``emptyDir`` at ``/tmp``,
and no service-account token unless the caller asks for one.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.names import TENANT_LABEL

Manifest = dict[str, Any]
"""A Kubernetes object or fragment in wire format."""

NONROOT_UID = 65532
"""UID/GID of the ``nonroot`` user in distroless-style images; any non-zero id works."""

GPU_RESOURCE = "nvidia.com/gpu"
"""Extended resource the NVIDIA device plugin advertises; also the GPU pools' taint key."""

DEFAULT_GPU_NODE_SELECTOR: Mapping[str, str] = {"nvidia.com/gpu.present": "true"}
"""Label GPU pools carry; the device plugin chart's own affinity also accepts it."""

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
"""ServiceAccount annotation naming the IAM role its pods assume (IRSA)."""

POD_SECURITY_REASON_ANNOTATION = "mlplatform.io/pod-security-reason"
"""Namespace annotation saying why a namespace is not Pod Security ``restricted``."""

RBAC_API_GROUP = "rbac.authorization.k8s.io"
"""API group of Roles, RoleBindings and their references."""

TMP_VOLUME = "tmp"
# A mount path inside the container, backed by a per-pod emptyDir: not a shared host /tmp.
TMP_PATH = "/tmp"  # noqa: S108


IMAGE_LOCK_ENV = "MLPLATFORM_IMAGE_LOCK"
"""Overrides where the image lock is read from (a fork's own lock, tests)."""
DEFAULT_IMAGE_LOCK = Path(__file__).resolve().parents[2] / "stacks" / "images.lock.json"
"""``mlplatform mirror --copy`` writes it; see :mod:`mlplatform.mirror` for the format."""


@functools.cache
def _read_image_lock(path: str) -> Mapping[str, str]:
    file = Path(path)
    if not file.exists():
        return {}
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        images = raw["images"] if raw.get("version") == 1 else None
        if not isinstance(images, dict):
            raise ValueError("version 1 with an images object expected")
        return {str(key): str(entry["digest"]) for key, entry in images.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{file}: not a valid image lock ({exc})") from None


def image_lock() -> Mapping[str, str]:
    """``<repository>:<tag>`` -> ``sha256:...`` from the lock (read once per path)."""
    return _read_image_lock(os.environ.get(IMAGE_LOCK_ENV) or str(DEFAULT_IMAGE_LOCK))


def pin_image(image: str, lock: Mapping[str, str] | None = None) -> str:
    """``host/repo:tag`` -> ``host/repo:tag@sha256:...`` when the lock has a digest for
    ``repo:tag`` (the kubelet pulls by the digest; the tag stays for readers)."""
    if "@" in image:
        return image
    _host, sep, rest = image.partition("/")
    if not sep:
        return image
    digest = (image_lock() if lock is None else lock).get(rest)
    return f"{image}@{digest}" if digest else image


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container (limits default to the requests)."""

    cpu: str
    """CPU request, e.g. ``250m``."""
    memory: str
    """Memory request, e.g. ``512Mi``."""
    cpu_limit: str | None = None
    """CPU limit; defaults to the request."""
    memory_limit: str | None = None
    """Memory limit; defaults to the request (memory is not compressible)."""
    gpus: int = 0
    """Whole GPUs (``nvidia.com/gpu``); requests must equal limits for extended resources."""

    def to_manifest(self) -> Manifest:
        """The ``resources`` block of a container."""
        if self.gpus < 0:
            raise ValueError(f"gpus must be >= 0, got {self.gpus}")
        requests: dict[str, str] = {"cpu": self.cpu, "memory": self.memory}
        limits: dict[str, str] = {
            "cpu": self.cpu_limit or self.cpu,
            "memory": self.memory_limit or self.memory,
        }
        if self.gpus:
            requests[GPU_RESOURCE] = str(self.gpus)
            limits[GPU_RESOURCE] = str(self.gpus)
        return {"requests": requests, "limits": limits}


@dataclass(frozen=True)
class GpuScheduling:
    """Where GPU pods may run: only on GPU pools, tolerating their taint."""

    node_selector: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_GPU_NODE_SELECTOR)
    )
    """Labels every GPU node carries (the node-pool component sets them)."""
    taint_key: str = GPU_RESOURCE
    """Key of the ``NoSchedule`` taint on GPU nodes."""

    def tolerations(self) -> list[Manifest]:
        """Tolerate the GPU taint whatever its value (pools may use ``present`` or ``true``)."""
        return [{"key": self.taint_key, "operator": "Exists", "effect": "NoSchedule"}]


def _non_root_identity(uid: int) -> Manifest:
    """The non-root user and group shared by the pod and container security contexts."""
    if uid <= 0:
        raise ValueError(f"runAsUser must be a non-zero UID, got {uid}")
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid}


def container_security_context(uid: int = NONROOT_UID) -> Manifest:
    """Container-level restricted security context."""
    return {
        **_non_root_identity(uid),
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(uid: int = NONROOT_UID) -> Manifest:
    """Pod-level restricted security context (``fsGroup`` so emptyDirs are writable)."""
    return {
        **_non_root_identity(uid),
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container(
    name: str,
    image: str,
    resources: Resources,
    *,
    args: Sequence[str] | None = None,
    command: Sequence[str] | None = None,
    ports: Sequence[Manifest] | None = None,
    env: Sequence[Manifest] | None = None,
    env_from: Sequence[Manifest] | None = None,
    volume_mounts: Sequence[Manifest] | None = None,
    probes: Mapping[str, Manifest] | None = None,
    uid: int = NONROOT_UID,
) -> Manifest:
    """A restricted container with ``/tmp`` mounted from an emptyDir."""
    if ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
        raise ValueError(f"container {name}: image {image!r} has no tag or digest")
    spec: Manifest = {
        "name": name,
        "image": pin_image(image),
        "imagePullPolicy": "IfNotPresent",
        "resources": resources.to_manifest(),
        "securityContext": container_security_context(uid),
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": TMP_PATH}, *(volume_mounts or [])],
    }
    if command:
        spec["command"] = list(command)
    if args:
        spec["args"] = list(args)
    if ports:
        spec["ports"] = [dict(p) for p in ports]
    if env:
        spec["env"] = [dict(e) for e in env]
    if env_from:
        spec["envFrom"] = [dict(e) for e in env_from]
    for key, probe in (probes or {}).items():
        spec[key] = dict(probe)
    return spec


def pod_spec(
    containers: Sequence[Manifest],
    *,
    service_account: str | None = None,
    automount_token: bool = False,
    gpu: GpuScheduling | None = None,
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Manifest] | None = None,
    volumes: Sequence[Manifest] | None = None,
    restart_policy: str | None = None,
    uid: int = NONROOT_UID,
) -> Manifest:
    """A restricted pod spec; ``gpu`` pins it to GPU pools and tolerates their taint.

    ``automount_token`` stays off unless the pod calls the Kubernetes API: IRSA does not
    need it (EKS injects its own projected web-identity token).
    """
    spec: Manifest = {
        "automountServiceAccountToken": automount_token,
        "securityContext": pod_security_context(uid),
        "containers": [dict(c) for c in containers],
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "256Mi"}}, *(volumes or [])],
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    selector: dict[str, str] = dict(node_selector or {})
    pod_tolerations: list[Manifest] = [dict(toleration) for toleration in (tolerations or [])]
    if gpu is not None:
        selector.update(gpu.node_selector)
        pod_tolerations.extend(gpu.tolerations())
    if selector:
        spec["nodeSelector"] = selector
    if pod_tolerations:
        spec["tolerations"] = pod_tolerations
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return spec


def object_meta(
    name: str, namespace: str | None, obj_labels: Mapping[str, str], **extra: Any
) -> Manifest:
    """``metadata`` with an explicit name (no auto-naming: manifests must be predictable)."""
    meta: Manifest = {"name": name, "labels": dict(obj_labels)}
    if namespace is not None:
        meta["namespace"] = namespace
    for key, value in extra.items():
        if value:
            meta[key] = dict(value)
    return meta


def deployment(
    name: str,
    namespace: str,
    obj_labels: Mapping[str, str],
    spec: Manifest,
    *,
    replicas: int,
) -> Manifest:
    """A Deployment whose selector is the stable subset of ``obj_labels``."""
    if replicas < 1:
        raise ValueError(f"deployment {name}: replicas must be >= 1, got {replicas}")
    selector = selector_labels(obj_labels)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(name, namespace, obj_labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": dict(obj_labels)}, "spec": spec},
        },
    }


def selector_labels(obj_labels: Mapping[str, str]) -> dict[str, str]:
    """Labels that identify the pods of one workload (immutable in a Deployment selector)."""
    keys = ("app.kubernetes.io/name", "app.kubernetes.io/component", TENANT_LABEL)
    return {k: obj_labels[k] for k in keys if k in obj_labels}


def cluster_ip_service(
    name: str,
    namespace: str,
    obj_labels: Mapping[str, str],
    selector: Mapping[str, str],
    ports: Sequence[Manifest],
) -> Manifest:
    """A Service reachable only inside the cluster: ``ClusterIP``, never LoadBalancer/NodePort."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(name, namespace, obj_labels),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [dict(p) for p in ports],
        },
    }


def pod_disruption_budget(
    name: str, namespace: str, obj_labels: Mapping[str, str], selector: Mapping[str, str]
) -> Manifest:
    """Keep at least one pod of a replicated workload through voluntary disruptions."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(name, namespace, obj_labels),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": dict(selector)}},
    }


def service_account(
    name: str, namespace: str, obj_labels: Mapping[str, str], role_arn: str | None
) -> Manifest:
    """A ServiceAccount bound to an IAM role through IRSA (none in on-prem mode)."""
    annotations = {IRSA_ANNOTATION: role_arn} if role_arn else {}
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(name, namespace, obj_labels, annotations=annotations),
        "automountServiceAccountToken": False,
    }


def config_map(
    name: str,
    namespace: str,
    obj_labels: Mapping[str, str],
    data: Mapping[str, str],
) -> Manifest:
    """A ConfigMap of text files."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(name, namespace, obj_labels),
        "data": dict(data),
    }


def namespace(
    name: str,
    pod_security: str,
    obj_labels: Mapping[str, str],
    reason: str | None = None,
    *,
    pod_security_version: str | None = None,
) -> Manifest:
    """A namespace with an explicit Pod Security level (enforced, audited and warned).

    Tenant namespaces (the tenant component) are always ``restricted`` and pin the
    policy version (``pod_security_version``). Platform namespaces whose DaemonSets need
    host access (device plugin, node exporter) cannot be; they must say why in the
    ``mlplatform.io/pod-security-reason`` annotation for auditors.
    """
    if pod_security not in {"restricted", "baseline", "privileged"}:
        raise ValueError(f"namespace {name}: unknown Pod Security level {pod_security!r}")
    if pod_security != "restricted" and not reason:
        raise ValueError(f"namespace {name}: Pod Security {pod_security!r} needs a reason")
    level_labels: dict[str, str] = {}
    for mode in ("enforce", "audit", "warn"):
        level_labels[f"pod-security.kubernetes.io/{mode}"] = pod_security
        if pod_security_version:
            level_labels[f"pod-security.kubernetes.io/{mode}-version"] = pod_security_version
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": object_meta(
            name,
            None,
            {**obj_labels, **level_labels},
            annotations={POD_SECURITY_REASON_ANNOTATION: reason} if reason else None,
        ),
    }


def role(
    name: str, namespace: str, obj_labels: Mapping[str, str], rules: Sequence[Manifest]
) -> Manifest:
    """A namespaced RBAC Role."""
    return {
        "apiVersion": f"{RBAC_API_GROUP}/v1",
        "kind": "Role",
        "metadata": object_meta(name, namespace, obj_labels),
        "rules": [dict(rule) for rule in rules],
    }


def role_binding(
    name: str,
    namespace: str,
    obj_labels: Mapping[str, str],
    role_name: str,
    subjects: Sequence[Manifest],
) -> Manifest:
    """A RoleBinding of the Role ``role_name`` (same namespace) to ``subjects``."""
    return {
        "apiVersion": f"{RBAC_API_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": object_meta(name, namespace, obj_labels),
        "roleRef": {"apiGroup": RBAC_API_GROUP, "kind": "Role", "name": role_name},
        "subjects": [dict(subject) for subject in subjects],
    }


def service_account_subject(name: str, namespace: str) -> Manifest:
    """A RoleBinding subject naming a service account."""
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def group_subject(group: str) -> Manifest:
    """A RoleBinding subject naming a Kubernetes group (from the authenticator)."""
    return {"apiGroup": RBAC_API_GROUP, "kind": "Group", "name": group}
