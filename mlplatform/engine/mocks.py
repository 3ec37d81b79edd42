"""The Pulumi SDK's mock monitor, extended to record a faithful plan.

``PlatformMocks`` answers resource creation (``computed.OUTPUTS``) and invokes
(``invokes.INVOKES``); ``RecordingMonitor`` subclasses the SDK's ``MockMonitor`` to keep,
for every registration, what the real engine would know: parent, provider reference
(with the default providers the engine would create from stack config), options and
which inputs are secret. Like the real engine, it fails a registration whose URN is
already taken.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import rpc
from pulumi.runtime.mocks import (
    MockCallArgs,
    MockMonitor,
    MockResourceArgs,
    Mocks,
    _resolve_callbacks,
)
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import get_project, get_stack
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from mlplatform.engine import cloud
from mlplatform.engine.computed import resource_outputs
from mlplatform.engine.invokes import INVOKES

SECRET_MARK = "[secret]"  # noqa: S105 - a marker, not a secret


class PlatformMocks(Mocks):
    """Answers like AWS and the Kubernetes provider would, deterministically."""

    def __init__(self, ctx: cloud.CloudContext | None = None) -> None:
        self.ctx = ctx or cloud.CloudContext()
        self.unanswered: list[tuple[str, str]] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        """The SDK's Mocks entry point (used when no URN is known, e.g. a plain monitor)."""
        return self.resource(args, "", [])

    def resource(
        self, args: MockResourceArgs, resource_urn: str, secret_outputs: list[str]
    ) -> tuple[str, dict[str, Any]]:
        """Id and state of a new resource; ids derive from its URN, so plans are stable."""
        inputs = {key: rpc.unwrap_rpc_secret(value) for key, value in (args.inputs or {}).items()}
        seed = f"{args.typ}::{args.name}::{resource_urn}"
        resource_id, state = resource_outputs(
            args.typ, args.name, seed, inputs, args.provider, self.ctx
        )
        # Keep secrets secret in the returned state, as the engine would: secret inputs
        # and the outputs the resource declares secret (additionalSecretOutputs).
        for key, value in (args.inputs or {}).items():
            if rpc.is_rpc_secret(value):
                state[key] = value
        for key in secret_outputs:
            if key in state and not rpc.is_rpc_secret(state[key]):
                state[key] = rpc.wrap_rpc_secret(state[key])
        return resource_id, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        handler = INVOKES.get(args.token)
        region = self.ctx.provider_regions.get(args.provider) if args.provider else None
        plain = {key: rpc.unwrap_rpc_secret(value) for key, value in (args.args or {}).items()}
        if isinstance(plain.get("region"), str):
            region = plain["region"]
        if handler is None:
            self.unanswered.append((args.token, "no offline answer for this data source"))
            raise cloud.UnanswerableInvokeError(args.token)
        try:
            return handler(plain, self.ctx, region), []
        except cloud.UnanswerableInvokeError as exc:
            self.unanswered.append((args.token, str(exc)))
            raise


@dataclass(frozen=True)
class DuplicateUrn:
    """A URN registered twice, with the source positions (``{"uri", "line"}``) known."""

    urn: str
    first_source: dict[str, Any] | None
    second_source: dict[str, Any] | None


class DuplicateResourceUrnError(Exception):
    """The program registered a URN twice: the run fails at shutdown, as the engine fails it."""


