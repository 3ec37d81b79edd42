"""HTTP and gRPC front of the model server.

The ASGI application answers the hot paths itself:

- ``POST /v2/models/{name}/infer`` (and ``/versions/{version}/infer``), Open Inference
  Protocol JSON;
- ``POST /v1/models/{name}:predict``, KServe V1.

The rest of the public surface (:data:`contracts.serving.MODEL_API`: server and model
metadata, health, readiness) goes to KServe's own endpoint functions over KServe's
``DataPlane``, so those responses are exactly KServe's. Nothing else is routed: KServe's
model repository API (load/unload), the model list and ``:explain`` answer 404 over
REST, and the gRPC ``RepositoryModelLoad``/``RepositoryModelUnload`` answer
PERMISSION_DENIED. Prometheus metrics are served by :func:`metrics_app` on their own
port (``--metrics_port``), never next to inference. The hot paths skip FastAPI's
request models and KServe's per-request log lines: they parse the body once with
orjson, validate with the model's own checks and run ONNX Runtime inline (a tabular
batch costs microseconds, less than a thread hop).

Every request body is checked before it is read: a ``Content-Length`` that is not one
non-negative decimal integer (or several that disagree, or one next to
``Transfer-Encoding``) is 400, one over ``max_body_bytes`` is 413; then the body is
capped while it is read (413 before the rest is buffered) and a body shorter or longer
than its declared length is 400. Validation problems are 400, an unknown model, version
or route 404; nothing a client sends produces a 5xx.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from contracts.serving import METRICS_PATH, MODEL_API
from workloads.serving._kserve import InvalidInput
from workloads.serving.metrics import LATENCY, REQUESTS
from workloads.serving.model import OnnxModel

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]


class BodyTooLargeError(Exception):
    """The request body exceeds the configured cap."""


class MalformedBodyError(Exception):
    """The request's framing is invalid (bad ``Content-Length``, length mismatch)."""


