"""Pod Security ``restricted`` for every workload, and service-account token mounting.

Every pod-spec check looks at Pods and at every controller that embeds a pod template
(Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob),
and at init and ephemeral containers as well as regular ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policies.rules.common import MISSING, UNKNOWN, ResourceCheck, as_list, dig, truthy

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
"""Where each workload kind keeps its pod spec."""

POD_TYPES = frozenset(POD_SPEC_PATHS)
"""Type tokens of every workload kind with a pod spec."""

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Any:
    """The pod spec of a workload (MISSING/UNKNOWN when absent or unknown)."""
    path = POD_SPEC_PATHS.get(resource_type)
    return dig(props, path) if path else MISSING


def containers_of(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(path, container) for every container of a workload, init and ephemeral included."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return
    spec = dig(props, path)
    if not isinstance(spec, Mapping):
        return
    for key in CONTAINER_LISTS:
        for index, container in enumerate(as_list(spec.get(key))):
            name = dig(container, "name")
            label = f"{path}.{key}[{index}]" + (f" ({name})" if isinstance(name, str) else "")
            yield label, container


def _effective(container: Any, spec: Mapping[str, Any], field: str) -> Any:
    """A securityContext field: the container's value, else the pod's."""
    own = dig(container, f"securityContext.{field}")
    if own is not MISSING:
        return own
    return dig(spec, f"securityContext.{field}")


def _workload(check: ResourceCheck) -> Mapping[str, Any] | None:
    """The pod spec, or None after reporting why there is none to check."""
    spec = pod_spec(check.resource_type, check.props)
    if spec is UNKNOWN:
        check.violation("The pod spec could not be determined (unknown during preview).")
        return None
    if not isinstance(spec, Mapping):
        check.violation("The workload has no pod spec.")
        return None
    return spec


def _containers(check: ResourceCheck) -> Iterator[tuple[str, Any, Mapping[str, Any]]]:
    """(where, container, pod spec) for every container; none after reporting a bad spec."""
    if (spec := _workload(check)) is None:
        return
    for where, container in containers_of(check.resource_type, check.props):
        yield where, container, spec


def _containers_flag(
    check: ResourceCheck, field: str, want: bool, *, wrong: str, unset_ok: bool = False
) -> None:
    """Every container's ``securityContext.<field>`` is ``want``; ``wrong`` names a breach."""
    for where, container, _spec in _containers(check):
        check.expect_flag(
            dig(container, f"securityContext.{field}"),
            want,
            unset_ok=unset_ok,
            unknown=f"{where}: '{field}' could not be determined.",
            wrong=f"{where}: {wrong}",
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


def validate_host_namespaces(check: ResourceCheck) -> None:
    """No host network, PID or IPC namespace; no hostPath volume; no host ports."""
    if (spec := _workload(check)) is None:
        return
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        check.expect_flag(
            dig(spec, field),
            False,
            unset_ok=True,
            unknown=f"'{field}' could not be determined.",
            wrong=f"Pod shares the host's namespace: '{field}: true'.",
        )
    for index, volume in enumerate(as_list(dig(spec, "volumes"))):
        if dig(volume, "hostPath") is not MISSING:
            check.violation(f"Volume {index} ('{dig(volume, 'name')}') mounts a hostPath.")
    for where, container in containers_of(check.resource_type, check.props):
        for port in as_list(dig(container, "ports")):
            if dig(port, "hostPort") not in (MISSING, 0):
                check.violation(f"{where}: binds hostPort {dig(port, 'hostPort')}.")


def validate_run_as_non_root(check: ResourceCheck) -> None:
    """Every container runs as non-root (runAsNonRoot true and no runAsUser 0)."""
    for where, container, spec in _containers(check):
        non_root = _effective(container, spec, "runAsNonRoot")
        user = _effective(container, spec, "runAsUser")
        if non_root is UNKNOWN or user is UNKNOWN:
            check.violation(f"{where}: runAsNonRoot/runAsUser could not be determined.")
        elif truthy(non_root) is not True:
            check.violation(f"{where}: 'runAsNonRoot: true' is not set (pod or container).")
        elif user == 0:
            check.violation(f"{where}: 'runAsUser: 0' runs as root.")


def validate_capabilities(check: ResourceCheck) -> None:
    """Every container drops ALL capabilities and adds at most NET_BIND_SERVICE."""
    for where, container, _spec in _containers(check):
        drop = dig(container, "securityContext.capabilities.drop")
        add = dig(container, "securityContext.capabilities.add")
        if drop is UNKNOWN or add is UNKNOWN:
            check.violation(f"{where}: capabilities could not be determined.")
            continue
        if "ALL" not in [str(capability).upper() for capability in as_list(drop)]:
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
    for where, container, spec in _containers(check):
        profile = _effective(container, spec, "seccompProfile.type")
        if profile is UNKNOWN:
            check.violation(f"{where}: the seccomp profile could not be determined.")
        elif profile not in ("RuntimeDefault", "Localhost"):
            shown = "unset" if profile is MISSING else repr(profile)
            check.violation(f"{where}: seccompProfile.type is {shown}; use 'RuntimeDefault'.")


def validate_resource_limits(check: ResourceCheck) -> None:
    """Every regular and init container sets CPU and memory requests and a memory limit."""
    for where, container, _spec in _containers(check):
        if ".ephemeralContainers[" in where:
            continue  # the API forbids resources on ephemeral containers
        resources = dig(container, "resources")
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
    if check.resource_type == "kubernetes:core/v1:ServiceAccount":
        check.expect_flag(
            check.get("automountServiceAccountToken"),
            False,
            unknown="'automountServiceAccountToken' could not be determined.",
            wrong="'automountServiceAccountToken: false' is not set.",
        )
        return
    if (spec := _workload(check)) is None:
        return
    automount = dig(spec, "automountServiceAccountToken")
    account = dig(spec, "serviceAccountName")
    if automount is UNKNOWN:
        check.violation("'automountServiceAccountToken' could not be determined.")
    elif automount is MISSING and account in (MISSING, "default"):
        check.violation(
            "The pod uses the namespace's default service account with its token mounted; "
            "set 'automountServiceAccountToken: false' or a dedicated service account."
        )
