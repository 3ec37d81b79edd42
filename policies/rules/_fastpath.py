"""Analyze each request once, not once per policy (pulumi-policy 1.21 servicer).

pulumi-policy's servicer decodes the request (protobuf ``Struct`` -> dict -> values ->
unknown-checking proxy, plus options and provider) inside its per-policy loop, so a
pack of 35 rules decodes every resource 35 times, and ``AnalyzeStack`` decodes the
whole stack once per stack policy. Measured here: about 6 ms for one Deployment, almost
all of it decoding, which put the packs an order of magnitude below the throughput a
preview of a few thousand resources needs.

:func:`install` replaces ``Analyze`` and ``AnalyzeStack`` of the servicer with versions
that follow the original code line by line (same enforcement levels, same diagnostics,
same not-applicable entries, same advisory note for unknown values) but decode once per
request, build pulumi-policy's unknown-checking proxies only for a validator that reads
through them (ours read the deserialized data directly), and skip a rule up front when
it declares (``applies_to``) that it ignores the resource type, which is exactly what
its validator would do. The equivalence is tested
(``tests/policies/test_policy_fastpath.py``) by running both implementations on the same
requests. It installs only on the pulumi-policy version it mirrors; on any other it does
nothing, which is slower but still correct.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine, Iterator, Mapping
from inspect import isawaitable
from typing import Any, NamedTuple, cast

import pulumi_policy.policy as pp
from pulumi.runtime import proto
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy
from pulumi_policy.version import VERSION

_SUPPORTED_VERSIONS = ("1.21.0",)
_ORIGINALS: dict[str, Any] = {}
_PRIVATE_PREFIX = "_PolicyAnalyzerServicer__"


class _Step(NamedTuple):
    """One resource policy to run for a resource type, at its configured level."""

    policy: Any
    level: Any
    validates: bool
    """False for a policy without a validator (answered as not applicable)."""


def _private(servicer: Any, name: str) -> Any:
    """A name-mangled private attribute of the servicer (``__policies``...)."""
    return getattr(servicer, _PRIVATE_PREFIX + name)


def _run(result: Any) -> None:
    """Wait for a validator's result when it is awaitable (as pulumi-policy does)."""
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        # Validators are ``async def`` functions, so the awaitable is a coroutine; the cast
        # only tells the checker so (pulumi-policy passes the same object to Task).
        task: asyncio.Task[Any] = asyncio.Task(cast("Coroutine[Any, Any, Any]", result), loop=loop)
        loop.run_until_complete(task)
        loop.close()


class _DecodedProps(Mapping[str, Any]):
    """Request properties as pulumi-policy hands them to validators, proxied on demand.

    pulumi-policy wraps every nested dict and list of the properties in an
    unknown-checking proxy before any validator runs (about a third of the decoding
    time). Our rules unwrap them straight back into plain data (``plain_source``); a
    validator that reads through the mapping gets the very same proxy, built on first use.
    """

    __slots__ = ("_proxy", "plain_source")

    def __init__(self, deserialized: Any) -> None:
        self.plain_source = deserialized
        self._proxy: Any = None

    def _target(self) -> Any:
        if self._proxy is None:
            self._proxy = unknown_checking_proxy(self.plain_source)
        return self._proxy

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target()[key] = value

    def __iter__(self) -> Iterator[str]:
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())


def _value_to_python(value: Any) -> Any:
    """One ``google.protobuf.Value`` as ``json_format.MessageToDict`` renders it."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return {key: _value_to_python(item) for key, item in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_value_to_python(item) for item in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise ValueError(f"Fail to serialize {number} for Value.number_value")
        return number
    if kind == "bool_value":
        return value.bool_value
    return None


def struct_to_dict(struct: Any) -> dict[str, Any]:
    """``json_format.MessageToDict`` for a ``google.protobuf.Struct``, without its generic
    reflection (same keys, order and values; tested against it)."""
    return {key: _value_to_python(item) for key, item in struct.fields.items()}


def _decode(struct: Any) -> Any:
    """Request properties as pulumi-policy hands them to validators (see _DecodedProps)."""
    return _DecodedProps(deserialize_properties(struct_to_dict(struct)))


def _provider(message: Any) -> Any:
    """The request's provider as ``_get_provider_resource`` builds it, proxied on demand."""
    if not message.HasField("provider"):
        return None
    provider = message.provider
    return pp.PolicyProviderResource(
        provider.type, _decode(provider.properties), provider.urn, provider.name
    )


