"""Pod Security ``restricted`` for every workload, and service-account token mounting.

Pod specs are found by walking the object, not by its kind: any mapping that holds a
container list (``containers``, ``initContainers``, ``ephemeralContainers``), a single
``container`` with an ``image`` (Argo-style templates), or a KServe component container
(``model``, ``sklearn``, ``pytorch``... which KServe merges into its runtime's container)
is a pod spec. So Deployments, CronJobs, KServe ``InferenceService`` predictors and
``ServingRuntime`` specs, Kubeflow/Ray/JobSet templates and any other custom resource
with a pod template are checked alike, and so are ``*Patch`` kinds.

What "partial" means: a ``*Patch`` object only changes the fields it sets, and a KServe
component container is merged into the runtime's container, so for them an absent field
is not a violation (the rest of the object, checked where it is declared, supplies it);
a field they set to an unsafe value is. Pod-level fields of a custom resource (service
account, token mount) are completed by its operator, so only their explicit values count.
Only kinds whose schema holds no pod are skipped, by their API group and kind: the
built-in ConfigMap, Service, RBAC, network policies..., and the Prometheus operator's
monitor and rule kinds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    as_list,
    dig,
    is_unknown,
    truthy,
)

POD_SPEC_PATHS = {
    "kubernetes:core/v1:Pod": "spec",
    "kubernetes:apps/v1:Deployment": "spec.template.spec",
    "kubernetes:apps/v1:StatefulSet": "spec.template.spec",
    "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
    "kubernetes:apps/v1:ReplicaSet": "spec.template.spec",
    "kubernetes:core/v1:ReplicationController": "spec.template.spec",
    "kubernetes:batch/v1:Job": "spec.template.spec",
    "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
}
"""Built-in workload kinds, which must have a pod spec (and where the API keeps it)."""

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

MERGED_CONTAINER_KEYS = frozenset(
    {
        "model",
        "sklearn",
        "xgboost",
        "tensorflow",
        "pytorch",
        "triton",
        "onnx",
        "huggingface",
        "pmml",
        "lightgbm",
        "paddle",
        "art",
        "alibi",
    }
)
"""KServe component keys whose value is a container merged into the runtime's container."""

_CONTAINER_FIELDS = frozenset(
    {
        "image",
        "securityContext",
        "resources",
        "storageUri",
        "modelFormat",
        "runtime",
        "command",
        "args",
        "env",
        "ports",
        "volumeMounts",
    }
)
"""Keys that make a mapping under a KServe component key a container (not, say, a schema)."""

_POD_FREE_GROUPS = frozenset(
    {
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "policy",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "admissionregistration.k8s.io",
        "apiregistration.k8s.io",
        "apiextensions.k8s.io",
        "certificates.k8s.io",
        "node.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "events.k8s.io",
        "autoscaling",
        "resource.k8s.io",
        "storagemigration.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "internal.apiserver.k8s.io",
    }
)
"""Built-in API groups none of whose kinds carries a pod spec."""

_POD_FREE_CORE_KINDS = frozenset(
    {
        "ConfigMap",
        "Secret",
        "Service",
        "ServiceAccount",
        "Namespace",
        "Endpoints",
        "LimitRange",
        "ResourceQuota",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "Node",
        "Event",
        "Binding",
        "ComponentStatus",
    }
)
"""Core (``v1``) kinds without a pod spec (their ``data`` may hold anything, as strings)."""

_POD_FREE_CUSTOM_KINDS = {
    "monitoring.coreos.com": frozenset(
        {
            "PodMonitor",
            "ServiceMonitor",
            "PrometheusRule",
            "AlertmanagerConfig",
            "Probe",
            "ScrapeConfig",
        }
    ),
}
"""Custom kinds whose published schema holds no pod, container or image (the API server
prunes fields a schema does not declare, so nothing put there reaches a pod)."""

