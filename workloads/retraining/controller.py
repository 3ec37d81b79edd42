"""The retraining controller: one per tenant, in the tenant's namespace only.

Each pass (:meth:`RetrainingController.step`):

1. **Triggers -> runs.** Receive retraining triggers from the tenant's queue (the drift
   monitor's and the alert receiver's). Each names a model and carries a ``dedupe_key``;
   the run (a Kubeflow Trainer ``TrainJob`` queued through the tenant's Kueue queue) is
   named after it (:func:`contracts.training.train_job_name`), created through the
   :class:`~workloads.retraining.launcher.RunLauncher` and recorded in the registry. A
   redelivered message finds the run already there (409) and starts nothing; the message
   is deleted only once the run exists. The controller follows its runs by name (its
   Role may create and get TrainJobs, nothing more). While a model has a run in progress or a challenger
   pending, further triggers are acknowledged as ``coalesced`` (drift that persists
   keeps firing; one retraining answers it).
2. **Challenger -> canary.** A run that passes the gate registers its model as the
   challenger (:mod:`workloads.retraining.run`). For a model with a canary share (the
   tier's: enterprise), the controller serves it as ``<model>-challenger`` and gives it
   that share through the router. SMB models have no canary: their challenger waits in
   the registry for a person to promote it.
3. **Canary analysis.** With observations of both arms
   (:class:`workloads.rollout.observations.CanaryObservations`: requests, errors and
   latency per InferenceService from the model servers' metrics, accuracy per version
   from labelled feedback), :func:`workloads.rollout.canary.decide` promotes (the champion InferenceService serves the new version, the router sends it
   everything, the registry records it) or rolls back (router to the champion, registry
   ``rolled-back``), or holds.

Every decision is appended to the hash-chained audit log; the registry keeps the
history per model. The latest drift report of each model is re-exported as gauges on
``/metrics`` (:meth:`workloads.monitoring.metrics.DriftMetrics.observe_json`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from contracts.names import challenger_of, champion_of
from contracts.telemetry import TRAINING_RUNS
from contracts.training import train_job_name
from workloads.alerts.audit import AuditLog
from workloads.common.objectstore import ObjectStore, ObjectStoreError
from workloads.monitoring.metrics import DriftMetrics
from workloads.monitoring.queues import TriggerQueue
from workloads.monitoring.remote import report_keys
from workloads.monitoring.trigger import TRIGGER_TYPE
from workloads.registry.index import ModelRegistry, RegistryError
from workloads.retraining.launcher import LaunchError, RunLauncher, RunRequest
from workloads.rollout.actuator import ActuatorError, CanaryActuator
from workloads.rollout.canary import Action, ArmObservations, CanaryPolicy, decide
from workloads.rollout.deploy import ModelDeployer
from workloads.rollout.observations import ObservationError

Observations = Callable[[str], tuple[ArmObservations, ArmObservations] | None]
"""model -> (champion, challenger) observations, or None when there are none yet."""


@dataclass(frozen=True)
class ManagedModel:
    """A model the controller looks after (from the stack: name, version, canary share)."""

    name: str
    deployed_version: str
    """The version the stack deployed: the champion until the registry says otherwise."""
    canary_percent: int = 0
    """The tier's canary share for a challenger (0: no canary, SMB)."""

    @classmethod
    def parse(cls, text: str) -> ManagedModel:
        """``name=version[:canary percent]``."""
        name, _, rest = text.partition("=")
        version, _, percent = rest.partition(":")
        if not name or not version:
            raise ValueError(f"--model {text!r}: expected NAME=VERSION[:CANARY_PERCENT]")
        return cls(name, version, int(percent or 0))


def version_for(trigger_key: str) -> str:
    """The version a trigger's run registers (from the key: a retried run reuses it)."""
    return f"rt-{trigger_key[:12]}"