def _unknown_value_note(servicer: Any, policy: Any, error: Any) -> Any:
    """The advisory note pulumi-policy sends when a validator reads an unknown value."""
    pack_name = _private(servicer, "policy_pack_name")
    pack_version = _private(servicer, "policy_pack_version")
    return proto.AnalyzeDiagnostic(
        policyName=policy.name,
        policyPackName=pack_name,
        policyPackVersion=pack_version,
        message=(
            f"can't run policy '{policy.name}' from policy pack "
            f"'{pack_name}@v{pack_version}' during preview: {error.message}"
        ),
        urn="",
        description=policy.description,
        enforcementLevel=servicer._map_enforcement_level(pp.EnforcementLevel.ADVISORY),
    )


def _configure_once(servicer: Any) -> None:
    """Apply the runtime settings once per servicer.

    The original re-reads PULUMI_CONFIG and re-applies the same settings on every call
    (about 70 us); the environment of the pack process never changes.
    """
    if not getattr(servicer, "_fastpath_configured", False):
        servicer._configure_runtime_settings()
        servicer._fastpath_configured = True


def _steps_for_type(servicer: Any, resource_type: str) -> list[_Step]:
    """The resource policies that look at ``resource_type``, with their levels.

    Cached per type; the cache is dropped whenever Configure installs new levels (it
    replaces the levels dict, which the cache holds and compares by identity).
    """
    levels = _private(servicer, "policy_pack_config_enforcement_level")
    cache: tuple[Any, dict[str, list[_Step]]] | None = getattr(servicer, "_fastpath_cache", None)
    if cache is None or cache[0] is not levels:
        cache = (levels, {})
        servicer._fastpath_cache = cache
    steps = cache[1].get(resource_type)
    if steps is None:
        steps = []
        for policy in _private(servicer, "policies"):
            level = servicer._get_enforcement_level(policy)
            if level == pp.EnforcementLevel.DISABLED or not isinstance(
                policy, pp.ResourceValidationPolicy
            ):
                continue
            if not policy.has_validation():
                steps.append(_Step(policy, level, validates=False))
                continue
            applies_to = getattr(policy, "applies_to", None)
            if applies_to is not None and not applies_to(resource_type):
                continue
            steps.append(_Step(policy, level, validates=True))
        cache[1][resource_type] = steps
    return steps


def _validate_into(
    servicer: Any, response: Any, policy: Any, level: Any, make_args: Callable[[Any], Any]
) -> None:
    """Run one policy's validator and record its answer in ``response``.

    ``make_args(policy)`` builds the validator's arguments; it is called after the
    violation reporter exists, as in the original, so request decoding stays lazy.
    """
    if level == pp.EnforcementLevel.REMEDIATE:
        level = pp.EnforcementLevel.MANDATORY
    report_violation = servicer._create_report_violation(
        response, policy.name, policy.description, level, policy.severity
    )
    args = make_args(policy)
    try:
        _run(policy.validate(args, report_violation))
    except UnknownValueError as error:
        response.diagnostics.append(_unknown_value_note(servicer, policy, error))
    except pp._NotApplicableError as error:
        response.not_applicable.append(
            proto.PolicyNotApplicable(policy_name=policy.name, reason=error.reason or "")
        )


def _analyze(servicer: Any, request: Any, _context: Any) -> Any:
    """``Analyze``: decode the resource once, for the first policy that needs it."""
    _configure_once(servicer)
    response = proto.AnalyzeResponse()
    decoded: tuple[Any, Any, Any] | None = None

    def resource_args(policy: Any) -> Any:
        nonlocal decoded
        if decoded is None:
            decoded = (
                _decode(request.properties),
                servicer._get_resource_options(request),
                _provider(request),
            )
        props, options, provider = decoded
        return pp.ResourceValidationArgs(
            request.type,
            props,
            request.urn,
            request.name,
            options,
            provider,
            servicer._get_policy_config(policy.name),
            _private(servicer, "stack_tags"),
        )

    for step in _steps_for_type(servicer, request.type):
        if not step.validates:
            response.not_applicable.append(
                proto.PolicyNotApplicable(
                    policy_name=step.policy.name, reason="Policy does not implement validate"
                )
            )
            continue
        _validate_into(servicer, response, step.policy, step.level, resource_args)
    return response


