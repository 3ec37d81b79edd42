"""The Pulumi SDK's mock monitor, extended to record a faithful plan.

``PlatformMocks`` answers resource creation (``computed.OUTPUTS``) and invokes
(``invokes.INVOKES``); ``RecordingMonitor`` subclasses the SDK's ``MockMonitor`` to keep,
for every registration, what the real engine would know: parent, provider reference
(with the default providers the engine would create from stack config), options and
which inputs are secret or unknown. Like the real engine, it fails a registration whose
URN is already taken.

Two modes, as the engine has them. In a ``preview`` (``pulumi preview`` of a stack that
does not exist yet) nothing is created: ids and computed outputs are unknown, and the
SDK skips the callbacks that would read them. In an update (``pulumi up``) every output
the offline cloud can fill is filled; the response says ``unknown`` for the rest, so the
SDK resolves them as unknown (callbacks skipped), never as ``None``.

Inputs are recorded as the engine hands them to a policy pack: an unknown value is the
engine's sentinel string (``UnknownStringValue``; its paths are listed in
``unknownInputs``), a resource passed as an input is its id (a component's URN), assets
and archives keep the engine's signature form.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi.asset import Archive, Asset
from pulumi.output import Unknown
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
from pulumi.runtime.sync_await import _sync_await

from mlplatform.engine import cloud
from mlplatform.engine.computed import resource_outputs
from mlplatform.engine.invokes import INVOKES

SECRET_MARK = "[secret]"  # noqa: S105 - a marker, not a secret
UNKNOWN = cloud.UNKNOWN


def has_unknowns(value: Any) -> bool:
    """Whether a deserialized input holds an unknown anywhere."""
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        return any(has_unknowns(item) for item in value.values())
    if isinstance(value, list):
        return any(has_unknowns(item) for item in value)
    return False


class PlatformMocks(Mocks):
    """Answers like AWS and the Kubernetes provider would, deterministically.

    ``preview``: answer as a preview of a stack that does not exist yet (see the module).
    """

    def __init__(self, ctx: cloud.CloudContext | None = None, *, preview: bool = False) -> None:
        self.ctx = ctx or cloud.CloudContext()
        self.preview = preview
        self.unanswered: list[tuple[str, str]] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        """The SDK's Mocks entry point (used when no URN is known, e.g. a plain monitor)."""
        return self.resource(args, "", [])

    def resource(
        self,
        args: MockResourceArgs,
        resource_urn: str,
        secret_outputs: list[str],
        *,
        unknown_inputs: bool = False,
    ) -> tuple[str, dict[str, Any]]:
        """Id and state of a new resource; ids derive from its URN, so plans are stable.

        ``unknown_inputs``: some input is unknown. Its outputs are then answered as in a
        preview (inputs and what the provider's ``Check`` fills in), the input itself
        stays unknown, and the id is unknown: a value made of an unknown is unknown.
        """
        raw = args.inputs or {}
        unknown_keys = (
            {key for key, value in raw.items() if has_unknowns(value)} if unknown_inputs else set()
        )
        inputs = {
            key: rpc.unwrap_rpc_secret(value)
            for key, value in raw.items()
            if key not in unknown_keys
        }
        seed = f"{args.typ}::{args.name}::{resource_urn}"
        resource_id, state = resource_outputs(
            args.typ,
            args.name,
            seed,
            inputs,
            args.provider,
            self.ctx,
            preview=self.preview or bool(unknown_keys),
        )
        for key in unknown_keys:
            state.pop(key, None)
        if args.typ.startswith("aws:"):
            _encode_policy_documents(state)
        # Keep secrets secret in the returned state, as the engine would: secret inputs
        # and the outputs the resource declares secret (additionalSecretOutputs).
        for key, value in raw.items():
            if rpc.is_rpc_secret(value) and key not in unknown_keys:
                state[key] = value
        for key in secret_outputs:
            if key in state and not rpc.is_rpc_secret(state[key]):
                state[key] = rpc.wrap_rpc_secret(state[key])
        return resource_id, state

    def read(
        self,
        type_: str,
        name: str,
        urn: str,
        resource_id: str,
        inputs: dict[str, Any],
        provider: str,
    ) -> dict[str, Any]:
        """The state of an existing resource (``Resource.get``) as far as it is known offline.

        A stack reference's outputs are another stack's: not known offline. A Kubernetes
        object's name and namespace come from its id (``namespace/name``).
        """
        if type_ == "pulumi:pulumi:StackReference":
            return {"name": resource_id}
        known = {
            key: rpc.unwrap_rpc_secret(value)
            for key, value in inputs.items()
            if not has_unknowns(value)
        }
        if type_.startswith("kubernetes:") and not isinstance(known.get("metadata"), dict):
            namespace, _, object_name = resource_id.rpartition("/")
            known["metadata"] = {
                "name": object_name,
                **({"namespace": namespace} if namespace else {}),
            }
        _, state = resource_outputs(
            type_, name, f"{type_}::{name}::{urn}", known, provider or None, self.ctx
        )
        state["id"] = resource_id
        return state

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


