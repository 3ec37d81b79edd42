"""The deployed loop on this machine, every step started from its planned manifest.

The stack's plan (``mlplatform plan --stack S --out DIR``) gives one enterprise
tenant's objects: the model's InferenceService and router, the ServingRuntime, the
drift monitor's CronJob, the alert receiver's and the retraining controller's
Deployments, their Roles, and the training-run template (a Kubeflow Trainer
``TrainJob``). :mod:`workloads.lifecycle.planned` turns each container into a local
process, substituting only endpoints, ports, mounted paths and masked secrets;
:mod:`workloads.lifecycle.cluster` plays S3/SQS (moto), the Kubernetes API (with each
caller limited to its planned Role), KServe and Trainer.

The loop: drift fires in the champion's shipped prediction log -> the drift monitor
puts a trigger on the queue -> the controller starts a TrainJob named after it -> the
run trains, signs, uploads and registers a challenger -> the controller serves it and
gives it the tier's canary share -> labelled traffic through the router, feedback in
the bucket -> the controller's analysis promotes it. Then a drift alert reaches the
alert receiver, a second run trains on a broken export (``salary_transfer`` inverted
upstream: the offline gate passes on the broken data) and its worse challenger is
rolled back on accuracy. Both audit logs verify.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from contracts.names import (
    alert_receiver_name,
    automation_service_account,
    challenger_of,
    champion_of,
    drift_monitor_name,
    retraining_controller_name,
    retraining_service_account,
)
from contracts.router import router_name
from contracts.signing import SIGNING_KEY_FILE, VERIFY_KEY_PEM_ENV
from contracts.training import FAILED
from workloads.common.objectstore import S3Store
from workloads.common.signing import DEV_KEY_DIR, DEV_PRIVATE_KEY, DEV_PUBLIC_KEY
from workloads.lifecycle.cluster import (
    ControlPlane,
    LocalAws,
    LocalKServe,
    LocalTrainer,
    Router,
)
from workloads.lifecycle.planned import Launch, PlannedTenant
from workloads.lifecycle.runtime import ArmStats, Processes, StageError, customer_traffic
from workloads.rollout.actuator import CanaryActuator
from workloads.rollout.localkube import LocalKube

MODEL = "churn"
SHIFT_STEPS = (1.0, 2.0, 3.0)
TIMING = {
    # A shorter loop than the cluster's, so the demo takes a minute, not hours. Only
    # these change; every other argument is the manifest's.
    "controller": ["--interval=0.5"],
    "serving": ["--prediction_log_segment_seconds=1"],
}


def find_tenant(plan_dir: pathlib.Path, model: str = MODEL) -> str:
    """The first namespace of the plan whose ``model`` has a canary router (enterprise)."""
    for folder in sorted((plan_dir / "manifests").iterdir()):
        if (folder / f"configmap-{router_name(model)}.yaml").is_file():
            return folder.name
    raise StageError(f"{plan_dir}: no tenant with a canary router for {model} (enterprise)")


def _arg(launch_args: list[str], name: str) -> str:
    prefix = f"--{name}="
    for arg in launch_args:
        if arg.startswith(prefix):
            return arg[len(prefix) :]
    raise StageError(f"planned arguments have no {prefix}...: {launch_args}")


@dataclass
class DeployedLoop:
    """The tenant's loop from its manifests, with the local stand-ins it talks to."""

    procs: Processes
    args: argparse.Namespace
    root: pathlib.Path
    feature_repo: pathlib.Path
    plan_dir: pathlib.Path
    namespace: str = ""
    tenant: str = ""
    next_run: Callable[[pathlib.Path], str] | None = None
    """A change to the data before the next TrainJob runs (the broken export)."""
    runs: list[str] = field(default_factory=list)
    sent: int = 0
    watched: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    """Long-running workloads that must stay up."""
    """Rows sent to the champion's servers so far (all logged)."""

    # --- set-up -----------------------------------------------------------------------

    def setup(self, notes: list[str]) -> str:
        """Read the plan, start moto and the Kubernetes stand-in, seed both; return the
        champion version the stack deploys (the caller trains it under that version)."""
        self.namespace = find_tenant(self.plan_dir)
        self.planned = PlannedTenant(self.plan_dir, self.namespace)
        controller = self.planned.kinds("Deployment")
        ctrl = next((d for d in controller if d["metadata"]["name"].endswith(
            "-retraining-controller")), None)  # fmt: skip
        if ctrl is None:
            raise StageError(f"the plan has no retraining controller in {self.namespace}")
        self.tenant = ctrl["metadata"]["labels"]["mlplatform.io/tenant"]
        self.controller_obj = self.planned.get(
            "Deployment", retraining_controller_name(self.tenant)
        )
        planned_args = list(
            self.controller_obj["spec"]["template"]["spec"]["containers"][0]["args"]
        )
        self.bucket = _arg(planned_args, "registry").removeprefix("s3://").split("/", 1)[0]
        self.queue_url = _arg(planned_args, "queue").removeprefix("sqs:")
        self.kms_key = _arg(planned_args, "kms_key")
        model_arg = next(a for a in planned_args if a.startswith(f"--model={MODEL}="))
        self.version = model_arg.split("=", 2)[2].split(":", 1)[0]
        self.aws = LocalAws.start(self.procs)
        self.aws.bootstrap(self.bucket, self.queue_url)
        self.env = {**os.environ, **self.aws.env}
        self.kube = LocalKube(secrets.token_hex(16)).start()
        self.kube.add_all([
            self.planned.get("InferenceService", champion_of(MODEL)),
            self.planned.get("ConfigMap", router_name(MODEL)),
            self.planned.get("Deployment", router_name(MODEL)),
        ])  # fmt: skip
        self.tokens = {
            "controller": secrets.token_hex(20),
            "receiver": secrets.token_hex(20),
        }
        self.kube.add_caller(
            self.tokens["controller"],
            self.planned.get("Role", retraining_service_account(self.tenant)),
        )
        self.kube.add_caller(
            self.tokens["receiver"],
            self.planned.get("Role", automation_service_account(self.tenant)),
        )
        self.actuator = CanaryActuator.from_configuration(self.kube.configuration(), self.namespace)
        notes.append(
            f"plan {self.plan_dir}: tenant {self.tenant} ({self.namespace}), bucket "
            f"{self.bucket}, queue {self.queue_url.rsplit('/', 1)[-1]}, champion {MODEL} "
            f"version {self.version}"
        )
        notes.append(
            f"moto (S3, SQS) on {self.aws.endpoint}; Kubernetes API stand-in on "
            f"{self.kube.url} (controller and receiver limited to their planned Roles)"
        )
        return self.version

    def keys(self) -> dict[str, pathlib.Path]:
        """Local folders for the planned key volumes (the stack's verify key has no
        private half here: the local dev pair stands in for the tenant's)."""
        keys = self.root / "keys"
        verify, signing = keys / "verify", keys / "signing"
        verify.mkdir(parents=True, exist_ok=True)
        signing.mkdir(parents=True, exist_ok=True)
        dev = pathlib.Path.cwd() / DEV_KEY_DIR
        (verify / "verify.pub.pem").write_bytes((dev / DEV_PUBLIC_KEY).read_bytes())
        private = signing / SIGNING_KEY_FILE
        private.write_bytes((dev / DEV_PRIVATE_KEY).read_bytes())
        private.chmod(0o600)
        return {"model-verify-key": verify, "signing-key": signing}

    def deploy_champion(self, champion_dir: pathlib.Path, notes: list[str]) -> None:
        """Upload the champion where the stack's InferenceService points; start the local
        KServe and Trainer."""
        isvc = self.planned.get("InferenceService", champion_of(MODEL))
        uri = isvc["spec"]["predictor"]["model"]["storageUri"]
        self.aws.upload(champion_dir, uri)
        keys = self.keys()
        self.kserve = LocalKServe(
            self.kube, self.planned, self.aws, self.procs, self.root / "cluster",
            mounts={"model-verify-key": keys["model-verify-key"]}, extra=TIMING["serving"],
            keys={VERIFY_KEY_PEM_ENV: (keys["model-verify-key"] / "verify.pub.pem").read_text()},
        )  # fmt: skip
        self.trainer = LocalTrainer(
            self.kube, self.planned, self.aws, self.procs, self.root / "trainjobs",
            mounts={"feature-repo": self.feature_repo, "signing-key": keys["signing-key"]},
            before_run=self._before_run,
        )  # fmt: skip
        self.kserve.reconcile()
        self.control = ControlPlane([self.kserve, self.trainer]).__enter__()
        self.router = Router(
            self.kserve, lambda: self.actuator.traffic(self.namespace, MODEL), MODEL,
            seed=self.args.seed,
        )  # fmt: skip
        runtime = self.planned.get("InferenceService", champion_of(MODEL))["spec"]["predictor"]
        notes.append(f"{uri} <- {', '.join(sorted(p.name for p in champion_dir.iterdir()))}")
        notes.append(
            f"{champion_of(MODEL)} served by ServingRuntime {runtime['model']['runtime']} "
            f"(planned container) on 127.0.0.1:{self.kserve.servers[champion_of(MODEL)].port}"
        )

    def close(self) -> None:
        """Stop the control plane and the API stand-in (processes: the caller's)."""
        if getattr(self, "control", None) is not None:
            self.control.__exit__(None, None, None)
        if getattr(self, "router", None) is not None:
            self.router.close()
        if getattr(self, "kube", None) is not None:
            self.kube.stop()

    def _before_run(self, job: dict[str, Any]) -> None:
        change, self.next_run = self.next_run, None
        note = change(self.feature_repo) if change is not None else "the data as it is"
        self.runs.append(f"{job['metadata']['name']}: {note}")

    # --- the planned workloads --------------------------------------------------------

    def start_controller(self, notes: list[str]) -> Launch:
        """The retraining controller's Deployment, as planned."""
        config = self.kube.kubeconfig(
            self.root / "kube" / "controller.yaml", self.tokens["controller"], self.namespace
        )
        scrape = [
            f"--scrape={isvc}={self.kserve.metrics_url(isvc)}"
            for isvc in (champion_of(MODEL), challenger_of(MODEL))
        ]

        def replace(arg: str) -> list[str] | None:
            # No Prometheus here: the analysis reads the servers' own /metrics.
            return scrape if arg.startswith("--prometheus_url=") else None

        launch = self.planned.launch(
            self.controller_obj, workdir=self.root / "pods" / "controller", env=self.env,
            extra=[f"--kubeconfig={config}", *TIMING["controller"]], replace=replace,
        )  # fmt: skip
        self.controller = launch
        self.watched["retraining-controller"] = self.procs.start(
            "retraining-controller", launch.argv(), env=launch.env
        )
        notes.append(f"{launch.source}: python -m {launch.module} ({len(launch.args)} args, "
                     f"{len(launch.changed)} local substitutions)")  # fmt: skip
        return launch

    def drift_check(self, label: str) -> dict[str, Any]:
        """One run of the drift monitor's CronJob; return the report it wrote."""
        job = self.planned.get("CronJob", drift_monitor_name(MODEL))
        launch = self.planned.launch(job, workdir=self.root / "pods" / "drift", env=self.env)
        self.procs.run(f"drift-{label}", launch.argv(), timeout=120, env=launch.env)
        champion = self.kserve.version_of(champion_of(MODEL)) or self.version
        key = f"models/{MODEL}/{champion}/drift/latest.json"
        body = self.aws.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return dict(json.loads(body))

    def wait_shipped(self, rows: int, timeout: float = 30.0) -> None:
        """Wait until the servers have shipped ``rows`` logged rows to the bucket."""
        s3, deadline = self.aws.client("s3"), time.monotonic() + timeout
        while True:
            total = 0
            listed = s3.list_objects_v2(Bucket=self.bucket, Prefix=f"predictions/{MODEL}/")
            for item in listed.get("Contents", []):
                body = s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                total += sum(len(json.loads(line)["inputs"]) for line in body.splitlines() if line)
            if total >= rows:
                return
            if time.monotonic() > deadline:
                raise StageError(f"only {total} of {rows} logged rows reached the bucket")
            time.sleep(0.5)

    def send(
        self, features: list[str], n: int, seed: int, shift: float, batch: int | None = None
    ) -> dict[str, ArmStats]:
        """Labelled traffic through the router; the feedback goes to the bucket."""
        drawn = customer_traffic(features, n, seed, shift)
        return self.send_rows(
            drawn.rows, drawn.labels, batch or self.args.batch, seed, drawn.entity_ids
        )

    def send_rows(
        self,
        rows: np.ndarray,
        labels: np.ndarray,
        batch: int,
        seed: int,
        entity_ids: np.ndarray | None = None,
    ) -> dict[str, ArmStats]:
        """``rows`` through the router (with their customers' ids: the prediction log
        attributes each row); their labelled feedback goes to the bucket."""
        arms: dict[str, ArmStats] = {}
        feedback = self.router.send(rows, labels, batch, arms, entity_ids)
        store = S3Store(self.bucket, f"feedback/{MODEL}", self.kms_key, self.aws.client("s3"))
        body = "".join(json.dumps(line) + "\n" for line in feedback).encode()
        store.put(f"{time.time():.6f}-{seed}.jsonl", body)
        self.control.check()
        return arms

    def _audit_trail(
        self, planned_args: list[str], notes: list[str]
    ) -> Callable[[str], list[str] | None]:
        """The receiver's audit bucket (object lock on) and MAC key, made in moto: the
        planned key ARN is the stack's, so the argument names moto's HMAC key instead."""
        key_arn: str | None = None
        if any(a.startswith("--audit_bucket=s3://") for a in planned_args):
            bucket = _arg(planned_args, "audit_bucket").removeprefix("s3://").split("/", 1)[0]
            self.aws.client("s3").create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": self.aws.env["AWS_REGION"]},
                ObjectLockEnabledForBucket=True,
            )
            notes.append(f"audit bucket {bucket} (object lock on) in moto")
        if any(a.startswith("--audit_key=kms:") for a in planned_args):
            created = self.aws.client("kms").create_key(
                KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Description="audit MAC"
            )
            key_arn = str(created["KeyMetadata"]["Arn"])
            notes.append(f"audit MAC key: a KMS HMAC_256 key in moto ({key_arn})")

        def replace(arg: str) -> list[str] | None:
            if key_arn is not None and arg.startswith("--audit_key=kms:"):
                return [f"--audit_key=kms:{key_arn}"]
            return None

        return replace

    def alert_receiver(self, notes: list[str]) -> tuple[int, str]:
        """Start the alert receiver's Deployment as planned; return (port, token)."""
        obj = self.planned.get("Deployment", alert_receiver_name(self.tenant))
        config = self.kube.kubeconfig(
            self.root / "kube" / "receiver.yaml", self.tokens["receiver"], self.namespace
        )
        pod = obj["spec"]["template"]["spec"]
        env = pod["containers"][0].get("env") or []
        secret_refs = [
            (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for e in env
            if "valueFrom" in e
        ]
        # The token reaches the receiver as a mounted file (a Secret volume).
        secret_refs += [
            (v["secret"]["secretName"], item["key"])
            for v in pod.get("volumes") or []
            if "secret" in v
            for item in v["secret"].get("items") or []
        ]
        token = secrets.token_urlsafe(32)
        launch = self.planned.launch(
            obj, workdir=self.root / "pods" / "receiver", env=self.env,
            secrets=dict.fromkeys(secret_refs, token), extra=[f"--kubeconfig={config}"],
            replace=self._audit_trail(pod["containers"][0].get("args") or [], notes),
        )  # fmt: skip
        self.receiver = launch
        proc = self.procs.start("alert-receiver", launch.argv(), env=launch.env)
        self.watched["alert-receiver"] = proc
        port = launch.ports.get("port") or 0
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise StageError(f"{launch.source}: exited with code {proc.returncode} "
                                 f"(log: {self.procs.log_dir / 'alert-receiver.log'})")  # fmt: skip
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise StageError(f"{launch.source}: not answering on {port}") from None
                time.sleep(0.2)
        notes.append(f"{launch.source}: python -m {launch.module} on 127.0.0.1:{port}")
        return port, token

    # --- waiting for the loop ---------------------------------------------------------

    def registry(self) -> dict[str, Any]:
        """The model's registry index in the bucket."""
        raw = S3Store(self.bucket, "registry", None, self.aws.client("s3")).get(f"{MODEL}.json")
        return {} if raw is None else dict(json.loads(raw))

    def wait_for(self, what: str, done: Callable[[], Any], timeout: float) -> Any:
        """Poll ``done`` until it returns something truthy (the control plane checked)."""
        deadline = time.monotonic() + timeout
        while True:
            self.control.check()
            for name, proc in self.watched.items():
                if proc.poll() is not None:
                    log = self.procs.log_dir / f"{name}.log"
                    tail = log.read_text(errors="replace").strip().splitlines()[-1:]
                    raise StageError(f"{name} exited with code {proc.returncode} (log: {log}): "
                                     + " | ".join(tail))  # fmt: skip
            value = done()
            if value:
                return value
            if time.monotonic() > deadline:
                raise StageError(f"{what}: not within {timeout:.0f} s (logs: {self.procs.log_dir})")
            time.sleep(0.3)

    def canary_until_decided(
        self, features: list[str], shift: float, seed: int, notes: list[str]
    ) -> tuple[str, dict[str, ArmStats]]:
        """Labelled traffic through the router until the controller decides the canary."""
        failed_before = {n for n, state in self.trainer.done.items() if state == FAILED}

        def registered() -> Any:
            failed = {n for n, s in self.trainer.done.items() if s == FAILED} - failed_before
            if failed:
                run = sorted(failed)[0]
                raise StageError(f"TrainJob {run} failed (log: "
                                 f"{self.procs.log_dir / f'trainjob-{run}.log'})")  # fmt: skip
            return self.registry().get("challenger")

        index = self.wait_for("a registered challenger", registered, timeout=240)
        self.wait_for(
            "the canary share on the router",
            lambda: self.actuator.traffic(self.namespace, MODEL).get(challenger_of(MODEL)),
            timeout=120,
        )
        version = str(index)
        notes.append(f"challenger {version} registered; router "
                     f"{self.actuator.traffic(self.namespace, MODEL)}")  # fmt: skip
        arms: dict[str, ArmStats] = {}
        per_round = self.args.canary_rows
        drawn = customer_traffic(features, per_round * 4, seed, shift)
        pool, truth, customers = drawn.rows, drawn.labels, drawn.entity_ids
        for step in range(self.args.canary_rounds):
            first = (step % 4) * per_round
            sent = self.send_rows(
                pool[first : first + per_round], truth[first : first + per_round],
                self.args.canary_batch, seed + step, customers[first : first + per_round],
            )  # fmt: skip
            for name, stats in sent.items():
                total = arms.setdefault(name, ArmStats())
                total.requests += stats.requests
                total.errors += stats.errors
                total.latency_ms += stats.latency_ms
                total.labelled += stats.labelled
                total.correct += stats.correct
            status = self.registry()["versions"][version]["status"]
            if status in {"champion", "rolled-back"}:
                notes.append(f"decided after {step + 1} rounds of {self.args.canary_rows} rows")
                return status, arms
            time.sleep(0.6)  # a controller pass sees the newest numbers
        status = self.wait_for(
            "the canary decision",
            lambda: {"champion", "rolled-back"} & {self.registry()["versions"][version]["status"]},
            timeout=10,
        )
        return next(iter(status)), arms


def fresh_data(loop: DeployedLoop, repo: pathlib.Path, shift: float) -> str:
    """New labelled data from the drifted population replaces the offline store's."""
    loop.procs.run(
        "features-fresh",
        ["-m", "workloads.features", "init", "--out", str(repo), "--customers",
         str(loop.args.customers * 3), "--seed", str(loop.args.seed + 1), "--shift", str(shift),
         "--no-materialize"],
        timeout=300,
    )  # fmt: skip
    return (
        f"fresh labelled data: {loop.args.customers * 3} customers of the drifted "
        f"population (shift {shift:+.2f}) in the offline store"
    )


def corrupt_export(repo: pathlib.Path) -> str:
    """A broken upstream export: ``salary_transfer`` inverted in the offline store."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from workloads.features.repo import view_path

    parts = sorted(view_path(repo, "customer_activity").glob("date=*/part-*.parquet"))
    for part in parts:  # every partition, same schema (the views read them all)
        table = pq.read_table(part)
        column = table.schema.get_field_index("salary_transfer")
        flipped = pc.subtract(1, table.column(column)).cast(table.schema.field(column).type)
        pq.write_table(table.set_column(column, "salary_transfer", flipped), part)
    return f"salary_transfer inverted in customer_activity ({len(parts)} partitions)"


def describe_arms(arms: dict[str, ArmStats]) -> list[str]:
    """One line per arm: requests, latency, accuracy on labelled rows."""
    return [
        f"{name}: {s.requests} requests, errors {s.errors}, p50 "
        f"{np.percentile(s.latency_ms, 50):.1f} ms / p99 {np.percentile(s.latency_ms, 99):.1f} ms, "
        f"accuracy {s.correct / max(s.labelled, 1):.3f} on {s.labelled} labelled rows"
        for name, s in sorted(arms.items())
    ]


# --- the stages (``__main__`` runs them in order) ------------------------------------


def plan_dir_for(args: argparse.Namespace, procs: Processes, root: pathlib.Path) -> pathlib.Path:
    """The plan to read: ``--plan`` if it holds manifests, else one made now."""
    plan = pathlib.Path(args.plan) if args.plan else root / "plan"
    if (plan / "manifests").is_dir():
        return plan
    cli = pathlib.Path(sys.executable).parent / "mlplatform"

    done = subprocess.run(
        [str(cli), "plan", "--stack", args.stack, "--out", str(plan), "--format", "json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise StageError(f"mlplatform plan --stack {args.stack}: exit {done.returncode}: {tail}")
    return plan


def check_baseline(loop: DeployedLoop, features: list[str], notes: list[str]) -> None:
    """In-distribution traffic; the drift monitor's CronJob finds no drift."""
    arms = loop.send(features, loop.args.traffic_rows, loop.args.seed + 100, 0.0)
    loop.sent = loop.args.traffic_rows
    loop.wait_shipped(loop.sent)
    report = loop.drift_check("baseline")
    notes += describe_arms(arms)
    notes.append(_describe(report))
    if report["triggered"]:
        raise StageError("drift fired on in-distribution traffic")
    notes.append("no drift: no retraining trigger")


def shift_until_drift(loop: DeployedLoop, features: list[str], notes: list[str]) -> float:
    """Shifted traffic until the drift monitor fires and puts a trigger on the queue."""
    fired: list[float] = []
    # By the time the run starts, the bank's newest labelled data (drawn from the
    # drifted population) is in the offline store: the retrained model learns it.
    loop.next_run = lambda repo: fresh_data(loop, repo, fired[-1])
    for step, shift in enumerate(SHIFT_STEPS):
        loop.send(features, loop.args.traffic_rows, loop.args.seed + 200 + step, shift)
        loop.sent += loop.args.traffic_rows
        loop.wait_shipped(loop.sent)
        fired[:] = [shift]  # set before the check: the run may start before it returns
        report = loop.drift_check(f"shift-{shift}")
        notes.append(f"shift {shift:+.2f}: {_describe(report)}")
        if report["triggered"]:
            notes.append(
                f"trigger {report['trigger_message_id']} on {loop.queue_url.rsplit('/', 1)[-1]}"
            )
            return shift
    raise StageError(f"drift never fired up to shift {SHIFT_STEPS[-1]}")


def retrain_and_promote(
    loop: DeployedLoop, features: list[str], shift: float, notes: list[str]
) -> str:
    """Controller -> TrainJob -> challenger -> canary -> promotion on accuracy."""
    status, arms = loop.canary_until_decided(features, shift, loop.args.seed + 400, notes)
    notes += [*loop.runs[-1:], *loop.trainer.events, *describe_arms(arms)]
    loop.trainer.events.clear()
    if status != "champion":
        history = loop.registry().get("history", [])
        why = next(
            (h.get("why", "") for h in reversed(history) if h.get("what") == "roll-back"), ""
        )
        raise StageError(
            f"the retrained challenger was {status}, expected a promotion ({why[:300]}; "
            f"{'; '.join(describe_arms(arms))}; controller log: "
            f"{loop.procs.log_dir / 'retraining-controller.log'})"
        )
    index = loop.registry()
    champion = str(index["champion"])
    uri = loop.kube.get_object(
        "serving.kserve.io/v1beta1", "InferenceService", loop.namespace, champion_of(MODEL)
    )["spec"]["predictor"]["model"]["storageUri"]
    notes.append(f"promoted {champion}: {champion_of(MODEL)} serves {uri}; router "
                 f"{loop.actuator.traffic(loop.namespace, MODEL)}")  # fmt: skip
    return champion


def bad_retrain_rolled_back(
    loop: DeployedLoop, features: list[str], shift: float, notes: list[str]
) -> str:
    """Drift alert -> alert receiver -> trigger -> a run on a broken export -> canary ->
    rollback on accuracy."""
    port, token = loop.alert_receiver(notes)
    loop.next_run = corrupt_export
    alert = {
        "version": "4", "status": "firing", "receiver": "mlplatform-loop",
        "groupKey": '{}:{alertname="ModelInputDrift"}',
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "ModelInputDrift", "namespace": loop.namespace,
                       "model": MODEL, "feature": "balance_aed"},
            "annotations": {"summary": "input drift on balance_aed"},
            "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "fingerprint": "demo-drift-2",
        }],
    }  # fmt: skip
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/alerts", data=json.dumps(alert).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        outcome = json.loads(reply.read())
    notes.append(f"ModelInputDrift -> alert receiver: {json.dumps(outcome)[:160]}")
    status, arms = loop.canary_until_decided(features, shift, loop.args.seed + 600, notes)
    notes += [*loop.runs[-1:], *loop.trainer.events, *describe_arms(arms)]
    if status != "rolled-back":
        raise StageError(
            f"the challenger trained on the broken export was {status}, expected a rollback"
        )
    index = loop.registry()
    last = next(h for h in reversed(index["history"]) if h["what"] == "roll-back")
    notes.append(f"rolled back {last['version']}: {last['why'][:150]}")
    notes.append(f"router {loop.actuator.traffic(loop.namespace, MODEL)}; champion stays "
                 f"{index['champion']}")  # fmt: skip
    return str(last["version"])


