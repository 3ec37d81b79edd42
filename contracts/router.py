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
"""

from __future__ import annotations

from typing import Any

import yaml

from contracts.names import CHALLENGER, CHAMPION

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


def _bootstrap(namespace_name: str, backends: list[tuple[str, str, int]]) -> dict[str, Any]:
    """Envoy v3 bootstrap over ``(cluster name, InferenceService, weight)`` backends."""
    weighted = [{"name": name, "weight": weight} for name, _, weight in backends]
    clusters = [_cluster(name, predictor_host(namespace_name, isvc)) for name, isvc, _ in backends]
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "model",
        "route_config": {
            "name": "model",
            "virtual_hosts": [
                {
                    "name": "model",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "route": {
                                "timeout": "60s",
                                "weighted_clusters": {"clusters": weighted},
                            },
                        }
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
    Service ``<isvc>-predictor`` on port 80.
    """
    if challenger is None:
        return _bootstrap(namespace_name, [(CHAMPION, champion, 100)])
    champion_w, challenger_w = canary_weights(canary_percent)
    return _bootstrap(
        namespace_name, [(CHAMPION, champion, champion_w), (CHALLENGER, challenger, challenger_w)]
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
        _bootstrap(namespace_name, [(CHALLENGER, challenger, 100)]), f"{CHALLENGER}=100"
    )


def routed_backends(namespace_name: str, config: Any) -> dict[str, int]:
    """InferenceService -> weight, read back from a router bootstrap (parsed YAML).

    Raises ``ValueError`` naming the first part that is not a router this module wrote.
    """
    try:
        listener = config["static_resources"]["listeners"][0]
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        route = hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
        weights = {c["name"]: int(c["weight"]) for c in route["weighted_clusters"]["clusters"]}
        hosts = {
            c["name"]: c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"][
                "address"
            ]["socket_address"]["address"]
            for c in config["static_resources"]["clusters"]
        }
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"not a weighted-cluster router bootstrap ({exc!r} missing)") from None
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
