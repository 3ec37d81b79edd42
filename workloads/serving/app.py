"""HTTP and gRPC front of the model server.

The ASGI application answers the hot paths itself:

- ``POST /v2/models/{name}/infer`` (and ``/versions/{version}/infer``), Open Inference
  Protocol JSON;
- ``POST /v1/models/{name}:predict``, KServe V1;
- ``GET /metrics``, Prometheus.

Everything else (server and model metadata, health, readiness, model list, the model
repository extension) goes to KServe's own FastAPI endpoints over KServe's
``DataPlane``, so those responses are exactly KServe's. The hot paths skip FastAPI's
request models and KServe's per-request log lines: they parse the body once with
orjson, validate with the model's own checks and run ONNX Runtime inline (a tabular
batch costs microseconds, less than a thread hop).

Every request body is capped at ``max_body_bytes`` while it is read (413 before the
rest is buffered). Validation problems are 400, an unknown model or version 404, a
body over the cap 413; nothing a client sends produces a 5xx.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from workloads.serving._kserve import InvalidInput
from workloads.serving.metrics import LATENCY, REQUESTS
from workloads.serving.model import OnnxModel

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]


class BodyTooLargeError(Exception):
    """The request body exceeds the configured cap."""


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """Read the whole body, failing as soon as it exceeds ``limit`` bytes."""
    if declared is not None and declared > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class InferenceApp:
    """ASGI app: fast inference paths, KServe's endpoints for the rest."""

    def __init__(self, model: OnnxModel, fallback: Any, *, max_body_bytes: int) -> None:
        self.model = model
        self.fallback = fallback
        self.max_body_bytes = max_body_bytes
        name = model.name
        self._latency = {
            protocol: LATENCY.labels(model=name, protocol=protocol) for protocol in ("v1", "v2")
        }
        self._counters: dict[tuple[str, int], Any] = {}

    def _count(self, protocol: str, status: int) -> None:
        key = (protocol, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = REQUESTS.labels(model=self.model.name, protocol=protocol, status=str(status))
            self._counters[key] = counter
        counter.inc()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        method = scope["method"]
        if method in ("POST", "PUT", "PATCH"):
            declared = None
            for key, value in scope["headers"]:
                if key == b"content-length":
                    try:
                        declared = int(value)
                    except ValueError:
                        await _respond(send, 400, {"error": "invalid Content-Length header"})
                        return
            try:
                body = await read_body(receive, self.max_body_bytes, declared)
            except BodyTooLargeError:
                await _respond(
                    send,
                    413,
                    {
                        "error": f"request body exceeds {self.max_body_bytes} bytes (--max_body_bytes)"
                    },
                    close=True,
                )
                self._count(_protocol_of(scope["path"]), 413)
                return
            target = self._route(scope["path"]) if method == "POST" else None
            if target is not None:
                await self._infer(target, body, send)
                return
            await self.fallback(scope, _replay(body), send)
            return
        if method == "GET" and scope["path"] == "/metrics":
            await self._metrics(scope, send)
            return
        await self.fallback(scope, receive, send)

    @staticmethod
    def _route(path: str) -> tuple[str, str, str | None] | None:
        segments = path.split("/")
        # /v2/models/{name}/infer and /v2/models/{name}/versions/{v}/infer
        if (
            len(segments) >= 5
            and segments[1] == "v2"
            and segments[2] == "models"
            and segments[-1] == "infer"
        ):
            if len(segments) == 5:
                return ("v2", segments[3], None)
            if len(segments) == 7 and segments[4] == "versions":
                return ("v2", segments[3], segments[5])
            return None
        if (
            len(segments) == 4
            and segments[1] == "v1"
            and segments[2] == "models"
            and segments[3].endswith(":predict")
        ):
            return ("v1", segments[3][: -len(":predict")], None)
        return None

    async def _infer(self, target: tuple[str, str, str | None], body: bytes, send: Send) -> None:
        start = time.perf_counter()
        protocol, name, version = target
        model = self.model
        status = 200
        try:
            if name != model.name:
                status = 404
                payload: dict[str, Any] = {"error": f"Model with name {name} does not exist."}
            elif version is not None and version != model.version:
                status = 404
                payload = {
                    "error": f"Model {name} has no version {version}; serving {model.version}"
                }
            elif not model.ready:
                status = 503
                payload = {"error": f"Model with name {name} is not ready."}
            else:
                try:
                    request = orjson.loads(body)
                except orjson.JSONDecodeError as exc:
                    raise InvalidInput(f"body: not valid JSON ({exc})") from None
                # Booleans need a per-value scan; skip it when the body cannot hold one.
                maybe_bool = b"true" in body or b"false" in body
                if protocol == "v2":
                    if not isinstance(request, dict):
                        raise InvalidInput('body: must be a JSON object with "inputs"')
                    parsed = model.matrix_from_v2(request.get("inputs"), maybe_bool=maybe_bool)
                    matrix = await model.resolve_async(parsed)
                    probabilities = model.infer(matrix)
                    payload = {
                        "model_name": model.name,
                        "model_version": model.version,
                        "outputs": [
                            {
                                "name": model.output_name,
                                "datatype": "FP32",
                                "shape": list(probabilities.shape),
                                "data": probabilities.ravel(),
                            }
                        ],
                    }
                    if isinstance(request.get("id"), str):
                        payload["id"] = request["id"]
                else:
                    matrix = await model.resolve_async(
                        model.matrix_from_v1(request, maybe_bool=maybe_bool)
                    )
                    payload = {"predictions": model.infer(matrix)}
        except InvalidInput as exc:
            status = 400
            payload = {"error": str(exc)}
        await _respond(send, status, payload)
        self._latency[protocol].observe(time.perf_counter() - start)
        self._count(protocol, status)

    async def _metrics(self, scope: Scope, send: Send) -> None:
        from prometheus_client import REGISTRY, exposition

        accept = dict(scope["headers"]).get(b"accept", b"").decode("latin-1")
        encoder, content_type = exposition.choose_encoder(accept)
        body = encoder(REGISTRY)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _protocol_of(path: str) -> str:
    return "v1" if path.startswith("/v1/") else "v2"


async def _respond(send: Send, status: int, payload: Any, *, close: bool = False) -> None:
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_kserve_app(model: OnnxModel) -> tuple[Any, Any, Any]:
    """KServe's FastAPI app with V1/V2 endpoints; returns (app, dataplane, repo extension)."""
    from fastapi import FastAPI
    from fastapi.responses import ORJSONResponse
    from kserve import errors as kerrors
    from kserve.model_repository import ModelRepository
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension
    from kserve.protocol.rest.v1_endpoints import register_v1_endpoints
    from kserve.protocol.rest.v2_endpoints import register_v2_endpoints

    repository = ModelRepository()
    repository.update(model)
    dataplane = DataPlane(model_registry=repository)
    extension = ModelRepositoryExtension(model_registry=repository)
    app = FastAPI(
        title="mlplatform model server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=ORJSONResponse,
    )
    app.add_api_route("/", dataplane.live, methods=["GET"])
    register_v1_endpoints(app, dataplane, extension)
    register_v2_endpoints(app, dataplane, extension)
    for exc_type, handler in (
        (kerrors.InvalidInput, kerrors.invalid_input_handler),
        (kerrors.InferenceError, kerrors.inference_error_handler),
        (kerrors.ModelNotFound, kerrors.model_not_found_handler),
        (kerrors.ModelNotReady, kerrors.model_not_ready_handler),
        (NotImplementedError, kerrors.not_implemented_error_handler),
        (kerrors.UnsupportedProtocol, kerrors.unsupported_protocol_error_handler),
        (kerrors.ServerNotLive, kerrors.server_not_live_handler),
        (kerrors.ServerNotReady, kerrors.server_not_ready_handler),
        (Exception, kerrors.generic_exception_handler),
    ):
        app.add_exception_handler(exc_type, handler)
    return app, dataplane, extension


def build_app(model: OnnxModel, *, max_body_bytes: int) -> tuple[InferenceApp, Any, Any]:
    """The full ASGI app plus KServe's dataplane and repository extension (for gRPC)."""
    fallback, dataplane, extension = build_kserve_app(model)
    return InferenceApp(model, fallback, max_body_bytes=max_body_bytes), dataplane, extension


def _metrics_interceptor() -> Any:
    """gRPC interceptor counting ModelInfer calls and timing them (protocol ``grpc``)."""
    from grpc_interceptor.server import AsyncServerInterceptor

    class MetricsInterceptor(AsyncServerInterceptor):
        async def intercept(self, method: Any, request: Any, context: Any, method_name: str) -> Any:
            if not method_name.endswith("/ModelInfer"):
                return await method(request, context)
            start = time.perf_counter()
            status = "error"
            try:
                response = await method(request, context)
                status = "ok"
                return response
            finally:
                model = getattr(request, "model_name", "") or "unknown"
                LATENCY.labels(model=model, protocol="grpc").observe(time.perf_counter() - start)
                REQUESTS.labels(model=model, protocol="grpc", status=status).inc()

    return MetricsInterceptor()


async def start_grpc(
    dataplane: Any,
    extension: Any,
    bind_address: str,
    port: int,
    *,
    max_threads: int,
    max_message_bytes: int,
) -> Any:
    """Start KServe's gRPC inference service on ``bind_address:port``; return the server."""
    from concurrent import futures

    from grpc import aio
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
    from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor
    from kserve.protocol.grpc.servicer import InferenceServicer

    server = aio.server(
        futures.ThreadPoolExecutor(max_workers=max_threads),
        # Outermost first: metrics see the final outcome after errors became statuses.
        interceptors=(_metrics_interceptor(), ExceptionToStatusInterceptor()),
        options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ],
    )
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(dataplane, extension), server
    )
    host = f"[{bind_address}]" if ":" in bind_address else bind_address
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise OSError(f"gRPC: cannot bind {host}:{port}")
    await server.start()
    return server
