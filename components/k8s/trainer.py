"""Distributed training on Kubeflow Trainer v2: the controller, our runtime, and TrainJobs.

:class:`TrainerInstall` installs the pinned ``kubeflow-trainer`` chart (with its JobSet
dependency) from the mirror into a ``restricted`` namespace, and registers one
``ClusterTrainingRuntime``, :data:`RUNTIME_NAME`: torch-distributed with the platform's
training image. Trainer's torch plugin gives each node's container the ``torchrun``
settings (``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK``,
``PET_MASTER_ADDR``, ``PET_MASTER_PORT``), which ``torchrun`` reads as its defaults, so
``torchrun -m workloads.training`` runs one process per GPU (or one on CPU) with the
right rank and world size.

The runtime's pod template is Pod Security ``restricted`` (non-root, read-only root, all
capabilities dropped, ``RuntimeDefault`` seccomp, no service-account token), selects
training nodes only (never serving or system nodes), carries
``karpenter.sh/do-not-disrupt`` (Karpenter never drains a node under a job) and mounts
a memory-backed ``/dev/shm`` for NCCL. Which training pool, tenant taint and GPU count a
run gets is the job's: :func:`train_job` builds a tenant's ``TrainJob`` with its queue
label (Kueue admits it against the tenant's quota and adds the flavor's node labels and
tolerations) and its placement as a runtime patch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired

import pulumi

from components.k8s._resources import namespace_with_policies, pinned_release, register
from components.k8s.catalog import CHARTS, IMAGES, Registry, RegistryArgs, registry_of
from components.k8s.netpol import baseline_policies, scrape_ingress, webhook_ingress
from components.k8s.podspec import (
    GPU_RESOURCE,
    TMP_PATH,
    Manifest,
    Resources,
    container,
    namespace,
    object_meta,
    pod_spec,
)
from contracts.training import (
    API_VERSION,
    GROUP,
    NODE,
    QUEUE_LABEL,
    RUNTIME_KIND,
    RUNTIME_NAME,
    TRAIN_JOB_KIND,
)

NAMESPACE = "kubeflow-system"
"""Namespace of the Trainer and JobSet controllers."""
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
"""Pod annotation: Karpenter never voluntarily disrupts the node under the pod."""
TRAINING_COMMAND = ("torchrun", "-m", "workloads.training")
"""What each node runs: torchrun reads its PET_* settings from the environment."""
WEBHOOK_PORT = 9443
"""Trainer and JobSet admission webhooks (chart defaults)."""
METRICS_PORT = 8443
"""Trainer controller metrics (``manager.config.metrics.bindAddress``)."""
SHM_VOLUME = "dshm"
# NCCL's shared memory inside the container: a per-pod, memory-backed emptyDir.
SHM_PATH = "/dev/shm"  # noqa: S108


def _node_pod(image: str, resources: Resources) -> Manifest:
    """The restricted pod of one training node (``torchrun`` in container ``node``)."""
    node = container(
        NODE,
        image,
        resources,
        command=list(TRAINING_COMMAND),
        env=[
            # Writable paths only: the root filesystem is read-only.
            {"name": "HOME", "value": TMP_PATH},
            {"name": "TORCHELASTIC_ERROR_FILE", "value": f"{TMP_PATH}/torchelastic-error.json"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        volume_mounts=[{"name": SHM_VOLUME, "mountPath": SHM_PATH}],
    )
    spec = pod_spec(
        [node],
        node_selector={"mlplatform.io/purpose": "training"},
        volumes=[{"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}],
        restart_policy="Never",
    )
    return spec


def cluster_training_runtime(image: str, labels: Mapping[str, str]) -> Manifest:
    """The platform's torch-distributed ``ClusterTrainingRuntime``."""
    pod = _node_pod(image, Resources("1", "2Gi", cpu_limit="2", memory_limit="4Gi"))
    return {
        "apiVersion": API_VERSION,
        "kind": RUNTIME_KIND,
        "metadata": object_meta(
            RUNTIME_NAME, None, {**labels, "trainer.kubeflow.org/framework": "torch"}
        ),
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {}},
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": NODE,
                            "template": {
                                "metadata": {
                                    "labels": {
                                        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"
                                    }
                                },
                                "spec": {
                                    # A failed node fails the run: the gate decides, not retries.
                                    "backoffLimit": 0,
                                    "template": {
                                        "metadata": {
                                            "labels": dict(labels),
                                            "annotations": {DO_NOT_DISRUPT: "true"},
                                        },
                                        "spec": pod,
                                    },
                                },
                            },
                        }
                    ]
                }
            },
        },
    }


