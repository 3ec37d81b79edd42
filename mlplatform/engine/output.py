"""What a plan turns into on disk and on screen: plan.json, manifests, a summary."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from contracts.names import TENANT_LABEL, TIER_LABEL

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
    out = []
    for res in plan["resources"]:
        avk = api_version_kind(res)
        if avk is None or not res.get("custom"):
            continue
        api, kind = avk
        inputs = dict(res.get("inputs") or {})
        meta = dict(inputs.pop("metadata", None) or {})
        inputs.pop("apiVersion", None)
        inputs.pop("kind", None)
        if not meta.get("name"):
            # The provider auto-names objects; the engine recorded the name as the id.
            meta["name"] = str(res.get("id") or res["name"]).split("/")[-1]
        doc = {"apiVersion": api, "kind": kind, "metadata": meta, **inputs}
        folder = meta.get("namespace") or "_cluster"
        fname = re.sub(r"[^a-z0-9.-]", "-", f"{kind.lower()}-{meta['name']}")
        out.append((f"{folder}/{fname}.yaml", doc))
    return out


def write_outputs(plan: dict[str, Any], out_dir: Path) -> tuple[Path, int]:
    """Write ``plan.json`` and ``manifests/`` under ``out_dir`` (replacing old manifests)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plan_path = out_dir / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=2, sort_keys=False) + "\n")
    mdir = out_dir / "manifests"
    if mdir.exists():
        for old in sorted(mdir.rglob("*.yaml")):
            old.unlink()
    count = 0
    for rel, doc in manifests(plan):
        path = mdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        count += 1
    return plan_path, count


def _own_tenant(res: dict[str, Any]) -> str | None:
    inputs = res.get("inputs") or {}
    tags = inputs.get("tags")
    if isinstance(tags, dict) and isinstance(tags.get("tenant"), str):
        return tags["tenant"]
    meta = inputs.get("metadata")
    if isinstance(meta, dict):
        labels = meta.get("labels") or {}
        if isinstance(labels, dict) and isinstance(labels.get(TENANT_LABEL), str):
            return labels[TENANT_LABEL]
        ns = meta.get("namespace")
        if isinstance(ns, str) and ns.startswith("tenant-"):
            return ns.removeprefix("tenant-")
    return None


def _mentions(name: str, tenants: list[str]) -> str | None:
    padded = f"-{name}-"
    for tenant in tenants:
        if f"-{tenant}-" in padded:
            return tenant
    return None


def summarize(plan: dict[str, Any]) -> dict[str, Any]:
    """Counts per tenant and component, providers and their regions.

    A resource belongs to a tenant when it is tagged or labelled with it, lives in its
    namespace, or it (or a parent component) is named after it (children are named
    ``f"{name}-..."``).
    """
    by_urn = {r["urn"]: r for r in plan["resources"]}
    tiers: dict[str, str] = {}
    for res in plan["resources"]:
        inputs = res.get("inputs") or {}
        labels = (inputs.get("metadata") or {}).get("labels") or {}
        tags = inputs.get("tags") or {}
        for src in (labels, tags):
            if not isinstance(src, dict):
                continue
            tenant = src.get(TENANT_LABEL) or src.get("tenant")
            tier = src.get(TIER_LABEL) or src.get("tier")
            if isinstance(tenant, str) and tier in ("smb", "enterprise"):
                tiers.setdefault(tenant, str(tier))
    names = sorted(tiers, key=len, reverse=True)
    per: Counter[tuple[str, str]] = Counter()
    for res in plan["resources"]:
        if not res.get("custom") or res["type"].startswith("pulumi:providers:"):
            continue
        tenant = _own_tenant(res)
        if tenant not in tiers:
            tenant = _mentions(res["name"], names)
        module = "other"
        parent = res.get("parent")
        while parent and parent in by_urn:
            p = by_urn[parent]
            if tenant is None:
                tenant = _mentions(p["name"], names)
            if module == "other" and p["type"].startswith("mlplatform:"):
                module = p["type"].split(":")[1]
            parent = p.get("parent")
        per[(tenant or "platform", module)] += 1
    providers = [
        {
            "name": r["name"],
            "package": r["type"].split(":")[-1],
            "region": (r.get("inputs") or {}).get("region"),
        }
        for r in plan["resources"]
        if r["type"].startswith("pulumi:providers:")
    ]
    return {
        "resources": sum(
            1
            for r in plan["resources"]
            if r.get("custom") and not r["type"].startswith("pulumi:providers:")
        ),
        "components": sum(1 for r in plan["resources"] if not r.get("custom")),
        "providers": providers,
        "by_tenant": {
            t: {m: n for (tt, m), n in sorted(per.items()) if tt == t}
            for t in sorted({t for t, _ in per}, key=lambda x: (x != "platform", x))
        },
        "tiers": tiers,
    }


def render_summary(plan: dict[str, Any], plan_path: Path | None, manifest_count: int) -> str:
    """The human summary ``mlplatform plan`` prints."""
    s = summarize(plan)
    lines = [
        f"Plan of stack '{plan['stack']}' (project {plan['project']}): "
        f"{s['resources']} resources in {s['components']} components",
    ]
    for p in s["providers"]:
        where = f" in {p['region']}" if p["region"] else ""
        lines.append(f"  provider {p['package']} '{p['name']}'{where}")
    width = (
        max([len("tenant")] + [len(f"{t} ({s['tiers'].get(t, '')})") for t in s["by_tenant"]]) + 2
    )
    lines.append(f"  {'tenant':<{width}} {'component':<14} {'resources':>9}")
    for tenant, mods in s["by_tenant"].items():
        label = f"{tenant} ({s['tiers'][tenant]})" if tenant in s["tiers"] else tenant
        for i, (mod, n) in enumerate(mods.items()):
            lines.append(f"  {label if i == 0 else '':<{width}} {mod:<14} {n:>9}")
    if plan_path is not None:
        lines.append(
            f"wrote {plan_path} and {manifest_count} Kubernetes manifests under {plan_path.parent / 'manifests'}/"
        )
    return "\n".join(lines)