def _is_policy_document(value: Any) -> bool:
    return isinstance(value, dict) and "Statement" in value


def _encode_policy_documents(state: dict[str, Any]) -> None:
    """IAM documents given as objects come back as the JSON string the provider stores.

    The AWS provider's string properties (``policy``, ``assumeRolePolicy``...) accept an
    object and encode it; the SDK reads the output back as a string.
    """
    for key, value in state.items():
        if _is_policy_document(value):
            state[key] = json.dumps(value)
        elif key == "inlinePolicies" and isinstance(value, list):
            state[key] = [
                {**item, "policy": json.dumps(item["policy"])}
                if isinstance(item, dict) and _is_policy_document(item.get("policy"))
                else item
                for item in value
            ]


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
        self.thread_loops: list[asyncio.AbstractEventLoop] = []
        self.stack_outputs: dict[str, Any] = {}
        """What the program exported (``pulumi.export``), secrets masked, as the plan's outputs."""

    # -- helpers ---------------------------------------------------------------------
    def _thread_loop(self) -> None:
        """The event loop the SDK's (de)serialization needs on this worker thread.

        Loops made here are kept, so the run can close them when it ends
        (:meth:`close_thread_loops`) rather than leave them to the interpreter's exit.
        """
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = None
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            with self._lock:
                self.thread_loops.append(loop)

    def close_thread_loops(self) -> None:
        """Close the worker threads' loops (once those threads have ended)."""
        with self._lock:
            loops, self.thread_loops = self.thread_loops, []
        for loop in loops:
            if not loop.is_running():
                loop.close()

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
            # In a preview the engine has not created the provider yet: its id is unknown.
            provider_id = (
                UNKNOWN
                if self.platform_mocks.preview
                else cloud.digest(urn, length=8) + "-" + cloud.digest(urn, "id", length=4)
            )
            inputs = {**self.provider_config.get(package, {}), "version": version}
            record: dict[str, Any] = {
                "urn": urn,
                "id": None if provider_id == UNKNOWN else provider_id,
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
        self._thread_loop()
        raw_inputs = deserialize_inputs(request.object)
        unknown: list[None] = []
        inputs = {key: _plain(value, unknown) for key, value in raw_inputs.items()}
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
            args, urn, list(request.additionalSecretOutputs), unknown_inputs=bool(unknown)
        )
        response = resource_pb2.RegisterResourceResponse(
            urn=urn,
            id=resource_id,
            object=_sync_await(rpc.serialize_properties(state, {})),
            # After an update every output is known: what the offline cloud could not fill
            # is unknown (the SDK skips callbacks on it), never None.
            unknown=bool(request.custom) and not self.platform_mocks.preview,
        )
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id, state)
        record = _registration_record(request, urn, resource_id, provider, raw_inputs, inputs)
        if unknown:
            record["unknownInputs"] = unknown_paths(inputs)
        self._note_provider_region(request, f"{urn}::{resource_id or UNKNOWN}", record["inputs"])
        self._add(record)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        # The root Stack's outputs are the program's exports; a component's are not recorded.
        if "::pulumi:pulumi:Stack::" in request.urn:
            self._thread_loop()
            outputs = _plain(deserialize_inputs(request.outputs), [])
            with self._lock:
                self.stack_outputs = dict(sorted(outputs.items()))
        return super().RegisterResourceOutputs(request)

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        # ``Resource.get`` and stack references: the engine reads them in previews too.
        urn = self.make_urn(request.parent, request.type, request.name)
        self._claim(urn, request)
        self._thread_loop()
        raw_inputs = deserialize_inputs(request.properties)
        unknown: list[None] = []
        inputs = {key: _plain(value, unknown) for key, value in raw_inputs.items()}
        # A read whose id is not known yet is skipped, as the engine skips it: all unknown.
        known_id = request.id not in ("", UNKNOWN)
        state = (
            self.platform_mocks.read(
                request.type, request.name, urn, request.id, raw_inputs, request.provider
            )
            if known_id
            else {}
        )
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, request.id, state)
        record: dict[str, Any] = {
            "urn": urn,
            "id": request.id if known_id else None,
            "type": request.type,
            "name": request.name,
            "parent": request.parent or None,
            "provider": request.provider or None,
            "custom": True,
            "inputs": inputs,
            "options": {"read": True},
            "secretInputs": [],
        }
        if unknown:
            record["unknownInputs"] = unknown_paths(inputs)
        self._add(record)
        # What a read cannot know offline (a stack's outputs, a live object's status) is
        # unknown, not None.
        return resource_pb2.ReadResourceResponse(
            urn=urn,
            id=request.id if known_id else "",
            properties=_sync_await(rpc.serialize_properties(state, {})),
            unknown=True,
        )

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
    request: Any,
    urn: str,
    resource_id: str,
    provider: str | None,
    raw_inputs: dict[str, Any],
    inputs: dict[str, Any],
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
        "inputs": inputs,
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


