"""The model server exposes only the public model API, over REST and gRPC.

One real server process on 127.0.0.1 (shared by this module): every route of
``contracts.serving.MODEL_API`` answers, every management route (KServe's model
repository load/unload, the model list, ``:explain``, docs) is 404 over REST and
PERMISSION_DENIED over gRPC (tried with a real gRPC client), metrics are served only on
their own port, and malformed request framing is a 4xx that leaves the server up.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from contracts.serving import MODEL_API
from tests.workloads.conftest import REPO_ROOT, Server, free_port

pytestmark = pytest.mark.slow

ROW = [35, 24, 0, 1, 5200.0, -3.5, 22, 9, 1, 0, 2]
INFER = json.dumps(
    {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 11], "data": ROW}]}
).encode()

MANAGEMENT_ROUTES = [
    ("POST", "/v2/repository/models/churn/load"),
    ("POST", "/v2/repository/models/churn/unload"),
    ("POST", "/v2/repository/index"),
    ("GET", "/v2/repository/index"),
    ("POST", "/v1/models/churn:load"),
    ("POST", "/v1/models/churn:unload"),
    ("POST", "/v1/models/churn:explain"),
    ("GET", "/v1/models"),
    ("GET", "/v2/models"),
    ("DELETE", "/v2/models/churn"),
    ("PUT", "/v2/models/churn"),
    ("POST", "/v2/models/churn"),
    ("GET", "/metrics"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/v2/models/churn/infer/../../../repository/index"),
    ("GET", "/v2/models/churn/versions/1"),
    ("GET", "/v2/models/churn/versions/1/ready"),
]
"""Management and other non-public routes; each must be 404 (or 403), and the model stays up."""


@pytest.fixture(scope="module")
def server(trained_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:  # type: ignore[no-untyped-def]
    """One server with gRPC on and metrics on their own port: (server, metrics port)."""
    port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    log = tmp_path_factory.mktemp("surface") / "server.log"
    cmd = [
        sys.executable, "-m", "workloads.serving", "--model_name", "churn",
        "--model_dir", str(trained_model.out), "--http_port", str(port),
        "--grpc_port", str(grpc_port), "--metrics_port", str(metrics_port),
        "--public_key", str(trained_model.keys.public),
        "--served_state", str(log.parent / "state"), "--max_body_bytes", "65536",
    ]  # fmt: skip
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    srv = Server(proc, f"http://127.0.0.1:{port}", grpc_port, log)
    deadline = time.monotonic() + 90
    try:
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if srv.request("GET", "/v2/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield srv, metrics_port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _still_serving(srv: Server) -> None:
    assert srv.proc.poll() is None, srv.log.read_text()
    status, body = srv.request("POST", "/v2/models/churn/infer", INFER)
    assert status == 200, body
    assert srv.request("GET", "/v2/models/churn/ready")[0] == 200


@pytest.mark.parametrize(("method", "path"), MANAGEMENT_ROUTES)
def test_management_routes_are_not_served(
    server: tuple[Server, int], method: str, path: str
) -> None:
    srv, _ = server
    body = b"{}" if method in ("POST", "PUT") else None
    status, _ = srv.request(method, path, body)
    assert status in (403, 404), (method, path, status)
    _still_serving(srv)


def test_every_public_route_answers(server: tuple[Server, int], trained_model) -> None:  # type: ignore[no-untyped-def]
    srv, _ = server
    version = trained_model.card["model_version"]
    seen = set()
    for route in MODEL_API:
        path = route.template.replace("{model}", "churn").replace("{version}", version)
        body = None
        if route.method == "POST":
            body = json.dumps({"instances": [ROW]}).encode() if path.startswith("/v1/") else INFER
        status, payload = srv.request(route.method, path, body)
        assert status == 200, (route, payload)
        seen.add(route.template)
    assert len(seen) == len(MODEL_API) == 10
    status, meta = srv.request("GET", "/v2")
    assert meta["extensions"] == []  # the repository extension is not advertised


def test_metrics_only_on_their_own_port(server: tuple[Server, int]) -> None:
    srv, metrics_port = server
    assert srv.request("GET", "/metrics")[0] == 404
    metrics = Server(srv.proc, f"http://127.0.0.1:{metrics_port}", 0, srv.log)
    status, text = metrics.request("GET", "/metrics")
    assert status == 200
    assert "mlplatform_inference_requests_total" in text
    # The metrics port serves metrics, nothing else.
    assert metrics.request("POST", "/v2/models/churn/infer", INFER)[0] == 404
    assert metrics.request("GET", "/v2/health/ready")[0] == 404


def test_grpc_repository_rpcs_are_refused(server: tuple[Server, int]) -> None:
    import grpc

    from workloads.serving._kserve import kserve  # noqa: F401 - clean sys.argv first

    pb = importlib.import_module("kserve.protocol.grpc.grpc_predict_v2_pb2")
    pb_grpc = importlib.import_module("kserve.protocol.grpc.grpc_predict_v2_pb2_grpc")
    srv, _ = server
    with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for call, request in (
            (stub.RepositoryModelUnload, pb.RepositoryModelUnloadRequest(model_name="churn")),
            (stub.RepositoryModelLoad, pb.RepositoryModelLoadRequest(model_name="churn")),
        ):
            with pytest.raises(grpc.RpcError) as info:
                call(request, timeout=10)
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, info.value
            assert "repository API is disabled" in info.value.details()
        assert stub.ModelReady(pb.ModelReadyRequest(name="churn"), timeout=10).ready is True
        assert stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live is True
    _still_serving(srv)


def _raw(port: int, request: bytes, *, half_close: bool = False) -> int:
    """Send raw bytes; return the response's status code (0: no response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            return 0
    if not data.startswith(b"HTTP/1.1 "):
        return 0
    return int(data.split(b" ", 2)[1])


