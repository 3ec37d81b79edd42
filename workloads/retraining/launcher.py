"""How the retraining controller starts a training run on the platform's training engine.

The infrastructure renders the run's template into a ConfigMap
(``components.k8s.retraining``): a Kubeflow Trainer ``TrainJob`` on the platform's
runtime, labelled for the tenant's Kueue ``LocalQueue`` (:mod:`contracts.training`),
with image, service account, per-node resources, placement, volumes and the fixed
arguments. The controller only names the run after its trigger
(:func:`contracts.training.train_job_name`), labels it and appends the run's own
arguments. A second create of the same name fails with 409 AlreadyExists, which is how a
redelivered trigger never starts a second run.

The controller may only ``create`` and ``get`` TrainJobs in its namespace (no list):
it follows the runs it started by name (the registry records them, see
:class:`~workloads.registry.index.ModelRegistry`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from contracts.names import MODEL_LABEL, TRIGGER_LABEL
from contracts.training import (
    API_VERSION,
    COMPLETE,
    FAILED,
    GROUP,
    QUEUE_LABEL,
    RUN_LABEL,
    TRAIN_JOB_KIND,
    TRAIN_JOB_PLURAL,
    VERSION,
    run_arguments,
)

RunState = Literal["active", "succeeded", "failed"]
Created = Literal["created", "exists"]


class LaunchError(RuntimeError):
    """The API refused to create or read a run (one line, with the HTTP status)."""


@dataclass(frozen=True)
class RunRequest:
    """One training run to start."""

    name: str
    """Run name, derived from the trigger (:func:`contracts.training.train_job_name`)."""
    model: str
    version: str
    """Version the run registers its model under."""
    trigger: str
    """The trigger's dedupe key."""


class RunLauncher(Protocol):
    """Starts and inspects training runs in one namespace, by name."""

    def create(self, request: RunRequest) -> Created:
        """Create the run; ``exists`` when one of that name is already there."""
        ...

    def state(self, name: str) -> RunState | None:
        """The run's state, or None when there is no run of that name."""
        ...


def _api_error(verb: str, what: str, exc: ApiException) -> LaunchError:
    return LaunchError(f"cannot {verb} {what}: HTTP {exc.status} {exc.reason or ''}".strip())


class TrainJobLauncher:
    """Training runs as Kubeflow Trainer ``TrainJob``s rendered from the template."""

    def __init__(self, api_client: client.ApiClient, namespace: str, template: dict[str, Any]):
        if template.get("apiVersion") != API_VERSION or template.get("kind") != TRAIN_JOB_KIND:
            raise ValueError(f"run template: expected a {API_VERSION} {TRAIN_JOB_KIND}")
        trainer = (template.get("spec") or {}).get("trainer")
        if not isinstance(trainer, dict) or not isinstance(trainer.get("args"), list):
            raise ValueError("run template: spec.trainer.args must be a list")
        if not (template.get("metadata") or {}).get("labels", {}).get(QUEUE_LABEL):
            # Without it Kueue never admits the run (the platform holds unqueued runs).
            raise ValueError(f"run template: metadata.labels.{QUEUE_LABEL} is required")
        self.custom = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.template = template

    def render(self, request: RunRequest) -> dict[str, Any]:
        """The TrainJob for ``request`` (the template is never modified)."""
        job = copy.deepcopy(self.template)
        meta = job.setdefault("metadata", {})
        meta["name"] = request.name
        meta["namespace"] = self.namespace
        labels = {
            RUN_LABEL: "true",
            MODEL_LABEL: request.model,
            TRIGGER_LABEL: request.trigger[:63],
        }
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        trainer = job["spec"]["trainer"]
        trainer["args"] = [
            *trainer["args"],
            *run_arguments(request.model, request.version, request.trigger),
        ]
        return job

    def create(self, request: RunRequest) -> Created:
        """POST the TrainJob; 409 means a run of this trigger already exists."""
        try:
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, TRAIN_JOB_PLURAL, self.render(request)
            )
        except ApiException as exc:
            if exc.status == 409:
                return "exists"
            raise _api_error(
                "create", f"{TRAIN_JOB_KIND} {self.namespace}/{request.name}", exc
            ) from None
        return "created"

    def state(self, name: str) -> RunState | None:
        """From the TrainJob's ``Complete``/``Failed`` conditions; None when absent."""
        try:
            job = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, TRAIN_JOB_PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _api_error("get", f"{TRAIN_JOB_KIND} {self.namespace}/{name}", exc) from None
        return run_state(job if isinstance(job, dict) else {})


def run_state(job: dict[str, Any]) -> RunState:
    """``succeeded``/``failed`` from a TrainJob's conditions, else ``active``."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == COMPLETE:
            return "succeeded"
        if condition.get("type") == FAILED:
            return "failed"
    return "active"


def launcher_for(
    api_client: client.ApiClient, namespace: str, template: dict[str, Any]
) -> RunLauncher:
    """The launcher of the template's engine (a Kubeflow Trainer ``TrainJob``)."""
    kind = (template.get("apiVersion"), template.get("kind"))
    if kind == (API_VERSION, TRAIN_JOB_KIND):
        return TrainJobLauncher(api_client, namespace, template)
    raise ValueError(f"run template: no launcher for {kind[0]}/{kind[1]}")