def verify_audit(loop: DeployedLoop, notes: list[str]) -> int:
    """Both audit logs (controller, receiver) verify; return their record count."""
    from workloads.alerts.audit import AuditLog, verify_audit_log

    total = 0
    for launch in (loop.controller, loop.receiver):
        path = pathlib.Path(_arg(launch.args, "audit_log"))
        key, shipper = _audit_verifier(loop, launch.args)
        result = verify_audit_log(path, key, shipper=shipper)
        records = list(AuditLog(path, key).records())
        if not result.ok:
            raise StageError(f"audit log {path}: chain broken: {result}")
        whats = [r["what"] for r in records]
        notes.append(f"{launch.source}: {len(records)} records, chain verifies "
                     f"({', '.join(dict.fromkeys(whats))})")  # fmt: skip
        total += len(records)
    return total


def _audit_verifier(loop: DeployedLoop, args: list[str]) -> tuple[Any, Any]:
    """The key (KMS in moto, else the log's local key) and the bucket a log ships to."""
    from workloads.alerts.audit import KmsMacKey, MacKey, S3Shipper, open_key

    spec = next((a.split("=", 1)[1] for a in args if a.startswith("--audit_key=")), None)
    bucket = next((a.split("=", 1)[1] for a in args if a.startswith("--audit_bucket=")), None)
    key: MacKey | None = None
    if spec and spec.startswith("kms:"):
        key = KmsMacKey(spec.removeprefix("kms:"), loop.aws.client("kms"))
    elif spec:
        key = open_key(spec)
    shipper = (
        S3Shipper(
            bucket, kms_key_id=None, lock_mode=None, retention_days=1, client=loop.aws.client("s3")
        )
        if bucket
        else None
    )
    return key, shipper


def _describe(report: dict[str, Any]) -> str:
    features = report.get("features") or []
    top = max(features, key=lambda f: f["psi"]) if features else {"psi": 0.0, "feature": "-"}
    drifted = ", ".join(report.get("drifted_features") or []) or "none"
    return (f"{report['n_rows']} rows in the window; max PSI {top['psi']:.3f} "
            f"({top['feature']}); drifted: {drifted}")  # fmt: skip