def _post(length: bytes | None, body: bytes, *, extra: bytes = b"") -> bytes:
    head = b"POST /v2/models/churn/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if length is not None:
        head += b"Content-Length: " + length + b"\r\n"
    return head + extra + b"Connection: close\r\n\r\n" + body


@pytest.mark.parametrize(
    ("name", "request_bytes", "half_close"),
    [
        ("negative", _post(b"-1", INFER), False),
        ("non-numeric", _post(b"abc", INFER), False),
        ("plus sign", _post(b"+" + str(len(INFER)).encode(), INFER), False),
        ("underscore", _post(b"1_0", INFER), False),
        ("huge", _post(b"9" * 40, INFER), False),
        ("over the cap", _post(b"70000", b""), False),
        ("conflicting", _post(b"5", INFER, extra=b"Content-Length: 6\r\n"), False),
        ("longer body", _post(b"10", INFER), False),
        # The client stops short and half-closes: nothing more can be answered on that
        # connection, but nothing breaks either.
        ("shorter body", _post(str(len(INFER) + 10).encode(), INFER), True),
        (
            "with chunked",
            _post(str(len(INFER)).encode(), INFER, extra=b"Transfer-Encoding: chunked\r\n"),
            False,
        ),
    ],
)
def test_malformed_content_length_is_a_4xx_and_the_server_stays_up(
    server: tuple[Server, int], name: str, request_bytes: bytes, half_close: bool
) -> None:
    srv, _ = server
    port = int(srv.base.rsplit(":", 1)[1])
    status = _raw(port, request_bytes, half_close=half_close)
    if half_close:
        assert status == 0 or 400 <= status < 500, (name, status)
    else:
        assert 400 <= status < 500, (name, status)
    _still_serving(srv)


def _asgi(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, Any]:
    """Run one request through the ASGI app directly; return (status, JSON body)."""
    import asyncio

    sent: list[dict[str, Any]] = []
    queue = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v2/models/churn/infer",
        "headers": headers,
    }
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


@pytest.fixture(scope="module")
def app(trained_model) -> Any:  # type: ignore[no-untyped-def]
    from workloads.serving.app import build_app
    from workloads.serving.model import OnnxModel, ServingOptions

    model = OnnxModel(
        "churn", trained_model.out, ServingOptions(public_key=trained_model.keys.public)
    )
    model.load()
    return build_app(model, max_body_bytes=65536)[0]


@pytest.mark.parametrize(
    ("length", "chunks", "want"),
    [
        (b"-1", [INFER], "non-negative decimal integer"),
        (b" +12", [INFER], "non-negative decimal integer"),
        (b"12abc", [INFER], "non-negative decimal integer"),
        (str(len(INFER) - 5).encode(), [INFER], "longer than its Content-Length"),
        (str(len(INFER) + 5).encode(), [INFER], "Content-Length says"),
        (b"5, 6", [INFER], "conflicting"),
    ],
)
def test_app_refuses_bad_framing_before_parsing(
    app: Any, length: bytes, chunks: list[bytes], want: str
) -> None:
    """What reaches the ASGI app (any HTTP front end) is checked again, strictly."""
    status, body = _asgi(
        app, [(b"content-type", b"application/json"), (b"content-length", length)], chunks
    )
    assert status == 400, body
    assert want in body["error"]


def test_app_checks_declared_size_before_reading(app: Any) -> None:
    status, body = _asgi(app, [(b"content-length", b"70000")], [])
    assert status == 413 and "exceeds 65536 bytes" in body["error"]
    status, body = _asgi(
        app, [(b"content-length", str(len(INFER)).encode())], [INFER[:10], INFER[10:]]
    )
    assert status == 200, body


def test_served_state_file_is_written(server: tuple[Server, int], trained_model) -> None:  # type: ignore[no-untyped-def]
    srv, _ = server
    record = json.loads((srv.log.parent / "state" / "churn.json").read_text())
    assert record["version"] == trained_model.card["model_version"]
    assert record["model"] == record["slot"] == "churn"
