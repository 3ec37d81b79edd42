"""The Envoy router in front of an enterprise model's champion and challenger.

Rendered from :mod:`contracts.router`, the same builders the canary actuator patches the
live router with, so a rollback writes exactly what a deploy with no challenger would.
"""

from __future__ import annotations

from components.k8s.catalog import IMAGES, Registry
from components.k8s.podspec import (
    Manifest,
    Resources,
    cluster_ip_service,
    config_map,
    container,
    deployment,
    pod_disruption_budget,
    pod_spec,
    selector_labels,
)
from contracts.names import labels
from contracts.router import ROUTER_CONFIG_KEY, ROUTER_PORT, router_name, router_traffic_patch

ROUTER_COMPONENT = "model-router"
"""``app.kubernetes.io/component`` of the routers."""


def router_manifests(
    tenant: str,
    namespace_name: str,
    model: str,
    registry: Registry,
    champion: str,
    challenger: str | None,
    canary_percent: int,
    *,
    replicas: int,
) -> list[Manifest]:
    """ConfigMap, Deployment, Service (the stable endpoint) and PDB of a model's router."""
    name = router_name(model)
    obj_labels = labels(tenant, ROUTER_COMPONENT, name=name)
    patch = router_traffic_patch(namespace_name, champion, challenger, canary_percent)
    cfg = config_map(name, namespace_name, obj_labels, patch["configmap"]["data"])
    envoy = container(
        "envoy",
        registry.image(IMAGES["envoy"]),
        Resources("100m", "128Mi", cpu_limit="1", memory_limit="256Mi"),
        # No hot restart: it needs shared memory in /dev/shm and a writable base path.
        args=[
            "-c",
            f"/etc/envoy/{ROUTER_CONFIG_KEY}",
            "--disable-hot-restart",
            "--log-level",
            "warn",
        ],
        ports=[{"name": "http", "containerPort": ROUTER_PORT, "protocol": "TCP"}],
        volume_mounts=[{"name": "config", "mountPath": "/etc/envoy", "readOnly": True}],
        probes={
            "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5},
            "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 20},
        },
    )
    spec = pod_spec([envoy], volumes=[{"name": "config", "configMap": {"name": name}}])
    dep = deployment(name, namespace_name, obj_labels, spec, replicas=replicas)
    dep["spec"]["template"]["metadata"]["annotations"] = patch["deployment"]["spec"]["template"][
        "metadata"
    ]["annotations"]
    # Keep full capacity while pods roll onto new weights.
    dep["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    svc = cluster_ip_service(
        model,
        namespace_name,
        obj_labels,
        selector_labels(obj_labels),
        [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    )
    pdb = pod_disruption_budget(name, namespace_name, obj_labels, selector_labels(obj_labels))
    return [cfg, dep, svc, pdb]
