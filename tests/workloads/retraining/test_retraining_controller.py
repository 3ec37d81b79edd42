"""The retraining controller against the loopback Kubernetes API: runs named after the
trigger (a redelivery starts nothing), acks only once the run exists, one run per model,
and a challenger's canary promoted or rolled back with the registry and audit log."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from components.k8s.retraining import controller_rbac
from components.k8s.trainer import TrainingPlacement, train_job
from contracts.training import (
    API_VERSION,
    LOCAL_QUEUE,
    QUEUE_LABEL,
    RUN_COMMAND,
    RUN_LABEL,
    train_job_name,
)
from tests.components import crd_validation
from workloads.alerts.audit import AuditLog, verify_audit_log
from workloads.common.objectstore import FileStore
from workloads.monitoring.queues import FileQueue
from workloads.monitoring.trigger import TRIGGER_TYPE
from workloads.registry.index import ModelRegistry
from workloads.retraining.controller import ManagedModel, RetrainingController, version_for
from workloads.retraining.launcher import TrainJobLauncher
from workloads.rollout.actuator import CanaryActuator
from workloads.rollout.canary import ArmObservations, CanaryPolicy
from workloads.rollout.deploy import ModelDeployer
from workloads.rollout.localkube import LocalKube

NS = "tenant-a"
KEY = "ab" * 16
# The template as the infrastructure renders it (the same builder as the planned one).
TEMPLATE: dict[str, Any] = train_job(
    "a", NS, "run-template", "r/training:1", ["--repo=/r"], LOCAL_QUEUE,
    TrainingPlacement({}, (), service_account="a-training",
                      extra_labels={RUN_LABEL: "true"}),
    command=list(RUN_COMMAND),
)  # fmt: skip
TRAINJOBS = f"/apis/{API_VERSION}/namespaces/{NS}/trainjobs"


def _role(canary: bool = True) -> dict[str, Any]:
    """The controller's planned Role in ``NS``."""
    (role, _) = controller_rbac("a", NS, {}, ["churn", "other"], canary)
    return role


def _trigger(key: str = KEY, model: str = "churn") -> dict[str, Any]:
    return {"type": TRIGGER_TYPE, "dedupe_key": key, "model": model, "drifted_features": ["x"]}


