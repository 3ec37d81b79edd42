"""The canary router's traffic state: Envoy bootstrap and the patches that move it.

Pure Python (``yaml`` only, no Pulumi), because two sides must produce byte-identical
objects: the Kubernetes layer renders the router it deploys from these builders,
and the canary actuator in the workloads image (which has no Pulumi) patches the live
router with the same builders. One source, so a rollback writes exactly what a deploy
with ``challenger=None`` would have written.

Per enterprise model ``<model>`` the router is ConfigMap ``<model>-router`` (Envoy's
bootstrap under :data:`ROUTER_CONFIG_KEY`), Deployment ``<model>-router`` (pod-template
annotation :data:`WEIGHTS_ANNOTATION` names the weights, so changing them rolls the
pods: Envoy reads a static bootstrap only at start) and Service ``<model>``.

The router's routes are the model's public API (:data:`contracts.serving.MODEL_API`
for ``<model>``): one route per path and method, an exact path where the path is fixed
and a short regex for the ``/versions/<v>/infer`` form, matched after Envoy has
normalised the path (``..`` segments resolved, repeated slashes merged, escaped slashes
refused). Every other request, such as KServe's ``/v2/repository/models/<m>/unload``,
the model list or another model's name, matches no route and Envoy answers 404 itself.
Every route carries the same weighted clusters.
"""

from __future__ import annotations

from typing import Any

import yaml

from contracts.names import CHALLENGER, CHAMPION
from contracts.serving import MODEL_API

ROUTER_PORT = 8080
"""Envoy listener port (the router Service maps 80 to it)."""
ROUTER_CONFIG_KEY = "envoy.yaml"
"""Key of the Envoy bootstrap in the router's ConfigMap."""
WEIGHTS_ANNOTATION = "mlplatform.io/traffic-weights"
"""Pod-template annotation of the router: changing it rolls the pods onto new weights."""
PREDICTOR_PORT = 80
"""Port of the Service KServe creates for a RawDeployment predictor."""


def router_name(model: str) -> str:
    """Name of a model's router ConfigMap and Deployment."""
    return f"{model}-router"


def predictor_host(namespace_name: str, isvc: str) -> str:
    """In-cluster DNS name of an InferenceService's predictor Service (RawDeployment)."""
    return f"{isvc}-predictor.{namespace_name}.svc.cluster.local"


def canary_weights(canary_percent: int) -> tuple[int, int]:
    """(champion, challenger) weights; both must be routable, so 1..99 only."""
    if not 1 <= canary_percent <= 99:
        raise ValueError(f"canary_percent must be between 1 and 99, got {canary_percent}")
    return 100 - canary_percent, canary_percent


def _cluster(name: str, host: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "2s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": host,
                                        "port_value": PREDICTOR_PORT,
                                    }
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }


def model_of_isvc(isvc: str) -> str:
    """The model an InferenceService ``<model>-champion`` / ``<model>-challenger`` serves."""
    for role in (CHAMPION, CHALLENGER):
        if isvc.endswith(f"-{role}") and len(isvc) > len(role) + 1:
            return isvc.removesuffix(f"-{role}")
    raise ValueError(f"InferenceService {isvc!r}: not <model>-{CHAMPION} or <model>-{CHALLENGER}")


ROUTER_VERSION_SEGMENT = "[^/]+"
"""A version segment in the router's regexes (the server checks the version itself)."""


def public_routes(model: str) -> list[dict[str, Any]]:
    """Envoy route matches for each public API route of ``model`` (path and method)."""
    matches = []
    for route in MODEL_API:
        path: dict[str, Any] = (
            {"path": route.path(model)}
            if route.fixed
            else {"safe_regex": {"regex": route.regex(model, ROUTER_VERSION_SEGMENT)}}
        )
        method = {"name": ":method", "string_match": {"exact": route.method}}
        matches.append({**path, "headers": [method]})
    return matches


