"""Building blocks shared by every rule: rule metadata, plain-data access, unknown values.

A rule here is one validator function plus its metadata (name, description, severity,
enforcement level, frameworks, remediation). :func:`resource_rule` and :func:`stack_rule`
wrap it in the pulumi-policy classes the CrossGuard engine understands, so the same
objects are served by the packs and called directly by the tests.

Unknown values: pulumi-policy hands validators a proxy that raises when a value that is
not known during preview is read, and then reports an *advisory* "can't run policy"
note, which would let a mandatory check pass silently. The wrappers below unwrap the
proxy into plain data instead, and each rule decides explicitly: a value that must be
*set* (a key ARN, a tag) counts as present when unknown, a value that must *equal*
something (a region, a boolean) is a violation saying it could not be determined.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
"""The Pulumi engine's placeholders for values not known until the update runs."""

SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - a marker, not a credential
"""How the offline plan records a secret input's value (the value itself is withheld)."""


class _Unknown:
    """Marker returned by :func:`dig` when a value on the path is unknown at preview."""

    def __repr__(self) -> str:
        return "<unknown>"


class _Missing:
    """Marker returned by :func:`dig` when a key on the path is absent or null."""

    def __repr__(self) -> str:
        return "<missing>"


UNKNOWN: Any = _Unknown()
MISSING: Any = _Missing()


def is_unknown(value: Any) -> bool:
    """True for the engine's unknown sentinels (and the :data:`UNKNOWN` marker)."""
    return value is UNKNOWN or (isinstance(value, str) and value in UNKNOWN_SENTINELS)


