"""One running policy pack: its process, and the Analyzer calls the CLI makes to it.

A pack is started as the Pulumi CLI's ``pulumi-analyzer-policy-python`` shim starts it
(``python -u -m pulumi.policy <engine address> .`` in the pack folder, with the stack
described in the environment); it prints its port, and :class:`AnalyzerSession` calls
it in the CLI's order, each call within the run's deadline.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import pathlib
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from mlplatform.policy.analyzer_requests import to_struct
from mlplatform.policy.config import LEVEL_TO_PROTO
from mlplatform.policy.model import PackError

GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]

_STDERR_TAIL_CHARS = 4000

_IN_FLIGHT = 64
"""Analyze calls kept in flight per pack: enough to hide the round trip, bounded memory."""


class PackProcess:
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


def _rpc_error(pack: PackProcess, call: str, err: grpc.RpcError) -> PackError:
    code = err.code() if hasattr(err, "code") else None
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return pack.error(f"timed out during {call}")
    details = err.details() if hasattr(err, "details") else str(err)
    first = (details or "").strip().splitlines()[-1:] or [""]
    return pack.error(f"failed during {call}: {code.name if code else 'error'} {first[0]}".strip())


@dataclass(frozen=True)
class StackContext:
    """The stack a pack runs for, as the Pulumi CLI describes it to the pack."""

    project: str
    stack: str
    config: dict[str, str]
    """The stack configuration; values that are not strings as JSON, as the CLI sends them."""

    @classmethod
    def of(cls, plan: Mapping[str, Any]) -> StackContext:
        """The project, stack and configuration a plan records."""
        return cls(
            project=str(plan.get("project") or "project"),
            stack=str(plan.get("stack") or "stack"),
            config={
                key: value if isinstance(value, str) else json.dumps(value)
                for key, value in (plan.get("config") or {}).items()
            },
        )

    def environment(self) -> dict[str, str]:
        """The pack process's environment, with the variables the CLI's shim sets."""
        return {
            **os.environ,
            "PULUMI_PROJECT": self.project,
            "PULUMI_STACK": self.stack,
            "PULUMI_DRY_RUN": "true",
            "PULUMI_ORGANIZATION": "organization",
            "PULUMI_CONFIG": json.dumps(self.config),
        }


Diagnostic = tuple[str, analyzer_pb2.AnalyzeDiagnostic]
"""A diagnostic and the URN of the resource it was reported for ("" for the stack)."""


class AnalyzerSession:
    """The Analyzer calls to one started pack, in the CLI's order, within one deadline.

    Each call runs under the name of its RPC, so a failure reads ``failed during
    <RPC>`` (or ``timed out during <RPC>``) with the end of the pack's stderr.
    """

    def __init__(self, pack: PackProcess, deadline: float, timeout_s: float) -> None:
        self.pack = pack
        self.deadline = deadline
        self.timeout_s = timeout_s
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None

    def remaining(self) -> float:
        """Seconds left before the deadline; raises once it has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.pack.error(f"timed out after {self.timeout_s:g}s")
        return left

    def connect(self) -> analyzer_pb2_grpc.AnalyzerStub:
        """Read the port the pack prints and open a channel to it."""
        port = self.pack.read_port(self.deadline)
        self.pack.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=GRPC_OPTIONS)
        try:
            grpc.channel_ready_future(self.pack.channel).result(
                timeout=max(self.deadline - time.monotonic(), 0.1)
            )
        except grpc.FutureTimeoutError:
            raise self.pack.error("did not accept connections before the timeout") from None
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.pack.channel)
        return self.stub

    @contextlib.contextmanager
    def _calling(self, call: str) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
        """The stub, for one RPC; a gRPC error becomes a :class:`PackError` naming ``call``."""
        assert self.stub is not None, "connect() first"
        try:
            yield self.stub
        except grpc.RpcError as err:
            raise _rpc_error(self.pack, call, err) from None

    def _call_if_implemented(self, method: Any, request: Any) -> None:
        """Call an RPC that older analyzers do not implement (UNIMPLEMENTED is not an error)."""
        try:
            method(request, timeout=self.remaining())
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise

    def handshake(self, engine_address: str, path: pathlib.Path) -> None:
        """``Handshake``: the engine's address and the pack's folder."""
        with self._calling("Handshake") as stub:
            request = analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address=engine_address,
                root_directory=str(path),
                program_directory=str(path),
            )
            self._call_if_implemented(stub.Handshake, request)

    def describe(self) -> analyzer_pb2.AnalyzerInfo:
        """``GetAnalyzerInfo``: the pack's name, version and policies."""
        with self._calling("GetAnalyzerInfo") as stub:
            info: analyzer_pb2.AnalyzerInfo = stub.GetAnalyzerInfo(
                empty_pb2.Empty(), timeout=self.remaining()
            )
            return info

    def configure(self, reconciled: Mapping[str, tuple[str, dict[str, Any]]]) -> None:
        """``Configure``: each policy's enforcement level and settings."""
        with self._calling("Configure") as stub:
            request = analyzer_pb2.ConfigureAnalyzerRequest(
                policyConfig={
                    name: analyzer_pb2.PolicyConfig(
                        enforcementLevel=LEVEL_TO_PROTO[level], properties=to_struct(settings)
                    )
                    for name, (level, settings) in reconciled.items()
                }
            )
            stub.Configure(request, timeout=self.remaining())

    def configure_stack(self, context: StackContext) -> None:
        """``ConfigureStack``: the stack, project and configuration of a preview."""
        with self._calling("ConfigureStack") as stub:
            request = analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=context.stack,
                project=context.project,
                organization="organization",
                dry_run=True,
                config=context.config,
            )
            self._call_if_implemented(stub.ConfigureStack, request)

    def analyze(self, requests: Sequence[analyzer_pb2.AnalyzeRequest]) -> list[Diagnostic]:
        """``Analyze`` for every resource, keeping up to ``_IN_FLIGHT`` calls in flight."""
        diagnostics: list[Diagnostic] = []
        with self._calling("Analyze") as stub:
            pending: collections.deque[tuple[str, Any]] = collections.deque()
            for request in requests:
                pending.append(
                    (request.urn, stub.Analyze.future(request, timeout=self.remaining()))
                )
                if len(pending) >= _IN_FLIGHT:
                    urn, future = pending.popleft()
                    diagnostics.extend((urn, found) for found in future.result().diagnostics)
            for urn, future in pending:
                diagnostics.extend((urn, found) for found in future.result().diagnostics)
        return diagnostics

    def analyze_stack(self, request: analyzer_pb2.AnalyzeStackRequest) -> list[Diagnostic]:
        """``AnalyzeStack`` once for the whole stack."""
        with self._calling("AnalyzeStack") as stub:
            response = stub.AnalyzeStack(request, timeout=self.remaining())
        return [(diagnostic.urn, diagnostic) for diagnostic in response.diagnostics]
