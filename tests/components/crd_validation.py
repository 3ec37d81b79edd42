"""Test helper: validate custom resources against the upstream CRD schema of the pinned version.

The schemas are vendored under ``tests/components/upstream/crds/`` (one JSON file per
kind and version, naming its source commit; see ``upstream/vendor.py``). The API
server treats a CRD's ``openAPIV3Schema`` as *structural*: a field the schema does not
declare is silently pruned on write, so a misspelt ``consolidateAfter`` would vanish
without an error. This validator is stricter than the API server on purpose: every
object node that does not say ``x-kubernetes-preserve-unknown-fields: true`` rejects
undeclared fields, so such a typo fails here instead of disappearing there.

What it does not evaluate: CEL rules (``x-kubernetes-validations``) and ``format``
values; those are the API server's. Findings are one line each; empty means valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

CRD_DIR = Path(__file__).resolve().parent / "upstream" / "crds"

_MAPS = ("properties", "patternProperties")
_LISTS = ("allOf", "anyOf", "oneOf")


@cache
def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind)`` -> the vendored record (``source``, ``schema``, ...)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        found[(f"{record['group']}/{record['version']}", record["kind"])] = record
    return found


def _strict(node: Any, *, top: bool = False) -> Any:
    """The JSON Schema (draft 7) a structural OpenAPI schema means, with pruning made an error."""
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _MAPS and isinstance(value, Mapping):
            out[key] = {name: _strict(sub) for name, sub in value.items()}
        elif key in _LISTS and isinstance(value, list):
            out[key] = [_strict(sub) for sub in value]
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = _strict(value)
        elif key.startswith("x-kubernetes-") or key == "nullable":
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    is_object = node.get("type") == "object"
    if is_object and not preserve and "additionalProperties" not in node:
        out["additionalProperties"] = False
    if top:
        # ObjectMeta is the API server's to check (the CRD schema says only "object").
        props = out.setdefault("properties", {})
        props["metadata"] = {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "additionalProperties": False,
        }
        props["apiVersion"] = {"type": "string"}
        props["kind"] = {"type": "string"}
    return out


@cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft7Validator | None:
    record = schemas().get((api_version, kind))
    if record is None:
        return None
    return jsonschema.Draft7Validator(_strict(record["schema"], top=True))


def is_custom(manifest: Mapping[str, Any]) -> bool:
    """Whether a manifest's API group is not a built-in Kubernetes group."""
    group = str(manifest.get("apiVersion", "")).rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def crd_findings(manifest: Mapping[str, Any]) -> list[str]:
    """Schema errors of one custom resource; a kind without a vendored schema is a finding."""
    api_version, kind = str(manifest.get("apiVersion")), str(manifest.get("kind"))
    validator = _validator(api_version, kind)
    name = (manifest.get("metadata") or {}).get("name", "?")
    if validator is None:
        return [f"{api_version}/{kind} {name}: no vendored CRD schema (tests/components/upstream)"]
    return [
        f"{kind} {name} {'/'.join(str(p) for p in error.absolute_path) or '<root>'}: "
        f"{error.message}"
        for error in sorted(validator.iter_errors(dict(manifest)), key=lambda e: list(e.path))
    ]


def walk_custom(manifests: Iterator[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The custom resources among ``manifests``."""
    return (m for m in manifests if is_custom(m))
