"""Where container images and Helm charts come from: approved registries in the UAE.

Approved: ECR in an allowed region (``<account>.dkr.ecr.<region>.amazonaws.com``) and
any host matching a configured ``approvedRegistries`` pattern (e.g. an in-country
on-prem registry). Images are found in every Kubernetes workload (init and ephemeral
containers included), every other Kubernetes object (custom resources and patches, by
walking the object for ``image`` keys), Helm values, Lambda, SageMaker and ECS.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    as_list,
    dig,
    is_set,
    is_unknown,
)
from policies.rules.kubernetes.pods import (
    POD_SPEC_PATHS,
    collect_images,
    may_carry_pod_spec,
    scan_object,
)
from policies.rules.residency.regions import allowed_regions

DEFAULT_APPROVED_REGISTRIES: list[str] = []
"""Registries approved besides ECR in an allowed region (e.g. an in-country on-prem host)."""

_ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com$")


def image_registry(image: str) -> str:
    """The registry host of an image reference (Docker Hub when none is named)."""
    name = image.split("@", 1)[0]
    first, sep, _rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def registry_approved(host: str, config: Mapping[str, Any]) -> bool:
    """ECR in an allowed region, or an explicitly approved host pattern."""
    match = _ECR_HOST.match(host)
    if match and match.group(3) in allowed_regions(config):
        return True
    for pattern in config.get("approvedRegistries") or []:
        if fnmatch.fnmatchcase(host, pattern.lower()):
            return True
    return False


def _image_problem(image: Any, where: str, config: Mapping[str, Any]) -> str | None:
    if is_unknown(image):
        return f"{where}: the image could not be determined (unknown during preview)."
    if not isinstance(image, str) or not image:
        return f"{where}: no image is set."
    host = image_registry(image)
    if not registry_approved(host, config):
        return (
            f"{where}: image '{image}' comes from '{host}', which is not an approved in-region "
            "registry."
        )
    return None


def _k8s_images(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    """Images of a Kubernetes object.

    Built-in workloads: every container's ``image`` (a container without one is
    reported). Anything else (custom resources such as KServe InferenceService and
    ServingRuntime, Prometheus, Argo or Kubeflow objects, and ``*Patch`` kinds): every
    ``image`` found by walking the object, wherever it sits.
    """
    scan = scan_object(check.resource_type, check.props)
    if check.resource_type in POD_SPEC_PATHS:
        for pod in scan.pods:
            for container in pod.containers:
                yield f"{container.where}.image", dig(container.spec, "image")
        return
    yield from scan.images


def _images_of(check: ResourceCheck) -> list[tuple[str, Any]]:
    """(where, image reference) for every image the resource runs."""
    if check.resource_type.startswith("kubernetes:helm.sh/"):
        values = check.get("values")
        return [] if values is MISSING else list(collect_images(values, "values"))
    if check.resource_type.startswith("kubernetes:"):
        return list(_k8s_images(check))
    if check.resource_type == "aws:lambda/function:Function":
        image_uri = check.get("imageUri")
        return [] if check.get("packageType") != "Image" else [("imageUri", image_uri)]
    if check.resource_type == "aws:sagemaker/model:Model":
        images = [("primaryContainer.image", check.get("primaryContainer.image"))]
        for index, container in enumerate(as_list(check.get("containers"))):
            images.append((f"containers.{index}.image", dig(container, "image")))
        return [(where, image) for where, image in images if image is not MISSING]
    # ECS task definitions carry their containers as a JSON string.
    return list(_ecs_images(check.get("containerDefinitions")))


def validate_images(check: ResourceCheck) -> None:
    """Container images come only from approved in-region registries."""
    for where, image in _images_of(check):
        problem = _image_problem(image, where, check.config)
        if problem:
            check.violation(problem)


def _ecs_images(definitions: Any) -> Iterator[tuple[str, Any]]:
    if is_unknown(definitions):
        yield "containerDefinitions", UNKNOWN
        return
    try:
        parsed = json.loads(definitions) if isinstance(definitions, str) else definitions
    except ValueError:
        yield "containerDefinitions", "<unparsable JSON>"
        return
    for index, container in enumerate(as_list(parsed)):
        yield f"containerDefinitions.{index}.image", dig(container, "image")


_AWS_IMAGE_TYPES = frozenset(
    {
        "aws:lambda/function:Function",
        "aws:sagemaker/model:Model",
        "aws:ecs/taskDefinition:TaskDefinition",
        "aws-native:ecs:TaskDefinition",
    }
)
_HELM_TYPES = frozenset({"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"})


def runs_images(resource_type: str) -> bool:
    """Every Kubernetes object that may carry images (custom resources and patches
    included, by the real ``kubernetes:<group>/<version>:<Kind>`` token), Helm releases,
    Lambda, SageMaker and ECS."""
    return (
        resource_type in _AWS_IMAGE_TYPES
        or resource_type in _HELM_TYPES
        or may_carry_pod_spec(resource_type)
    )


def chart_source_host(chart: Any, repo: Any) -> Any:
    """Registry host a Helm chart is pulled from; ``""`` for a local chart; UNKNOWN/MISSING."""
    for source in (repo, chart):
        if is_unknown(source):
            return UNKNOWN
        if isinstance(source, str) and "://" in source:
            return source.split("://", 1)[1].split("/", 1)[0].split("@")[-1].lower()
    if isinstance(chart, str) and chart.startswith(("./", "../", "/")):
        return ""
    return MISSING


def validate_helm_chart(check: ResourceCheck) -> None:
    """Helm charts come from approved registries and are pinned to a version."""
    chart = check.get("chart")
    host = chart_source_host(chart, check.get("repositoryOpts.repo"))
    if host is UNKNOWN:
        check.violation("The chart source could not be determined (unknown during preview).")
    elif host is MISSING:
        check.violation(
            f"Chart {chart!r} names no repository URL: its source cannot be verified. Use "
            "'oci://<approved registry>/...' or 'repositoryOpts.repo'."
        )
    elif host and not registry_approved(host, check.config):
        check.violation(f"Chart {chart!r} comes from '{host}', which is not an approved registry.")
    if host != "" and not is_set(check.get("version")):
        check.violation(f"Chart {chart!r} has no pinned 'version'.")