def _controller(
    tmp: pathlib.Path, kube: LocalKube, observations: Any = None
) -> RetrainingController:
    api = CanaryActuator.from_configuration(kube.configuration(), NS)
    return RetrainingController(
        namespace=NS,
        queue=FileQueue(tmp / "queue"),
        launcher=TrainJobLauncher(api.core.api_client, NS, TEMPLATE),
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
        kube.enforce_role(_role())  # only what the planned Role allows
        controller = _controller(tmp_path, kube)
        controller.queue.send(_trigger())
        controller.queue.send(_trigger())  # at-least-once: the same trigger twice
        first = controller.poll_once(max_messages=1)
        second = controller.poll_once(max_messages=1)
        assert [o["outcome"] for o in first + second] == ["started", "duplicate"]
        creates = [c for c in kube.calls if c.method == "POST"]
        assert [c.path for c in creates] == [TRAINJOBS, TRAINJOBS]  # the second got 409
        assert not any(c.method == "GET" and c.path == TRAINJOBS for c in kube.calls)  # no list
        (job,) = [o for p, o in kube.objects.items() if "/trainjobs/" in p]
        assert job["metadata"]["name"] == train_job_name("churn", KEY)
        assert job["metadata"]["labels"][QUEUE_LABEL] == LOCAL_QUEUE
        assert job["spec"]["trainer"]["command"] == list(RUN_COMMAND)
        assert job["spec"]["trainer"]["args"] == [
            "--repo=/r", "--model_name=churn", f"--version={version_for(KEY)}", f"--trigger={KEY}",
        ]  # fmt: skip
        assert crd_validation.crd_findings(creates[0].body) == []  # what was sent
        assert len(controller.queue) == 0
        runs = controller.registry.runs("churn")
        assert (
            list(runs) == [job["metadata"]["name"]]
            and runs[job["metadata"]["name"]]["state"] == "active"
        )
        assert verify_audit_log(controller.audit.path).ok


def test_a_run_recorded_late_is_found_again_on_redelivery(tmp_path: pathlib.Path) -> None:
    """The run exists but the controller stopped before recording it: the redelivered
    trigger gets 409, records the run, and starts nothing."""
    with LocalKube("t" * 20) as kube:
        controller = _controller(tmp_path, kube)
        name = train_job_name("churn", KEY)
        kube.add(TEMPLATE | {"metadata": {"name": name, "namespace": NS}})
        controller.queue.send(_trigger())
        assert [o["outcome"] for o in controller.poll_once()] == ["duplicate"]
        assert list(controller.registry.runs("churn")) == [name]
        assert sum("/trainjobs/" in p for p in kube.objects) == 1


def test_the_message_stays_until_the_run_exists(tmp_path: pathlib.Path) -> None:
    with LocalKube("t" * 20) as kube:
        controller = _controller(tmp_path, kube)
        controller.queue.send(_trigger())
        kube.forbidden.add(("POST", TRAINJOBS))
        assert [o["outcome"] for o in controller.poll_once()] == ["failed"]
        assert len(controller.queue) == 1  # not acknowledged: redelivered later
        assert controller.registry.runs("churn") == {}


def test_the_role_allows_create_and_get_of_trainjobs_only() -> None:
    rules = [r for r in _role(canary=False)["rules"] if "trainjobs" in r["resources"]]
    assert rules == [
        {"apiGroups": ["trainer.kubeflow.org"], "resources": ["trainjobs"],
         "verbs": ["create", "get"]},
    ]  # fmt: skip
    assert not any("jobs" in r["resources"] for r in _role()["rules"])


@pytest.mark.parametrize(
    ("condition", "state"), [("Complete", "succeeded"), ("Failed", "failed"), (None, "missing")]
)
def test_the_end_of_a_run_is_recorded_and_audited_once(
    tmp_path: pathlib.Path, condition: str | None, state: str
) -> None:
    with LocalKube("t" * 20) as kube:
        kube.enforce_role(_role())
        controller = _controller(tmp_path, kube)
        controller.queue.send(_trigger())
        controller.poll_once()
        name = train_job_name("churn", KEY)
        assert controller.run_states("churn") == {name: "active"}
        path = f"{TRAINJOBS}/{name}"
        if condition is None:
            del kube.objects[path]  # deleted by someone before it finished
        else:
            kube.set_status(API_VERSION, "TrainJob", NS, name, {"conditions": [
                {"type": condition, "status": "True", "reason": "R", "message": "m",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}]})  # fmt: skip
        first = controller.reconcile()
        again = controller.reconcile()
        assert {"model": "churn", "run": name, "action": f"run-{state}"} in first
        assert not any(d.get("run") == name for d in again)
        assert controller.registry.runs("churn")[name]["state"] == state
        audit = [r["what"] for r in AuditLog(controller.audit.path).records()]
        assert audit.count(f"training-run-{state}") == 1
        gets = [c for c in kube.calls if c.method == "GET" and c.path == path]
        assert len(gets) == 2  # read while active, once more when it ended; then never


def test_one_run_per_model_and_other_triggers_coalesce(tmp_path: pathlib.Path) -> None:
    with LocalKube("t" * 20) as kube:
        controller = _controller(tmp_path, kube)
        controller.queue.send(_trigger())
        controller.queue.send(_trigger("cd" * 16))
        controller.queue.send(_trigger(model="other"))
        outcomes = [o["outcome"] for o in controller.poll_once()]
        assert outcomes == ["started", "coalesced", "rejected"]
        assert sum("/trainjobs/" in p for p in kube.objects) == 1


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


def test_the_queue_and_runtime_are_the_ones_the_platform_installs() -> None:
    from components.k8s import kueue, trainer

    assert kueue.LOCAL_QUEUE == LOCAL_QUEUE  # the LocalQueue every tenant gets
    assert TEMPLATE["spec"]["runtimeRef"]["name"] == trainer.RUNTIME_NAME
    assert TEMPLATE["metadata"]["labels"][QUEUE_LABEL] == LOCAL_QUEUE


@pytest.mark.parametrize(("rank", "registered"), [("1", False), ("0", True)])
def test_only_rank_0_registers(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, rank: str, registered: bool
) -> None:
    """Every torchrun rank runs the trainer; only rank 0 writes the model, so only it
    registers (a non-zero rank never reads the card, which only rank 0 writes)."""
    from workloads.retraining import run

    def trained(argv: list[str]) -> int:
        out = pathlib.Path(argv[argv.index("--out") + 1])
        if rank == "0":  # what the trainer writes on rank 0 only
            out.mkdir(parents=True)
            (out / "model_card.json").write_text('{"metrics": {"roc_auc": 0.8}}')
            (out / "signature.json").write_text('{"artifacts": {"model.onnx": {"sha256": "ab"}}}')
        return 0

    monkeypatch.setattr(run, "train_main", trained)
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", "2")
    registry = tmp_path / "registry"
    code = run.main(
        ["--repo", "r", "--work_dir", str(tmp_path / "w"), "--models_uri", "s3://b/models/",
         "--registry", str(registry), "--kms_key", "k", "--model_name", "churn",
         "--version", "rt-1", "--trigger", KEY]
    )  # fmt: skip
    assert code == 0
    challenger = ModelRegistry(FileStore(registry)).challenger("churn")
    assert challenger == ("rt-1" if registered else None)


def test_an_smb_model_serves_what_a_person_promoted_in_the_registry(
    tmp_path: pathlib.Path,
) -> None:
    from workloads.rollout.localkube import inference_service

    with LocalKube("t" * 20) as kube:
        kube.add(inference_service(NS, "churn", "s3://b/models/churn/1/"))
        kube.enforce_role(controller_rbac("a", NS, {}, ["churn"], canary=False)[0])
        controller = _controller(tmp_path, kube)
        controller.models = {"churn": ManagedModel("churn", "1", canary_percent=0)}
        controller.reconcile()  # adopts "1": nothing to change
        assert not kube.writes()
        controller.registry.register_challenger(
            "churn", "rt-1", uri="s3://b/models/churn/rt-1/", metrics={}, digests={},
            trigger=KEY, why="t",
        )  # fmt: skip
        assert controller.reconcile() == []  # no canary for SMB: it waits for a person
        ModelRegistry(controller.registry.store, who="alice").promote("churn", "rt-1", "ok")
        assert {"model": "churn", "action": "serve-champion", "version": "rt-1"} in (
            controller.reconcile()
        )
        isvc = kube.get_object("serving.kserve.io/v1beta1", "InferenceService", NS, "churn")
        assert isvc["spec"]["predictor"]["model"]["storageUri"] == "s3://b/models/churn/rt-1/"
        last = list(AuditLog(controller.audit.path).records())[-1]
        assert last["what"] == "serve-champion" and "alice" in last["why"]
        assert controller.reconcile() == []  # done once
