"""Per-tenant quotas on Kueue: who gets the scarce GPUs, and when.

:class:`KueueInstall` installs the pinned ``kueue`` chart from the mirror into a
``restricted`` namespace, then the cluster's queueing objects from the tenant list:

- ``ResourceFlavor`` s, each mapped to the node pools of one kind of training capacity
  by their node labels (and the taints they carry, which admitted pods tolerate);
- one ``ClusterQueue`` per tenant, open only to the tenant's namespace, with nominal CPU,
  memory and GPU quota from its tier. SMB queues cover CPU and memory only, on the
  shared spot flavor: a workload that requests ``nvidia.com/gpu`` is never admitted.
  Enterprise queues share the ``enterprise`` cohort with explicit borrowing and lending
  limits on their GPU flavor;
- a ``LocalQueue`` (:data:`LOCAL_QUEUE`) in each tenant's namespace.

Kueue manages TrainJobs (and JobSets) in tenant namespaces only, and holds one that
names no queue instead of letting it run past the quota.

Preemption, written down (the ClusterQueue ``preemption`` block):

- ``withinClusterQueue: LowerPriority``: a tenant's higher-priority run may preempt its
  own lower-priority runs, never another tenant's;
- ``reclaimWithinCohort: Any``: a tenant whose nominal quota was lent out gets it back
  by preempting the borrowers' runs (a borrower knows its extra quota is on loan);
- ``borrowWithinCohort: Never``: nobody preempts anyone in order to borrow.

A run whose pods do not become ready within :data:`PODS_READY_TIMEOUT` (for instance
because no GPU capacity is left in the zone) is evicted and requeued, so its quota is
not held by pods that cannot start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired

import pulumi
import yaml

from components.k8s._resources import namespace_with_policies, pinned_release, register
from components.k8s.catalog import CHARTS, IMAGES, Registry, RegistryArgs, registry_of
from components.k8s.netpol import baseline_policies, scrape_ingress, webhook_ingress
from components.k8s.podspec import GPU_RESOURCE, Manifest, namespace, object_meta
from contracts.names import TENANT_LABEL

API_VERSION = "kueue.x-k8s.io/v1beta2"
"""Kueue's storage API version in 0.19."""
NAMESPACE = "kueue-system"
"""Namespace of the controller."""
LOCAL_QUEUE = "training"
"""Name of every tenant's LocalQueue (the value of training workloads' queue label)."""
PODS_READY_TIMEOUT = "20m"
"""Scale-from-zero GPU nodes and a CUDA image pull take minutes; this is the bound."""
WEBHOOK_PORT = 9443
VISIBILITY_PORT = 8082
METRICS_PORT = 8443
FRAMEWORKS = ("trainer.kubeflow.org/trainjob", "jobset.x-k8s.io/jobset")
"""Integrations Kueue manages: training runs, not the tenants' Deployments or CronJobs."""


@dataclass(frozen=True)
class Flavor:
    """A ResourceFlavor: the node labels of the pools it maps to and their taints."""

    name: str
    node_labels: Mapping[str, str]
    tolerations: Sequence[Mapping[str, str]] = ()


@dataclass(frozen=True)
class Quota:
    """Amounts of CPU (cores), memory (GiB) and GPUs."""

    cpu: int
    memory_gib: int
    gpus: int = 0

    def resources(self, *, gpu: bool) -> list[tuple[str, str]]:
        """``(resource, quantity)`` pairs in Kueue's order."""
        out = [("cpu", str(self.cpu)), ("memory", f"{self.memory_gib}Gi")]
        if gpu:
            out.append((GPU_RESOURCE, str(self.gpus)))
        return out


@dataclass(frozen=True)
class TenantQueue:
    """One tenant's ClusterQueue and LocalQueue."""

    tenant: str
    namespace: str
    flavor: str
    nominal: Quota
    gpu: bool
    """Whether the queue covers ``nvidia.com/gpu`` (SMB: never)."""
    cohort: str | None = None
    borrowing_limit: Quota | None = None
    lending_limit: Quota | None = None


