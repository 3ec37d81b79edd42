"""Building blocks shared by every validator: plain-data access, unknown values, checks.

Rules are declared with :func:`policies.rules.declare.rule`; their validators receive a
:class:`ResourceCheck` (one resource) or a :class:`StackCheck` (the whole stack).

Unknown values: pulumi-policy hands validators a proxy that raises when a value that is
not known during preview is read, and then reports an *advisory* "can't run policy"
note, which would let a mandatory check pass silently. The rule wrappers unwrap the
proxy into plain data instead (:func:`plain`), and each rule decides explicitly: a value
that must be *set* (a key ARN, a tag) counts as present when unknown, a value that must
*equal* something (a region, a boolean) is a violation saying it could not be determined.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

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


_SCALARS = (str, int, float, bool, type(None))


def _plain_tree(value: Any) -> Any:
    """Plain data from deserialized properties; containers are reused when nothing changes.

    Validators only read what they are given, so a subtree without proxies or secrets is
    handed over as it is instead of being copied.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        changed: dict[Any, Any] | None = None
        for key, item in value.items():
            converted = _plain_tree(item)
            if converted is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = converted
        return value if changed is None else changed
    if kind is list:
        items: list[Any] | None = None
        for index, item in enumerate(value):
            converted = _plain_tree(item)
            if converted is not item:
                if items is None:
                    items = list(value)
                items[index] = converted
        return value if items is None else items
    return plain(value)


def plain(value: Any) -> Any:
    """Plain dicts/lists from pulumi-policy's unknown-checking proxies (no exceptions)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict or kind is list:
        return _plain_tree(value)
    source = getattr(value, "plain_source", None)
    if source is not None:
        # Properties decoded by the pack's fast path: the deserialized tree, no proxies.
        return _plain_tree(source)
    if isinstance(value, Mapping):
        if kind.__name__ in ("_DictProxy", "_DictSecretsProxy"):
            value = value["__target"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, tuple) or kind.__name__ in ("_ListProxy", "_ListSecretsProxy"):
        if kind.__name__ in ("_ListProxy", "_ListSecretsProxy"):
            value = value["__target"]
        return [plain(item) for item in value]
    if kind.__name__ == "Secret":
        return plain(value.value)
    return value


class _LastPlain(threading.local):
    """The last proxy converted by :func:`plain_once` in this thread, and its result."""

    source: Any = None
    result: Any = None


_last_plain = _LastPlain()
_last_provider_plain = _LastPlain()


def plain_once(value: Any, cache: _LastPlain = _last_plain) -> Any:
    """:func:`plain`, reusing the result while the same object is passed again.

    Every rule of a pack receives the same decoded properties for one request; the rules
    only read the plain copy, so converting it once per request is enough.
    """
    if type(value).__name__ not in ("_DictProxy", "_DecodedProps", "_LazyProps"):
        return plain(value)  # plain data (tests) may be mutated between calls: no reuse
    if cache.source is not value:
        cache.result = plain(value)
        cache.source = value
    return cache.result


def plain_provider_once(value: Any) -> Any:
    """:func:`plain_once` for a provider's properties (a cache of its own)."""
    return plain_once(value, _last_provider_plain)


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


def is_aws_managed_key(value: Any) -> bool:
    """Whether a key reference names an AWS-managed key (``alias/aws/<service>``, or its ARN).

    Customer aliases cannot begin with ``alias/aws/``: AWS reserves the prefix.
    """
    return isinstance(value, str) and (value.startswith("alias/aws/") or ":alias/aws/" in value)


def customer_key_problem(value: Any, field: str) -> str | None:
    """Why ``value`` (input ``field``) is not a customer-managed KMS key, or None when it is.

    Unknown counts as set (a key created in the same program); missing, empty and the
    AWS-managed aliases do not.
    """
    if is_unknown(value):
        return None
    if not is_set(value):
        return f"No '{field}': the data is encrypted with an AWS-owned or AWS-managed key."
    if is_aws_managed_key(value):
        return (
            f"'{field}' is the AWS-managed key {value!r}, not a customer-managed key: its "
            "policy and rotation cannot be controlled and every principal of the account that "
            "can use the service can decrypt."
        )
    return None


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
    return [dict(statement) for statement in raw if isinstance(statement, Mapping)]


def s3_bucket_refs(props: Mapping[str, Any]) -> set[str]:
    """The names and ARNs an S3 bucket is referred to by (from its known ``bucket``/``id``)."""
    refs: set[str] = set()
    for key in ("bucket", "id"):
        value = props.get(key)
        if isinstance(value, str) and not is_unknown(value):
            refs.update({value, f"arn:aws:s3:::{value}"})
    return refs


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

    def require_known(self, path: str, unknown: str) -> Any:
        """The input at ``path``; None, after reporting ``unknown``, when it is unknown.

        (A missing input is :data:`MISSING`, never None.)
        """
        value = self.get(path)
        if value is UNKNOWN:
            self.violation(unknown)
            return None
        return value

    def expect_flag(
        self, value: Any, want: bool, *, unknown: str, wrong: str, unset_ok: bool = False
    ) -> bool:
        """Report ``unknown`` when a flag is unknown, ``wrong`` when it is not ``want``.

        With ``unset_ok`` a flag that is not set (or not a boolean) passes: only an
        explicit opposite value is wrong. Returns whether a violation was reported.
        """
        if value is UNKNOWN:
            self.violation(unknown)
            return True
        state = truthy(value)
        if state is want or (unset_ok and state is None):
            return False
        self.violation(wrong)
        return True


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
                key: tuple(dependency.urn for dependency in dependencies)
                for key, dependencies in self._source.property_dependencies.items()
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


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) pair in nested dicts and lists, depth first."""
    yield path, value
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from walk(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, f"{path}.{index}" if path else str(index))