_MAX_LENGTH_DIGITS = 19
"""Longer ``Content-Length`` values are refused before converting them."""


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body length the client declared, or None; raise :class:`MalformedBodyError`.

    ``Content-Length`` must be one non-negative decimal integer (RFC 9110 8.6: ``1*DIGIT``;
    Python's ``int()`` would also take ``-1``, ``+1``, `` 1`` and ``1_0``). Repeated
    headers must agree, and a length next to ``Transfer-Encoding`` is refused (request
    smuggling, RFC 9112 6.3).
    """
    # ASGI servers lower-case header names.
    values = [value.strip() for key, value in headers if key == b"content-length"]
    if not values:
        return None
    if any(key == b"transfer-encoding" for key, _ in headers):
        raise MalformedBodyError("Content-Length together with Transfer-Encoding")
    # One header may also carry a comma-separated list of (identical) values.
    parts = {part.strip() for value in values for part in value.split(b",")}
    if len(parts) != 1:
        raise MalformedBodyError("conflicting Content-Length values")
    (text,) = parts
    if not text.isdigit() or not text.isascii() or len(text) > _MAX_LENGTH_DIGITS:
        raise MalformedBodyError(
            "Content-Length must be a non-negative decimal integer, got "
            + repr(text[:32].decode("latin-1"))
        )
    return int(text)


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """Read the whole body, failing as soon as it exceeds ``limit`` bytes.

    A body that ends before or runs past its declared length is
    :class:`MalformedBodyError`.
    """
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
        if declared is not None and size > declared:
            raise MalformedBodyError(f"body longer than its Content-Length {declared}")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if declared is not None and size != declared:
        raise MalformedBodyError(f"body of {size} bytes, Content-Length says {declared}")
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
    """ASGI app: fast inference paths, KServe's endpoints for the rest of the public API."""

    def __init__(self, model: OnnxModel, fallback: Any, *, max_body_bytes: int) -> None:
        self.model = model
        self.fallback = fallback
        self.max_body_bytes = max_body_bytes
        name = model.name
        self._latency = {
            protocol: LATENCY.labels(model=name, protocol=protocol) for protocol in ("v1", "v2")
        }
        self._counters: dict[tuple[str, int], Any] = {}
        self._allowed = [(route.method, re.compile(route.regex(name))) for route in MODEL_API]

    def _public(self, method: str, path: str) -> bool:
        """Whether ``method path`` is a route of :data:`MODEL_API` for this model."""
        return any(m == method and rx.fullmatch(path) for m, rx in self._allowed)

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
        target = self._route(scope["path"]) if method == "POST" else None
        if target is None and not self._public(method, scope["path"]):
            # Not part of the public API (repository load/unload, model list, ...):
            # answered here, before any body is read and before KServe sees it.
            await _respond(send, 404, {"error": "Not Found"}, close=method != "GET")
            return
        if method in ("POST", "PUT", "PATCH"):
            try:
                declared = declared_length(scope["headers"])
                body = await read_body(receive, self.max_body_bytes, declared)
            except MalformedBodyError as exc:
                await _respond(send, 400, {"error": f"malformed request: {exc}"}, close=True)
                self._count(_protocol_of(scope["path"]), 400)
                return
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
            if target is not None:
                await self._infer(target, body, send)
                return
            await self.fallback(scope, _replay(body), send)
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
                    entity_ids = model.entity_ids_v2(request, parsed)
                    matrix = await model.resolve_async(parsed)
                    probabilities = model.infer(matrix, entity_ids)
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
                    parsed = model.matrix_from_v1(request, maybe_bool=maybe_bool)
                    entity_ids = model.entity_ids_v1(request, parsed)
                    matrix = await model.resolve_async(parsed)
                    payload = {"predictions": model.infer(matrix, entity_ids)}
        except InvalidInput as exc:
            status = 400
            payload = {"error": str(exc)}
        await _respond(send, status, payload)
        self._latency[protocol].observe(time.perf_counter() - start)
        self._count(protocol, status)


async def metrics_app(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI app of the metrics port: ``GET /metrics`` (Prometheus), 404 for anything else."""
    if scope["type"] != "http":
        return
    if scope["method"] != "GET" or scope["path"] != METRICS_PATH:
        await _respond(send, 404, {"error": "Not Found"})
        return
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


def _endpoints(dataplane: Any) -> dict[str, Any]:
    """KServe's endpoint function for each :data:`MODEL_API` template (nothing else)."""
    from kserve.protocol.rest.v1_endpoints import V1Endpoints
    from kserve.protocol.rest.v2_endpoints import V2Endpoints

    # No repository extension: nothing here can load or unload a model.
    v1 = V1Endpoints(dataplane, None)
    v2 = V2Endpoints(dataplane, None)
    return {
        "/": dataplane.live,
        "/v2": v2.metadata,
        "/v2/health/live": v2.live,
        "/v2/health/ready": v2.ready,
        "/v1/models/{model}": v1.model_ready,
        "/v2/models/{model}": v2.model_metadata,
        "/v2/models/{model}/ready": v2.model_ready,
        "/v1/models/{model}:predict": v1.predict,
        "/v2/models/{model}/infer": v2.infer,
        "/v2/models/{model}/versions/{version}/infer": v2.infer,
    }


def _dataplane(repository: Any) -> Any:
    """KServe's DataPlane, advertising no protocol extension (the repository API is off)."""
    from kserve.protocol.dataplane import DataPlane

    class PublicDataPlane(DataPlane):
        def metadata(self) -> dict[str, Any]:
            return {**super().metadata(), "extensions": []}

    return PublicDataPlane(model_registry=repository)


def build_kserve_app(model: OnnxModel) -> tuple[Any, Any]:
    """FastAPI app with exactly the routes of :data:`MODEL_API`; returns (app, dataplane)."""
    from fastapi import FastAPI
    from fastapi.responses import ORJSONResponse
    from kserve import errors as kerrors
    from kserve.model_repository import ModelRepository

    repository = ModelRepository()
    repository.update(model)
    dataplane = _dataplane(repository)
    app = FastAPI(
        title="mlplatform model server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=ORJSONResponse,
    )
    endpoints = _endpoints(dataplane)
    if set(endpoints) != {route.template for route in MODEL_API}:
        raise RuntimeError("model server endpoints differ from contracts.serving.MODEL_API")
    for route in MODEL_API:
        app.add_api_route(
            route.fastapi_path(),
            endpoints[route.template],
            methods=[route.method],
            response_model=None,
        )
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
    return app, dataplane


def build_app(model: OnnxModel, *, max_body_bytes: int) -> tuple[InferenceApp, Any]:
    """The full ASGI app plus KServe's dataplane (for gRPC)."""
    fallback, dataplane = build_kserve_app(model)
    return InferenceApp(model, fallback, max_body_bytes=max_body_bytes), dataplane


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


def _servicer(dataplane: Any) -> Any:
    """KServe's V2 gRPC servicer with the model repository RPCs refused."""
    import grpc
    from kserve.protocol.grpc.servicer import InferenceServicer

    async def refuse(self: Any, request: Any, context: Any) -> Any:
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED,
            "the model repository API is disabled on this server",
        )

    class PublicInferenceServicer(InferenceServicer):
        RepositoryModelLoad = refuse
        RepositoryModelUnload = refuse

    return PublicInferenceServicer(dataplane, None)


async def start_grpc(
    dataplane: Any,
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
        _servicer(dataplane), server
    )
    host = f"[{bind_address}]" if ":" in bind_address else bind_address
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise OSError(f"gRPC: cannot bind {host}:{port}")
    await server.start()
    return server
