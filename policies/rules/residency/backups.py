"""Where Kubernetes-side backups and copies go: in the country, never abroad.

AWS Backup copy actions are judged by :mod:`.copies`. Backups taken from inside the
cluster leave through other doors, judged here:

- **Velero** ``BackupStorageLocation`` and ``VolumeSnapshotLocation`` (as objects, or
  as ``configuration.*Location`` values of a Helm chart, at any depth: Velero's own
  chart under any name, or an umbrella chart that wraps it): with the AWS
  plugin, an ``s3Url`` must be an approved in-country object store (the
  ``approvedObjectStores`` host patterns) or S3 in an allowed region; without one, the
  ``region`` must be allowed (no region cannot be proven in the country). Other
  providers (GCS, Azure) are cloud storage outside the allowed regions.
- **Workloads** (any pod template, found by walking any object: built-in kinds, custom
  resources and patches) that set the AWS SDK's endpoint or region through
  their environment (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3``, ``AWS_REGION``,
  ``AWS_DEFAULT_REGION``): a literal endpoint must be an approved store or an AWS
  endpoint in an allowed region, a literal region allowed. This is how a scheduled copy
  job names its destination; a value from a Secret or ConfigMap is not judged (not
  visible at plan time).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from policies.rules.common import MISSING, ResourceCheck, as_list, dig, is_unknown
from policies.rules.kubernetes.pods import may_carry_pod_spec, scan_object
from policies.rules.residency.regions import allowed_regions, region_problem

VELERO_TYPES = frozenset(
    {
        "kubernetes:velero.io/v1:BackupStorageLocation",
        "kubernetes:velero.io/v1:VolumeSnapshotLocation",
    }
)
"""Velero's storage locations."""
DEFAULT_APPROVED_OBJECT_STORES: list[str] = []
"""In-country object store hosts besides S3 in an allowed region (none by default)."""
ENDPOINT_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
_AWS_HOST = re.compile(
    r"^(?:[a-z0-9.-]+\.)?s3(?:[.-](?:dualstack|fips))?[.-]([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com$"
)


def endpoint_problem(url: Any, where: str, config: Mapping[str, Any]) -> str | None:
    """None when ``url`` is an approved in-country store or S3 in an allowed region."""
    if is_unknown(url):
        return None  # undecidable at preview; never by itself a mandatory violation
    if not isinstance(url, str) or not url:
        return f"{where}: no endpoint is set."
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host = (parts.hostname or "").lower()
    for pattern in config.get("approvedObjectStores") or []:
        if fnmatch.fnmatchcase(host, str(pattern).lower()):
            return None
    match = _AWS_HOST.match(host)
    if match:
        return region_problem(match.group(1), allowed_regions(config), f"{where} ({host}) region")
    return (
        f"{where}: '{url}' is neither S3 in an allowed region nor an approved in-country "
        "object store ('approvedObjectStores')."
    )


def location_problem(
    provider: Any, config: Any, where: str, settings: Mapping[str, Any]
) -> str | None:
    """Why a Velero location (provider and its ``config``) is not in the country, or None."""
    if is_unknown(provider) or is_unknown(config):
        return None  # undecidable at preview; never by itself a mandatory violation
    if provider not in ("aws", "velero.io/aws"):
        return (
            f"{where}: provider {provider!r} stores backups in a cloud outside the allowed "
            "regions; use the AWS plugin towards the in-country object store."
        )
    url = dig(config, "s3Url")
    if url is not MISSING:
        return endpoint_problem(url, f"{where} s3Url", settings)
    region = dig(config, "region")
    if region is MISSING:
        return (
            f"{where}: neither 's3Url' nor 'region' is set: the location's region cannot be "
            "proven to be allowed."
        )
    return region_problem(region, allowed_regions(settings), f"{where} region")


def validate_velero_location(check: ResourceCheck) -> None:
    """A Velero location keeps backups in the country."""
    problem = location_problem(
        check.get("spec.provider"),
        check.get("spec.config"),
        check.resource_type.rsplit(":", 1)[-1],
        check.config,
    )
    if problem:
        check.violation(problem)


def _velero_configurations(values: Any, path: str = "values") -> Iterator[tuple[str, Any]]:
    """Every ``configuration`` mapping with Velero locations, at any depth of the values.

    A Velero chart has them at the top; an umbrella chart that depends on Velero, under
    the subchart's key. Found by what they are, not by the chart's name (which may be a
    tarball, a renamed copy or a wrapper).
    """
    if isinstance(values, Mapping):
        for key, value in values.items():
            where = f"{path}.{key}"
            if (
                key == "configuration"
                and isinstance(value, Mapping)
                and ("backupStorageLocation" in value or "volumeSnapshotLocation" in value)
            ):
                yield where, value
            yield from _velero_configurations(value, where)
    elif isinstance(values, list):
        for index, item in enumerate(values):
            yield from _velero_configurations(item, f"{path}[{index}]")


def validate_velero_chart(check: ResourceCheck) -> None:
    """The locations a chart's values create for Velero (``configuration.*Location``)."""
    for path, configuration in _velero_configurations(check.get("values")):
        for key in ("backupStorageLocation", "volumeSnapshotLocation"):
            locations = configuration.get(key, MISSING)
            if locations is MISSING:
                continue
            for index, location in enumerate(as_list(locations)):
                config = dig(location, "config")
                problem = location_problem(
                    dig(location, "provider"),
                    {} if config is MISSING else config,
                    f"{path}.{key}[{index}]",
                    check.config,
                )
                if problem:
                    check.violation(problem)


def _env_values(check: ResourceCheck) -> Iterator[tuple[str, str, Any]]:
    scan = scan_object(check.resource_type, check.props)
    for pod in scan.pods:
        for container in pod.containers:
            for index, env in enumerate(as_list(dig(container.spec, "env"))):
                name = dig(env, "name")
                if name in ENDPOINT_ENV or name in REGION_ENV:
                    value = dig(env, "value")
                    if value is not MISSING:
                        yield f"{container.where}.env[{index}] {name}", str(name), value


def validate_workload_endpoints(check: ResourceCheck) -> None:
    """AWS SDK endpoints and regions set on a workload stay in the country."""
    for where, name, value in _env_values(check):
        if name in ENDPOINT_ENV:
            problem = endpoint_problem(value, where, check.config)
        else:
            problem = region_problem(value, allowed_regions(check.config), where)
        if problem:
            check.violation(problem)


HELM_TYPES = frozenset({"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"})


def is_backup_target(resource_type: str) -> bool:
    """Velero locations, Helm charts and every kind that may carry a pod template
    (built-in workloads, custom resources such as Argo Workflows, training jobs and
    InferenceServices, and patches): the pods are found by walking the object."""
    return (
        resource_type in VELERO_TYPES
        or resource_type in HELM_TYPES
        or may_carry_pod_spec(resource_type)
    )


def validate_backup_destinations(check: ResourceCheck) -> None:
    """Dispatch on the kind (see the module docstring)."""
    if check.resource_type in VELERO_TYPES:
        validate_velero_location(check)
    elif check.resource_type in HELM_TYPES:
        validate_velero_chart(check)
    else:
        validate_workload_endpoints(check)
