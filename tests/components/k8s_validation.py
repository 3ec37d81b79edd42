"""Test helper: schema validation of the manifests the Kubernetes layer produces, offline.

- Built-in kinds: the Kubernetes OpenAPI schema of the target version, strict (unknown
  fields fail), via ``kubernetes-validate``.
- KServe kinds (``InferenceService``, ``ServingRuntime``, ``InferenceGraph``): a strict
  walk over the KServe SDK's models (and the Kubernetes client models they nest) that
  rejects any key a model does not declare and any value of the wrong type, then the
  model objects are constructed, whose setters reject missing required fields. The
  generated deserializer alone would silently drop unknown keys, which is exactly how a
  misspelt ``canaryTrafficPercent`` goes unnoticed.

Both return findings (one line each); empty means valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

K8S_VERSION = "1.31.0"
"""Kubernetes version the manifests are validated against (EKS 1.35 serves these APIs)."""

KSERVE_MODELS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "V1beta1InferenceService",
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): "V1alpha1ServingRuntime",
    ("serving.kserve.io/v1alpha1", "InferenceGraph"): "V1alpha1InferenceGraph",
}

_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (object,),
    "date": (str,),
    "datetime": (str,),
    "bytes": (str, bytes),
}
# The KServe models say ``list[X]``/``dict(str, X)``; kubernetes-client 37 ``List[X]``/``Dict[str, X]``.
_LIST = re.compile(r"^[lL]ist\[(.+)\]$")
_DICT = re.compile(r"^(?:dict\(([^,]+), (.+)\)|Dict\[([^,]+), (.+)\])$")


def kubernetes_findings(manifest: Mapping[str, Any], version: str = K8S_VERSION) -> list[str]:
    """Strict Kubernetes schema errors of a built-in kind (custom kinds: not handled here)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(dict(manifest), version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{manifest.get('apiVersion')}/{manifest.get('kind')}: no schema in {version}"]
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(step) for step in exc.path)
        return [f"{manifest.get('kind')} {path}: {exc.message}"]
    return []


def _model_class(name: str) -> Any:
    import kserve
    import kubernetes.client

    return getattr(kserve.models, name, None) or getattr(kubernetes.client.models, name, None)


def _strict_walk(data: Any, type_name: str, path: str, findings: list[str]) -> None:
    if data is None:
        return
    if type_name in _PRIMITIVES:
        allowed = _PRIMITIVES[type_name]
        if type_name == "int" and isinstance(data, float) and data.is_integer():
            # Plans carry numbers as doubles (protobuf Struct); the provider sends 2.0 as 2.
            return
        wrong_bool = isinstance(data, bool) and bool not in allowed and object not in allowed
        if not isinstance(data, allowed) or wrong_bool:
            findings.append(f"{path}: expected {type_name}, got {type(data).__name__}")
        return
    if match := _LIST.match(type_name):
        if not isinstance(data, list):
            findings.append(f"{path}: expected a list")
            return
        for index, item in enumerate(data):
            _strict_walk(item, match.group(1), f"{path}[{index}]", findings)
        return
    if match := _DICT.match(type_name):
        if not isinstance(data, Mapping):
            findings.append(f"{path}: expected a mapping")
            return
        value_type = match.group(2) or match.group(4)
        for key, item in data.items():
            _strict_walk(item, value_type, f"{path}.{key}", findings)
        return
    cls = _model_class(type_name)
    if cls is None:
        findings.append(f"{path}: unknown model type {type_name}")
        return
    if not isinstance(data, Mapping):
        findings.append(f"{path}: expected an object ({type_name})")
        return
    wire_to_attr = {wire: attr for attr, wire in cls.attribute_map.items()}
    for key, value in data.items():
        attr = wire_to_attr.get(key)
        if attr is None:
            findings.append(f"{path}.{key}: not a field of {type_name}")
            continue
        _strict_walk(value, cls.openapi_types[attr], f"{path}.{key}", findings)


def kserve_findings(manifest: Mapping[str, Any]) -> list[str]:
    """Strict KServe SDK validation of an InferenceService/ServingRuntime/InferenceGraph."""
    key = (manifest.get("apiVersion"), manifest.get("kind"))
    model = KSERVE_MODELS.get(key)  # type: ignore[arg-type]
    if model is None:
        return [f"{key[0]}/{key[1]}: not a KServe kind this validator knows"]
    findings: list[str] = []
    _strict_walk(manifest, model, manifest.get("kind", "?"), findings)
    if findings:
        return findings
    try:
        _build(manifest, model)
    except (ValueError, TypeError) as exc:
        return [f"{manifest.get('kind')}: {_one_line(exc)}"]
    return []


def _one_line(exc: Exception) -> str:
    """A model error as one line (kubernetes-client 37 models raise pydantic errors)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        messages = [f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in errors()]
        return f"{getattr(exc, 'title', type(exc).__name__)}: {'; '.join(messages)}"
    return " ".join(str(exc).split())


def _build(data: Any, type_name: str) -> Any:
    """Construct the SDK model objects for ``data``; their setters check required fields.

    KServe's own ``ApiClient`` deserializer cannot build the Kubernetes models nested in
    its objects (it looks ``V1ObjectMeta`` up in ``kserve.models``), so the models are
    built here, type by type, from the same ``openapi_types`` tables.
    """
    if type_name == "int" and isinstance(data, float) and data.is_integer():
        return int(data)  # a plan's double, as the provider would send it
    if data is None or type_name in _PRIMITIVES:
        return data
    if match := _LIST.match(type_name):
        return [_build(item, match.group(1)) for item in data]
    if match := _DICT.match(type_name):
        value_type = match.group(2) or match.group(4)
        return {key: _build(item, value_type) for key, item in data.items()}
    cls = _model_class(type_name)
    kwargs = {
        attr: _build(data[wire], cls.openapi_types[attr])
        for attr, wire in cls.attribute_map.items()
        if wire in data
    }
    return cls(**kwargs)


def is_kserve(manifest: Mapping[str, Any]) -> bool:
    """Whether a manifest is one of the KServe kinds :func:`kserve_findings` validates."""
    return (manifest.get("apiVersion"), manifest.get("kind")) in KSERVE_MODELS
