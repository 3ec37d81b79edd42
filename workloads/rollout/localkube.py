"""A loopback stand-in for the few Kubernetes API calls the canary actuator makes.

It serves GET and PATCH (JSON merge patch, RFC 7386) of
``/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/{name}``, demands a
bearer token, and records every call, so the actuator's real client code path
(``kubernetes.client.CustomObjectsApi`` over HTTP) runs in tests and in the local demo
without a cluster. It is not a Kubernetes emulator: no watch, no admission, no status.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes import client

_PATH = re.compile(
    r"^/apis/serving\.kserve\.io/v1beta1/namespaces/(?P<ns>[a-z0-9-]+)"
    r"/inferenceservices/(?P<name>[a-z0-9.-]+)$"
)


@dataclass(frozen=True)
class RecordedCall:
    """One request the server received."""

    method: str
    path: str
    content_type: str
    body: Any


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch (null deletes a key)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class LocalKube:
    """Threaded HTTP server on 127.0.0.1 holding InferenceService objects in memory."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("token: a non-empty bearer token is required")
        self.token = token
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[RecordedCall] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add(self, obj: dict[str, Any]) -> None:
        """Store an InferenceService (``metadata.namespace`` and ``metadata.name`` set)."""
        meta = obj["metadata"]
        with self._lock:
            self.objects[(meta["namespace"], meta["name"])] = copy.deepcopy(obj)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        """A copy of the stored object."""
        with self._lock:
            return copy.deepcopy(self.objects[(namespace, name)])

    def start(self) -> LocalKube:
        """Bind a free loopback port and serve in a daemon thread."""
        kube = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, reason: str, message: str) -> None:
                self._reply(
                    code,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": reason,
                        "message": message,
                        "code": code,
                    },
                )

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode(errors="replace")
                content_type = self.headers.get("Content-Type", "")
                with kube._lock:
                    kube.calls.append(RecordedCall(method, self.path, content_type, body))
                auth = self.headers.get("Authorization", "")
                if not hmac.compare_digest(auth.encode(), f"Bearer {kube.token}".encode()):
                    self._status(401, "Unauthorized", "Unauthorized")
                    return
                match = _PATH.match(self.path.split("?", 1)[0])
                if not match:
                    self._status(404, "NotFound", f"no route for {self.path}")
                    return
                key = (match["ns"], match["name"])
                with kube._lock:
                    obj = kube.objects.get(key)
                    if obj is None:
                        self._status(
                            404,
                            "NotFound",
                            f'inferenceservices.serving.kserve.io "{key[1]}" not found',
                        )
                        return
                    if method == "PATCH":
                        if content_type != "application/merge-patch+json":
                            self._status(415, "UnsupportedMediaType", content_type)
                            return
                        obj = merge_patch(obj, body)
                        obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
                        kube.objects[key] = obj
                    self._reply(200, obj)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        if self._server is None:
            raise RuntimeError("LocalKube is not started")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def configuration(self, token: str | None = None) -> client.Configuration:
        """A kubernetes client configuration pointing at this server."""
        cfg = client.Configuration()
        cfg.host = self.url
        cfg.api_key = {"BearerToken": self.token if token is None else token}
        cfg.api_key_prefix = {"BearerToken": "Bearer"}
        return cfg

    def stop(self) -> None:
        """Shut the server down and join its thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def inference_service(
    namespace: str,
    name: str,
    storage_uri: str,
    *,
    canary_percent: int | None = None,
    model_format: str = "onnx",
) -> dict[str, Any]:
    """A minimal v1beta1 InferenceService object (for tests and the demo)."""
    predictor: dict[str, Any] = {
        "model": {"modelFormat": {"name": model_format}, "storageUri": storage_uri}
    }
    if canary_percent is not None:
        predictor["canaryTrafficPercent"] = canary_percent
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"namespace": namespace, "name": name, "generation": 1, "annotations": {}},
        "spec": {"predictor": predictor},
    }
