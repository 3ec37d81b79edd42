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
packs that run in ``pulumi preview --policy-pack`` are the ones checked here. The steps
live beside it: :mod:`.config` (the pack configuration), :mod:`.analyzer_requests` (the
requests for a plan), :mod:`.pack_process` (one pack process and its Analyzer calls) and
:mod:`.model` (the report and the errors); their public names are importable from here.
"""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent import futures
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, engine_pb2, engine_pb2_grpc

from mlplatform.policy.analyzer_requests import Requests, build_requests
from mlplatform.policy.config import (
    ENFORCEMENT_LEVELS,
    PROTO_TO_LEVEL,
    load_pack_config,
    normalize_config,
    reconcile,
)
from mlplatform.policy.model import (
    PackConfigError,
    PackError,
    PackInfo,
    PolicyInfo,
    PolicyReport,
    Violation,
)
from mlplatform.policy.pack_process import (
    GRPC_OPTIONS,
    AnalyzerSession,
    PackProcess,
    StackContext,
)

__all__ = [
    "ENFORCEMENT_LEVELS",
    "PackConfigError",
    "PackError",
    "PackInfo",
    "PolicyInfo",
    "PolicyReport",
    "Violation",
    "discover_packs",
    "load_pack_config",
    "run_packs",
]

_PROTO_TO_SEVERITY = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "unspecified",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


def discover_packs(root: pathlib.Path) -> list[pathlib.Path]:
    """Every folder with a ``PulumiPolicy.yaml`` under ``root/policies`` (or ``root``)."""
    base = root / "policies" if (root / "policies").is_dir() else root
    return sorted(manifest.parent for manifest in base.glob("*/PulumiPolicy.yaml"))


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


def _policy_info(policy: analyzer_pb2.PolicyInfo) -> PolicyInfo:
    frameworks = tuple(
        tag.removeprefix("framework:") for tag in policy.tags if tag.startswith("framework:")
    )
    if not frameworks and policy.framework.name:
        frameworks = (f"{policy.framework.name}:{policy.framework.reference}",)
    return PolicyInfo(
        name=policy.name,
        description=policy.description,
        enforcement_level=PROTO_TO_LEVEL.get(policy.enforcementLevel, "advisory"),
        severity=_PROTO_TO_SEVERITY.get(policy.severity, "unspecified"),
        remediation=policy.remediation_steps,
        frameworks=frameworks,
        policy_type="stack" if policy.policy_type == analyzer_pb2.POLICY_TYPE_STACK else "resource",
    )


def _run_one(
    path: pathlib.Path,
    context: StackContext,
    requests: Requests,
    config: Mapping[str, Mapping[str, Any]],
    engine_address: str,
    engine: _Engine,
    timeout_s: float,
) -> tuple[PackInfo, list[Violation]]:
    """Start the pack in ``path``, drive it through every Analyzer call, then stop it."""
    deadline = time.monotonic() + timeout_s
    manifest_version = _check_pack_folder(path)
    started = time.monotonic()
    pack = PackProcess(path, engine_address, context.environment())
    try:
        session = AnalyzerSession(pack, deadline, timeout_s)
        session.connect()
        session.handshake(engine_address, path)
        info = session.describe()
        policies = {policy.name: _policy_info(policy) for policy in info.policies}
        session.configure(reconcile(info.name or path.name, info, config))
        session.configure_stack(context)
        start_seconds = time.monotonic() - started

        analyze_started = time.monotonic()
        diagnostics = session.analyze(requests.analyze)
        analyze_seconds = time.monotonic() - analyze_started

        stack_started = time.monotonic()
        diagnostics += session.analyze_stack(requests.stack)
        stack_seconds = time.monotonic() - stack_started

        if pack.process.poll() is not None:
            raise pack.error(f"exited with code {pack.process.returncode} while running")
        version = manifest_version or info.version
        violations = [
            _violation(urn or requests.root_urn, diagnostic, policies, requests.by_urn, version)
            for urn, diagnostic in diagnostics
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
        enforcement_level=PROTO_TO_LEVEL.get(diagnostic.enforcementLevel, "advisory"),
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
    given = normalize_config(config or {}, "policy config")
    started = time.monotonic()
    requests = build_requests(plan)
    context = StackContext.of(plan)
    engine = _Engine(requests.root_urn)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=GRPC_OPTIONS)
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    engine_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with futures.ThreadPoolExecutor(max_workers=len(packs)) as pool:
            jobs = [
                pool.submit(
                    _run_one,
                    pathlib.Path(pack).resolve(),
                    context,
                    requests,
                    given,
                    f"127.0.0.1:{engine_port}",
                    engine,
                    timeout_s,
                )
                for pack in packs
            ]
            results = [job.result() for job in jobs]
    finally:
        server.stop(grace=None)
    known = {policy.name for info, _ in results for policy in info.policies}
    unknown = sorted(set(given) - known - {"all"})
    if unknown:
        raise PackConfigError(
            f"policy config names unknown policies {unknown}; known: {', '.join(sorted(known))}"
        )
    violations = sorted(
        (violation for _, pack_violations in results for violation in pack_violations),
        key=lambda violation: (violation.urn, violation.pack, violation.policy, violation.message),
    )
    return PolicyReport(
        project=str(plan.get("project") or ""),
        stack=str(plan.get("stack") or ""),
        violations=violations,
        packs=[info for info, _ in results],
        resources_analyzed=len(requests.analyze),
        seconds=time.monotonic() - started,
    )