def resource_flavor(flavor: Flavor, labels: Mapping[str, str]) -> Manifest:
    """A ``ResourceFlavor``: admitted pods get its node labels and tolerations."""
    spec: dict[str, Any] = {}
    if flavor.node_labels:
        spec["nodeLabels"] = dict(flavor.node_labels)
    if flavor.tolerations:
        spec["tolerations"] = [dict(t) for t in flavor.tolerations]
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceFlavor",
        "metadata": object_meta(flavor.name, None, labels),
        "spec": spec,
    }


def cluster_queue_name(tenant: str) -> str:
    """Name of a tenant's ClusterQueue."""
    return f"tenant-{tenant}"


def cluster_queue(queue: TenantQueue, labels: Mapping[str, str]) -> Manifest:
    """A tenant's ``ClusterQueue`` (see the module docstring for quotas and preemption)."""
    covered = ["cpu", "memory"] + ([GPU_RESOURCE] if queue.gpu else [])
    if queue.gpu != (queue.nominal.gpus > 0):
        raise ValueError(
            f"ClusterQueue {queue.tenant}: a GPU queue needs GPU quota; a CPU queue has none"
        )
    borrow = dict(queue.borrowing_limit.resources(gpu=queue.gpu)) if queue.borrowing_limit else {}
    lend = dict(queue.lending_limit.resources(gpu=queue.gpu)) if queue.lending_limit else {}
    if (borrow or lend) and queue.cohort is None:
        raise ValueError(f"ClusterQueue {queue.tenant}: limits without a cohort mean nothing")
    resources = []
    for name, nominal in queue.nominal.resources(gpu=queue.gpu):
        entry: dict[str, Any] = {"name": name, "nominalQuota": nominal}
        if name in borrow:
            entry["borrowingLimit"] = borrow[name]
        if name in lend:
            entry["lendingLimit"] = lend[name]
        resources.append(entry)
    spec: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": queue.namespace}},
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": [
            {
                "coveredResources": covered,
                "flavors": [{"name": queue.flavor, "resources": resources}],
            }
        ],
        "preemption": {
            "withinClusterQueue": "LowerPriority",
            "reclaimWithinCohort": "Any" if queue.cohort else "Never",
            "borrowWithinCohort": {"policy": "Never"},
        },
        "stopPolicy": "None",
    }
    if queue.cohort:
        spec["cohortName"] = queue.cohort
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterQueue",
        "metadata": object_meta(cluster_queue_name(queue.tenant), None, labels),
        "spec": spec,
    }


def local_queue(queue: TenantQueue, labels: Mapping[str, str]) -> Manifest:
    """The tenant's ``LocalQueue`` (:data:`LOCAL_QUEUE`) pointing at its ClusterQueue."""
    return {
        "apiVersion": API_VERSION,
        "kind": "LocalQueue",
        "metadata": object_meta(LOCAL_QUEUE, queue.namespace, labels),
        "spec": {"clusterQueue": cluster_queue_name(queue.tenant), "stopPolicy": "None"},
    }


def manager_config() -> str:
    """Kueue's Configuration (``managerConfig.controllerManagerConfigYaml``)."""
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": f":{METRICS_PORT}"},
        "webhook": {"port": WEBHOOK_PORT},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Workload.kueue.x-k8s.io": 10,
                "LocalQueue.kueue.x-k8s.io": 5,
                "ClusterQueue.kueue.x-k8s.io": 5,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 300, "burst": 500},
        # A TrainJob without a queue label in a tenant namespace is held, never run
        # past the quota; outside tenant namespaces Kueue leaves workloads alone.
        "manageJobsWithoutQueueName": True,
        "managedJobsNamespaceSelector": {
            "matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]
        },
        "waitForPodsReady": {
            "timeout": PODS_READY_TIMEOUT,
            "blockAdmission": False,
            "requeuingStrategy": {"timestamp": "Eviction", "backoffLimitCount": 5},
        },
        "integrations": {"frameworks": list(FRAMEWORKS)},
    }
    return yaml.safe_dump(config, sort_keys=False)


