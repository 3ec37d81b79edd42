"""What a plan turns into on disk and on screen: plan.json, manifests, a summary."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from contracts.names import TENANT_LABEL, TIER_LABEL
from mlplatform.engine.cloud import UNKNOWN

NOT_MANIFESTS = (
    "kubernetes:helm.sh/",
    "kubernetes:yaml",
    "kubernetes:kustomize",
    "pulumi:providers:",
)


def api_version_kind(resource: dict[str, Any]) -> tuple[str, str] | None:
    """apiVersion and kind of a Kubernetes resource of the plan, or None."""
    type_ = resource["type"]
    if not type_.startswith("kubernetes:") or type_.startswith(NOT_MANIFESTS):
        return None
    inputs = resource.get("inputs") or {}
    api, kind = inputs.get("apiVersion"), inputs.get("kind")
    if isinstance(api, str) and isinstance(kind, str):
        return api, kind
    _, group_version, kind = type_.split(":", 2)
    group, _, version = group_version.rpartition("/")
    api = version if group in ("core", "") else f"{group}/{version}"
    return api, kind


def manifests(plan: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object of the plan as (relative file path, manifest)."""
    found = []
    for resource in plan["resources"]:
        api_and_kind = api_version_kind(resource)
        if api_and_kind is None or not resource.get("custom"):
            continue
        api, kind = api_and_kind
        inputs = dict(resource.get("inputs") or {})
        metadata = inputs.pop("metadata", None)
        # In a preview, metadata made of unknown values is unknown as a whole.
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        inputs.pop("apiVersion", None)
        inputs.pop("kind", None)
        if not isinstance(metadata.get("name"), str) or metadata["name"] == UNKNOWN:
            # The provider auto-names objects; the engine recorded the name as the id.
            metadata["name"] = str(resource.get("id") or resource["name"]).split("/")[-1]
        manifest = {"apiVersion": api, "kind": kind, "metadata": metadata, **inputs}
        namespace = metadata.get("namespace")
        folder = namespace if isinstance(namespace, str) and namespace != UNKNOWN else "_cluster"
        file_name = re.sub(r"[^a-z0-9.-]", "-", f"{kind.lower()}-{metadata['name']}")
        found.append((f"{folder}/{file_name}.yaml", manifest))
    return found


def write_outputs(plan: dict[str, Any], out_dir: Path) -> tuple[Path, int]:
    """Write ``plan.json`` and ``manifests/`` under ``out_dir`` (replacing old manifests)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plan_path = out_dir / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=2, sort_keys=False) + "\n")
    manifest_dir = out_dir / "manifests"
    if manifest_dir.exists():
        for stale in sorted(manifest_dir.rglob("*.yaml")):
            stale.unlink()
    count = 0
    for relative_path, manifest in manifests(plan):
        path = manifest_dir / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        count += 1
    return plan_path, count


def _mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is an object, else empty (absent, or unknown in a preview)."""
    return value if isinstance(value, dict) else {}


def _own_tenant(resource: dict[str, Any]) -> str | None:
    inputs = resource.get("inputs") or {}
    tags = inputs.get("tags")
    if isinstance(tags, dict) and isinstance(tags.get("tenant"), str):
        return tags["tenant"]
    metadata = inputs.get("metadata")
    if isinstance(metadata, dict):
        labels = metadata.get("labels") or {}
        if isinstance(labels, dict) and isinstance(labels.get(TENANT_LABEL), str):
            return labels[TENANT_LABEL]
        namespace = metadata.get("namespace")
        if isinstance(namespace, str) and namespace.startswith("tenant-"):
            return namespace.removeprefix("tenant-")
    return None


def _mentions(name: str, tenants: list[str]) -> str | None:
    padded = f"-{name}-"
    for tenant in tenants:
        if f"-{tenant}-" in padded:
            return tenant
    return None


def _is_counted(resource: dict[str, Any]) -> bool:
    """A cloud or cluster resource: custom, and not a provider."""
    return bool(resource.get("custom")) and not resource["type"].startswith("pulumi:providers:")


