"""How the retraining controller starts a training run on the platform's training engine.

The infrastructure renders the run's template (image, service account, resources,
placement, volumes, the fixed arguments) into a ConfigMap
(``components.k8s.retraining``); the controller only names the run after its trigger,
labels it and appends the run's own arguments. A second create of the same name fails
with 409 AlreadyExists, which is how a redelivered trigger never starts a second run.

:class:`BatchJobLauncher` creates a ``batch/v1`` Job. The platform's training engine
is Kubeflow Trainer (a ``TrainJob`` queued through Kueue); a launcher for it implements
the same :class:`RunLauncher` protocol against ``trainer.kubeflow.org`` through the
custom-objects API, and :func:`launcher_for` picks it from the template's ``kind``, so
switching engines is a change of the rendered template, not of the controller.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from contracts.names import MODEL_LABEL, TRIGGER_LABEL

RunState = Literal["active", "succeeded", "failed"]
Created = Literal["created", "exists"]
RUN_LABEL = "mlplatform.io/training-run"
"""Label every run carries (``true``), so the controller lists only its own runs."""


class LaunchError(RuntimeError):
    """The API refused to create or read a run (one line, with the HTTP status)."""


@dataclass(frozen=True)
class RunRequest:
    """One training run to start."""

    name: str
    """Run name, derived from the trigger (:func:`contracts.names.training_run_name`)."""
    model: str
    version: str
    """Version the run registers its model under."""
    trigger: str
    """The trigger's dedupe key."""


class RunLauncher(Protocol):
    """Starts and inspects training runs in one namespace."""

    def create(self, request: RunRequest) -> Created:
        """Create the run; ``exists`` when one of that name is already there."""
        ...

    def runs(self, model: str) -> dict[str, RunState]:
        """Runs of ``model`` (name -> state)."""
        ...


def run_arguments(request: RunRequest) -> list[str]:
    """What the controller appends to the template's arguments."""
    return [
        f"--model_name={request.model}",
        f"--version={request.version}",
        f"--trigger={request.trigger}",
    ]


def _api_error(verb: str, what: str, exc: ApiException) -> LaunchError:
    return LaunchError(f"cannot {verb} {what}: HTTP {exc.status} {exc.reason or ''}".strip())


class BatchJobLauncher:
    """Training runs as ``batch/v1`` Jobs rendered from the infrastructure's template."""

    def __init__(self, api_client: client.ApiClient, namespace: str, template: dict[str, Any]):
        if template.get("apiVersion") != "batch/v1" or template.get("kind") != "Job":
            raise ValueError("run template: expected a batch/v1 Job")
        self.batch = client.BatchV1Api(api_client)
        self.namespace = namespace
        self.template = template

    def render(self, request: RunRequest) -> dict[str, Any]:
        """The Job for ``request`` (the template is never modified)."""
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
        pod_meta = job["spec"]["template"].setdefault("metadata", {})
        pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **labels}
        container = job["spec"]["template"]["spec"]["containers"][0]
        container["args"] = [*(container.get("args") or []), *run_arguments(request)]
        return job

    def create(self, request: RunRequest) -> Created:
        """POST the Job; 409 means a run of this trigger already exists."""
        try:
            body: Any = self.render(request)  # the client serialises a dict body as is
            self.batch.create_namespaced_job(self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                return "exists"
            raise _api_error("create", f"Job {self.namespace}/{request.name}", exc) from None
        return "created"

    def runs(self, model: str) -> dict[str, RunState]:
        """The model's Jobs and their state (from ``status.succeeded``/``failed``)."""
        try:
            jobs = self.batch.list_namespaced_job(
                self.namespace, label_selector=f"{RUN_LABEL}=true,{MODEL_LABEL}={model}"
            )
        except ApiException as exc:
            raise _api_error("list", f"Jobs in {self.namespace}", exc) from None
        states: dict[str, RunState] = {}
        for job in jobs.items:
            status, name = job.status, str(job.metadata.name if job.metadata else "")
            if status is not None and (status.succeeded or 0) > 0:
                states[name] = "succeeded"
            elif status is not None and _failed(status):
                states[name] = "failed"
            else:
                states[name] = "active"
        return states


def _failed(status: Any) -> bool:
    for condition in status.conditions or []:
        if condition.type == "Failed" and condition.status == "True":
            return True
    return False


def launcher_for(
    api_client: client.ApiClient, namespace: str, template: dict[str, Any]
) -> RunLauncher:
    """The launcher of the template's engine (``batch/v1`` Job today)."""
    kind = (template.get("apiVersion"), template.get("kind"))
    if kind == ("batch/v1", "Job"):
        return BatchJobLauncher(api_client, namespace, template)
    raise ValueError(f"run template: no launcher for {kind[0]}/{kind[1]}")
