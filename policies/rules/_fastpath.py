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
request, and skip a rule up front when it declares (``applies_to``) that it ignores the
resource type, which is exactly what its validator would do. The equivalence is tested
(``tests/policies/test_fastpath.py``) by running both implementations on the same
requests. It installs only on the pulumi-policy version it mirrors; on any other it does
nothing, which is slower but still correct.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator, Mapping
from inspect import isawaitable
from typing import Any, cast

_SUPPORTED_VERSIONS = ("1.21.0",)
_ORIGINALS: dict[str, Any] = {}


def _run(result: Any) -> None:
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        # Validators are ``async def`` functions, so the awaitable is a coroutine; the cast
        # only tells the checker so (pulumi-policy passes the same object to Task).
        task: asyncio.Task[Any] = asyncio.Task(cast("Coroutine[Any, Any, Any]", result), loop=loop)
        loop.run_until_complete(task)
        loop.close()


def install() -> bool:
    """Patch the servicer (once); True when the fast path is active."""
    if _ORIGINALS:
        return True
    import pulumi_policy.policy as pp
    from google.protobuf import json_format
    from pulumi.runtime import proto
    from pulumi_policy.deserialize import deserialize_properties
    from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy
    from pulumi_policy.version import VERSION

    if VERSION not in _SUPPORTED_VERSIONS:
        return False
    servicer = pp._PolicyAnalyzerServicer
    prefix = "_PolicyAnalyzerServicer__"

    def private(self: Any, name: str) -> Any:
        return getattr(self, prefix + name)

    def unknown_note(self: Any, policy: Any, error: Any) -> Any:
        return proto.AnalyzeDiagnostic(
            policyName=policy.name,
            policyPackName=private(self, "policy_pack_name"),
            policyPackVersion=private(self, "policy_pack_version"),
            message=(
                f"can't run policy '{policy.name}' from policy pack "
                f"'{private(self, 'policy_pack_name')}@v{private(self, 'policy_pack_version')}'"
                f" during preview: {error.message}"
            ),
            urn="",
            description=policy.description,
            enforcementLevel=self._map_enforcement_level(pp.EnforcementLevel.ADVISORY),
        )

    def configure_once(self: Any) -> None:
        # The original re-reads PULUMI_CONFIG and re-applies the same settings on every
        # call (about 70 us); the environment of the pack process never changes.
        if not getattr(self, "_fastpath_configured", False):
            self._configure_runtime_settings()
            self._fastpath_configured = True

    def plan_for(self: Any, resource_type: str) -> list[tuple[Any, Any, bool]]:
        """(policy, level, has_validation) for the policies that look at this type.

        Cached per type; the cache is dropped whenever Configure installs new levels
        (it replaces the levels dict, which the cache holds and compares by identity).
        """
        levels = private(self, "policy_pack_config_enforcement_level")
        cache: tuple[Any, dict[str, list[tuple[Any, Any, bool]]]] | None = getattr(
            self, "_fastpath_cache", None
        )
        if cache is None or cache[0] is not levels:
            cache = (levels, {})
            self._fastpath_cache = cache
        steps = cache[1].get(resource_type)
        if steps is None:
            steps = []
            for policy in private(self, "policies"):
                level = self._get_enforcement_level(policy)
                if level == pp.EnforcementLevel.DISABLED or not isinstance(
                    policy, pp.ResourceValidationPolicy
                ):
                    continue
                if not policy.has_validation():
                    steps.append((policy, level, False))
                    continue
                applies_to = getattr(policy, "applies_to", None)
                if applies_to is not None and not applies_to(resource_type):
                    continue
                steps.append((policy, level, True))
            cache[1][resource_type] = steps
        return steps

    def analyze(self: Any, request: Any, _context: Any) -> Any:
        configure_once(self)
        response = proto.AnalyzeResponse()
        decoded: tuple[Any, Any, Any] | None = None
        for policy, enforcement_level, validates in plan_for(self, request.type):
            if not validates:
                response.not_applicable.append(
                    proto.PolicyNotApplicable(
                        policy_name=policy.name, reason="Policy does not implement validate"
                    )
                )
                continue
            if enforcement_level == pp.EnforcementLevel.REMEDIATE:
                enforcement_level = pp.EnforcementLevel.MANDATORY
            report_violation = self._create_report_violation(
                response, policy.name, policy.description, enforcement_level, policy.severity
            )
            if decoded is None:
                props = unknown_checking_proxy(
                    deserialize_properties(json_format.MessageToDict(request.properties))
                )
                decoded = (
                    props,
                    self._get_resource_options(request),
                    self._get_provider_resource(request),
                )
            props, opts, provider = decoded
            args = pp.ResourceValidationArgs(
                request.type,
                props,
                request.urn,
                request.name,
                opts,
                provider,
                self._get_policy_config(policy.name),
                private(self, "stack_tags"),
            )
            try:
                _run(policy.validate(args, report_violation))
            except UnknownValueError as error:
                response.diagnostics.append(unknown_note(self, policy, error))
            except pp._NotApplicableError as error:
                response.not_applicable.append(
                    proto.PolicyNotApplicable(policy_name=policy.name, reason=error.reason or "")
                )
        return response

    def analyze_stack(self: Any, request: Any, _context: Any) -> Any:
        configure_once(self)
        response = proto.AnalyzeResponse()
        resources: list[Any] | None = None
        for policy in private(self, "policies"):
            enforcement_level = self._get_enforcement_level(policy)
            if enforcement_level == pp.EnforcementLevel.DISABLED or not isinstance(
                policy, pp.StackValidationPolicy
            ):
                continue
            if enforcement_level == pp.EnforcementLevel.REMEDIATE:
                enforcement_level = pp.EnforcementLevel.MANDATORY
            report_violation = self._create_report_violation(
                response, policy.name, policy.description, enforcement_level, policy.severity
            )
            if resources is None:
                resources = _stack_resources(self, request, pp)
            args = pp.StackValidationArgs(
                resources, self._get_policy_config(policy.name), private(self, "stack_tags")
            )
            try:
                _run(policy.validate(args, report_violation))
            except UnknownValueError as error:
                response.diagnostics.append(unknown_note(self, policy, error))
            except pp._NotApplicableError as error:
                response.not_applicable.append(
                    proto.PolicyNotApplicable(policy_name=policy.name, reason=error.reason or "")
                )
        return response

    class _LazyProps(Mapping[str, Any]):
        """A resource's decoded properties, decoded on first use.

        AnalyzeStack hands every policy every resource; most stack rules look at a few
        types only, so decoding the rest (the bulk of the time) is skipped.
        """

        __slots__ = ("_decoded", "_struct")

        def __init__(self, struct: Any) -> None:
            self._struct = struct
            self._decoded: Any = None

        def _target(self) -> Any:
            if self._decoded is None:
                self._decoded = unknown_checking_proxy(
                    deserialize_properties(json_format.MessageToDict(self._struct))
                )
            return self._decoded

        def __getitem__(self, key: str) -> Any:
            if key == "__target":
                return self._target()["__target"]
            return self._target()[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self._target())

        def __len__(self) -> int:
            return len(self._target())

    def _stack_resources(self: Any, request: Any, pp: Any) -> list[Any]:
        intermediates = []
        providers: dict[str, Any] = {}
        for r in request.resources:
            provider = None
            if r.HasField("provider"):
                provider = providers.get(r.provider.urn)
                if provider is None:
                    provider = providers[r.provider.urn] = self._get_provider_resource(r)
            resource = pp.PolicyResource(
                r.type,
                _LazyProps(r.properties),
                r.urn,
                r.name,
                self._get_resource_options(r),
                provider,
                None,
                [],
                {},
            )
            property_dependencies = {k: list(v.urns) for k, v in r.propertyDependencies.items()}
            intermediates.append((resource, r.parent, list(r.dependencies), property_dependencies))
        by_urn = {resource.urn: resource for resource, *_ in intermediates}
        for resource, parent, dependencies, property_dependencies in intermediates:
            if parent is not None and parent in by_urn:
                resource.parent = by_urn[parent]
            resource.dependencies.extend(by_urn[d] for d in dependencies if d in by_urn)
            for key, urns in property_dependencies.items():
                resource.property_dependencies[key] = [by_urn[d] for d in urns if d in by_urn]
        return [resource for resource, *_ in intermediates]

    # setattr, not attribute assignment: replacing methods of the class is the point here.
    for name, replacement in (("Analyze", analyze), ("AnalyzeStack", analyze_stack)):
        _ORIGINALS[name] = getattr(servicer, name)
        setattr(servicer, name, replacement)
    return True


def uninstall() -> None:
    """Restore the original servicer methods (used by the equivalence test)."""
    if not _ORIGINALS:
        return
    import pulumi_policy.policy as pp

    for name in ("Analyze", "AnalyzeStack"):
        setattr(pp._PolicyAnalyzerServicer, name, _ORIGINALS.pop(name))