def _bootstrap(
    namespace_name: str, model: str, backends: list[tuple[str, str, int]]
) -> dict[str, Any]:
    """Envoy v3 bootstrap over ``(cluster name, InferenceService, weight)`` backends."""
    weighted = [{"name": name, "weight": weight} for name, _, weight in backends]
    clusters = [_cluster(name, predictor_host(namespace_name, isvc)) for name, isvc, _ in backends]

    def action() -> dict[str, Any]:
        # A fresh object per route: YAML would otherwise write anchors and aliases.
        return {"timeout": "60s", "weighted_clusters": {"clusters": [dict(w) for w in weighted]}}

    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "model",
        # Match on the path the backend will see: resolve ``.``/``..``, merge ``//`` and
        # refuse %2F/%5C, so no spelling of a management path slips past the route.
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "route_config": {
            "name": "model",
            "virtual_hosts": [
                {
                    "name": "model",
                    "domains": ["*"],
                    # The model's public API only; Envoy answers 404 for the rest.
                    "routes": [
                        {"match": match, "route": action()} for match in public_routes(model)
                    ],
                }
            ],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": "http",
                    "address": {
                        "socket_address": {"address": "0.0.0.0", "port_value": ROUTER_PORT}
                    },
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": hcm,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": clusters,
        }
    }


def router_config(
    namespace_name: str, champion: str, challenger: str | None, canary_percent: int
) -> dict[str, Any]:
    """Envoy v3 bootstrap: one listener, one route, weighted over the predictors' Services.

    No admin listener (nothing to expose); KServe names a RawDeployment predictor's
    Service ``<isvc>-predictor`` on port 80. ``champion`` is ``<model>-champion``: the
    route admits only that model's public API paths.
    """
    model = model_of_isvc(champion)
    if challenger is None:
        return _bootstrap(namespace_name, model, [(CHAMPION, champion, 100)])
    champion_w, challenger_w = canary_weights(canary_percent)
    return _bootstrap(
        namespace_name,
        model,
        [(CHAMPION, champion, champion_w), (CHALLENGER, challenger, challenger_w)],
    )


def _weights_label(challenger: str | None, canary_percent: int) -> str:
    if challenger is None:
        return f"{CHAMPION}=100"
    champion_w, challenger_w = canary_weights(canary_percent)
    return f"{CHAMPION}={champion_w},{CHALLENGER}={challenger_w}"


def _patches(config: dict[str, Any], label: str) -> dict[str, dict[str, Any]]:
    text = yaml.safe_dump(config, sort_keys=False)
    return {
        "configmap": {"data": {ROUTER_CONFIG_KEY: text}},
        "deployment": {
            "spec": {"template": {"metadata": {"annotations": {WEIGHTS_ANNOTATION: label}}}}
        },
    }


def router_traffic_patch(
    namespace_name: str, champion: str, challenger: str | None, canary_percent: int
) -> dict[str, dict[str, Any]]:
    """Merge patches that move a model's traffic (what the canary actuator applies).

    ``challenger=None`` is a rollback: every request to the champion. Apply
    ``configmap`` to ``<model>-router`` first, then ``deployment`` (its annotation
    change rolls the router pods onto the new file, one at a time).
    """
    return _patches(
        router_config(namespace_name, champion, challenger, canary_percent),
        _weights_label(challenger, canary_percent),
    )


def promotion_patch(namespace_name: str, challenger: str) -> dict[str, dict[str, Any]]:
    """Merge patches that send every request to the challenger (a promotion).

    The single backend keeps the name ``challenger`` and the annotation reads
    ``challenger=100``: it differs from a rollback's ``champion=100``, so moving between
    the two always rolls the router pods. Nothing is renamed or deleted here; the next
    deploy makes the challenger's model the champion (see the actuator).
    """
    return _patches(
        _bootstrap(namespace_name, model_of_isvc(challenger), [(CHALLENGER, challenger, 100)]),
        f"{CHALLENGER}=100",
    )


def routed_backends(namespace_name: str, config: Any) -> dict[str, int]:
    """InferenceService -> weight, read back from a router bootstrap (parsed YAML).

    Raises ``ValueError`` naming the first part that is not a router this module wrote.
    """
    try:
        listener = config["static_resources"]["listeners"][0]
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        every = [
            {c["name"]: int(c["weight"]) for c in r["route"]["weighted_clusters"]["clusters"]}
            for r in routes
        ]
        weights = every[0]
        hosts = {
            c["name"]: c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"][
                "address"
            ]["socket_address"]["address"]
            for c in config["static_resources"]["clusters"]
        }
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"not a weighted-cluster router bootstrap ({exc!r} missing)") from None
    if any(other != weights for other in every):
        raise ValueError(f"routes disagree on the weights: {every}")
    suffix = f"-predictor.{namespace_name}.svc.cluster.local"
    backends: dict[str, int] = {}
    for name, weight in weights.items():
        host = hosts.get(name, "")
        if not host.endswith(suffix):
            raise ValueError(
                f"cluster {name!r}: host {host!r} is not a predictor in this namespace"
            )
        backends[host.removesuffix(suffix)] = weight
    return backends
