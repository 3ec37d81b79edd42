"""The training engine's shape, shared by the infrastructure that installs it and the
retraining controller that starts runs on it.

The platform trains on Kubeflow Trainer v2: a ``TrainJob`` on the platform's
``ClusterTrainingRuntime`` (:data:`RUNTIME_NAME`), submitted to the tenant's Kueue
``LocalQueue`` (:data:`LOCAL_QUEUE`) by the :data:`QUEUE_LABEL` label. The components
build the runtime, the queues and the run template (``components.k8s.trainer``,
``components.k8s.kueue``, ``components.k8s.retraining``); the controller
(``workloads.retraining``) instantiates the template, names the run after its trigger
(:func:`train_job_name`: a redelivered trigger gets 409 AlreadyExists and starts
nothing) and appends :func:`run_arguments`.
"""

from __future__ import annotations

import re

from contracts.names import RUN_KEY_CHARS

GROUP = "trainer.kubeflow.org"
"""API group of Kubeflow Trainer v2."""
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
"""Trainer v2 API (TrainJob, ClusterTrainingRuntime)."""
TRAIN_JOB_KIND = "TrainJob"
TRAIN_JOB_PLURAL = "trainjobs"
"""The resource the retraining controller's Role names (create, get)."""
RUNTIME_KIND = "ClusterTrainingRuntime"
RUNTIME_NAME = "mlplatform-torch-distributed"
"""The platform's ClusterTrainingRuntime (torch, ``torchrun``)."""
NODE = "node"
"""Name Trainer gives the trainer's replicated job and container (``constants.Node``)."""

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
"""Label naming the LocalQueue a workload is submitted to."""
LOCAL_QUEUE = "training"
"""Name of every tenant's training ``LocalQueue`` (in the tenant's namespace)."""

RUN_LABEL = "mlplatform.io/training-run"
"""Label every run started by the controller carries (``true``)."""
RUN_MODULE = "workloads.retraining.run"
"""What a retraining run executes on every node: train, then (rank 0) register."""
RUN_COMMAND = ("torchrun", "-m", RUN_MODULE)
"""The run's command: ``torchrun`` reads Trainer's ``PET_*`` settings for rank and size."""

COMPLETE = "Complete"
"""TrainJob condition type of a finished run."""
FAILED = "Failed"
"""TrainJob condition type of a failed run."""


MAX_NAME = 52
"""Longest TrainJob name: JobSet names its Jobs ``<name>-node-<index>``, and a Job's name
is a label value (63 characters)."""


def train_job_name(model: str, dedupe_key: str) -> str:
    """The TrainJob a retraining trigger starts: ``<model>-rt-<key prefix>``.

    Derived from the trigger alone, so a redelivered message names the same run and its
    create fails with AlreadyExists instead of starting a second one.
    """
    key = dedupe_key.lower()
    if not re.fullmatch(r"[0-9a-f]{16,64}", key):
        raise ValueError(f"dedupe_key {dedupe_key!r}: must be 16-64 lowercase hex digits")
    suffix = f"-rt-{key[:RUN_KEY_CHARS]}"
    return f"{model[: MAX_NAME - len(suffix)].rstrip('-')}{suffix}"


def run_arguments(model: str, version: str, trigger: str) -> list[str]:
    """What the controller appends to the template's arguments for one run."""
    return [f"--model_name={model}", f"--version={version}", f"--trigger={trigger}"]
