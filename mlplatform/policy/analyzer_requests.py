"""The Analyzer requests for a plan: one ``Analyze`` per resource and one ``AnalyzeStack``.

Each request carries what the engine would send during a preview: the resource's
inputs, options and provider, and for the stack every resource with its parent,
dependencies and property dependencies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from mlplatform.policy.model import PackConfigError


def to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


def _options(resource: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    options = resource.get("options") or {}
    delete_before_replace = options.get("deleteBeforeReplace")
    timeouts = options.get("customTimeouts") or {}
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(options.get("protect", False)),
        ignoreChanges=[str(path) for path in options.get("ignoreChanges") or []],
        deleteBeforeReplace=bool(delete_before_replace),
        deleteBeforeReplaceDefined=delete_before_replace is not None,
        additionalSecretOutputs=[
            str(name) for name in options.get("additionalSecretOutputs") or []
        ],
        aliases=[
            alias if isinstance(alias, str) else json.dumps(alias)
            for alias in options.get("aliases") or []
        ],
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
            create=float(timeouts.get("create") or 0),
            update=float(timeouts.get("update") or 0),
            delete=float(timeouts.get("delete") or 0),
        ),
        parent=resource.get("parent") or "",
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _property_dependencies(
    resources: Sequence[Mapping[str, Any]],
) -> list[dict[str, list[str]]]:
    """Per resource, which other resources each top-level input came from.

    The engine knows these from RegisterResource; a plan may carry them as
    ``propertyDependencies``. When it does not, they are recovered from the ids the
    offline engine assigned (an input equal to another resource's id or S3 ARN came from
    that resource), which is what policies need to tie a bucket to its policy.
    """
    by_value: dict[str, str] = {}
    for resource in resources:
        resource_id = resource.get("id")
        if resource.get("custom") and isinstance(resource_id, str) and len(resource_id) > 2:
            by_value.setdefault(resource_id, resource["urn"])
            if resource.get("type", "").startswith("aws:s3/bucket"):
                by_value.setdefault(f"arn:aws:s3:::{resource_id}", resource["urn"])
    result = []
    for resource in resources:
        given = resource.get("propertyDependencies")
        if isinstance(given, Mapping):
            result.append({key: [str(urn) for urn in urns] for key, urns in given.items()})
            continue
        dependencies: dict[str, list[str]] = {}
        for key, value in (resource.get("inputs") or {}).items():
            urns = sorted(
                {by_value[text] for text in _strings(value) if text in by_value} - {resource["urn"]}
            )
            if urns:
                dependencies[key] = urns
        result.append(dependencies)
    return result


@dataclass
class Requests:
    analyze: list[analyzer_pb2.AnalyzeRequest]
    stack: analyzer_pb2.AnalyzeStackRequest
    by_urn: dict[str, Mapping[str, Any]]
    root_urn: str


def _index_plan(plan: Mapping[str, Any]) -> tuple[list[Any], dict[str, Mapping[str, Any]]]:
    """The plan's resources, checked for a string urn, type and name, and indexed by URN."""
    resources = plan.get("resources")
    if not isinstance(resources, list):
        raise PackConfigError("plan: 'resources' must be a list")
    by_urn: dict[str, Mapping[str, Any]] = {}
    for index, resource in enumerate(resources):
        if not isinstance(resource, Mapping) or not all(
            isinstance(resource.get(key), str) for key in ("urn", "type", "name")
        ):
            raise PackConfigError(f"plan: resources[{index}] needs string urn, type and name")
        by_urn[resource["urn"]] = resource
    return resources, by_urn


def _provider_resources(
    resources: Sequence[Mapping[str, Any]],
) -> dict[str, analyzer_pb2.AnalyzerProviderResource]:
    """Every provider of the plan, as requests carry it, by URN."""
    return {
        resource["urn"]: analyzer_pb2.AnalyzerProviderResource(
            urn=resource["urn"],
            type=resource["type"],
            name=resource["name"],
            properties=to_struct(resource.get("inputs") or {}),
        )
        for resource in resources
        if resource["type"].startswith("pulumi:providers:")
    }


def _dependencies(resource: Mapping[str, Any]) -> list[str]:
    """URNs a resource depends on: its ``dependsOn`` option, then its recorded dependencies."""
    depends_on = [str(urn) for urn in (resource.get("options") or {}).get("dependsOn") or []]
    depends_on += [str(urn) for urn in resource.get("dependencies") or [] if urn not in depends_on]
    return depends_on


def build_requests(plan: Mapping[str, Any]) -> Requests:
    """The ``Analyze`` request of every resource and the ``AnalyzeStack`` request."""
    resources, by_urn = _index_plan(plan)
    providers = _provider_resources(resources)
    analyze = []
    stack_resources = []
    for resource, property_dependencies in zip(
        resources, _property_dependencies(resources), strict=True
    ):
        reference = resource.get("provider")
        provider = providers.get(reference.rsplit("::", 1)[0]) if reference else None
        # The fields the Analyze request and the stack's resource entry share.
        described: dict[str, Any] = {
            "urn": resource["urn"],
            "type": resource["type"],
            "name": resource["name"],
            "properties": to_struct(resource.get("inputs") or {}),
            "options": _options(resource),
            "provider": provider,
        }
        analyze.append(analyzer_pb2.AnalyzeRequest(**described))
        stack_resources.append(
            analyzer_pb2.AnalyzerResource(
                **described,
                parent=resource.get("parent") or "",
                dependencies=_dependencies(resource),
                propertyDependencies={
                    key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                    for key, urns in property_dependencies.items()
                },
            )
        )
    root_urn = next(
        (urn for urn, resource in by_urn.items() if resource.get("type") == "pulumi:pulumi:Stack"),
        "",
    )
    return Requests(
        analyze, analyzer_pb2.AnalyzeStackRequest(resources=stack_resources), by_urn, root_urn
    )