def kueue_values(registry: Registry, system_selector: Mapping[str, str]) -> dict[str, Any]:
    """Values for the ``kueue`` chart 0.19 (keys from its values.yaml)."""
    pin = IMAGES["kueue-controller"]
    return {
        "controllerManager": {
            "manager": {
                "image": {
                    "repository": registry.repository(pin),
                    "tag": pin.tag,
                    "pullPolicy": "IfNotPresent",
                }
            },
            # One replica and no PDB (the chart's default): a PDB with minAvailable 1 over
            # one pod would block every drain of the system nodes.
            "nodeSelector": dict(system_selector),
        },
        "managerConfig": {"controllerManagerConfigYaml": manager_config()},
        "enableKueueViz": False,
    }


def kueue_policies(
    ns: str, labels: Mapping[str, str], cidrs: Sequence[str], monitoring_ns: str
) -> list[Manifest]:
    """Default deny plus the API server's calls to the webhooks and the visibility API."""
    return [
        *baseline_policies(ns, labels, cidrs),
        webhook_ingress(ns, labels, cidrs, {}, WEBHOOK_PORT, "allow-api-server-to-webhook"),
        webhook_ingress(ns, labels, cidrs, {}, VISIBILITY_PORT, "allow-api-server-to-visibility"),
        scrape_ingress(ns, labels, monitoring_ns, [METRICS_PORT]),
    ]


class KueueInstallArgs(RegistryArgs):
    """Inputs of :class:`KueueInstall` (plain data from the tenant list)."""

    cluster_cidrs: Sequence[str]
    """API server and node ranges (webhook callers, API server egress)."""
    flavors: Sequence[Flavor]
    """ResourceFlavors."""
    queues: Sequence[TenantQueue]
    """One per tenant."""
    tenant_namespaces: Mapping[str, pulumi.Resource]
    """Per tenant name, what its LocalQueue waits for (the tenant's namespace component)."""
    system_selector: NotRequired[Mapping[str, str]]
    """Labels of the nodes the controller runs on."""
    monitoring_namespace: NotRequired[str]
    """Namespace whose Prometheus scrapes the controller (default ``monitoring``)."""


class KueueInstall(pulumi.ComponentResource):
    """Kueue, the flavors, and every tenant's ClusterQueue and LocalQueue."""

    queue_names: dict[str, str]
    """Per tenant, the LocalQueue its training runs name."""

    def __init__(
        self, name: str, args: KueueInstallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:kueue:KueueInstall", name, None, opts)
        registry = registry_of(args)
        part_of = {"app.kubernetes.io/part-of": "mlplatform"}
        flavor_names = {f.name for f in args["flavors"]}
        for queue in args["queues"]:
            if queue.flavor not in flavor_names:
                raise ValueError(f"tenant {queue.tenant}: unknown flavor {queue.flavor!r}")
        ns = namespace_with_policies(
            name,
            namespace(NAMESPACE, "restricted", part_of, "the controller runs restricted"),
            kueue_policies(
                NAMESPACE,
                part_of,
                args["cluster_cidrs"],
                args.get("monitoring_namespace", "monitoring"),
            ),
            self,
        )
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        release = pinned_release(
            f"{name}-controller",
            "kueue",
            CHARTS["kueue"],
            registry,
            NAMESPACE,
            after_ns,
            values=kueue_values(registry, args.get("system_selector", {})),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[release])
        flavors = [
            register(f"{name}-flavor-{f.name}", resource_flavor(f, part_of), after_crds)
            for f in args["flavors"]
        ]
        self.queue_names = {}
        for queue in args["queues"]:
            labels = {**part_of, TENANT_LABEL: queue.tenant}
            cq = register(
                f"{name}-{queue.tenant}-cq",
                cluster_queue(queue, labels),
                pulumi.ResourceOptions(parent=self, depends_on=[release, *flavors]),
            )
            register(
                f"{name}-{queue.tenant}-lq",
                local_queue(queue, labels),
                pulumi.ResourceOptions(
                    parent=self, depends_on=[cq, args["tenant_namespaces"][queue.tenant]]
                ),
            )
            self.queue_names[queue.tenant] = LOCAL_QUEUE
        self.register_outputs({"queueNames": self.queue_names})