def _analyze_stack(servicer: Any, request: Any, _context: Any) -> Any:
    """``AnalyzeStack``: build the stack's resources once, for every stack policy."""
    _configure_once(servicer)
    response = proto.AnalyzeResponse()
    resources: list[Any] | None = None

    def stack_args(policy: Any) -> Any:
        nonlocal resources
        if resources is None:
            resources = _stack_resources(servicer, request)
        return pp.StackValidationArgs(
            resources, servicer._get_policy_config(policy.name), _private(servicer, "stack_tags")
        )

    for policy in _private(servicer, "policies"):
        level = servicer._get_enforcement_level(policy)
        if level == pp.EnforcementLevel.DISABLED or not isinstance(
            policy, pp.StackValidationPolicy
        ):
            continue
        _validate_into(servicer, response, policy, level, stack_args)
    return response


class _LazyProps(Mapping[str, Any]):
    """A resource's decoded properties, decoded on first use.

    AnalyzeStack hands every policy every resource; most stack rules look at a few
    types only, so decoding the rest (the bulk of the time) is skipped.
    """

    __slots__ = ("_decoded", "_struct")

    def __init__(self, struct: Any) -> None:
        self._struct = struct
        self._decoded: _DecodedProps | None = None

    def _target(self) -> _DecodedProps:
        if self._decoded is None:
            self._decoded = _decode(self._struct)
        return self._decoded

    @property
    def plain_source(self) -> Any:
        """The deserialized properties, without proxies (what our rules read)."""
        return self._target().plain_source

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())


def _stack_resources(servicer: Any, request: Any) -> list[Any]:
    """The stack's resources as pulumi-policy builds them, with lazily decoded properties.

    Providers are built once per provider URN; parents, dependencies and property
    dependencies are linked after every resource exists.
    """
    pending = []
    providers: dict[str, Any] = {}
    for message in request.resources:
        provider = None
        if message.HasField("provider"):
            provider = providers.get(message.provider.urn)
            if provider is None:
                provider = _provider(message)
                providers[message.provider.urn] = provider
        resource = pp.PolicyResource(
            message.type,
            _LazyProps(message.properties),
            message.urn,
            message.name,
            servicer._get_resource_options(message),
            provider,
            None,
            [],
            {},
        )
        property_dependencies = {
            key: list(value.urns) for key, value in message.propertyDependencies.items()
        }
        pending.append(
            (resource, message.parent, list(message.dependencies), property_dependencies)
        )
    by_urn = {resource.urn: resource for resource, *_ in pending}
    for resource, parent, dependencies, property_dependencies in pending:
        if parent is not None and parent in by_urn:
            resource.parent = by_urn[parent]
        resource.dependencies.extend(by_urn[urn] for urn in dependencies if urn in by_urn)
        for key, urns in property_dependencies.items():
            resource.property_dependencies[key] = [by_urn[urn] for urn in urns if urn in by_urn]
    return [resource for resource, *_ in pending]


def install() -> bool:
    """Patch the servicer (once); True when the fast path is active."""
    if _ORIGINALS:
        return True
    if VERSION not in _SUPPORTED_VERSIONS:
        return False
    servicer = pp._PolicyAnalyzerServicer
    # setattr, not attribute assignment: replacing methods of the class is the point here.
    for name, replacement in (("Analyze", _analyze), ("AnalyzeStack", _analyze_stack)):
        _ORIGINALS[name] = getattr(servicer, name)
        setattr(servicer, name, replacement)
    return True


def uninstall() -> None:
    """Restore the original servicer methods (used by the equivalence test)."""
    for name in ("Analyze", "AnalyzeStack"):
        if name in _ORIGINALS:
            setattr(pp._PolicyAnalyzerServicer, name, _ORIGINALS.pop(name))