@dataclass
class RetrainingController:
    """Triggers to runs, challengers to canaries, canary analysis to promotion or rollback."""

    namespace: str
    queue: TriggerQueue
    launcher: RunLauncher
    registry: ModelRegistry
    models_store: ObjectStore
    """``s3://<bucket>/models/``: the signed models and their drift reports."""
    models_uri: str
    """The same as a URI prefix (InferenceServices' ``storageUri`` values)."""
    models: dict[str, ManagedModel]
    audit: AuditLog
    actuator: CanaryActuator | None = None
    deployer: ModelDeployer | None = None
    observations: Observations | None = None
    policy: CanaryPolicy = field(default_factory=CanaryPolicy)
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)
    visibility_timeout: float = 300.0
    who: str = "retraining-controller"

    def __post_init__(self) -> None:
        self.drift = DriftMetrics(self.metrics)
        self._held: dict[str, tuple[str, float]] = {}
        self.runs_total = Counter(
            TRAINING_RUNS,
            "Retraining triggers handled.",
            ["model", "outcome"],
            registry=self.metrics,
        )

    # --- 1. triggers -> runs --------------------------------------------------------

    def poll_once(self, max_messages: int = 10) -> list[dict[str, Any]]:
        """Handle the triggers visible now; return one outcome per message."""
        outcomes = []
        for message in self.queue.receive(max_messages, self.visibility_timeout):
            outcome = self._handle(message.body)
            outcome["message_id"] = message.id
            if outcome["outcome"] != "failed":
                # Only now: the run exists (or never will), so the trigger is done.
                self.queue.ack(message.receipt)
            self.runs_total.labels(outcome.get("model", ""), outcome["outcome"]).inc()
            outcomes.append(outcome)
        return outcomes

    def _handle(self, body: dict[str, Any]) -> dict[str, Any]:
        key, model = body.get("dedupe_key"), str(body.get("model") or "")
        if body.get("type") != TRIGGER_TYPE or not isinstance(key, str) or model not in self.models:
            why = f"not a retraining trigger for a model of {self.namespace}"
            self.audit.append(who=self.who, what="rejected", why=why, trigger=body)
            return {"outcome": "rejected", "model": model, "why": why}
        try:
            name = train_job_name(model, key)
        except ValueError as exc:
            self.audit.append(who=self.who, what="rejected", why=str(exc), trigger=body)
            return {"outcome": "rejected", "model": model, "why": str(exc)}
        request = RunRequest(name, model, version_for(key), key)
        try:
            runs = self.run_states(model)
            busy = [run for run, state in runs.items() if state == "active" and run != name]
            pending = self.registry.challenger(model)
            if name not in runs and (busy or pending):
                why = f"run {busy[0]} in progress" if busy else f"challenger {pending} pending"
                self.audit.append(
                    who=self.who, what="coalesced", why=why, dedupe_key=key, model=model, run=name
                )
                return {"outcome": "coalesced", "model": model, "run": name, "why": why}
            created = self.launcher.create(request)
            # Recorded on 'exists' too: a controller that stopped between the create and
            # the record finds its run again when the trigger is redelivered.
            self.registry.record_run(model, name, request.version, key)
        except (LaunchError, RegistryError, ObjectStoreError) as exc:
            return {"outcome": "failed", "model": model, "run": name, "why": str(exc)}
        outcome = "started" if created == "created" else "duplicate"
        self.audit.append(
            who=self.who,
            what=f"training-run-{outcome}",
            why=f"retraining trigger for {model}: drifted {body.get('drifted_features')}",
            dedupe_key=key,
            model=model,
            run=name,
            version=request.version,
        )
        return {"outcome": outcome, "model": model, "run": name, "version": request.version}

    def run_states(self, model: str, report: list[dict[str, Any]] | None = None) -> dict[str, str]:
        """The model's recorded runs and their states; each run still ``active`` in the
        registry is read back by name, and an end is recorded (and audited) once."""
        states: dict[str, str] = {}
        for run, entry in self.registry.runs(model).items():
            state = entry["state"]
            if state == "active":
                live = self.launcher.state(run)
                state = "missing" if live is None else live
                if state != "active":
                    self._finish(model, run, state)
                    if report is not None:
                        report.append({"model": model, "run": run, "action": f"run-{state}"})
            states[run] = state
        return states

    def _finish(self, model: str, run: str, state: str) -> None:
        why = {
            "succeeded": "the run finished; its model passed the gate and is registered",
            "failed": "the run failed or its model did not pass the gate: no challenger",
            "missing": "the run is gone from the cluster before it finished: no challenger",
        }[state]
        self.registry.finish_run(model, run, state, why)  # type: ignore[arg-type]
        self.audit.append(who=self.who, what=f"training-run-{state}", why=why, model=model, run=run)

    # --- 2. challenger -> canary ----------------------------------------------------

    def reconcile(self) -> list[dict[str, Any]]:
        """Adopt the deployed champions, report failed runs, start canaries."""
        done: list[dict[str, Any]] = []
        for model in self.models.values():
            self.registry.ensure_champion(
                model.name,
                model.deployed_version,
                f"{self.models_uri}{model.name}/{model.deployed_version}/",
                "deployed by the stack before the loop registered a champion",
            )
            self.run_states(model.name, report=done)  # ends of runs, recorded once
            followed = self._follow_registry(model)
            if followed:
                done.append(followed)
            started = self._start_canary(model)
            if started:
                done.append(started)
        return done

    def _follow_registry(self, model: ManagedModel) -> dict[str, Any] | None:
        """SMB (no canary): a person promotes in the registry (``python -m
        workloads.registry promote``); the model's InferenceService then serves it."""
        if model.canary_percent or self.deployer is None:
            return None
        index = self.registry.load(model.name)
        champion = index.get("champion")
        if not champion:
            return None
        uri = index["versions"][champion]["uri"]
        try:
            changed = self.deployer.follow(model.name, uri)
        except ActuatorError as exc:
            return {"model": model.name, "action": "follow-failed", "why": str(exc)}
        if not changed:
            return None
        last: dict[str, Any] = next(
            (h for h in reversed(index["history"]) if h["what"] == "promote"), {}
        )
        self.audit.append(
            who=self.who,
            what="serve-champion",
            why=f"the registry names {champion} champion (promoted by {last.get('who')})",
            model=model.name,
            version=champion,
            uri=uri,
        )
        return {"model": model.name, "action": "serve-champion", "version": champion}

    def _start_canary(self, model: ManagedModel) -> dict[str, Any] | None:
        version = self.registry.challenger(model.name)
        if (
            not version
            or not model.canary_percent
            or self.deployer is None
            or self.actuator is None
        ):
            return None
        uri = self.registry.load(model.name)["versions"][version]["uri"]
        serving = self.deployer.serving_uri(model.name, role="challenger")
        traffic = self.actuator.traffic(self.namespace, model.name)
        if serving == uri and traffic.get(f"{model.name}-challenger"):
            return None
        deployed = self.deployer.deploy_challenger(model.name, uri)
        try:
            result = self.actuator.set_traffic(
                self.namespace, model.name, model.canary_percent, f"canary for {version}"
            )
        except ActuatorError as exc:
            # Not Ready yet: KServe is still loading the new version; next pass.
            return {"model": model.name, "action": "canary-waiting", "why": str(exc)}
        self.audit.append(
            who=self.who,
            what="canary-start",
            why=f"challenger {version} registered: {model.canary_percent} % of requests",
            model=model.name,
            version=version,
            deployed=deployed,
            traffic_before=result.traffic_before,
            traffic_after=result.traffic_after,
        )
        return {
            "model": model.name,
            "action": "canary-start",
            "version": version,
            "traffic": result.traffic_after,
        }

    # --- 3. canary analysis ---------------------------------------------------------

    def analyse(self) -> list[dict[str, Any]]:
        """Decide every live canary that has observations."""
        decisions = []
        for model in self.models.values():
            version = self.registry.challenger(model.name)
            if not version or self.observations is None or self.actuator is None:
                continue
            try:
                if not self.actuator.traffic(self.namespace, model.name).get(
                    challenger_of(model.name)
                ):
                    continue  # the canary has not started: nothing to compare yet
                observed = self.observations(model.name)
            except (ObservationError, ActuatorError) as exc:  # unreachable now: next pass
                decisions.append({"model": model.name, "version": version,
                                  "action": "no-observations", "reasons": [str(exc)]})  # fmt: skip
                continue
            if observed is None:
                continue
            decision = decide(*observed, self.policy)
            why = "; ".join(decision.reasons)
            if decision.action is Action.HOLD:
                # Not a decision: recorded when the canary first holds, then once a minute.
                last = self._held.get(model.name)
                if last is not None and last[0] == version and time.time() - last[1] < 60:
                    continue
                self._held[model.name] = (version, time.time())
            changed: list[str] = []
            if decision.action is Action.PROMOTE:
                changed = self._promote(model, version, why)
            elif decision.action is Action.ROLLBACK:
                changed = self._roll_back(model, version, why)
            self.audit.append(
                who=self.who,
                what=decision.action.value,
                why=why,
                metrics=decision.metrics,
                model=model.name,
                version=version,
                changed=changed,
            )
            decisions.append(
                {"model": model.name, "version": version, "action": decision.action.value,
                 "reasons": decision.reasons, "changed": changed}
            )  # fmt: skip
        return decisions

    def _promote(self, model: ManagedModel, version: str, why: str) -> list[str]:
        uri = self.registry.load(model.name)["versions"][version]["uri"]
        assert self.actuator is not None
        changed: list[str] = []
        if self.deployer is not None:
            # The champion serves the new version first; then the router sends it all
            # traffic (KServe keeps the old pods until the new ones are Ready).
            changed += self.deployer.adopt(model.name, uri)
        result = self.actuator.rollback(self.namespace, model.name, f"promoted {version}: {why}")
        changed += [f"router {champion_of(model.name)}=100"] if result.changed else []
        self.registry.promote(model.name, version, why)
        return [*changed, f"registry: {version} champion"]

    def _roll_back(self, model: ManagedModel, version: str, why: str) -> list[str]:
        assert self.actuator is not None
        result = self.actuator.rollback(self.namespace, model.name, why)
        changed = [f"router {champion_of(model.name)}=100"] if result.changed else []
        if self.deployer is not None:
            changed += self.deployer.remove_challenger(model.name)
        self.registry.roll_back(model.name, version, why)
        return [*changed, f"registry: {version} rolled-back"]

    def canary_versions(self, model: str) -> tuple[str | None, str | None, float]:
        """(champion, challenger, when the challenger was registered) from the registry:
        what :class:`~workloads.rollout.observations.CanaryObservations` compares."""
        index = self.registry.load(model)
        challenger = index.get("challenger")
        since = index["versions"][challenger].get("registered_at", 0.0) if challenger else 0.0
        return index.get("champion"), challenger, float(since)

    # --- metrics --------------------------------------------------------------------

    def export_drift(self) -> int:
        """Re-export each model's latest drift report as gauges; return how many."""
        exported = 0
        for model in self.models.values():
            version = self.registry.champion(model.name) or model.deployed_version
            key = report_keys(model.name, version, 0)[-1]
            raw = self.models_store.get(key)
            if raw is None:
                continue
            report = json.loads(raw)
            self.drift.observe_json(report, float(report.get("window_end") or time.time()))
            exported += 1
        return exported

    def step(self) -> dict[str, Any]:
        """One pass: triggers, reconcile, analysis, metrics."""
        return {
            "triggers": self.poll_once(),
            "reconciled": self.reconcile(),
            "decisions": self.analyse(),
            "drift_reports": self.export_drift(),
        }
