"""A loopback stand-in for the few Kubernetes API calls the canary actuator makes.

It serves GET, PATCH, DELETE and create (POST to the collection, 409 AlreadyExists
when the name is taken) of namespaced objects by their real REST paths, and list (GET of
the collection, ``labelSelector`` of ``key=value`` terms), for the kinds the loop
touches: TrainJobs (``/apis/trainer.kubeflow.org/v1alpha1/.../trainjobs``, what the
retraining controller creates), Jobs, ConfigMaps (``/api/v1/.../configmaps/{name}``), Deployments
(``/apis/apps/v1/.../deployments/{name}``), InferenceServices
(``/apis/serving.kserve.io/v1beta1/.../inferenceservices/{name}``), plus Services and
PodDisruptionBudgets so a router's whole manifest set can be seeded. PATCH accepts the
two object-patch content types the official client sends for a dict body:

- ``application/merge-patch+json`` (RFC 7386; null deletes a key);
- ``application/strategic-merge-patch+json``, the client's default for built-in kinds.
  On maps it is the same as a merge patch; its list semantics (merge by key,
  ``$patch`` directives) are not implemented, so a body holding a list or a directive
  is refused with 415 rather than applied wrongly.

JSON Patch (a list of operations) and apply-patch are refused with 415. It demands a
bearer token (401 otherwise), can deny chosen (method, path) pairs with a Kubernetes
RBAC-style 403 (or enforce a Role's rules: :meth:`LocalKube.enforce_role`), bumps ``resourceVersion`` on every change and ``generation`` on a
Deployment spec change, and records every call. So the actuator's real client code path
(``CoreV1Api`` / ``AppsV1Api`` over HTTP) runs in tests and in the local demo without a
cluster. It is not a Kubernetes emulator: no watch, no admission, no controllers.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from contracts.names import challenger_of, champion_of
from contracts.router import router_traffic_patch
from workloads.common.httpserver import BackgroundHTTPServer, JSONRequestHandler

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

_PATH = re.compile(
    r"^/(?P<prefix>api/v1|apis/(?P<group>[a-z0-9.-]+)/[a-z0-9]+)"
    r"/namespaces/(?P<ns>[a-z0-9-]+)/(?P<plural>[a-z]+)(?:/(?P<name>[a-z0-9.-]+))?$"
)
_PLURALS = {
    "ConfigMap": "configmaps",
    "Deployment": "deployments",
    "InferenceService": "inferenceservices",
    "Service": "services",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Job": "jobs",
    "TrainJob": "trainjobs",
}


@dataclass(frozen=True)
class RecordedCall:
    """One request the server received."""

    method: str
    path: str
    content_type: str
    body: Any


def object_path(obj: dict[str, Any]) -> str:
    """The REST path of a namespaced object (``apiVersion``, ``kind``, namespace, name)."""
    kind = obj.get("kind")
    plural = _PLURALS.get(str(kind))
    if plural is None:
        raise ValueError(f"kind {kind!r}: LocalKube serves only {', '.join(sorted(_PLURALS))}")
    api_version = str(obj.get("apiVersion", ""))
    prefix = "api/v1" if api_version == "v1" else f"apis/{api_version}"
    meta = obj.get("metadata") or {}
    return f"/{prefix}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"


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


def _strategic_problem(patch: Any, where: str = "") -> str | None:
    """Why a strategic merge patch cannot be applied as a merge patch (None if it can)."""
    if isinstance(patch, list):
        return f"{where or 'body'}: strategic merge of lists is not implemented here"
    if isinstance(patch, dict):
        for key, value in patch.items():
            if key.startswith("$"):
                return f"{where}{key}: strategic merge directives are not implemented here"
            problem = _strategic_problem(value, f"{where}{key}.")
            if problem:
                return problem
    return None


class LocalKube(BackgroundHTTPServer):
    """Threaded HTTP server on 127.0.0.1 holding namespaced objects in memory."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("token: a non-empty bearer token is required")
        self.token = token
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[RecordedCall] = []
        self.forbidden: set[tuple[str, str]] = set()
        """(method, path) pairs answered 403, as a Role without that verb would be."""
        self.role_rules: list[dict[str, Any]] | None = None
        """When set, only what these Role rules allow is served (others: 403)."""
        self.callers: dict[str, list[dict[str, Any]]] = {}
        """More bearer tokens, each limited to its own Role's rules (:meth:`add_caller`)."""
        self._lock = threading.Lock()

    def add(self, obj: dict[str, Any]) -> None:
        """Store an object (``metadata.namespace`` and ``metadata.name`` set)."""
        stored = copy.deepcopy(obj)
        meta = stored["metadata"]
        meta.setdefault("resourceVersion", "1")
        if stored.get("kind") in {"Deployment", "InferenceService"}:
            meta.setdefault("generation", 1)
        with self._lock:
            self.objects[object_path(stored)] = stored

    def add_all(self, objs: Iterable[dict[str, Any]]) -> None:
        """Store several objects (e.g. a builder's manifests)."""
        for obj in objs:
            self.add(obj)

    def get_object(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
        """A copy of a stored object."""
        path = object_path(
            {
                "apiVersion": api_version,
                "kind": kind,
                "metadata": {"namespace": namespace, "name": name},
            }
        )
        with self._lock:
            return copy.deepcopy(self.objects[path])

    def config_map(self, namespace: str, name: str) -> dict[str, Any]:
        """A copy of a stored ConfigMap."""
        return self.get_object("v1", "ConfigMap", namespace, name)

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        """A copy of a stored Deployment."""
        return self.get_object("apps/v1", "Deployment", namespace, name)

    def set_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        """Set an object's ``status`` as its controller would (no controllers run here)."""
        path = object_path(
            {
                "apiVersion": api_version,
                "kind": kind,
                "metadata": {"namespace": namespace, "name": name},
            }
        )
        with self._lock:
            self.objects[path]["status"] = copy.deepcopy(status)

    def enforce_role(self, role: dict[str, Any]) -> None:
        """Serve only what a ``Role`` manifest's rules allow, as the API server would for
        a caller bound to it (verbs, API groups, resources, ``resourceNames``)."""
        if role.get("kind") != "Role":
            raise ValueError(f"expected a Role, got {role.get('kind')!r}")
        self.role_rules = copy.deepcopy(role.get("rules") or [])

    def add_caller(self, token: str, role: dict[str, Any]) -> None:
        """Accept ``token`` too, for a caller bound to ``role`` only (a service account
        with its planned Role): several workloads share one API, each with its rights."""
        if len(token) < 16 or token == self.token:
            raise ValueError("caller token: 16+ characters, not the admin token")
        if role.get("kind") != "Role":
            raise ValueError(f"expected a Role, got {role.get('kind')!r}")
        self.callers[token] = copy.deepcopy(role.get("rules") or [])

    def kubeconfig(self, path: Any, token: str, namespace: str) -> Any:
        """Write a kubeconfig for ``token`` (the clients' ``--kubeconfig``); return ``path``."""
        import pathlib

        import yaml

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": self.url}}],
            "users": [{"name": "caller", "user": {"token": token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "caller",
                                                       "namespace": namespace}}],
            "current-context": "local",
        }  # fmt: skip
        target = pathlib.Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(config))
        target.chmod(0o600)
        return target

    def allowed(self, method: str, match: re.Match[str], token: str | None = None) -> bool:
        """Whether the caller's Role (a caller token's, else the enforced one) allows it."""
        rules = self.callers.get(token or "", self.role_rules)
        if rules is None:
            return True
        name = match["name"]
        verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch",
                "DELETE": "delete"}.get(method, method.lower())  # fmt: skip
        group = match["group"] or ""
        for rule in rules:
            if (
                verb in rule.get("verbs", [])
                and group in rule.get("apiGroups", [])
                and match["plural"] in rule.get("resources", [])
                and (not rule.get("resourceNames") or (name and name in rule["resourceNames"]))
            ):
                return True
        return False

    def writes(self) -> list[RecordedCall]:
        """The PATCH calls received, in order."""
        with self._lock:
            return [call for call in self.calls if call.method == "PATCH"]

    def _apply_patch(self, path: str, content_type: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Patch the stored object at ``path``; (status, reply). Caller holds the lock."""
        obj = self.objects[path]
        if content_type not in {MERGE_PATCH, STRATEGIC_MERGE_PATCH}:
            return 415, _status(415, "UnsupportedMediaType", f"{content_type or 'no content type'}")
        if not isinstance(body, dict):
            return 400, _status(400, "BadRequest", "patch body must be a JSON object")
        if content_type == STRATEGIC_MERGE_PATCH:
            problem = _strategic_problem(body)
            if problem:
                return 415, _status(415, "UnsupportedMediaType", problem)
        patched = merge_patch(obj, body)
        # Identity is not patchable; the real API server rejects such a patch too.
        for key in ("apiVersion", "kind"):
            patched[key] = obj[key]
        meta = patched.setdefault("metadata", {})
        for key in ("name", "namespace"):
            meta[key] = obj["metadata"][key]
        if patched != obj:
            meta["resourceVersion"] = str(int(obj["metadata"].get("resourceVersion", "1")) + 1)
            if obj.get("spec") != patched.get("spec") and "generation" in obj["metadata"]:
                meta["generation"] = obj["metadata"]["generation"] + 1
            self.objects[path] = patched
        return 200, patched

    def start(self) -> LocalKube:
        """Bind a free loopback port and serve in a daemon thread."""
        kube = self

        class Handler(JSONRequestHandler):
            caller: str = ""

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode(errors="replace")
                content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                path = self.path.split("?", 1)[0]
                with kube._lock:
                    kube.calls.append(RecordedCall(method, path, content_type, body))
                auth = self.headers.get("Authorization", "")
                caller = next(
                    (t for t in (kube.token, *kube.callers)
                     if hmac.compare_digest(auth.encode(), f"Bearer {t}".encode())),
                    None,
                )  # fmt: skip
                if caller is None:
                    self._reply(401, _status(401, "Unauthorized", "Unauthorized"))
                    return
                self.caller = caller
                match = _PATH.match(path)
                if not match:
                    self._reply(404, _status(404, "NotFound", f"no route for {path}"))
                    return
                if match["name"] is None:
                    self._collection(method, path, match, body)
                    return
                resource = match["plural"] + (f".{match['group']}" if match["group"] else "")
                if (method, path) in kube.forbidden or not kube.allowed(method, match, self.caller):
                    message = (
                        f'{resource} "{match["name"]}" is forbidden: User '
                        f'"system:serviceaccount:{match["ns"]}:caller" cannot {method.lower()}'
                        f' resource "{match["plural"]}" in the namespace "{match["ns"]}"'
                    )
                    self._reply(403, _status(403, "Forbidden", message))
                    return
                with kube._lock:
                    obj = kube.objects.get(path)
                    if obj is None:
                        message = f'{resource} "{match["name"]}" not found'
                        self._reply(404, _status(404, "NotFound", message))
                        return
                    if method == "PATCH":
                        status, reply = kube._apply_patch(path, content_type, body)
                    elif method == "DELETE":
                        del kube.objects[path]
                        status, reply = 200, _status(200, "", "deleted") | {"status": "Success"}
                    else:
                        status, reply = 200, copy.deepcopy(obj)
                self._reply(status, reply)

            def _collection(self, method: str, path: str, match: re.Match[str], body: Any) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                if (method, path) in kube.forbidden or not kube.allowed(method, match, self.caller):
                    self._reply(403, _status(403, "Forbidden", f"{method} {path} is forbidden"))
                    return
                if method == "GET":
                    wanted = _selector(query.get("labelSelector", [""])[0])
                    with kube._lock:
                        items = [
                            copy.deepcopy(obj)
                            for key, obj in sorted(kube.objects.items())
                            if key.rsplit("/", 1)[0] == path
                            and wanted.items() <= (obj["metadata"].get("labels") or {}).items()
                        ]
                    self._reply(200, {"kind": "List", "apiVersion": "v1", "items": items})
                    return
                if method != "POST" or not isinstance(body, dict):
                    self._reply(405, _status(405, "MethodNotAllowed", f"{method} {path}"))
                    return
                meta = body.setdefault("metadata", {})
                meta["namespace"] = match["ns"]
                name = str(meta.get("name") or "")
                if not name:
                    self._reply(422, _status(422, "Invalid", "metadata.name is required"))
                    return
                with kube._lock:
                    if f"{path}/{name}" in kube.objects:
                        message = f'{match["plural"]} "{name}" already exists'
                        self._reply(409, _status(409, "AlreadyExists", message))
                        return
                kube.add(body)
                self._reply(
                    201, kube.get_object(body["apiVersion"], body["kind"], match["ns"], name)
                )

            def do_GET(self) -> None:  # noqa: N802 (http.server name)
                self._handle("GET")

            def do_PATCH(self) -> None:  # noqa: N802 (http.server name)
                self._handle("PATCH")

            def do_POST(self) -> None:  # noqa: N802 (http.server name)
                self._handle("POST")

            def do_DELETE(self) -> None:  # noqa: N802 (http.server name)
                self._handle("DELETE")

        self._serve(("127.0.0.1", 0), Handler)
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
        configuration = client.Configuration()
        configuration.host = self.url
        configuration.api_key = {"BearerToken": self.token if token is None else token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return configuration


def _selector(text: str) -> dict[str, str]:
    """``a=b,c=d`` (equality terms only) as a dict."""
    terms = [term.split("=", 1) for term in text.split(",") if "=" in term]
    return {key.strip(): value.strip() for key, value in terms}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A ``metav1.Status`` failure body, as the API server sends it."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }


def inference_service(
    namespace: str, name: str, storage_uri: str, *, ready: bool = True, model: str | None = None
) -> dict[str, Any]:
    """A minimal v1beta1 InferenceService with a Ready condition (for tests and the demo)."""
    labels = {"modelName": model} if model else {}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"namespace": namespace, "name": name, "labels": labels},
        "spec": {
            "predictor": {"model": {"modelFormat": {"name": "onnx"}, "storageUri": storage_uri}}
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def canary_objects(
    namespace: str,
    model: str,
    champion_uri: str,
    challenger_uri: str,
    canary_percent: int,
    *,
    challenger_ready: bool = True,
) -> list[dict[str, Any]]:
    """A model's two InferenceServices and its router ConfigMap and Deployment.

    The router's data and weights annotation come from the same builder the serving
    component deploys with; the rest of each object is trimmed to what the actuator reads.
    """
    patch = router_traffic_patch(
        namespace, champion_of(model), challenger_of(model), canary_percent
    )
    name = f"{model}-router"
    return [
        inference_service(namespace, champion_of(model), champion_uri, model=model),
        inference_service(
            namespace, challenger_of(model), challenger_uri, ready=challenger_ready, model=model
        ),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"namespace": namespace, "name": name},
            "data": dict(patch["configmap"]["data"]),
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"namespace": namespace, "name": name},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {
                        "labels": {"app.kubernetes.io/name": name},
                        **patch["deployment"]["spec"]["template"]["metadata"],
                    },
                    "spec": {"containers": [{"name": "envoy", "image": "envoy"}]},
                },
            },
        },
    ]
