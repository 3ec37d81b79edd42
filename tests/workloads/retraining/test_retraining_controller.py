"""The retraining controller against the loopback Kubernetes API: runs named after the
trigger (a redelivery starts nothing), acks only once the run exists, one run per model,
and a challenger's canary promoted or rolled back with the registry and audit log."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from contracts.names import training_run_name
from workloads.alerts.audit import AuditLog, verify_audit_log
from workloads.common.objectstore import FileStore
from workloads.monitoring.queues import FileQueue
from workloads.monitoring.trigger import TRIGGER_TYPE
from workloads.registry.index import ModelRegistry
from workloads.retraining.controller import ManagedModel, RetrainingController, version_for
from workloads.retraining.launcher import BatchJobLauncher
from workloads.rollout.actuator import CanaryActuator
from workloads.rollout.canary import ArmObservations, CanaryPolicy
from workloads.rollout.deploy import ModelDeployer
from workloads.rollout.localkube import LocalKube

NS = "tenant-a"
KEY = "ab" * 16
TEMPLATE: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"labels": {"app.kubernetes.io/component": "training"}},
    "spec": {
        "backoffLimit": 1,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "train", "image": "r/t:1", "args": ["--repo=/r"]}],
            }
        },
    },
}


def _trigger(key: str = KEY, model: str = "churn") -> dict[str, Any]:
    return {"type": TRIGGER_TYPE, "dedupe_key": key, "model": model, "drifted_features": ["x"]}


def _controller(
    tmp: pathlib.Path, kube: LocalKube, observations: Any = None
) -> RetrainingController:
    api = CanaryActuator.from_configuration(kube.configuration(), NS)
    return RetrainingController(
        namespace=NS,
        queue=FileQueue(tmp / "queue"),
        launcher=BatchJobLauncher(api.core.api_client, NS, TEMPLATE),
        registry=ModelRegistry(FileStore(tmp / "registry")),
        models_store=FileStore(tmp / "models"),
        models_uri="s3://b/models/",
        models={"churn": ManagedModel("churn", "1", canary_percent=20)},
        audit=AuditLog(tmp / "audit.jsonl"),
        actuator=api,
        deployer=ModelDeployer(api.core.api_client, NS),
        observations=observations,
        policy=CanaryPolicy(min_requests=100, min_labelled=100),
    )


def test_a_redelivered_trigger_starts_no_second_run(tmp_path: pathlib.Path) -> None:
    with LocalKube("t" * 20) as kube:
        controller = _controller(tmp_path, kube)
        controller.queue.send(_trigger())
        controller.queue.send(_trigger())  # at-least-once: the same trigger twice
        first = controller.poll_once(max_messages=1)
        second = controller.poll_once(max_messages=1)
        assert [o["outcome"] for o in first + second] == ["started", "duplicate"]
        jobs = [c for c in kube.calls if c.method == "POST"]
        assert len(jobs) == 2  # the second create was refused with 409, not a second run
        (job,) = [o for p, o in kube.objects.items() if "/jobs/" in p]
        assert job["metadata"]["name"] == training_run_name("churn", KEY)
        assert job["spec"]["template"]["spec"]["containers"][0]["args"] == [
            "--repo=/r", "--model_name=churn", f"--version={version_for(KEY)}", f"--trigger={KEY}",
        ]  # fmt: skip
        assert len(controller.queue) == 0
        assert verify_audit_log(controller.audit.path).ok


def test_the_message_stays_until_the_run_exists(tmp_path: pathlib.Path) -> None:
    with LocalKube("t" * 20) as kube:
        controller = _controller(tmp_path, kube)
        controller.queue.send(_trigger())
        kube.forbidden.add(("POST", f"/apis/batch/v1/namespaces/{NS}/jobs"))
        assert [o["outcome"] for o in controller.poll_once()] == ["failed"]
        assert len(controller.queue) == 1  # not acknowledged: redelivered later


def test_one_run_per_model_and_other_triggers_coalesce(tmp_path: pathlib.Path) -> None:
    with LocalKube("t" * 20) as kube:
        controller = _controller(tmp_path, kube)
        controller.queue.send(_trigger())
        controller.queue.send(_trigger("cd" * 16))
        controller.queue.send(_trigger(model="other"))
        outcomes = [o["outcome"] for o in controller.poll_once()]
        assert outcomes == ["started", "coalesced", "rejected"]
        assert sum("/jobs/" in p for p in kube.objects) == 1


@pytest.mark.parametrize(("challenger_correct", "action"), [(940, "promote"), (700, "rollback")])
def test_canary_promotes_or_rolls_back_on_accuracy(
    tmp_path: pathlib.Path, challenger_correct: int, action: str
) -> None:
    def observed(model: str) -> tuple[ArmObservations, ArmObservations]:
        latency = [5.0] * 4000
        return (
            ArmObservations(
                requests=4000, errors=0, latency_ms=latency, labelled=1000, correct=800
            ),
            ArmObservations(
                requests=4000,
                errors=0,
                latency_ms=latency,
                labelled=1000,
                correct=challenger_correct,
            ),
        )

    with LocalKube("t" * 20) as kube:
        from workloads.rollout.localkube import canary_objects

        objs = canary_objects(NS, "churn", "s3://b/models/churn/1/", "unused", 50)
        kube.add_all([o for o in objs if o["metadata"]["name"] != "churn-challenger"])
        controller = _controller(tmp_path, kube, observations=observed)
        assert controller.actuator is not None
        controller.actuator.rollback(NS, "churn")  # as deployed: no challenger, champion=100
        controller.reconcile()  # adopts the deployed champion
        controller.registry.register_challenger(
            "churn",
            "rt-1",
            uri="s3://b/models/churn/rt-1/",
            metrics={},
            digests={},
            trigger=KEY,
            why="t",
        )
        assert controller.reconcile()[0]["action"] == "canary-waiting"  # not Ready yet
        kube.set_status(
            "serving.kserve.io/v1beta1", "InferenceService", NS, "churn-challenger",
            {"conditions": [{"type": "Ready", "status": "True"}]},
        )  # fmt: skip
        started = controller.reconcile()
        assert started[0]["traffic"] == {"churn-champion": 80, "churn-challenger": 20}
        (decision,) = controller.analyse()
        assert decision["action"] == action
        index = controller.registry.load("churn")
        champion = kube.get_object(
            "serving.kserve.io/v1beta1", "InferenceService", NS, "churn-champion"
        )
        uri = champion["spec"]["predictor"]["model"]["storageUri"]
        if action == "promote":
            assert index["champion"] == "rt-1" and index["versions"]["1"]["status"] == "retired"
            assert uri == "s3://b/models/churn/rt-1/"
        else:
            assert index["champion"] == "1" and index["versions"]["rt-1"]["status"] == "rolled-back"
            assert uri == "s3://b/models/churn/1/"
        assert controller.actuator is not None
        assert controller.actuator.traffic(NS, "churn") == {"churn-champion": 100}
        assert not any(p.endswith("/churn-challenger") for p in kube.objects)
        assert [r["what"] for r in AuditLog(controller.audit.path).records()][-1] == action
        assert verify_audit_log(controller.audit.path).ok
