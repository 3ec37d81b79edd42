"""Computed outputs of Kubernetes objects: what the API server and controllers report back.

The provider's ``Check`` auto-names an object without ``metadata.name`` (known at
preview). Once created, the live object carries server-set metadata (uid, resource
version, the ``default`` namespace), defaulted spec fields (a Service's cluster IP and
node ports) and the status its controllers write (ready replicas, a LoadBalancer's
ingress hostname, a Namespace's phase). Addresses come from the usual EKS ranges and an
ELB hostname in the stack's region, deterministically.
"""

from __future__ import annotations

from typing import Any

from mlplatform.engine.cloud import digest
from mlplatform.engine.new_resource import NewResource, OutputHandler

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)
CREATED_AT = "2026-01-01T00:00:00Z"


def _kubernetes_object(resource: NewResource) -> None:
    """Metadata as the API server returns it; then the kind's own defaults and status."""
    metadata = dict(resource.inputs.get("metadata") or {})
    if not metadata.get("name"):
        metadata["name"] = resource.auto_name()
    namespace = metadata.get("namespace")
    resource.id = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
    resource.known_at_preview.add("metadata")
    if not resource.preview:
        if not namespace and resource.kind not in CLUSTER_SCOPED_KINDS:
            metadata["namespace"] = "default"
        metadata.setdefault("uid", _uuid(resource))
        metadata.setdefault("resourceVersion", str(1000 + resource.number("rv", modulo=9000)))
        metadata.setdefault("creationTimestamp", CREATED_AT)
        metadata.setdefault("generation", 1)
        by_kind = _BY_KIND.get(resource.kind)
        if by_kind is not None:
            by_kind(resource)
    resource.state["metadata"] = metadata


def _uuid(resource: NewResource) -> str:
    hex_digits = digest(resource.urn, "uid", length=32)
    return (
        f"{hex_digits[:8]}-{hex_digits[8:12]}-4{hex_digits[13:16]}"
        f"-a{hex_digits[17:20]}-{hex_digits[20:32]}"
    )


def _spec(resource: NewResource) -> dict[str, Any]:
    spec = resource.inputs.get("spec")
    return dict(spec) if isinstance(spec, dict) else {}


def elb_hostname(resource: NewResource, region: str) -> str:
    """The hostname AWS gives the load balancer of a Service or Ingress."""
    return (
        f"a{digest(resource.urn, 'elb', length=32)}-{resource.number('elb', modulo=10**10)}"
        f".{region}.elb.amazonaws.com"
    )


def _service(resource: NewResource) -> None:
    spec = _spec(resource)
    kind = spec.get("type") or "ClusterIP"
    spec["type"] = kind
    if kind != "ExternalName" and spec.get("clusterIP") != "None":
        address = resource.number("ip", modulo=250 * 250)
        cluster_ip = spec.get("clusterIP") or f"172.20.{address // 250}.{address % 250 + 2}"
        spec.setdefault("clusterIP", cluster_ip)
        spec.setdefault("clusterIPs", [cluster_ip])
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    ports = []
    for index, port in enumerate(spec.get("ports") or []):
        filled = dict(port) if isinstance(port, dict) else {}
        filled.setdefault("protocol", "TCP")
        filled.setdefault("targetPort", filled.get("port"))
        if kind in ("NodePort", "LoadBalancer"):
            filled.setdefault("nodePort", 30000 + resource.number("port", str(index), modulo=2768))
        ports.append(filled)
    if ports:
        spec["ports"] = ports
    resource.state["spec"] = spec
    ingress = (
        [{"hostname": elb_hostname(resource, resource.region)}] if kind == "LoadBalancer" else []
    )
    resource.state["status"] = {"loadBalancer": {"ingress": ingress} if ingress else {}}


def _ingress(resource: NewResource) -> None:
    resource.state["status"] = {
        "loadBalancer": {"ingress": [{"hostname": elb_hostname(resource, resource.region)}]}
    }


def _workload(resource: NewResource) -> None:
    """Deployments, StatefulSets, ReplicaSets: every replica up."""
    spec = _spec(resource)
    wanted = spec.get("replicas")
    # Numbers arrive as floats (protobuf has only doubles).
    replicas = int(wanted) if isinstance(wanted, int | float) else 1
    resource.state["status"] = {
        "observedGeneration": 1,
        "replicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "updatedReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "lastTransitionTime": CREATED_AT},
        ],
    }


def _daemon_set(resource: NewResource) -> None:
    nodes = 3
    resource.state["status"] = {
        "observedGeneration": 1,
        "currentNumberScheduled": nodes,
        "desiredNumberScheduled": nodes,
        "numberAvailable": nodes,
        "numberReady": nodes,
        "updatedNumberScheduled": nodes,
        "numberMisscheduled": 0,
    }


def _pod(resource: NewResource) -> None:
    address = resource.number("ip", modulo=250 * 250)
    pod_ip = f"10.0.{address // 250}.{address % 250 + 2}"
    resource.state["status"] = {
        "phase": "Running",
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "hostIP": f"10.0.{address % 250}.10",
        "startTime": CREATED_AT,
        "conditions": [{"type": "Ready", "status": "True"}],
    }


def _namespace(resource: NewResource) -> None:
    resource.state["spec"] = {"finalizers": ["kubernetes"], **_spec(resource)}
    resource.state["status"] = {"phase": "Active"}


def _persistent_volume_claim(resource: NewResource) -> None:
    spec = _spec(resource)
    requests = (spec.get("resources") or {}).get("requests") or {}
    resource.state["status"] = {
        "phase": "Bound",
        "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
        "capacity": {"storage": requests.get("storage", "1Gi")},
    }


def _job(resource: NewResource) -> None:
    resource.state["status"] = {
        "succeeded": 1,
        "startTime": CREATED_AT,
        "completionTime": CREATED_AT,
        "conditions": [{"type": "Complete", "status": "True"}],
    }


_BY_KIND: dict[str, OutputHandler] = {
    "Service": _service,
    "Ingress": _ingress,
    "Deployment": _workload,
    "StatefulSet": _workload,
    "ReplicaSet": _workload,
    "DaemonSet": _daemon_set,
    "Pod": _pod,
    "Namespace": _namespace,
    "PersistentVolumeClaim": _persistent_volume_claim,
    "Job": _job,
}


def _helm_release(resource: NewResource) -> None:
    """A Helm release: its name (auto-named at preview) and, once installed, its status."""
    release = resource.inputs.get("name") or resource.auto_name()
    namespace = resource.inputs.get("namespace") or "default"
    resource.known_at_preview.add("name")
    resource.state["name"] = release
    resource.id = f"{namespace}/{release}"
    if not resource.preview:
        resource.state["status"] = {
            "name": release,
            "namespace": namespace,
            "status": "deployed",
            "chart": resource.inputs.get("chart"),
            "version": resource.inputs.get("version"),
            "revision": 1,
        }


KUBERNETES_OUTPUTS: dict[str, OutputHandler] = {
    "kubernetes": _kubernetes_object,
    "kubernetes:helm.sh": _helm_release,
}
"""Every Kubernetes type (``kubernetes``) and Helm releases (``kubernetes:helm.sh``)."""
