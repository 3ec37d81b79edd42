"""Offline CrossGuard runner: starts policy packs as the Pulumi CLI does and drives them.

The Pulumi CLI runs a Python policy pack through its ``pulumi-analyzer-policy-python``
shim, which executes ``python -u -m pulumi.policy <engine address> .`` with the pack
folder as working directory and ``PULUMI_PROJECT``, ``PULUMI_STACK``,
``PULUMI_DRY_RUN``, ``PULUMI_ORGANIZATION`` and ``PULUMI_CONFIG`` (the stack config as
JSON) in the environment. The pack prints the port of its Analyzer gRPC server on its
first stdout line. The CLI then calls ``Handshake`` (optional), ``GetAnalyzerInfo``,
``Configure`` (the reconciled pack config), ``ConfigureStack``, ``Analyze`` for every
resource (with its provider and options) and ``AnalyzeStack`` once. It also serves the
Engine service (``Log``, ``GetRootResource``...) at the engine address; so do we.

This module does exactly that against a plan produced by the offline engine, so the
packs that run in ``pulumi preview --policy-pack`` are the ones checked here.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2, engine_pb2_grpc

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
"""Values the ``enforcementLevel`` of a policy config may take (as in the Pulumi CLI)."""

_LEVEL_TO_PROTO = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
_PROTO_TO_LEVEL = {v: k for k, v in _LEVEL_TO_PROTO.items()}
_PROTO_TO_SEVERITY = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "unspecified",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]
_STDERR_TAIL_CHARS = 4000
_IN_FLIGHT = 64
"""Analyze calls kept in flight per pack: enough to hide the round trip, bounded memory."""


class PackError(Exception):
    """A pack could not be run: it crashed, hung, or its configuration is invalid.

    The message is one line, followed (when there is one) by the tail of the pack's stderr.
    """


class PackConfigError(PackError):
    """The policy-pack configuration is malformed or does not match a policy's schema."""


@dataclass(frozen=True)
class PolicyInfo:
    """A policy as the pack describes it (``GetAnalyzerInfo``)."""

    name: str
    description: str
    enforcement_level: str
    severity: str
    remediation: str
    frameworks: tuple[str, ...]
    policy_type: str


@dataclass(frozen=True)
class Violation:
    """One policy violation reported by a pack."""

    urn: str
    resource_type: str
    resource_name: str
    policy: str
    pack: str
    pack_version: str
    enforcement_level: str
    severity: str
    message: str
    description: str
    remediation: str
    frameworks: tuple[str, ...]

    @property
    def mandatory(self) -> bool:
        """Whether this violation blocks a deployment."""
        return self.enforcement_level in ("mandatory", "remediate")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "urn": self.urn,
            "resourceType": self.resource_type,
            "resourceName": self.resource_name,
            "policy": self.policy,
            "pack": self.pack,
            "packVersion": self.pack_version,
            "enforcementLevel": self.enforcement_level,
            "severity": self.severity,
            "message": self.message,
            "description": self.description,
            "remediation": self.remediation,
            "frameworks": list(self.frameworks),
        }


@dataclass
class PackInfo:
    """A pack that ran, with its policies and timings."""

    name: str
    version: str
    path: str
    policies: list[PolicyInfo]
    resources_analyzed: int
    start_seconds: float
    analyze_seconds: float
    stack_seconds: float
    log: list[str] = field(default_factory=list)


@dataclass
class PolicyReport:
    """Everything one ``run_packs`` call found."""

    project: str
    stack: str
    violations: list[Violation]
    packs: list[PackInfo]
    resources_analyzed: int
    seconds: float

    @property
    def mandatory_violations(self) -> list[Violation]:
        """Violations that block a deployment."""
        return [v for v in self.violations if v.mandatory]

    @property
    def exit_code(self) -> int:
        """1 when any mandatory violation was found, else 0."""
        return 1 if self.mandatory_violations else 0


# --- discovery and configuration ---------------------------------------------------------


def discover_packs(root: pathlib.Path) -> list[pathlib.Path]:
    """Every folder with a ``PulumiPolicy.yaml`` under ``root/policies`` (or ``root``)."""
    base = root / "policies" if (root / "policies").is_dir() else root
    return sorted(p.parent for p in base.glob("*/PulumiPolicy.yaml"))


def _normalize_config(raw: Any, source: str) -> dict[str, dict[str, Any]]:
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
    return _normalize_config(raw, str(path))