def plain(value: Any) -> Any:
    """Plain dicts/lists from pulumi-policy's unknown-checking proxies (no exceptions)."""
    if isinstance(value, Mapping):
        if type(value).__name__ in ("_DictProxy", "_DictSecretsProxy", "_LazyProps"):
            value = value["__target"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ in (
        "_ListProxy",
        "_ListSecretsProxy",
    ):
        if type(value).__name__ in ("_ListProxy", "_ListSecretsProxy"):
            value = value["__target"]
        return [plain(v) for v in value]
    if type(value).__name__ == "Secret":
        return plain(value.value)
    return value


class _LastPlain(threading.local):
    """The last proxy converted by :func:`plain_once` in this thread, and its result."""

    source: Any = None
    result: Any = None


_last_plain = _LastPlain()


def plain_once(value: Any) -> Any:
    """:func:`plain`, reusing the result while the same object is passed again.

    Every rule of a pack receives the same decoded properties for one request; the rules
    only read the plain copy, so converting it once per request is enough.
    """
    if type(value).__name__ != "_DictProxy":
        return plain(value)  # plain data (tests) may be mutated between calls: no reuse
    if _last_plain.source is not value:
        _last_plain.result = plain(value)
        _last_plain.source = value
    return _last_plain.result


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (``vpcConfig.endpointPublicAccess``), or a marker.

    Returns :data:`UNKNOWN` if any step is an unknown sentinel, :data:`MISSING` if any
    key is absent or null. List indices are written as numbers (``rules.0.status``).
    """
    current = data
    for part in path.split("."):
        if is_unknown(current):
            return UNKNOWN
        if isinstance(current, Mapping):
            if part not in current or current[part] is None:
                return MISSING
            current = current[part]
        elif isinstance(current, list) and part.isdigit():
            index = int(part)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return UNKNOWN if is_unknown(current) else current


def as_list(value: Any) -> list[Any]:
    """A list from a value that may be a single item, a list, missing or unknown."""
    if value is MISSING or value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def truthy(value: Any) -> bool | None:
    """``True``/``False`` for booleans and their string forms, ``None`` when unknown/missing.

    Some providers model booleans as strings (EC2 launch templates: ``"true"``).
    """
    if is_unknown(value) or value is MISSING or value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def is_set(value: Any) -> bool:
    """A value counts as set when present and non-empty; unknown counts as set."""
    if is_unknown(value):
        return True
    return value is not MISSING and value is not None and value != "" and value != []


def parse_json_document(value: Any) -> dict[str, Any] | _Unknown | None:
    """A policy document from a JSON string or a dict; UNKNOWN, or None when unparsable."""
    if is_unknown(value):
        return UNKNOWN
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        if value == SECRET_PLACEHOLDER:
            return UNKNOWN
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy document (a single statement object is allowed)."""
    raw = document.get("Statement", [])
    if isinstance(raw, Mapping):
        return [dict(raw)]
    return [dict(s) for s in raw if isinstance(s, Mapping)]


@dataclass(frozen=True)
class Framework:
    """One control of a compliance framework that a rule serves."""

    name: str
    """Framework name, e.g. ``UAE PDPL``."""
    control: str
    """Article or control id within it, e.g. ``Art. 22`` or ``EKS.1``."""
    version: str = ""
    """Edition of the framework, when it matters."""

    @property
    def tag(self) -> str:
        """A machine-readable tag, ``framework:<name>:<control>``, sent over the protocol."""
        return f"framework:{self.name}:{self.control}"


@dataclass
class ResourceCheck:
    """Everything a resource validator sees: plain inputs, provider, config, reporter."""

    resource_type: str
    name: str
    urn: str
    props: dict[str, Any]
    provider_type: str | None
    provider_name: str | None
    provider_props: dict[str, Any]
    config: dict[str, Any]
    report: Callable[[str], None]
    violations: list[str] = field(default_factory=list)

    def violation(self, message: str) -> None:
        """Report one violation for this resource."""
        self.violations.append(message)
        self.report(message)

    def get(self, path: str) -> Any:
        """:func:`dig` into this resource's inputs."""
        return dig(self.props, path)


class StackResource:
    """A resource as a stack validator sees it; inputs become plain data on first use."""

    __slots__ = ("_deps", "_plain", "_provider_plain", "_source")

    def __init__(self, source: Any) -> None:
        self._source = source
        self._plain: dict[str, Any] | None = None
        self._provider_plain: dict[str, Any] | None = None
        self._deps: dict[str, tuple[str, ...]] | None = None

    @property
    def urn(self) -> str:
        """The resource's URN."""
        return str(self._source.urn)

    @property
    def resource_type(self) -> str:
        """The resource's type token."""
        return str(self._source.resource_type)

    @property
    def name(self) -> str:
        """The resource's logical name."""
        return str(self._source.name)

    @property
    def props(self) -> dict[str, Any]:
        """Inputs as plain data (unknowns stay as sentinels)."""
        if self._plain is None:
            self._plain = plain(self._source.props)
        return self._plain

    @property
    def provider_props(self) -> dict[str, Any]:
        """The provider's configuration as plain data ({} without a provider)."""
        if self._provider_plain is None:
            provider = self._source.provider
            self._provider_plain = plain(provider.props) if provider is not None else {}
        return self._provider_plain

    @property
    def parent(self) -> str | None:
        """URN of the parent resource."""
        parent = self._source.parent
        return parent.urn if parent is not None else None

    @property
    def property_dependencies(self) -> dict[str, tuple[str, ...]]:
        """Resources each top-level input was computed from, by URN."""
        if self._deps is None:
            self._deps = {
                k: tuple(d.urn for d in v) for k, v in self._source.property_dependencies.items()
            }
        return self._deps


@dataclass
class StackCheck:
    """Everything a stack validator sees."""

    resources: list[StackResource]
    config: dict[str, Any]
    report: Callable[[str, str | None], None]

    def violation(self, message: str, urn: str | None = None) -> None:
        """Report one violation, against a resource when ``urn`` is given."""
        self.report(message, urn)

    _by_type: dict[str, list[StackResource]] | None = field(default=None, init=False, repr=False)

    def of_type(self, *types: str) -> Iterator[StackResource]:
        """Resources whose type token is one of ``types`` (in stack order per type)."""
        if self._by_type is None:
            index: dict[str, list[StackResource]] = {}
            for resource in self.resources:
                index.setdefault(resource.resource_type, []).append(resource)
            self._by_type = index
        for resource_type in dict.fromkeys(types):
            yield from self._by_type.get(resource_type, ())


ResourceValidator = Callable[[ResourceCheck], None]
StackValidator = Callable[[StackCheck], None]


def _config_schema(defaults: Mapping[str, Any], schema: Mapping[str, Mapping[str, Any]]) -> Any:
    if not schema:
        return None
    properties = {}
    for key, prop in schema.items():
        entry = dict(prop)
        if key in defaults:
            entry["default"] = defaults[key]
        properties[key] = entry
    return PolicyConfigSchema(properties=properties)


def _merged_config(defaults: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    # Validators only read their config, so the defaults are shared, not copied.
    if not given:
        return dict(defaults)
    merged = dict(defaults)
    for key, value in given.items():
        merged[key] = plain(value)
    return merged


def _metadata(
    frameworks: Sequence[Framework],
    config_defaults: Mapping[str, Any],
    config_schema: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """The pulumi-policy keyword arguments resource and stack rules share."""
    primary = frameworks[0] if frameworks else None
    return {
        "config_schema": _config_schema(config_defaults, config_schema or {}),
        "framework": (
            PolicyComplianceFramework(
                name=primary.name, version=primary.version or None, reference=primary.control
            )
            if primary
            else None
        ),
        "tags": [f.tag for f in frameworks],
    }


class RulePolicy(ResourceValidationPolicy):
    """A resource rule: filters by type, unwraps proxies, then calls the validator."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        validator: ResourceValidator,
        resource_types: Iterable[str] | None,
        severity: Severity,
        enforcement_level: EnforcementLevel,
        frameworks: Sequence[Framework],
        remediation: str,
        config_defaults: Mapping[str, Any] | None = None,
        config_schema: Mapping[str, Mapping[str, Any]] | None = None,
        type_predicate: Callable[[str], bool] | None = None,
    ) -> None:
        self.frameworks = tuple(frameworks)
        self.resource_types = frozenset(resource_types) if resource_types is not None else None
        self.type_predicate = type_predicate
        self.config_defaults = dict(config_defaults or {})
        self.validator = validator
        super().__init__(
            name=name,
            description=description,
            validate=self._validate,
            enforcement_level=enforcement_level,
            severity=severity,
            remediation_steps=remediation,
            **_metadata(frameworks, self.config_defaults, config_schema),
        )

    def applies_to(self, resource_type: str) -> bool:
        """Whether this rule looks at resources of ``resource_type`` at all."""
        if self.resource_types is not None and resource_type in self.resource_types:
            return True
        return self.type_predicate is not None and self.type_predicate(resource_type)

    def _validate(self, args: ResourceValidationArgs, report_violation: Any) -> None:
        if not self.applies_to(args.resource_type):
            return
        provider = args.provider
        check = ResourceCheck(
            resource_type=args.resource_type,
            name=args.name,
            urn=args.urn,
            props=plain_once(args.props),
            provider_type=provider.resource_type if provider is not None else None,
            provider_name=provider.name if provider is not None else None,
            provider_props=plain(provider.props) if provider is not None else {},
            config=_merged_config(self.config_defaults, args.get_config()),
            report=lambda message: report_violation(message, None),
        )
        self.validator(check)


class StackRulePolicy(StackValidationPolicy):
    """A stack rule: converts every resource to plain data, then calls the validator."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        validator: StackValidator,
        severity: Severity,
        enforcement_level: EnforcementLevel,
        frameworks: Sequence[Framework],
        remediation: str,
        config_defaults: Mapping[str, Any] | None = None,
        config_schema: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.frameworks = tuple(frameworks)
        self.config_defaults = dict(config_defaults or {})
        self.validator = validator
        super().__init__(
            name=name,
            description=description,
            validate=self._validate,
            enforcement_level=enforcement_level,
            severity=severity,
            remediation_steps=remediation,
            **_metadata(frameworks, self.config_defaults, config_schema),
        )

    def _validate(self, args: StackValidationArgs, report_violation: Any) -> None:
        check = StackCheck(
            resources=[StackResource(r) for r in args.resources],
            config=_merged_config(self.config_defaults, args.get_config()),
            report=lambda message, urn: report_violation(message, urn),
        )
        self.validator(check)


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) pair in nested dicts and lists, depth first."""
    yield path, value
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from walk(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, f"{path}.{index}" if path else str(index))