_BUILTIN_GROUPS = _POD_FREE_GROUPS | {"core", "apps", "batch"}
_SKIPPED_TOP_LEVEL = frozenset({"metadata", "status", "apiVersion", "kind"})


def parse_type(resource_type: str) -> tuple[str, str, str] | None:
    """``kubernetes:apps/v1:DeploymentPatch`` -> ``("apps", "v1", "DeploymentPatch")``.

    None for non-Kubernetes types, Helm releases and multi-object components (yaml,
    kustomize), whose inputs are not one Kubernetes object.
    """
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group, _, version = parts[1].rpartition("/")
    if not version or group in ("helm.sh", "yaml", "kustomize") or "/" in group:
        return None
    return (group or "core", version, parts[2])


def is_patch(resource_type: str) -> bool:
    """Whether the type is a server-side-apply patch (``...Patch``)."""
    return resource_type.startswith("kubernetes:") and resource_type.endswith("Patch")


def base_kind(kind: str) -> str:
    """``DeploymentPatch`` / ``DeploymentList`` -> ``Deployment``."""
    for suffix in ("Patch", "List"):
        if kind.endswith(suffix) and len(kind) > len(suffix):
            return kind[: -len(suffix)]
    return kind


def is_builtin_kind(resource_type: str) -> bool:
    """Whether the type belongs to a built-in Kubernetes API group (not a custom resource)."""
    parsed = parse_type(resource_type)
    return parsed is not None and parsed[0] in _BUILTIN_GROUPS


def may_carry_pod_spec(resource_type: str) -> bool:
    """Every Kubernetes object except the kinds the API defines without a pod spec."""
    parsed = parse_type(resource_type)
    if parsed is None:
        return False
    group, _version, kind = parsed
    if group in _POD_FREE_GROUPS:
        return False
    if base_kind(kind) in _POD_FREE_CUSTOM_KINDS.get(group, ()):
        return False
    return not (group == "core" and base_kind(kind) in _POD_FREE_CORE_KINDS)


@dataclass(frozen=True)
class Container:
    """One container of a pod spec, and where it was found."""

    where: str
    spec: Any
    partial: bool
    """Absent fields are supplied elsewhere (a patch, or KServe's runtime container)."""


@dataclass(frozen=True)
class PodSpec:
    """One pod spec of an object, its containers and how complete it is."""

    where: str
    spec: Mapping[str, Any]
    containers: tuple[Container, ...]
    partial: bool
    """The object is a patch: absent pod-level fields are left as they are."""
    custom: bool
    """The object is a custom resource: its operator completes pod-level fields."""


def _container_label(path: str, key: str, index: int | None, container: Any) -> str:
    label = f"{path}.{key}" if path else key
    if index is not None:
        label += f"[{index}]"
    name = dig(container, "name")
    return label + (f" ({name})" if isinstance(name, str) else "")


def _containers_at(path: str, key: str, value: Any, patch: bool) -> list[Container] | None:
    """The containers ``key: value`` holds, or None when it holds none (not a pod field)."""
    if key in CONTAINER_LISTS:
        if isinstance(value, list):
            return [
                Container(_container_label(path, key, index, item), item, patch)
                for index, item in enumerate(value)
            ]
        if is_unknown(value):
            return []  # a pod spec whose containers are decided at preview: nothing to check
    elif key == "container":
        if isinstance(value, Mapping) and "image" in value:
            return [Container(_container_label(path, key, None, value), value, patch)]
    elif (
        key in MERGED_CONTAINER_KEYS
        and isinstance(value, Mapping)
        and not _CONTAINER_FIELDS.isdisjoint(value)
    ):
        return [Container(_container_label(path, key, None, value), value, True)]
    return None


_HOST_FLAGS = ("hostNetwork", "hostPID", "hostIPC")


