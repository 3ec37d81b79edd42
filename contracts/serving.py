"""The model server's public surface: the only routes clients (and the router) may use.

Two sides must agree on it: the model server (``workloads/serving``) answers exactly
these routes and 404 on anything else, and the Envoy router in front of an enterprise
model (:mod:`contracts.router`) routes exactly these paths for its model and answers
404 itself for the rest. KServe's model repository API (``/v2/repository/models/<m>/
load|unload``, its gRPC ``RepositoryModelLoad``/``RepositoryModelUnload``), the model
list, ``:explain`` and anything else are not part of it: unloading a model stops every
inference until the pod restarts, so no client may reach it.

Prometheus metrics are served on their own port (:data:`METRICS_PORT`), never on the
inference port.
"""

from __future__ import annotations

from dataclasses import dataclass

METRICS_PORT = 9090
"""The model server's Prometheus port in the cluster (``--metrics_port``); the tenant's
NetworkPolicy admits the monitoring namespace on it."""
METRICS_PORT_NAME = "metrics"
"""Container port name of :data:`METRICS_PORT`; the PodMonitor scrapes it by name."""
METRICS_PATH = "/metrics"

ENTITY_IDS_PARAMETER = "entity_ids"
"""Request parameter (V2 ``parameters``) or body key (V1) with one id per row: the
customer each row is about. The server writes them into the prediction log, so an
erasure request finds that customer's records; every client that knows whom it asks
about sends them."""

VERSION_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}"
"""Regex of a model version path segment (:data:`contracts.names.MODEL_VERSION`)."""


@dataclass(frozen=True)
class ApiRoute:
    """One route of the public model API: method and path template.

    ``{model}`` stands for the served model's name, ``{version}`` for one version segment.
    """

    method: str
    template: str

    @property
    def fixed(self) -> bool:
        """Whether the path has no ``{version}`` part (one exact path per model)."""
        return "{version}" not in self.template

    def path(self, model: str) -> str:
        """The exact path of a :attr:`fixed` route for ``model``."""
        return self.template.replace("{model}", model)

    def regex(self, model: str, version: str = VERSION_SEGMENT) -> str:
        """A full-match regex (RE2 and Python ``re`` alike) of this route for ``model``.

        ``version``: the regex of a version segment (the router passes a shorter one:
        Envoy refuses RE2 programs over 100 instructions by default).
        """
        out = []
        for part in (
            self.template.replace("{model}", "\0m\0").replace("{version}", "\0v\0").split("\0")
        ):
            if part == "m":
                out.append(_escape(model))
            elif part == "v":
                out.append(version)
            else:
                out.append(_escape(part))
        return "".join(out)

    def fastapi_path(self) -> str:
        """The template with FastAPI path parameters (KServe's endpoint argument names)."""
        return self.template.replace("{model}", "{model_name}").replace(
            "{version}", "{model_version}"
        )


def _escape(text: str) -> str:
    """Escape regex metacharacters (only these: RE2 rejects some escapes Python allows)."""
    return "".join("\\" + ch if ch in r".^$*+?()[]{}|\\" else ch for ch in text)


MODEL_API: tuple[ApiRoute, ...] = (
    # Health and server metadata (KServe V1 liveness is ``GET /``).
    ApiRoute("GET", "/"),
    ApiRoute("GET", "/v2"),
    ApiRoute("GET", "/v2/health/live"),
    ApiRoute("GET", "/v2/health/ready"),
    # Model metadata and readiness.
    ApiRoute("GET", "/v1/models/{model}"),
    # (KServe 0.16 answers the ``/versions/{version}`` forms of these two with 501, so
    # they are not part of the API; versioned inference is.)
    ApiRoute("GET", "/v2/models/{model}"),
    ApiRoute("GET", "/v2/models/{model}/ready"),
    # Inference.
    ApiRoute("POST", "/v1/models/{model}:predict"),
    ApiRoute("POST", "/v2/models/{model}/infer"),
    ApiRoute("POST", "/v2/models/{model}/versions/{version}/infer"),
)
"""Every route a client may use; the server and the router expose nothing else."""

GRPC_SERVICE = "inference.GRPCInferenceService"
GRPC_ALLOWED_METHODS = (
    "ServerLive",
    "ServerReady",
    "ServerMetadata",
    "ModelReady",
    "ModelMetadata",
    "ModelInfer",
)
"""V2 gRPC methods the server answers; ``RepositoryModelLoad``/``Unload`` are refused."""