def _plain(value: Any, unknown: list[None]) -> Any:
    """Inputs as JSON data: secrets masked, whole numbers as ints, unknowns as the sentinel.

    Each unknown met appends to ``unknown`` (so callers learn of them without a second walk).
    """
    if rpc.is_rpc_secret(value):
        return _mask(rpc.unwrap_rpc_secret(value))
    if isinstance(value, float) and value.is_integer():
        # The wire format (protobuf Struct) has only doubles; providers read ints back.
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item, unknown) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, unknown) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Unknown):
        unknown.append(None)
        return UNKNOWN
    if isinstance(value, Asset | Archive):
        return _asset(value, unknown)
    # A resource the SDK rehydrated (outside a run's hooks): its name, as a last resort.
    return {"resourceRef": f"{type(value).__name__}:{getattr(value, '_name', '')}"}


def _asset(value: Asset | Archive, unknown: list[None]) -> dict[str, Any]:
    """An asset or archive in the engine's wire form (signature key, then its source)."""
    signature = rpc._special_asset_sig if isinstance(value, Asset) else rpc._special_archive_sig
    rendered: dict[str, Any] = {rpc._special_sig_key: signature}
    for attribute in ("path", "text", "uri"):
        if isinstance(getattr(value, attribute, None), str):
            rendered[attribute] = getattr(value, attribute)
    assets = getattr(value, "assets", None)
    if isinstance(assets, dict):
        rendered["assets"] = {key: _plain(item, unknown) for key, item in assets.items()}
    return rendered


def unknown_paths(inputs: dict[str, Any]) -> list[str]:
    """Dotted paths (``spec.ports.0.port``) of every unknown in recorded inputs, sorted."""
    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if value == UNKNOWN:
            found.append(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}.{index}")

    walk(inputs, "")
    return sorted(found)


_PLAIN_REFERENCES = threading.local()
_ORIGINAL_DESERIALIZE_RESOURCE = rpc.deserialize_resource


def _deserialize_resource(ref_struct: Any, keep_unknowns: bool | None = None) -> Any:
    """The SDK's ``deserialize_resource``, or the engine's view of a reference (see below)."""
    if getattr(_PLAIN_REFERENCES, "active", False):
        # As the engine marshals a reference for a provider or a policy pack (no
        # KeepResources): a custom resource as its id (unknown while it is being
        # created), a component as its URN.
        if "id" in ref_struct:
            ref_id = ref_struct["id"]
            return Unknown() if ref_id in ("", UNKNOWN) else ref_id
        return str(ref_struct["urn"])
    return _ORIGINAL_DESERIALIZE_RESOURCE(ref_struct, keep_unknowns)


@contextlib.contextmanager
def reference_hook() -> Iterator[None]:
    """For one run: the SDK deserializes references through ``_deserialize_resource``.

    Outside ``deserialize_inputs`` it does what the SDK's own does; without the hook (the
    SDK's plain mocks), references reach the record rehydrated.
    """
    original = rpc.deserialize_resource
    rpc.deserialize_resource = _deserialize_resource
    try:
        yield
    finally:
        rpc.deserialize_resource = original


def deserialize_inputs(struct: Any) -> dict[str, Any]:
    """A registration's properties, unknowns kept, resource references as ids or URNs."""
    _PLAIN_REFERENCES.active = True
    try:
        inputs: dict[str, Any] = rpc.deserialize_properties(struct, keep_unknowns=True)
    finally:
        _PLAIN_REFERENCES.active = False
    return inputs


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