@dataclass(frozen=True)
class ObjectScan:
    """What the Kubernetes rules read from one object, collected in one pass."""

    pods: tuple[PodSpec, ...]
    """Every pod spec (the outermost one where they nest)."""
    images: tuple[tuple[str, Any], ...]
    """(path, image reference or UNKNOWN) for every ``image`` key, wherever it sits."""
    host_access: tuple[tuple[str, str], ...]
    """(path, field) for every host namespace flag set true and every ``hostPath``."""


class _Walker:
    """One depth-first pass over an object; paths are built only for what it records."""

    __slots__ = ("custom", "host", "images", "patch", "pods")

    def __init__(self, patch: bool, custom: bool) -> None:
        self.patch = patch
        self.custom = custom
        self.pods: list[PodSpec] = []
        self.images: list[tuple[str, Any]] = []
        self.host: list[tuple[str, str]] = []

    def value(self, node: Any, path: str, in_pod: bool) -> None:
        if isinstance(node, dict):
            self.mapping(node, path, in_pod)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, dict | list):
                    self.value(item, f"{path}[{index}]", in_pod)

    def mapping(self, node: dict[str, Any], path: str, in_pod: bool) -> None:
        containers: list[Container] | None = None
        children: list[tuple[str, Any]] = []
        for key, value in node.items():
            if key == "image":
                self.image(node, value, f"{path}.{key}" if path else key)
            elif key in _HOST_FLAGS:
                if truthy(value) is True:
                    self.host.append((f"{path}.{key}" if path else key, key))
            elif key == "hostPath" and isinstance(value, dict):
                self.host.append((f"{path}.{key}" if path else key, key))
            if not in_pod:
                held = _containers_at(path, key, value, self.patch)
                if held is not None:
                    containers = [*(containers or []), *held]
            if isinstance(value, dict | list):
                children.append((key, value))
        if containers is not None:
            self.pods.append(
                PodSpec(path or "(top level)", node, tuple(containers), self.patch, self.custom)
            )
        inside = in_pod or containers is not None
        for key, value in children:
            self.value(value, f"{path}.{key}" if path else str(key), inside)

    def image(self, parent: dict[str, Any], value: Any, where: str) -> None:
        """Record an image reference: a string (joined with a sibling ``repository`` or
        ``registry`` when it names no host, as some operators split them) or a mapping
        with ``repository`` (and ``registry``), as Helm charts write it."""
        if is_unknown(value):
            self.images.append((where, UNKNOWN))
        elif isinstance(value, str):
            self.images.append((where, _with_sibling_registry(parent, value)))
        elif isinstance(value, dict) and "repository" in value:
            repository, registry = value.get("repository"), value.get("registry")
            if is_unknown(repository) or is_unknown(registry):
                self.images.append((where, UNKNOWN))
            elif isinstance(repository, str):
                ref = f"{registry}/{repository}" if isinstance(registry, str) else repository
                self.images.append((where, ref))


def _names_a_host(image: str) -> bool:
    first, sep, _rest = image.split("@", 1)[0].partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def _with_sibling_registry(parent: dict[str, Any], image: str) -> str:
    if _names_a_host(image):
        return image
    for sibling in ("repository", "registry"):
        base = parent.get(sibling)
        if isinstance(base, str) and base and not is_unknown(base):
            return f"{base.rstrip('/')}/{image}"
    return image


def collect_images(value: Any, prefix: str) -> tuple[tuple[str, Any], ...]:
    """Every image reference under ``value`` (Helm values, say), paths from ``prefix``."""
    walker = _Walker(patch=False, custom=True)
    walker.value(value, prefix, in_pod=True)
    return tuple(walker.images)


class _LastScan(threading.local):
    """The last object scanned in this thread: every rule of a pack reads the same request."""

    source: Any = None
    resource_type: str = ""
    result: ObjectScan | None = None


_last_scan = _LastScan()