def _reconcile(
    pack: str,
    info: analyzer_pb2.AnalyzerInfo,
    given: Mapping[str, Mapping[str, Any]],
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Defaults from each policy's schema, then initial config, then ``all``, then given."""
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for policy in info.policies:
        schema = json_format.MessageToDict(policy.configSchema)
        properties = schema.get("properties", {})
        defaults = {k: v["default"] for k, v in properties.items() if "default" in v}
        result[policy.name] = (_PROTO_TO_LEVEL[policy.enforcementLevel], defaults)
        schemas[policy.name] = schema
    for name, initial in info.initialConfig.items():
        if name in result:
            level, props = result[name]
            props.update(json_format.MessageToDict(initial.properties))
            result[name] = (_PROTO_TO_LEVEL.get(initial.enforcementLevel, level), props)
    if "all" in given and "enforcementLevel" in given["all"]:
        for name, (_level, props) in result.items():
            result[name] = (given["all"]["enforcementLevel"], props)
    for name, value in given.items():
        if name not in result:
            continue
        level, props = result[name]
        settings = {k: v for k, v in value.items() if k != "enforcementLevel"}
        properties = schemas[name].get("properties", {})
        unknown = sorted(set(settings) - set(properties))
        if unknown:
            allowed = ", ".join(sorted(properties)) or "none (enforcementLevel only)"
            raise PackConfigError(
                f"policy config '{name}' (pack {pack}): unknown setting(s) {unknown}; "
                f"allowed: {allowed}"
            )
        props.update(settings)
        result[name] = (value.get("enforcementLevel", level), props)
    for name, (_level, props) in result.items():
        schema = {
            "type": "object",
            "properties": schemas[name].get("properties", {}),
            "required": schemas[name].get("required", []),
        }
        try:
            jsonschema.validate(props, schema)
        except jsonschema.ValidationError as err:
            where = ".".join(str(p) for p in err.absolute_path) or "(root)"
            raise PackConfigError(
                f"policy config '{name}.{where}' (pack {pack}): {err.message}"
            ) from None
    return result


# --- the engine side ---------------------------------------------------------------------


class _Engine(engine_pb2_grpc.EngineServicer):
    """The Engine service the CLI offers plugins: collects their log messages."""

    def __init__(self, root_urn: str) -> None:
        self.root_urn = root_urn
        self.messages: list[str] = []
        self._lock = threading.Lock()

    def Log(self, request: Any, context: Any) -> empty_pb2.Empty:  # noqa: N802 (gRPC name)
        severity = engine_pb2.LogSeverity.Name(request.severity).lower()
        with self._lock:
            self.messages.append(f"{severity}: {request.message}")
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=self.root_urn)

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.SetRootResourceResponse()