class RecordingMonitor(MockMonitor):
    """MockMonitor that records every registration in order, as plan entries."""

    def __init__(self, mocks: PlatformMocks, provider_config: dict[str, dict[str, Any]]) -> None:
        super().__init__(mocks)
        self.platform_mocks = mocks
        self.records: list[dict[str, Any]] = []
        self.by_urn: dict[str, dict[str, Any]] = {}
        self.duplicates: list[DuplicateUrn] = []
        self.provider_config = provider_config
        self._lock = threading.Lock()
        self._claimed_urns: dict[str, dict[str, Any] | None] = {}
        """Every URN registered so far, with the source position of its registration."""
        self._default_providers: dict[tuple[str, str], str] = {}

    # -- helpers ---------------------------------------------------------------------
    def _claim(self, urn: str, request: Any) -> None:
        """Take ``urn`` for this registration, or note that it was taken already.

        The registration goes on either way (the program runs to its end, its outputs
        resolved as usual); the run then fails at shutdown, as the engine fails it.
        """
        source = _source(request)
        with self._lock:
            if urn in self._claimed_urns:
                self.duplicates.append(DuplicateUrn(urn, self._claimed_urns[urn], source))
            else:
                self._claimed_urns[urn] = source

    def _add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.append(record)
            self.by_urn[record["urn"]] = record

    def _default_provider(self, type_: str, version: str) -> str | None:
        package = type_.split(":", 1)[0]
        if package == "pulumi" or not type_ or ":" not in type_:
            return None
        version = version or "0.0.0"
        key = (package, version)
        with self._lock:
            known = self._default_providers.get(key)
            if known:
                return known
            name = f"default_{version.replace('.', '_').replace('-', '_')}"
            provider_type = f"pulumi:providers:{package}"
            urn = "urn:pulumi:" + "::".join([get_stack(), get_project(), provider_type, name])
            provider_id = cloud.digest(urn, length=8) + "-" + cloud.digest(urn, "id", length=4)
            inputs = {**self.provider_config.get(package, {}), "version": version}
            record: dict[str, Any] = {
                "urn": urn,
                "id": provider_id,
                "type": provider_type,
                "name": name,
                "parent": None,
                "provider": None,
                "custom": True,
                "inputs": inputs,
                "options": _options(None),
                "secretInputs": [],
                "default": True,
            }
            reference = f"{urn}::{provider_id}"
            self._default_providers[key] = reference
            self._claimed_urns[urn] = None
            self.records.append(record)
            self.by_urn[urn] = record
            if package == "aws" and isinstance(inputs.get("region"), str):
                self.platform_mocks.ctx.provider_regions[reference] = inputs["region"]
            return reference

    def _note_provider_region(self, request: Any, reference: str, inputs: dict[str, Any]) -> None:
        """An explicit AWS provider: the region its resources are created in."""
        if request.type != "pulumi:providers:aws":
            return
        region = inputs.get("region") or self.provider_config.get("aws", {}).get("region")
        if isinstance(region, str):
            self.platform_mocks.ctx.provider_regions[reference] = region

    # -- the monitor protocol ------------------------------------------------------------
    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        # What the SDK's MockMonitor.RegisterResource does, with the URN, the provider the
        # engine would pick and the declared secret outputs handed to the mocks, and the
        # inputs deserialized once for both the mocks and the record.
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        self._claim(urn, request)
        provider = request.provider or None
        if request.custom and not provider and not request.type.startswith("pulumi:providers:"):
            provider = self._default_provider(request.type, request.version)
        _ensure_event_loop()
        raw_inputs = rpc.deserialize_properties(request.object)
        args = MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=raw_inputs,
            provider=provider or "",
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=_resolve_callbacks(request.transforms),
        )
        resource_id, state = self.platform_mocks.resource(
            args, urn, list(request.additionalSecretOutputs)
        )
        response = resource_pb2.RegisterResourceResponse(
            urn=urn, id=resource_id, object=_sync_await(rpc.serialize_properties(state, {}))
        )
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id, state)
        record = _registration_record(request, urn, response.id, provider, raw_inputs)
        self._note_provider_region(request, f"{urn}::{response.id}", record["inputs"])
        self._add(record)
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        self._claim(self.make_urn(request.parent, request.type, request.name), request)
        response = super().ReadResource(request)
        self._add(
            {
                "urn": response.urn,
                "id": request.id,
                "type": request.type,
                "name": request.name,
                "parent": request.parent or None,
                "provider": request.provider or None,
                "custom": True,
                "inputs": _plain(rpc.deserialize_properties(request.properties)),
                "options": {"read": True},
                "secretInputs": [],
            }
        )
        return response

    def SignalAndWaitForShutdown(self, request: Any) -> Any:  # noqa: N802
        # The SDK's last call of a run that did not raise: fail it on a duplicate URN.
        if self.duplicates:
            urn = min(duplicate.urn for duplicate in self.duplicates)
            raise DuplicateResourceUrnError(
                f"Duplicate resource URN '{urn}'; try giving it a unique name"
            )
        return super().SignalAndWaitForShutdown(request)


def _source(request: Any) -> dict[str, Any] | None:
    """The program position the SDK sent with a registration, if any."""
    if request.HasField("sourcePosition") and request.sourcePosition.uri:
        return {"uri": request.sourcePosition.uri, "line": request.sourcePosition.line}
    return None


def _registration_record(
    request: Any, urn: str, resource_id: str, provider: str | None, raw_inputs: dict[str, Any]
) -> dict[str, Any]:
    """The plan entry of a registration: inputs as JSON data, options, secret inputs."""
    record: dict[str, Any] = {
        "urn": urn,
        "id": resource_id or None,
        "type": request.type,
        "name": request.name,
        "parent": request.parent or None,
        "provider": provider if request.custom else None,
        "custom": bool(request.custom),
        "inputs": {key: _plain(value) for key, value in raw_inputs.items()},
        "options": _options(request),
        "secretInputs": sorted(
            key for key, value in raw_inputs.items() if rpc.is_rpc_secret(value)
        ),
    }
    dependencies = {
        prop: sorted(set(deps.urns))
        for prop, deps in request.propertyDependencies.items()
        if deps.urns
    }
    if dependencies:
        record["propertyDependencies"] = dependencies
    source = _source(request)
    if source:
        record["source"] = source
    return record


def _mask(value: Any) -> Any:
    """A secret's shape without its content: keys stay (policies and schemas need them)."""
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    return SECRET_MARK


def _plain(value: Any) -> Any:
    """Inputs as JSON data: secrets masked, whole numbers as ints, references as URNs."""
    if rpc.is_rpc_secret(value):
        return _mask(rpc.unwrap_rpc_secret(value))
    if isinstance(value, float) and value.is_integer():
        # The wire format (protobuf Struct) has only doubles; providers read ints back.
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    urn = getattr(value, "urn", None)
    if urn is not None:
        return {"resourceRef": str(getattr(urn, "_value", "")) or type(value).__name__}
    return str(value)


def _options(request: Any | None) -> dict[str, Any]:
    if request is None:
        return {
            "protect": False,
            "dependsOn": [],
            "ignoreChanges": [],
            "aliases": [],
            "deleteBeforeReplace": False,
            "additionalSecretOutputs": [],
            "retainOnDelete": False,
        }
    aliases = list(request.aliasURNs) + [
        alias.urn if alias.urn else f"name={alias.spec.name}"
        for alias in request.aliases
        if alias.urn or alias.spec.name
    ]
    timeouts = request.customTimeouts
    return {
        "protect": bool(request.protect),
        "dependsOn": sorted(set(request.dependencies)),
        "ignoreChanges": list(request.ignoreChanges),
        "aliases": aliases,
        "deleteBeforeReplace": bool(request.deleteBeforeReplace),
        "additionalSecretOutputs": list(request.additionalSecretOutputs),
        "retainOnDelete": bool(request.retainOnDelete),
        "customTimeouts": {
            key: getattr(timeouts, key)
            for key in ("create", "update", "delete")
            if getattr(timeouts, key)
        },
    }