def scan_object(resource_type: str, props: Mapping[str, Any]) -> ObjectScan:
    """Pod specs, images and host access of an object (cached while the same inputs are
    passed, so the pod rules of a pack walk each object once)."""
    if (
        _last_scan.source is props
        and _last_scan.resource_type == resource_type
        and _last_scan.result is not None
    ):
        return _last_scan.result
    walker = _Walker(is_patch(resource_type), not is_builtin_kind(resource_type))
    for key, value in props.items():
        if key not in _SKIPPED_TOP_LEVEL and isinstance(value, dict | list):
            walker.value(value, str(key), in_pod=False)
    result = ObjectScan(tuple(walker.pods), tuple(walker.images), tuple(walker.host))
    _last_scan.source, _last_scan.resource_type, _last_scan.result = props, resource_type, result
    return result


def scan_pods(resource_type: str, props: Mapping[str, Any]) -> tuple[PodSpec, ...]:
    """Every pod spec in an object's inputs."""
    return scan_object(resource_type, props).pods


def _pods(check: ResourceCheck) -> tuple[PodSpec, ...]:
    """The object's pod specs; none after reporting why a built-in workload has none."""
    path = POD_SPEC_PATHS.get(check.resource_type)
    if path is not None:
        spec = check.get(path)
        if spec is UNKNOWN:
            check.violation("The pod spec could not be determined (unknown during preview).")
            return ()
        if not isinstance(spec, Mapping):
            check.violation("The workload has no pod spec.")
            return ()
    return scan_pods(check.resource_type, check.props)


def _containers(check: ResourceCheck) -> Iterator[tuple[Container, PodSpec]]:
    """(container, its pod spec) for every container of every pod spec."""
    for pod in _pods(check):
        for container in pod.containers:
            yield container, pod


def _effective(container: Any, spec: Mapping[str, Any], field: str) -> Any:
    """A securityContext field: the container's value, else the pod's."""
    own = dig(container, f"securityContext.{field}")
    if own is not MISSING:
        return own
    return dig(spec, f"securityContext.{field}")


def _containers_flag(
    check: ResourceCheck, field: str, want: bool, *, wrong: str, unset_ok: bool = False
) -> None:
    """Every container's ``securityContext.<field>`` is ``want``; ``wrong`` names a breach.

    A partial container only breaks the rule with an explicit opposite value.
    """
    for container, _pod in _containers(check):
        value = dig(container.spec, f"securityContext.{field}")
        if container.partial and (value is UNKNOWN or truthy(value) is not (not want)):
            continue
        check.expect_flag(
            value,
            want,
            unset_ok=unset_ok,
            unknown=f"{container.where}: '{field}' could not be determined.",
            wrong=f"{container.where}: {wrong}",
        )


def validate_privileged(check: ResourceCheck) -> None:
    """No privileged container."""
    _containers_flag(check, "privileged", False, unset_ok=True, wrong="runs privileged.")


def validate_privilege_escalation(check: ResourceCheck) -> None:
    """Every container sets allowPrivilegeEscalation: false."""
    _containers_flag(
        check,
        "allowPrivilegeEscalation",
        False,
        wrong="'allowPrivilegeEscalation: false' is not set.",
    )


def validate_read_only_root(check: ResourceCheck) -> None:
    """Every container has a read-only root filesystem."""
    _containers_flag(
        check, "readOnlyRootFilesystem", True, wrong="'readOnlyRootFilesystem: true' is not set."
    )


def _where(pod: PodSpec, text: str) -> str:
    """A pod-level message, prefixed with the pod spec's path for patches and custom resources."""
    return f"{pod.where}: {text}" if pod.custom or pod.partial else text