class _PackProcess:
    """One running pack: the child process, its stderr collector and its channel."""

    def __init__(self, path: pathlib.Path, engine_address: str, env: Mapping[str, str]) -> None:
        self.path = path
        self.stderr_chunks: list[str] = []
        self._stdout: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", engine_address, "."],
            cwd=path,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._threads = [
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.channel: grpc.Channel | None = None

    def _pump_stdout(self) -> None:
        assert self.process.stdout is not None
        for raw in iter(self.process.stdout.readline, b""):
            self._stdout.put(raw.decode("utf-8", "replace"))
        self._stdout.put(None)

    def _pump_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in iter(self.process.stderr.readline, b""):
            self.stderr_chunks.append(raw.decode("utf-8", "replace"))
            if len(self.stderr_chunks) > 400:
                del self.stderr_chunks[:200]

    def stderr_tail(self) -> str:
        """The end of what the pack wrote to stderr (waits briefly for it to flush)."""
        for thread in self._threads[1:]:
            thread.join(timeout=1.0)
        return "".join(self.stderr_chunks)[-_STDERR_TAIL_CHARS:].rstrip()

    def read_port(self, deadline: float) -> int:
        """The port the pack prints on its first stdout line."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.error("did not print its port before the timeout")
            try:
                line = self._stdout.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                code = self.process.wait(timeout=5)
                raise self.error(f"exited with code {code} before printing its port")
            text = line.strip()
            if text.isdigit():
                return int(text)
            # Anything else on stdout before the port is the pack printing; keep it visible.
            self.stderr_chunks.append(f"[stdout] {line}")

    def error(self, what: str) -> PackError:
        """A :class:`PackError` for this pack with its stderr tail."""
        tail = self.stderr_tail()
        message = f"policy pack {self.path.name} {what}"
        return PackError(f"{message}\n{tail}" if tail else message)

    def stop(self) -> None:
        """Close the channel and end the process (and anything it started)."""
        if self.channel is not None:
            self.channel.close()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, 9)
                self.process.wait(timeout=3)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


# --- requests from the plan --------------------------------------------------------------


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


def _options(resource: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    opts = resource.get("options") or {}
    delete_before_replace = opts.get("deleteBeforeReplace")
    timeouts = opts.get("customTimeouts") or {}
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(opts.get("protect", False)),
        ignoreChanges=[str(x) for x in opts.get("ignoreChanges") or []],
        deleteBeforeReplace=bool(delete_before_replace),
        deleteBeforeReplaceDefined=delete_before_replace is not None,
        additionalSecretOutputs=[str(x) for x in opts.get("additionalSecretOutputs") or []],
        aliases=[a if isinstance(a, str) else json.dumps(a) for a in opts.get("aliases") or []],
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
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
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
        rid = resource.get("id")
        if resource.get("custom") and isinstance(rid, str) and len(rid) > 2:
            by_value.setdefault(rid, resource["urn"])
            if resource.get("type", "").startswith("aws:s3/bucket"):
                by_value.setdefault(f"arn:aws:s3:::{rid}", resource["urn"])
    result = []
    for resource in resources:
        given = resource.get("propertyDependencies")
        if isinstance(given, Mapping):
            result.append({k: [str(u) for u in v] for k, v in given.items()})
            continue
        deps: dict[str, list[str]] = {}
        for key, value in (resource.get("inputs") or {}).items():
            urns = sorted(
                {by_value[s] for s in _strings(value) if s in by_value} - {resource["urn"]}
            )
            if urns:
                deps[key] = urns
        result.append(deps)
    return result


@dataclass
class _Requests:
    analyze: list[analyzer_pb2.AnalyzeRequest]
    stack: analyzer_pb2.AnalyzeStackRequest
    by_urn: dict[str, Mapping[str, Any]]
    root_urn: str


def _build_requests(plan: Mapping[str, Any]) -> _Requests:
    resources = plan.get("resources")
    if not isinstance(resources, list):
        raise PackConfigError("plan: 'resources' must be a list")
    by_urn: dict[str, Mapping[str, Any]] = {}
    for index, resource in enumerate(resources):
        if not isinstance(resource, Mapping) or not all(
            isinstance(resource.get(k), str) for k in ("urn", "type", "name")
        ):
            raise PackConfigError(f"plan: resources[{index}] needs string urn, type and name")
        by_urn[resource["urn"]] = resource
    providers: dict[str, analyzer_pb2.AnalyzerProviderResource] = {}
    for resource in resources:
        if resource["type"].startswith("pulumi:providers:"):
            providers[resource["urn"]] = analyzer_pb2.AnalyzerProviderResource(
                urn=resource["urn"],
                type=resource["type"],
                name=resource["name"],
                properties=_struct(resource.get("inputs") or {}),
            )
    analyze = []
    stack_resources = []
    for resource, prop_deps in zip(resources, _property_dependencies(resources), strict=True):
        reference = resource.get("provider")
        provider = providers.get(reference.rsplit("::", 1)[0]) if reference else None
        properties = _struct(resource.get("inputs") or {})
        options = _options(resource)
        analyze.append(
            analyzer_pb2.AnalyzeRequest(
                urn=resource["urn"],
                type=resource["type"],
                name=resource["name"],
                properties=properties,
                options=options,
                provider=provider,
            )
        )
        depends_on = [str(u) for u in (resource.get("options") or {}).get("dependsOn") or []]
        depends_on += [str(u) for u in resource.get("dependencies") or [] if u not in depends_on]
        stack_resources.append(
            analyzer_pb2.AnalyzerResource(
                urn=resource["urn"],
                type=resource["type"],
                name=resource["name"],
                properties=properties,
                options=options,
                provider=provider,
                parent=resource.get("parent") or "",
                dependencies=depends_on,
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                    for k, v in prop_deps.items()
                },
            )
        )
    root_urn = next((u for u, r in by_urn.items() if r.get("type") == "pulumi:pulumi:Stack"), "")
    return _Requests(
        analyze, analyzer_pb2.AnalyzeStackRequest(resources=stack_resources), by_urn, root_urn
    )


# --- running one pack --------------------------------------------------------------------


def _policy_info(policy: analyzer_pb2.PolicyInfo) -> PolicyInfo:
    frameworks = tuple(
        t.removeprefix("framework:") for t in policy.tags if t.startswith("framework:")
    )
    if not frameworks and policy.framework.name:
        frameworks = (f"{policy.framework.name}:{policy.framework.reference}",)
    return PolicyInfo(
        name=policy.name,
        description=policy.description,
        enforcement_level=_PROTO_TO_LEVEL.get(policy.enforcementLevel, "advisory"),
        severity=_PROTO_TO_SEVERITY.get(policy.severity, "unspecified"),
        remediation=policy.remediation_steps,
        frameworks=frameworks,
        policy_type="stack" if policy.policy_type == analyzer_pb2.POLICY_TYPE_STACK else "resource",
    )


def _rpc_error(pack: _PackProcess, call: str, err: grpc.RpcError) -> PackError:
    code = err.code() if hasattr(err, "code") else None
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return pack.error(f"timed out during {call}")
    details = err.details() if hasattr(err, "details") else str(err)
    first = (details or "").strip().splitlines()[-1:] or [""]
    return pack.error(f"failed during {call}: {code.name if code else 'error'} {first[0]}".strip())


def _run_one(
    path: pathlib.Path,
    plan: Mapping[str, Any],
    requests: _Requests,
    config: Mapping[str, Mapping[str, Any]],
    engine_address: str,
    engine: _Engine,
    timeout_s: float,
) -> tuple[PackInfo, list[Violation]]:
    deadline = time.monotonic() + timeout_s
    project = str(plan.get("project") or "project")
    stack = str(plan.get("stack") or "stack")
    stack_config = {
        k: v if isinstance(v, str) else json.dumps(v) for k, v in (plan.get("config") or {}).items()
    }
    env = {
        **os.environ,
        "PULUMI_PROJECT": project,
        "PULUMI_STACK": stack,
        "PULUMI_DRY_RUN": "true",
        "PULUMI_ORGANIZATION": "organization",
        "PULUMI_CONFIG": json.dumps(stack_config),
    }
    manifest_version = _check_pack_folder(path)
    started = time.monotonic()
    pack = _PackProcess(path, engine_address, env)
    try:
        port = pack.read_port(deadline)
        pack.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_GRPC_OPTIONS)
        try:
            grpc.channel_ready_future(pack.channel).result(
                timeout=max(deadline - time.monotonic(), 0.1)
            )
        except grpc.FutureTimeoutError:
            raise pack.error("did not accept connections before the timeout") from None
        stub = analyzer_pb2_grpc.AnalyzerStub(pack.channel)

        def remaining() -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise pack.error(f"timed out after {timeout_s:g}s")
            return left

        call = "Handshake"
        try:
            try:
                stub.Handshake(
                    analyzer_pb2.AnalyzerHandshakeRequest(
                        engine_address=engine_address,
                        root_directory=str(path),
                        program_directory=str(path),
                    ),
                    timeout=remaining(),
                )
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
            call = "GetAnalyzerInfo"
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=remaining())
            policies = {p.name: _policy_info(p) for p in info.policies}
            reconciled = _reconcile(info.name or path.name, info, config)
            call = "Configure"
            stub.Configure(
                analyzer_pb2.ConfigureAnalyzerRequest(
                    policyConfig={
                        name: analyzer_pb2.PolicyConfig(
                            enforcementLevel=_LEVEL_TO_PROTO[level], properties=_struct(props)
                        )
                        for name, (level, props) in reconciled.items()
                    }
                ),
                timeout=remaining(),
            )
            call = "ConfigureStack"
            try:
                stub.ConfigureStack(
                    analyzer_pb2.AnalyzerStackConfigureRequest(
                        stack=stack,
                        project=project,
                        organization="organization",
                        dry_run=True,
                        config=stack_config,
                    ),
                    timeout=remaining(),
                )
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
            start_seconds = time.monotonic() - started

            call = "Analyze"
            analyze_started = time.monotonic()
            diagnostics: list[tuple[str, analyzer_pb2.AnalyzeDiagnostic]] = []
            pending: list[tuple[str, Any]] = []
            for request in requests.analyze:
                pending.append((request.urn, stub.Analyze.future(request, timeout=remaining())))
                if len(pending) >= _IN_FLIGHT:
                    urn, future = pending.pop(0)
                    diagnostics.extend((urn, d) for d in future.result().diagnostics)
            for urn, future in pending:
                diagnostics.extend((urn, d) for d in future.result().diagnostics)
            analyze_seconds = time.monotonic() - analyze_started

            call = "AnalyzeStack"
            stack_started = time.monotonic()
            response = stub.AnalyzeStack(requests.stack, timeout=remaining())
            diagnostics.extend((d.urn, d) for d in response.diagnostics)
            stack_seconds = time.monotonic() - stack_started
        except grpc.RpcError as err:
            raise _rpc_error(pack, call, err) from None
        if pack.process.poll() is not None:
            raise pack.error(f"exited with code {pack.process.returncode} while running")
        root = requests.root_urn
        version = manifest_version or info.version
        violations = [
            _violation(urn or root, d, policies, requests.by_urn, version) for urn, d in diagnostics
        ]
        pack_info = PackInfo(
            name=info.name or path.name,
            version=version,
            path=str(path),
            policies=list(policies.values()),
            resources_analyzed=len(requests.analyze),
            start_seconds=start_seconds,
            analyze_seconds=analyze_seconds,
            stack_seconds=stack_seconds,
            log=list(engine.messages),
        )
        return pack_info, violations
    finally:
        pack.stop()


def _check_pack_folder(path: pathlib.Path) -> str:
    manifest = path / "PulumiPolicy.yaml"
    if not manifest.is_file():
        raise PackConfigError(f"{path}: not a policy pack (no PulumiPolicy.yaml)")
    try:
        data = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        raise PackConfigError(f"{manifest}: invalid YAML ({detail})") from None
    runtime = data.get("runtime") if isinstance(data, Mapping) else None
    name = runtime.get("name") if isinstance(runtime, Mapping) else runtime
    if name != "python":
        raise PackConfigError(f"{manifest}: runtime is {name!r}; this runner starts Python packs")
    if not (path / "__main__.py").is_file():
        raise PackConfigError(f"{path}: no __main__.py to start")
    # As in the CLI, the manifest's version wins over the one the pack reports.
    version = data.get("version")
    return str(version) if version is not None else ""


def _violation(
    urn: str,
    diagnostic: analyzer_pb2.AnalyzeDiagnostic,
    policies: Mapping[str, PolicyInfo],
    by_urn: Mapping[str, Mapping[str, Any]],
    version: str,
) -> Violation:
    policy = policies.get(diagnostic.policyName)
    message = diagnostic.message
    prefix = diagnostic.description + "\n"
    if diagnostic.description and message.startswith(prefix):
        message = message[len(prefix) :]
    resource = by_urn.get(urn, {})
    return Violation(
        urn=urn,
        resource_type=str(resource.get("type", "")),
        resource_name=str(resource.get("name", "")),
        policy=diagnostic.policyName,
        pack=diagnostic.policyPackName,
        pack_version=version or diagnostic.policyPackVersion,
        enforcement_level=_PROTO_TO_LEVEL.get(diagnostic.enforcementLevel, "advisory"),
        severity=_PROTO_TO_SEVERITY.get(diagnostic.severity, "unspecified"),
        message=message.strip(),
        description=diagnostic.description,
        remediation=policy.remediation if policy else "",
        frameworks=policy.frameworks if policy else (),
    )


def run_packs(
    plan: Mapping[str, Any],
    packs: Sequence[pathlib.Path],
    config: Mapping[str, Any] | None = None,
    timeout_s: float = 120.0,
) -> PolicyReport:
    """Run every pack against ``plan`` through the Analyzer protocol.

    ``config`` has the ``--policy-pack-config`` shape (see :func:`load_pack_config`); one
    config serves all packs, each policy picking its own entry. Raises :class:`PackError`
    when a pack crashes, hangs past ``timeout_s`` or rejects its configuration.
    """
    if not packs:
        raise PackConfigError("no policy packs to run")
    given = _normalize_config(config or {}, "policy config")
    started = time.monotonic()
    requests = _build_requests(plan)
    engine = _Engine(requests.root_urn)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=_GRPC_OPTIONS)
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    engine_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with futures.ThreadPoolExecutor(max_workers=len(packs)) as pool:
            jobs = [
                pool.submit(
                    _run_one,
                    pathlib.Path(p).resolve(),
                    plan,
                    requests,
                    given,
                    f"127.0.0.1:{engine_port}",
                    engine,
                    timeout_s,
                )
                for p in packs
            ]
            results = [job.result() for job in jobs]
    finally:
        server.stop(grace=None)
    known = {p.name for info, _ in results for p in info.policies}
    unknown = sorted(set(given) - known - {"all"})
    if unknown:
        raise PackConfigError(
            f"policy config names unknown policies {unknown}; known: {', '.join(sorted(known))}"
        )
    violations = sorted(
        (v for _, vs in results for v in vs),
        key=lambda v: (v.urn, v.pack, v.policy, v.message),
    )
    return PolicyReport(
        project=str(plan.get("project") or ""),
        stack=str(plan.get("stack") or ""),
        violations=violations,
        packs=[info for info, _ in results],
        resources_analyzed=len(requests.analyze),
        seconds=time.monotonic() - started,
    )
