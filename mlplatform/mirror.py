"""Every container image and Helm chart a plan needs, for mirroring into an air-gapped registry.

Read from the plan itself (not from a hand-kept list), so it cannot drift from what the
program deploys: ``image`` fields anywhere in Kubernetes objects (pod specs, KServe
ServingRuntimes, CRDs), Helm releases' chart, version and repository, and the images
set in Helm values (``image: {registry, repository, tag}`` or ``image: "<ref>"``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Artifact:
    """One thing to mirror."""

    kind: str  # "image" or "chart"
    ref: str
    used_by: str


def _image_from_values(node: dict[str, Any]) -> str | None:
    repo = node.get("repository")
    if not isinstance(repo, str):
        return None
    registry = node.get("registry")
    ref = f"{registry}/{repo}" if isinstance(registry, str) and registry else repo
    digest = node.get("digest")
    tag = node.get("tag")
    if isinstance(digest, str) and digest:
        return f"{ref}@{digest}"
    if isinstance(tag, (str, int, float)) and str(tag):
        return f"{ref}:{tag}"
    return ref


def _walk(node: Any, used_by: str, found: set[Artifact], in_values: bool) -> None:
    if isinstance(node, dict):
        tag = node.get("tag")
        if in_values and isinstance(node.get("image"), str) and isinstance(tag, (str, int, float)):
            # Charts such as KServe's write {image: "<repo>", tag: "<version>"}.
            found.add(Artifact("image", f"{node['image']}:{tag}", used_by))
            node = {key: value for key, value in node.items() if key not in ("image", "tag")}
        for key, value in node.items():
            if (key == "image" and isinstance(value, str) and value and value != "[secret]") or (
                in_values and key.endswith("Image") and isinstance(value, str) and ":" in value
            ):
                found.add(Artifact("image", value, used_by))
            elif key == "image" and isinstance(value, dict) and in_values:
                ref = _image_from_values(value)
                if ref:
                    found.add(Artifact("image", ref, used_by))
            else:
                _walk(value, used_by, found, in_values)
    elif isinstance(node, list):
        for item in node:
            _walk(item, used_by, found, in_values)


def artifacts_from_plan(plan: dict[str, Any]) -> list[Artifact]:
    """Images and charts referenced by the plan's resources, sorted and de-duplicated."""
    found: set[Artifact] = set()
    for resource in plan["resources"]:
        type_ = resource["type"]
        if not type_.startswith("kubernetes:") or type_.startswith("pulumi:providers:"):
            continue
        inputs = resource.get("inputs") or {}
        if type_.startswith("kubernetes:helm.sh/"):
            chart = inputs.get("chart", "")
            repo = (inputs.get("repositoryOpts") or {}).get("repo", "")
            version = inputs.get("version", "")
            ref = (
                chart
                if "://" in str(chart)
                else f"{str(repo).rstrip('/')}/{chart}"
                if repo
                else str(chart)
            )
            found.add(Artifact("chart", f"{ref}:{version}" if version else ref, resource["name"]))
            _walk(inputs.get("values") or {}, resource["name"], found, in_values=True)
        else:
            _walk(inputs, resource["name"], found, in_values=False)
    return sorted(found)


def render(artifacts: list[Artifact], fmt: str) -> str:
    """Text (one ref per line, images then charts) or JSON."""
    if fmt == "json":
        grouped: dict[str, dict[str, list[str]]] = {"images": {}, "charts": {}}
        for artifact in artifacts:
            group = grouped["images" if artifact.kind == "image" else "charts"]
            group.setdefault(artifact.ref, []).append(artifact.used_by)
        return json.dumps(
            {
                group_name: [
                    {"ref": ref, "used_by": sorted(set(users))}
                    for ref, users in sorted(group.items())
                ]
                for group_name, group in grouped.items()
            },
            indent=2,
        )
    images = sorted({artifact.ref for artifact in artifacts if artifact.kind == "image"})
    charts = sorted({artifact.ref for artifact in artifacts if artifact.kind == "chart"})
    lines = [f"# {len(images)} images", *images, f"# {len(charts)} charts", *charts]
    return "\n".join(lines)
