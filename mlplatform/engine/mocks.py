"""The Pulumi SDK's mock monitor, extended to record a faithful plan.

``PlatformMocks`` answers resource creation and invokes through ``cloud``;
``RecordingMonitor`` subclasses the SDK's ``MockMonitor`` to keep, for every
registration, what the real engine would know: parent, provider reference (with the
default providers the engine would create from stack config), options and which
inputs are secret.
"""

from __future__ import annotations

import threading
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
        inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in (args.inputs or {}).items()}
        urn = f"{args.typ}::{args.name}::{resource_urn}"
        if args.typ.startswith("pulumi:providers:"):
            return f"{cloud.digest(urn, n=8)}-{cloud.digest(urn, 'p', n=4)}", dict(inputs)
        if args.typ.startswith("aws:"):
            rid, state = cloud.aws_outputs(
                args.typ, args.name, urn, inputs, args.provider, self.ctx
            )
        elif args.typ.startswith("kubernetes:"):
            rid, state = cloud.kubernetes_outputs(args.typ, args.name, urn, inputs)
        elif args.typ.startswith("random:"):
            rid, state = cloud.random_outputs(args.typ, args.name, urn, inputs)
        else:
            rid, state = f"{args.name}-{cloud.digest(urn, n=8)}", dict(inputs)
        # Keep secrets secret in the returned state, as the engine would: secret inputs
        # and the outputs the resource declares secret (additionalSecretOutputs).
        for k, v in (args.inputs or {}).items():
            if rpc.is_rpc_secret(v):
                state[k] = v
        for k in secret_outputs:
            if k in state and not rpc.is_rpc_secret(state[k]):
                state[k] = rpc.wrap_rpc_secret(state[k])
        return rid, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        handler = cloud.INVOKES.get(args.token)
        region = self.ctx.provider_regions.get(args.provider) if args.provider else None
        plain = {k: rpc.unwrap_rpc_secret(v) for k, v in (args.args or {}).items()}
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


class RecordingMonitor(MockMonitor):
    """MockMonitor that records every registration in order, as plan entries."""

    def __init__(self, mocks: PlatformMocks, provider_config: dict[str, dict[str, Any]]) -> None:
        super().__init__(mocks)
        self.platform_mocks = mocks
        self.records: list[dict[str, Any]] = []
        self.by_urn: dict[str, dict[str, Any]] = {}
        self.provider_config = provider_config
        self._lock = threading.Lock()
        self._default_providers: dict[tuple[str, str], str] = {}

    # -- helpers ---------------------------------------------------------------------
    def _default_provider(self, type_: str, version: str) -> str | None:
        pkg = type_.split(":", 1)[0]
        if pkg in ("pulumi", "mlplatform") or not type_ or ":" not in type_:
            return None
        version = version or "0.0.0"
        key = (pkg, version)
        with self._lock:
            ref = self._default_providers.get(key)
            if ref:
                return ref
            name = f"default_{version.replace('.', '_').replace('-', '_')}"
            ptype = f"pulumi:providers:{pkg}"
            urn = "urn:pulumi:" + "::".join([get_stack(), get_project(), ptype, name])
            pid = cloud.digest(urn, n=8) + "-" + cloud.digest(urn, "id", n=4)
            inputs = {**self.provider_config.get(pkg, {}), "version": version}
            record: dict[str, Any] = {
                "urn": urn,
                "id": pid,
                "type": ptype,
                "name": name,
                "parent": None,
                "provider": None,
                "custom": True,
                "inputs": inputs,
                "options": _options(None),
                "secretInputs": [],
                "default": True,
            }
            ref = f"{urn}::{pid}"
            self._default_providers[key] = ref
            self.records.append(record)
            self.by_urn[urn] = record
            if pkg == "aws" and isinstance(inputs.get("region"), str):
                self.platform_mocks.ctx.provider_regions[ref] = inputs["region"]
            return ref

    # -- the monitor protocol ------------------------------------------------------------
    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        # What the SDK's MockMonitor.RegisterResource does, with the URN, the provider the
        # engine would pick and the declared secret outputs handed to the mocks, and the
        # inputs deserialized once for both the mocks and the record.
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        provider = request.provider or None
        if request.custom and not provider and not request.type.startswith("pulumi:providers:"):
            provider = self._default_provider(request.type, request.version)
        _ensure_event_loop()
        raw = rpc.deserialize_properties(request.object)
        args = MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=raw,
            provider=provider or "",
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=_resolve_callbacks(request.transforms),
        )
        rid, state = self.platform_mocks.resource(args, urn, list(request.additionalSecretOutputs))
        response = resource_pb2.RegisterResourceResponse(
            urn=urn, id=rid, object=_sync_await(rpc.serialize_properties(state, {}))
        )
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, rid, state)
        secret_keys = sorted(k for k, v in raw.items() if rpc.is_rpc_secret(v))
        inputs = {k: _plain(v) for k, v in raw.items()}
        record = {
            "urn": urn,
            "id": response.id or None,
            "type": request.type,
            "name": request.name,
            "parent": request.parent or None,
            "provider": provider if request.custom else None,
            "custom": bool(request.custom),
            "inputs": inputs,
            "options": _options(request),
            "secretInputs": secret_keys,
        }
        deps = {
            prop: sorted(set(d.urns)) for prop, d in request.propertyDependencies.items() if d.urns
        }
        if deps:
            record["propertyDependencies"] = deps
        if request.HasField("sourcePosition") and request.sourcePosition.uri:
            record["source"] = {
                "uri": request.sourcePosition.uri,
                "line": request.sourcePosition.line,
            }
        if request.type.startswith("pulumi:providers:"):
            pkg = request.type.split(":")[-1]
            ref = f"{urn}::{response.id}"
            if pkg == "aws":
                region = inputs.get("region") or self.provider_config.get("aws", {}).get("region")
                if isinstance(region, str):
                    self.platform_mocks.ctx.provider_regions[ref] = region
        with self._lock:
            self.records.append(record)
            self.by_urn[urn] = record
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        response = super().ReadResource(request)
        urn = response.urn
        with self._lock:
            record = {
                "urn": urn,
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
            self.records.append(record)
            self.by_urn[urn] = record
        return response


def _mask(value: Any) -> Any:
    """A secret's shape without its content: keys stay (policies and schemas need them)."""
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return SECRET_MARK


def _plain(value: Any) -> Any:
    """Inputs as JSON data: secrets masked, whole numbers as ints, references as URNs."""
    if rpc.is_rpc_secret(value):
        return _mask(rpc.unwrap_rpc_secret(value))
    if isinstance(value, float) and value.is_integer():
        # The wire format (protobuf Struct) has only doubles; providers read ints back.
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
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
        a.urn if a.urn else f"name={a.spec.name}" for a in request.aliases if a.urn or a.spec.name
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
            k: getattr(timeouts, k) for k in ("create", "update", "delete") if getattr(timeouts, k)
        },
    }
