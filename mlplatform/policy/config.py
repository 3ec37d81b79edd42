"""Policy-pack configuration: reading ``--policy-pack-config`` files and reconciling them.

Reconciled as the Pulumi CLI does: each policy's own level and schema defaults, then the
pack's initial config, then the ``all`` level, then each policy's entry; unknown
settings and values that break a policy's schema are errors naming the field.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping
from typing import Any

import jsonschema
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

from mlplatform.policy.model import PackConfigError

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
"""Values the ``enforcementLevel`` of a policy config may take (as in the Pulumi CLI)."""

LEVEL_TO_PROTO = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}

PROTO_TO_LEVEL = {proto: level for level, proto in LEVEL_TO_PROTO.items()}


def normalize_config(raw: Any, source: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        raise PackConfigError(
            f"{source}: expected a JSON object mapping policy names to an enforcement level "
            "or an object of settings"
        )
    result: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name:
            raise PackConfigError(f"{source}: policy names must be non-empty strings")
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, Mapping):
            raise PackConfigError(
                f"{source}: '{name}' must be an enforcement level ({', '.join(ENFORCEMENT_LEVELS)})"
                " or an object"
            )
        level = value.get("enforcementLevel")
        if level is not None and level not in ENFORCEMENT_LEVELS:
            raise PackConfigError(
                f"{source}: '{name}.enforcementLevel' is {level!r}; allowed: "
                f"{', '.join(ENFORCEMENT_LEVELS)}"
            )
        if name == "all" and set(value) - {"enforcementLevel"}:
            raise PackConfigError(f"{source}: 'all' only takes an enforcementLevel")
        result[name] = dict(value)
    return result


def load_pack_config(path: pathlib.Path | str) -> dict[str, dict[str, Any]]:
    """Read a ``--policy-pack-config`` style JSON file, checking its shape.

    Shape: ``{"<policy name>" | "all": "<level>" | {"enforcementLevel": "<level>", ...}}``.
    Raises :class:`PackConfigError` with a one-line message naming the file and field.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PackConfigError(f"{path}: cannot read policy config ({err.strerror})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise PackConfigError(
            f"{path}:{err.lineno}:{err.colno}: invalid JSON ({err.msg})"
        ) from None
    return normalize_config(raw, str(path))


Reconciled = dict[str, tuple[str, dict[str, Any]]]
"""Policy name -> (enforcement level, settings)."""


def _pack_defaults(
    info: analyzer_pb2.AnalyzerInfo,
) -> tuple[Reconciled, dict[str, dict[str, Any]]]:
    """Each policy's own level and schema defaults, then the pack's initial config.

    Returns the reconciled config so far and each policy's config schema.
    """
    result: Reconciled = {}
    schemas: dict[str, dict[str, Any]] = {}
    for policy in info.policies:
        schema = json_format.MessageToDict(policy.configSchema)
        properties = schema.get("properties", {})
        defaults = {key: prop["default"] for key, prop in properties.items() if "default" in prop}
        result[policy.name] = (PROTO_TO_LEVEL[policy.enforcementLevel], defaults)
        schemas[policy.name] = schema
    for name, initial in info.initialConfig.items():
        if name in result:
            level, settings = result[name]
            settings.update(json_format.MessageToDict(initial.properties))
            result[name] = (PROTO_TO_LEVEL.get(initial.enforcementLevel, level), settings)
    return result, schemas


def _apply_given(
    pack: str,
    result: Reconciled,
    schemas: Mapping[str, Mapping[str, Any]],
    given: Mapping[str, Mapping[str, Any]],
) -> None:
    """The given config over ``result``: ``all``'s level first, then each policy's entry."""
    if "all" in given and "enforcementLevel" in given["all"]:
        for name, (_level, settings) in result.items():
            result[name] = (given["all"]["enforcementLevel"], settings)
    for name, value in given.items():
        if name not in result:
            continue
        level, settings = result[name]
        overrides = {key: item for key, item in value.items() if key != "enforcementLevel"}
        properties = schemas[name].get("properties", {})
        unknown = sorted(set(overrides) - set(properties))
        if unknown:
            allowed = ", ".join(sorted(properties)) or "none (enforcementLevel only)"
            raise PackConfigError(
                f"policy config '{name}' (pack {pack}): unknown setting(s) {unknown}; "
                f"allowed: {allowed}"
            )
        settings.update(overrides)
        result[name] = (value.get("enforcementLevel", level), settings)


def _check_schemas(pack: str, result: Reconciled, schemas: Mapping[str, Mapping[str, Any]]) -> None:
    """Every policy's settings against its config schema."""
    for name, (_level, settings) in result.items():
        schema = {
            "type": "object",
            "properties": schemas[name].get("properties", {}),
            "required": schemas[name].get("required", []),
        }
        try:
            jsonschema.validate(settings, schema)
        except jsonschema.ValidationError as err:
            where = ".".join(str(part) for part in err.absolute_path) or "(root)"
            raise PackConfigError(
                f"policy config '{name}.{where}' (pack {pack}): {err.message}"
            ) from None


def reconcile(
    pack: str,
    info: analyzer_pb2.AnalyzerInfo,
    given: Mapping[str, Mapping[str, Any]],
) -> Reconciled:
    """Defaults from each policy's schema, then initial config, then ``all``, then given."""
    result, schemas = _pack_defaults(info)
    _apply_given(pack, result, schemas, given)
    _check_schemas(pack, result, schemas)
    return result