@dataclass(frozen=True)
class TrainingPlacement:
    """Where a tenant's training nodes go and what each one requests."""

    node_selector: Mapping[str, str]
    """Labels of the tenant's training pool."""
    tolerations: Sequence[Mapping[str, str]]
    """Taints of that pool the pods tolerate."""
    cpu: str = "3"
    """CPU request per node."""
    memory: str = "12Gi"
    """Memory request (and limit) per node."""
    gpus: int = 0
    """GPUs per node (one torchrun process each; CPU: one process)."""
    num_nodes: int = 1
    """Nodes of a run."""
    service_account: str | None = None
    """Service account of the run (the tenant's training identity)."""
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels added to the TrainJob."""


def train_job(
    tenant: str,
    namespace: str,
    name: str,
    image: str,
    args: Sequence[str],
    queue: str,
    placement: TrainingPlacement | None = None,
    *,
    command: Sequence[str] | None = None,
    env: Sequence[Mapping[str, Any]] = (),
    volumes: Sequence[Mapping[str, Any]] = (),
    volume_mounts: Sequence[Mapping[str, Any]] = (),
) -> Manifest:
    """A tenant's ``TrainJob`` on :data:`RUNTIME_NAME`, submitted to its Kueue ``queue``.

    ``name`` is the run's name (the retraining controller derives it from the trigger,
    so a redelivered trigger cannot start a second run); ``args`` go to the runtime's
    ``torchrun -m workloads.training`` (or to ``command``, e.g. ``torchrun -m
    workloads.retraining.run``). ``env``, ``volumes`` and ``volume_mounts`` (feature repo,
    signing key) are added to every node's pod. Without ``placement`` the run takes
    the runtime's CPU shape and Kueue's flavor placement only.
    """
    if not args or any(not isinstance(a, str) for a in args):
        raise ValueError(f"TrainJob {name}: args must be a non-empty list of strings")
    if not queue:
        raise ValueError(f"TrainJob {name}: a Kueue LocalQueue name is required")
    place = placement or TrainingPlacement({}, ())
    requests: dict[str, str] = {"cpu": place.cpu, "memory": place.memory}
    # Guaranteed QoS: a training process is never throttled below, nor evicted above, it.
    limits: dict[str, str] = {"cpu": place.cpu, "memory": place.memory}
    if place.gpus:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(place.gpus)
    labels = {
        "app.kubernetes.io/part-of": "mlplatform",
        "app.kubernetes.io/component": "training",
        "mlplatform.io/tenant": tenant,
        QUEUE_LABEL: queue,
        **place.extra_labels,
    }
    trainer: dict[str, Any] = {
        "image": image,
        "args": list(args),
        "numNodes": place.num_nodes,
        # One process per GPU; one process on a CPU node (gloo).
        "numProcPerNode": max(place.gpus, 1),
        "resourcesPerNode": {"requests": requests, "limits": limits},
    }
    if command:
        trainer["command"] = list(command)
    spec: dict[str, Any] = {
        "runtimeRef": {
            "name": RUNTIME_NAME,
            "apiGroup": GROUP,
            "kind": RUNTIME_KIND,
        },
        "trainer": trainer,
    }
    pod_patch: dict[str, Any] = {}
    if place.node_selector:
        pod_patch["nodeSelector"] = dict(place.node_selector)
    if place.tolerations:
        pod_patch["tolerations"] = [dict(t) for t in place.tolerations]
    if place.service_account:
        pod_patch["serviceAccountName"] = place.service_account
    if volumes:
        pod_patch["volumes"] = [dict(v) for v in volumes]
    node_patch: dict[str, Any] = {}
    if env:
        node_patch["env"] = [dict(e) for e in env]
    if volume_mounts:
        node_patch["volumeMounts"] = [dict(m) for m in volume_mounts]
    if node_patch:
        pod_patch["containers"] = [{"name": NODE, **node_patch}]
    if pod_patch:
        spec["runtimePatches"] = [
            {
                "manager": "mlplatform.io/platform",
                "trainingRuntimeSpec": {
                    "template": {
                        "spec": {
                            "replicatedJobs": [
                                {
                                    "name": NODE,
                                    "template": {
                                        "spec": {"template": {"spec": pod_patch}},
                                    },
                                }
                            ]
                        }
                    }
                },
            }
        ]
    return {
        "apiVersion": API_VERSION,
        "kind": TRAIN_JOB_KIND,
        "metadata": object_meta(name, namespace, labels),
        "spec": spec,
    }


def trainer_values(registry: Registry, system_selector: Mapping[str, str]) -> dict[str, Any]:
    """Values for ``kubeflow-trainer`` 2.3 and its ``jobset`` 0.12 dependency (their values.yaml)."""
    trainer_image = registry.helm_image(IMAGES["trainer-controller"])
    jobset = IMAGES["jobset-controller"]
    return {
        "image": {**trainer_image, "pullPolicy": "IfNotPresent"},
        "manager": {
            "nodeSelector": dict(system_selector),
            "resources": {
                "requests": {"cpu": "100m", "memory": "256Mi"},
                "limits": {"cpu": "1", "memory": "512Mi"},
            },
        },
        # Only our runtime (registered below); none of the upstream ones and their images.
        "runtimes": {"defaultEnabled": False},
        "jobset": {
            "install": True,
            "image": {
                "repository": registry.repository(jobset),
                "tag": jobset.tag,
                "pullPolicy": "IfNotPresent",
            },
            "controller": {"nodeSelector": dict(system_selector)},
        },
    }


def trainer_policies(
    ns: str, labels: Mapping[str, str], cidrs: Sequence[str], monitoring_ns: str
) -> list[Manifest]:
    """Default deny plus the API server's calls to both controllers' webhooks."""
    return [
        *baseline_policies(ns, labels, cidrs),
        webhook_ingress(ns, labels, cidrs, {}, WEBHOOK_PORT, "allow-api-server-to-webhooks"),
        scrape_ingress(ns, labels, monitoring_ns, [METRICS_PORT]),
    ]


class TrainerInstallArgs(RegistryArgs):
    """Inputs of :class:`TrainerInstall`."""

    cluster_cidrs: Sequence[str]
    """API server and node ranges (webhook callers, API server egress)."""
    training_image: str
    """Default image of the runtime (the platform's CPU training image, exact tag)."""
    system_selector: NotRequired[Mapping[str, str]]
    """Labels of the nodes the controllers run on (AWS: the system node group)."""
    monitoring_namespace: NotRequired[str]
    """Namespace whose Prometheus scrapes the controller (default ``monitoring``)."""


class TrainerInstall(pulumi.ComponentResource):
    """Kubeflow Trainer (with JobSet) and the platform's torch-distributed runtime."""

    runtime_name: str
    """Name of the ClusterTrainingRuntime."""
    release: pulumi.Resource
    """The Helm release (the CRDs come with it)."""

    def __init__(
        self, name: str, args: TrainerInstallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:trainer:TrainerInstall", name, None, opts)
        registry = registry_of(args)
        part_of = {"app.kubernetes.io/part-of": "mlplatform"}
        ns = namespace_with_policies(
            name,
            namespace(NAMESPACE, "restricted", part_of, "controllers run restricted"),
            trainer_policies(
                NAMESPACE,
                part_of,
                args["cluster_cidrs"],
                args.get("monitoring_namespace", "monitoring"),
            ),
            self,
        )
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        self.release = pinned_release(
            f"{name}-controller",
            "kubeflow-trainer",
            CHARTS["kubeflow-trainer"],
            registry,
            NAMESPACE,
            after_ns,
            values=trainer_values(registry, args.get("system_selector", {})),
        )
        register(
            f"{name}-runtime",
            cluster_training_runtime(args["training_image"], part_of),
            pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )
        self.runtime_name = RUNTIME_NAME
        self.register_outputs({"runtimeName": RUNTIME_NAME})
