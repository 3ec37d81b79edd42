"""Test helper: can every pod a plan describes be placed on a node the plan can create?

Node sources come from the plan itself: the managed node groups (their labels, taints,
instance types and subnets) and the Karpenter ``NodePool`` s (template labels and taints,
requirements, limits), plus the well-known labels the node would carry (instance type,
zone, zone id, capacity type, arch, os, the pool name). Instance capacities come from the
region's offering data, less a conservative allowance for the kubelet, the node's
daemons and the VM overhead (Karpenter's own accounting is close to it).

A pod fits a source when its ``nodeSelector`` and required node affinity can be met by
the source's labels (a requirement with several values can meet any of them), it
tolerates every ``NoSchedule``/``NoExecute`` taint of the source, its requests fit the
allocatable capacity of the source's largest instance type and the source's limits, and
the source has a healthy zone. A pod requesting ``nvidia.com/gpu`` must fit only GPU
capacity of its own tenant (every source it fits is checked, not just one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.k8s.invariants import pod_specs
from contracts import regions

GPU = "nvidia.com/gpu"
TENANT_KEY = "mlplatform.io/tenant"
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_UNITS = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "Ki": 1024.0,
    "Mi": 1024.0**2,
    "Gi": 1024.0**3,
    "Ti": 1024.0**4,
}


def quantity(value: Any) -> float:
    """A Kubernetes quantity (``250m``, ``512Mi``, ``2``) as a float."""
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class NodeSource:
    """Something that can create nodes: a managed node group or a Karpenter NodePool."""

    name: str
    labels: Mapping[str, str]
    """Labels every node carries."""
    choices: Mapping[str, Sequence[str]]
    """Labels whose value is one of several (instance type, zone, capacity type)."""
    taints: Sequence[Mapping[str, str]]
    instance_types: Sequence[str]
    zone_ids: Sequence[str]
    limits: Mapping[str, float] = field(default_factory=dict)

    def allocatable(self, region: str) -> dict[str, float]:
        """The largest instance type's allocatable CPU, memory (bytes) and GPUs."""
        offers = regions.load(region)
        assert offers is not None
        best: dict[str, float] = {"cpu": 0.0, "memory": 0.0, GPU: 0.0}
        for name in self.instance_types:
            offered = offers.offered(name)
            assert offered is not None, name
            cpu = float(offered.vcpu or 0)
            memory = float(offered.memory_gib or 0) * 1024.0**3
            # kubelet + system reserve, node daemons (CNI, kube-proxy, CSI, device
            # plugin), the 7.5 % VM overhead Karpenter assumes.
            alloc = {
                "cpu": cpu - 0.35,
                "memory": memory * 0.925 - 1.5 * 1024.0**3,
                GPU: float(offered.gpus),
            }
            if alloc["cpu"] > best["cpu"] or alloc[GPU] > best[GPU]:
                best = alloc
        return best

    @property
    def tenant(self) -> str | None:
        return self.labels.get(TENANT_KEY)

    @property
    def has_gpus(self) -> bool:
        return self.labels.get("nvidia.com/gpu.present") == "true"


def node_sources(plan: Mapping[str, Any], healthy: Sequence[str]) -> list[NodeSource]:
    """Every managed node group and Karpenter NodePool of a plan."""
    resources = plan["resources"]
    subnet_zone = {
        r.get("id"): r["inputs"].get("availabilityZoneId")
        for r in resources
        if r["type"] == "aws:ec2/subnet:Subnet"
    }
    sources: list[NodeSource] = []
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute"}
    for r in resources:
        inputs = r["inputs"]
        if r["type"] == "aws:eks/nodeGroup:NodeGroup":
            zones = sorted({subnet_zone.get(s) for s in inputs["subnetIds"]} - {None})
            types = list(inputs["instanceTypes"])
            sources.append(
                NodeSource(
                    name=f"node group {inputs['labels'].get('mlplatform.io/pool', r['name'])}",
                    labels={**inputs.get("labels", {}), "kubernetes.io/os": "linux"},
                    choices={
                        "node.kubernetes.io/instance-type": types,
                        "topology.k8s.aws/zone-id": zones,
                    },
                    taints=[
                        {**t, "effect": effects.get(t["effect"], t["effect"])}
                        for t in inputs.get("taints") or []
                    ],
                    instance_types=types,
                    zone_ids=zones,
                )
            )
        elif r["type"] == "kubernetes:karpenter.sh/v1:NodePool":
            spec = inputs["spec"]
            template = spec["template"]
            choices = {
                req["key"]: list(req.get("values") or [])
                for req in template["spec"]["requirements"]
                if req["operator"] == "In"
            }
            name = inputs["metadata"]["name"]
            sources.append(
                NodeSource(
                    name=f"NodePool {name}",
                    labels={
                        **template["metadata"].get("labels", {}),
                        "karpenter.sh/nodepool": name,
                    },
                    choices=choices,
                    taints=list(template["spec"].get("taints") or []),
                    instance_types=choices.get("node.kubernetes.io/instance-type", []),
                    zone_ids=[
                        z for z in choices.get("topology.k8s.aws/zone-id", []) if z in healthy
                    ],
                    limits={k: quantity(v) for k, v in (spec.get("limits") or {}).items()},
                )
            )
    return sources