def _tenant_tiers(plan: dict[str, Any]) -> dict[str, str]:
    """Tenant -> tier, from the first resource labelled or tagged with both."""
    tiers: dict[str, str] = {}
    for resource in plan["resources"]:
        inputs = resource.get("inputs") or {}
        labels = _mapping(_mapping(inputs.get("metadata")).get("labels"))
        tags = _mapping(inputs.get("tags"))
        for marks in (labels, tags):
            if not isinstance(marks, dict):
                continue
            tenant = marks.get(TENANT_LABEL) or marks.get("tenant")
            tier = marks.get(TIER_LABEL) or marks.get("tier")
            if isinstance(tenant, str) and tier in ("smb", "enterprise"):
                tiers.setdefault(tenant, str(tier))
    return tiers


def _count_by_tenant_and_component(
    plan: dict[str, Any], tiers: dict[str, str]
) -> Counter[tuple[str, str]]:
    by_urn = {resource["urn"]: resource for resource in plan["resources"]}
    tenants_longest_first = sorted(tiers, key=len, reverse=True)
    counts: Counter[tuple[str, str]] = Counter()
    for resource in plan["resources"]:
        if not _is_counted(resource):
            continue
        tenant = _own_tenant(resource)
        if tenant not in tiers:
            tenant = _mentions(resource["name"], tenants_longest_first)
        component = "other"
        parent_urn = resource.get("parent")
        while parent_urn and parent_urn in by_urn:
            parent = by_urn[parent_urn]
            if tenant is None:
                tenant = _mentions(parent["name"], tenants_longest_first)
            if component == "other" and parent["type"].startswith("mlplatform:"):
                component = parent["type"].split(":")[1]
            parent_urn = parent.get("parent")
        counts[(tenant or "platform", component)] += 1
    return counts


def summarize(plan: dict[str, Any]) -> dict[str, Any]:
    """Counts per tenant and component, providers and their regions.

    A resource belongs to a tenant when it is tagged or labelled with it, lives in its
    namespace, or it (or a parent component) is named after it (children are named
    ``f"{name}-..."``).
    """
    tiers = _tenant_tiers(plan)
    counts = _count_by_tenant_and_component(plan, tiers)
    providers = [
        {
            "name": resource["name"],
            "package": resource["type"].split(":")[-1],
            "region": (resource.get("inputs") or {}).get("region"),
        }
        for resource in plan["resources"]
        if resource["type"].startswith("pulumi:providers:")
    ]
    tenants = sorted(
        {tenant for tenant, _ in counts}, key=lambda tenant: (tenant != "platform", tenant)
    )
    return {
        "resources": sum(1 for resource in plan["resources"] if _is_counted(resource)),
        "components": sum(1 for resource in plan["resources"] if not resource.get("custom")),
        "providers": providers,
        "by_tenant": {
            tenant: {
                component: count
                for (owner, component), count in sorted(counts.items())
                if owner == tenant
            }
            for tenant in tenants
        },
        "tiers": tiers,
    }


def render_summary(plan: dict[str, Any], plan_path: Path | None, manifest_count: int) -> str:
    """The human summary ``mlplatform plan`` prints."""
    summary = summarize(plan)
    tiers = summary["tiers"]
    lines = [
        f"Plan of stack '{plan['stack']}' (project {plan['project']}): "
        f"{summary['resources']} resources in {summary['components']} components",
    ]
    for provider in summary["providers"]:
        where = f" in {provider['region']}" if provider["region"] else ""
        lines.append(f"  provider {provider['package']} '{provider['name']}'{where}")
    labels = [f"{tenant} ({tiers.get(tenant, '')})" for tenant in summary["by_tenant"]]
    width = max([len("tenant")] + [len(label) for label in labels]) + 2
    lines.append(f"  {'tenant':<{width}} {'component':<14} {'resources':>9}")
    for tenant, components in summary["by_tenant"].items():
        label = f"{tenant} ({tiers[tenant]})" if tenant in tiers else tenant
        for index, (component, count) in enumerate(components.items()):
            lines.append(f"  {label if index == 0 else '':<{width}} {component:<14} {count:>9}")
    if plan_path is not None:
        lines.append(
            f"wrote {plan_path} and {manifest_count} Kubernetes manifests under "
            f"{plan_path.parent / 'manifests'}/"
        )
    return "\n".join(lines)