def validate_host_namespaces(check: ResourceCheck) -> None:
    """No host network, PID or IPC namespace; no hostPath volume; no host ports."""
    pods = _pods(check)
    custom = not is_builtin_kind(check.resource_type)
    if custom:
        # Operators copy pod-level fields from their own spec (Prometheus
        # ``spec.hostNetwork``, ``spec.volumes``) into the pods they create, with or
        # without a container list: in a custom resource they count wherever they sit.
        for path, field in scan_object(check.resource_type, check.props).host_access:
            if field == "hostPath":
                check.violation(f"{path}: mounts a hostPath.")
            else:
                check.violation(f"{path}: shares the host's namespace ('{field}: true').")
    for pod in pods:
        spec = pod.spec
        for field in () if custom else _HOST_FLAGS:
            value = dig(spec, field)
            if pod.partial and value is UNKNOWN:
                continue
            check.expect_flag(
                value,
                False,
                unset_ok=True,
                unknown=_where(pod, f"'{field}' could not be determined."),
                wrong=_where(pod, f"Pod shares the host's namespace: '{field}: true'."),
            )
        for index, volume in enumerate(() if custom else as_list(dig(spec, "volumes"))):
            if dig(volume, "hostPath") is not MISSING:
                check.violation(
                    _where(pod, f"Volume {index} ('{dig(volume, 'name')}') mounts a hostPath.")
                )
        for container in pod.containers:
            for port in as_list(dig(container.spec, "ports")):
                if dig(port, "hostPort") not in (MISSING, 0, UNKNOWN):
                    check.violation(f"{container.where}: binds hostPort {dig(port, 'hostPort')}.")


def validate_run_as_non_root(check: ResourceCheck) -> None:
    """Every container runs as non-root (runAsNonRoot true and no runAsUser 0)."""
    for container, pod in _containers(check):
        where = container.where
        non_root = _effective(container.spec, pod.spec, "runAsNonRoot")
        user = _effective(container.spec, pod.spec, "runAsUser")
        if container.partial:
            if truthy(non_root) is False:
                check.violation(f"{where}: 'runAsNonRoot: false' lets it run as root.")
            elif user == 0:
                check.violation(f"{where}: 'runAsUser: 0' runs as root.")
        elif non_root is UNKNOWN or user is UNKNOWN:
            check.violation(f"{where}: runAsNonRoot/runAsUser could not be determined.")
        elif truthy(non_root) is not True:
            check.violation(f"{where}: 'runAsNonRoot: true' is not set (pod or container).")
        elif user == 0:
            check.violation(f"{where}: 'runAsUser: 0' runs as root.")


def validate_capabilities(check: ResourceCheck) -> None:
    """Every container drops ALL capabilities and adds at most NET_BIND_SERVICE."""
    for container, _pod in _containers(check):
        where = container.where
        drop = dig(container.spec, "securityContext.capabilities.drop")
        add = dig(container.spec, "securityContext.capabilities.add")
        if drop is UNKNOWN or add is UNKNOWN:
            if not container.partial:
                check.violation(f"{where}: capabilities could not be determined.")
            continue
        dropped = [str(capability).upper() for capability in as_list(drop)]
        if "ALL" not in dropped and not (container.partial and drop is MISSING):
            check.violation(f"{where}: capabilities.drop does not include 'ALL'.")
        extra = [
            capability
            for capability in as_list(add)
            if str(capability).upper() not in ("NET_BIND_SERVICE",)
        ]
        if extra:
            check.violation(f"{where}: adds capabilities {extra}.")


def validate_seccomp(check: ResourceCheck) -> None:
    """Every container runs with the RuntimeDefault (or a Localhost) seccomp profile."""
    for container, pod in _containers(check):
        profile = _effective(container.spec, pod.spec, "seccompProfile.type")
        if container.partial and (profile is MISSING or profile is UNKNOWN):
            continue
        if profile is UNKNOWN:
            check.violation(f"{container.where}: the seccomp profile could not be determined.")
        elif profile not in ("RuntimeDefault", "Localhost"):
            shown = "unset" if profile is MISSING else repr(profile)
            check.violation(
                f"{container.where}: seccompProfile.type is {shown}; use 'RuntimeDefault'."
            )