def pod_requests(spec: Mapping[str, Any]) -> dict[str, float]:
    """Sum of the containers' requests (max with each init container), by resource."""
    total: dict[str, float] = {}
    containers = list(spec.get("containers") or [])
    model = spec.get("model")
    if isinstance(model, Mapping):
        containers.append(model)
    for c in containers:
        for key, value in ((c.get("resources") or {}).get("requests") or {}).items():
            total[key] = total.get(key, 0.0) + quantity(value)
    for c in spec.get("initContainers") or []:
        for key, value in ((c.get("resources") or {}).get("requests") or {}).items():
            total[key] = max(total.get(key, 0.0), quantity(value))
    return total


def _label_ok(source: NodeSource, key: str, op: str, values: Sequence[str]) -> bool:
    possible: list[str] | None
    if key in source.labels:
        possible = [source.labels[key]]
    elif key in source.choices:
        possible = list(source.choices[key])
    else:
        possible = None
    if op == "In":
        return possible is not None and bool(set(possible) & set(values))
    if op == "NotIn":
        return possible is None or bool(set(possible) - set(values))
    if op == "Exists":
        return possible is not None
    if op == "DoesNotExist":
        return possible is None
    return False


def _tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, str]) -> bool:
    for t in tolerations:
        if t.get("effect") not in (None, "", taint["effect"]):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, "", taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def why_not(spec: Mapping[str, Any], source: NodeSource, region: str) -> str | None:
    """None when the pod fits ``source``; else the first reason it does not."""
    for key, value in (spec.get("nodeSelector") or {}).items():
        if not _label_ok(source, key, "In", [value]):
            return f"nodeSelector {key}={value} not on its nodes"
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(
        all(
            _label_ok(source, e["key"], e["operator"], e.get("values") or [])
            for e in term.get("matchExpressions") or []
        )
        for term in terms
    ):
        return "no required node-affinity term matches its nodes"
    for taint in source.taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
            spec.get("tolerations") or [], taint
        ):
            return f"taint {taint['key']}={taint.get('value', '')}:{taint['effect']} not tolerated"
    if not source.zone_ids:
        return "no healthy zone"
    requests = pod_requests(spec)
    allocatable = source.allocatable(region)
    for resource, amount in requests.items():
        if resource not in allocatable:
            continue
        if amount > allocatable[resource] + 1e-9:
            return (
                f"requests {resource}={amount:g} > {allocatable[resource]:g} allocatable on "
                "its largest node"
            )
        limit = source.limits.get(resource)
        if limit is not None and amount > limit + 1e-9:
            return f"requests {resource}={amount:g} > the pool's limit {limit:g}"
    return None


@dataclass(frozen=True)
class Pod:
    """A pod template: where it was found, its namespace, its spec."""

    where: str
    namespace: str | None
    spec: Mapping[str, Any]


def plan_pods(manifests: Sequence[Mapping[str, Any]]) -> Iterator[Pod]:
    """Every pod template of the plan's objects (workloads, predictors, Prometheus)."""
    for manifest in manifests:
        meta = manifest.get("metadata") or {}
        namespace = meta.get("namespace")
        kind = manifest.get("kind")
        if kind in ("ServingRuntime", "ClusterServingRuntime"):
            continue  # placed by the InferenceService that uses it
        if kind == "Prometheus":
            yield Pod(f"Prometheus/{namespace}/{meta.get('name')}", namespace, manifest["spec"])
            continue
        for where, spec in pod_specs(manifest):
            yield Pod(where, namespace, spec)


def placement_findings(
    pods: Sequence[Pod],
    sources: Sequence[NodeSource],
    region: str,
    tenant_of_namespace: Mapping[str, str],
) -> list[str]:
    """One line per pod that cannot be placed (naming the pod and why), or whose GPU
    request could land on capacity other than its own tenant's GPU pools."""
    findings: list[str] = []
    for pod in pods:
        fits = [s for s in sources if why_not(pod.spec, s, region) is None]
        if not fits:
            reasons = "; ".join(f"{s.name}: {why_not(pod.spec, s, region)}" for s in sources)
            findings.append(f"{pod.where}: no node source can place it ({reasons or 'none'})")
            continue
        tenant = tenant_of_namespace.get(pod.namespace or "")
        if pod_requests(pod.spec).get(GPU, 0) > 0:
            wrong = [s.name for s in fits if not s.has_gpus or s.tenant != tenant]
            if wrong:
                findings.append(
                    f"{pod.where}: requests GPUs but fits capacity that is not tenant "
                    f"{tenant}'s GPU pool: {', '.join(wrong)}"
                )
        foreign = [s.name for s in fits if s.tenant is not None and s.tenant != tenant]
        if foreign:
            findings.append(f"{pod.where}: fits another tenant's dedicated nodes: {foreign}")
    return findings