def validate_resource_limits(check: ResourceCheck) -> None:
    """Every regular and init container sets CPU and memory requests and a memory limit."""
    for container, _pod in _containers(check):
        where = container.where
        if container.partial or ".ephemeralContainers[" in f".{where}":
            continue  # set by what the patch or runtime completes; forbidden on ephemeral ones
        resources = dig(container.spec, "resources")
        if resources is UNKNOWN:
            check.violation(f"{where}: resources could not be determined.")
            continue
        missing = [
            path
            for path in ("limits.cpu", "limits.memory", "requests.cpu", "requests.memory")
            if dig(resources, path) is MISSING
        ]
        if missing:
            check.violation(f"{where}: no resources.{', resources.'.join(missing)}.")


def validate_token_automount(check: ResourceCheck) -> None:
    """Service-account tokens are not mounted unless a workload opts in explicitly."""
    if check.resource_type in (
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:core/v1:ServiceAccountPatch",
    ):
        value = check.get("automountServiceAccountToken")
        if is_patch(check.resource_type) and truthy(value) is not True:
            return
        check.expect_flag(
            value,
            False,
            unknown="'automountServiceAccountToken' could not be determined.",
            wrong="'automountServiceAccountToken: false' is not set.",
        )
        return
    for pod in _pods(check):
        automount = dig(pod.spec, "automountServiceAccountToken")
        account = dig(pod.spec, "serviceAccountName")
        if pod.partial or pod.custom:
            # Completed by the patch target or the operator: only explicit values count.
            if truthy(automount) is True and account == "default":
                check.violation(
                    _where(pod, "Mounts the token of the namespace's default service account.")
                )
            continue
        if automount is UNKNOWN:
            check.violation(_where(pod, "'automountServiceAccountToken' could not be determined."))
        elif automount is MISSING and account in (MISSING, "default"):
            check.violation(
                _where(
                    pod,
                    "The pod uses the namespace's default service account with its token "
                    "mounted; set 'automountServiceAccountToken: false' or a dedicated "
                    "service account.",
                )
            )


def _by_digest(image: str) -> bool:
    """``repo@sha256:<64 hex>`` (a tag before the digest is allowed and ignored)."""
    _, sep, digest = image.partition("@")
    if not sep or not digest.startswith("sha256:"):
        return False
    hexpart = digest[len("sha256:") :]
    return len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)


def validate_image_digest(check: ResourceCheck) -> None:
    """Every container image is referenced by digest, not by a tag alone (a tag can be
    moved to other content after review; a digest cannot)."""
    if check.resource_type.startswith("kubernetes:helm.sh/"):
        values = check.get("values")
        images: tuple[tuple[str, Any], ...] = (
            () if values is MISSING or values is UNKNOWN else collect_images(values, "values")
        )
        # Chart values split the digest out ({repository, tag, digest}).
        digests = _helm_digests(values)
    else:
        images = scan_object(check.resource_type, check.props).images
        digests = set()
    for where, image in images:
        if image is UNKNOWN:
            continue  # decided at deploy time; the mirror lock decides the digest
        if not isinstance(image, str) or _by_digest(image) or where in digests:
            continue
        check.violation(f"{where}: image {image!r} is referenced by tag only, not by digest.")


def _helm_digests(values: Any, path: str = "values") -> set[str]:
    """Paths of Helm ``image`` mappings that carry a ``digest``."""
    found: set[str] = set()
    if isinstance(values, Mapping):
        for key, value in values.items():
            where = f"{path}.{key}"
            if key == "image" and isinstance(value, Mapping):
                digest = value.get("digest")
                if isinstance(digest, str) and _by_digest(f"x@{digest}"):
                    found.add(where)
            found |= _helm_digests(value, where)
    elif isinstance(values, list):
        for index, item in enumerate(values):
            found |= _helm_digests(item, f"{path}[{index}]")
    return found
