"""The few cluster services the deployed loop relies on, played on this machine.

- :class:`LocalAws`: a moto server process on 127.0.0.1 for S3, SQS and KMS, with the
  tenant's bucket and retraining queue under their planned names.
- :class:`LocalKServe`: what KServe does for the tenant's InferenceServices in the
  loopback Kubernetes API (:class:`~workloads.rollout.localkube.LocalKube`): for each one,
  download its ``storageUri`` from the bucket (the storage initializer) and run the
  planned ServingRuntime's container on it; restart it when the loop changes the
  version, stop it when the loop deletes the service, and report ``Ready``.
- :class:`LocalTrainer`: what Kubeflow Trainer does for a ``TrainJob``: run its node
  (``torchrun``, the runtime's container with the job's command, args and patches) and
  set ``Complete`` or ``Failed``.
- :class:`Router`: the model's Envoy router: each request goes to an arm drawn with the
  weights the router's ConfigMap holds now (the loop moves them).

Each reconciles on :meth:`ControlPlane.run`'s thread, as the real controllers would.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from contracts.training import API_VERSION as TRAINER_API
from contracts.training import COMPLETE, FAILED
from workloads.lifecycle.planned import PlannedTenant
from workloads.lifecycle.runtime import (
    ArmStats,
    Processes,
    StageError,
    V2Client,
    free_port,
    wait_ready,
)
from workloads.rollout.localkube import LocalKube

REGION = "me-central-1"
KSERVE_API = "serving.kserve.io/v1beta1"
_TEMPLATE = re.compile(r"\{\{\s*\.([A-Za-z.]+)\s*\}\}")
MODEL_DIR = "/mnt/models"
"""Where KServe's storage initializer puts the model in the serving container."""


@dataclass
class LocalAws:
    """A moto server for S3, SQS and KMS; ``env`` reaches it (boto3's own variables)."""

    endpoint: str
    env: dict[str, str]

    @classmethod
    def start(cls, procs: Processes) -> LocalAws:
        """Start ``moto.server`` on a free loopback port and wait until it answers."""
        port = free_port()
        proc = procs.start("aws-moto", ["-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise StageError(f"moto server exited with code {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise StageError("moto server not ready within 30 s") from None
                time.sleep(0.2)
        env = {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
        }
        return cls(endpoint, env)

    def client(self, service: str) -> Any:
        """A boto3 client of the moto server."""
        import boto3

        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def bootstrap(self, bucket: str, queue_url: str) -> None:
        """The tenant's bucket and retraining queue (the planned names)."""
        self.client("s3").create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        self.client("sqs").create_queue(QueueName=queue_url.rstrip("/").rsplit("/", 1)[-1])

    def upload(self, directory: pathlib.Path, uri: str) -> list[str]:
        """Put every file of ``directory`` under ``s3://bucket/prefix/``."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        s3, keys = self.client("s3"), []
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            key = f"{prefix.rstrip('/')}/{path.name}"
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            keys.append(key)
        return keys

    def download(self, uri: str, directory: pathlib.Path) -> int:
        """Copy every object under ``uri`` into ``directory`` (KServe's storage initializer)."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        s3 = self.client("s3")
        directory.mkdir(parents=True, exist_ok=True)
        items = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        for item in items:
            name = item["Key"][len(prefix) :].lstrip("/")
            if "/" in name:
                continue  # drift reports and the like, next to the model
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            (directory / name).write_bytes(body)
        return len(items)


@dataclass
class Served:
    """One InferenceService's running server."""

    uri: str
    proc: subprocess.Popen[bytes]
    port: int
    metrics_url: str
    model_name: str
    """The name on its endpoint paths (the runtime's ``--model_name``)."""


@dataclass
class LocalKServe:
    """Runs the planned ServingRuntime for each InferenceService of the namespace."""

    kube: LocalKube
    planned: PlannedTenant
    aws: LocalAws
    procs: Processes
    workdir: pathlib.Path
    mounts: dict[str, pathlib.Path]
    """Local folders of the runtime's volumes (the verify key)."""
    extra: list[str] = field(default_factory=list)
    """Arguments added for one machine (timing; documented by the caller)."""
    keys: dict[str, str] = field(default_factory=dict)
    """Literal key material in the runtime's env replaced by the local pair's."""
    warm_up_requests: int = 300
    warm_up_batch: int = 16
    ports: dict[str, tuple[int, int]] = field(default_factory=dict)
    """InferenceService -> (http port, metrics port), fixed so scrapers know them."""
    servers: dict[str, Served] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    def port_of(self, isvc: str) -> tuple[int, int]:
        """The fixed ports of an InferenceService (allocated on first use)."""
        if isvc not in self.ports:
            self.ports[isvc] = (free_port(), free_port())
        return self.ports[isvc]

    def metrics_url(self, isvc: str) -> str:
        """Where that service's server exports its metrics."""
        http, metrics = self.port_of(isvc)
        runtime = self._runtime_args()
        port = metrics if any(a.startswith("--metrics_port=") for a in runtime) else http
        return f"http://127.0.0.1:{port}/metrics"

    def _runtime_args(self) -> list[str]:
        runtimes = self.planned.kinds("ServingRuntime")
        if not runtimes:
            return []
        return list(runtimes[0]["spec"]["containers"][0].get("args") or [])

    def _services(self) -> dict[str, dict[str, Any]]:
        prefix = f"/apis/{KSERVE_API}/namespaces/{self.planned.namespace}/inferenceservices/"
        with self.kube._lock:
            return {
                path[len(prefix) :]: json.loads(json.dumps(obj))
                for path, obj in self.kube.objects.items()
                if path.startswith(prefix)
            }

    def reconcile(self) -> None:
        """Start, restart or stop servers to match the InferenceServices."""
        services = self._services()
        for name in [n for n in self.servers if n not in services]:
            Processes.stop(self.servers.pop(name).proc)
            self.events.append(f"{name}: deleted, server stopped")
        for name, isvc in services.items():
            uri = isvc["spec"]["predictor"]["model"]["storageUri"]
            current = self.servers.get(name)
            if current is not None and current.uri == uri:
                if current.proc.poll() is not None:
                    raise StageError(f"model server of {name} exited ({current.proc.returncode})")
                continue
            if current is not None:
                Processes.stop(self.servers.pop(name).proc)
            self.servers[name] = self._serve(name, isvc, uri)
            self.kube.set_status(KSERVE_API, "InferenceService", self.planned.namespace, name,
                                 {"conditions": [{"type": "Ready", "status": "True"}]})  # fmt: skip
            version = uri.rstrip("/").rsplit("/", 1)[-1]
            self.events.append(f"{name}: serving {version}")

    def _serve(self, name: str, isvc: dict[str, Any], uri: str) -> Served:
        model = isvc["spec"]["predictor"]["model"]
        runtime = self.planned.get("ServingRuntime", model["runtime"])
        version = uri.rstrip("/").rsplit("/", 1)[-1]
        local = self.workdir / "mnt" / name / version
        if self.aws.download(uri, local) == 0:
            raise StageError(f"InferenceService {name}: nothing at {uri}")
        http, metrics = self.port_of(name)
        labels = {
            **(isvc["spec"]["predictor"].get("labels") or {}),
            **(isvc["metadata"].get("labels") or {}),
        }

        def template(match: re.Match[str]) -> str:
            # KServe fills a ServingRuntime's {{.Name}} and {{.Labels.<key>}} per service.
            if match[1] == "Name":
                return name
            key = match[1].removeprefix("Labels.")
            value = labels.get(key)
            if value is None and key == "modelName":
                value = labels.get("mlplatform.io/model")
            if value is None:
                raise StageError(f"InferenceService {name}: no label {key} for {match[0]}")
            return str(value)

        def replace(arg: str) -> list[str] | None:
            if arg.startswith("--http_port="):
                return [f"--http_port={http}"]
            if arg.startswith("--metrics_port="):
                return [f"--metrics_port={metrics}"]
            if "{{" in arg:
                return [_TEMPLATE.sub(template, arg)]
            if arg.startswith(f"--model_dir={MODEL_DIR}"):
                return [arg.replace(MODEL_DIR, str(local))]
            return None

        launch = self.planned.launch(
            runtime, workdir=self.workdir / "pods" / name, env={**os.environ, **self.aws.env},
            mounts=self.mounts, extra=[f"--grpc_port={free_port()}", *self.extra],
            replace=replace, keys=self.keys,
        )  # fmt: skip
        model_name = launch.arg("model_name") or name
        proc = self.procs.start(f"serve-{name}-{version}", launch.argv(), env=launch.env)
        wait_ready(http, model_name, proc, timeout=90)
        self._warm_up(http, model_name, local)
        return Served(uri, proc, http, self.metrics_url(name), model_name)

    def _warm_up(self, port: int, model: str, local: pathlib.Path) -> None:
        """A few hundred requests before the server counts as Ready: a fresh process's
        first requests (allocator, caches, first code paths) are slow, and a canary of a
        few hundred requests on one machine would measure that instead of the model. The
        analysis counts from its first read after the canary starts, so these are not in
        it. The rows are noise about no customer, and their ids say so (``warm-up-<i>``):
        the prediction log holds no record an erasure could not attribute."""
        card = json.loads((local / "model_card.json").read_text())
        rows = (
            np.random.default_rng(0)
            .normal(size=(self.warm_up_batch, len(card["features"])))
            .astype(np.float32)
        )
        ids = [f"warm-up-{i}" for i in range(len(rows))]
        client = V2Client(port, model)
        try:
            for _ in range(self.warm_up_requests):
                client.infer(rows, ids)
        finally:
            client.close()

    def version_of(self, isvc: str) -> str | None:
        """The version an InferenceService's server has loaded."""
        served = self.servers.get(isvc)
        return None if served is None else served.uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class LocalTrainer:
    """Runs each new TrainJob's node as Kubeflow Trainer would, and sets its condition."""

    kube: LocalKube
    planned: PlannedTenant
    aws: LocalAws
    procs: Processes
    workdir: pathlib.Path
    mounts: dict[str, pathlib.Path]
    """Local folders of the run's volumes (feature repo, signing key)."""
    before_run: Callable[[dict[str, Any]], None] | None = None
    """Called with the TrainJob before its node starts (the demo's data changes)."""
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    def reconcile(self) -> None:
        """Start new runs; mark finished ones."""
        prefix = f"/apis/{TRAINER_API}/namespaces/{self.planned.namespace}/trainjobs/"
        with self.kube._lock:
            jobs = {
                p[len(prefix) :]: json.loads(json.dumps(o))
                for p, o in self.kube.objects.items()
                if p.startswith(prefix)
            }
        for name, job in jobs.items():
            if name in self.running or name in self.done:
                continue
            if self.before_run is not None:
                self.before_run(job)
            launch = self.planned.launch_train_job(
                job, workdir=self.workdir / name, env={**os.environ, **self.aws.env},
                mounts={**self.mounts, "work": self._scratch(name)},
            )  # fmt: skip
            self.running[name] = self.procs.start(f"trainjob-{name}", launch.argv(), launch.env)
            self.events.append(f"TrainJob {name}: node started ({launch.launcher} -m "
                               f"{launch.module})")  # fmt: skip
        for name, proc in list(self.running.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.running[name]
            state = COMPLETE if code == 0 else FAILED
            self.done[name] = state
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.kube.set_status(TRAINER_API, "TrainJob", self.planned.namespace, name,
                                 {"conditions": [{"type": state, "status": "True",
                                                  "reason": "Local", "message": f"exit {code}",
                                                  "lastTransitionTime": now}]})  # fmt: skip
            self.events.append(f"TrainJob {name}: {state} (exit {code})")

    def _scratch(self, name: str) -> pathlib.Path:
        path = self.workdir / name / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class ControlPlane:
    """Reconciles the local KServe and Trainer on a thread until stopped."""

    parts: list[Any]
    interval: float = 0.3
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                for part in self.parts:
                    part.reconcile()
            except BaseException as exc:
                self.error = exc
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> ControlPlane:
        self._thread = threading.Thread(target=self._loop, name="control-plane", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def check(self) -> None:
        """Raise what the thread failed with, if anything."""
        if self.error is not None:
            raise StageError(f"local control plane: {self.error}") from self.error


@dataclass
class Router:
    """Splits requests between a model's InferenceServices by the router's weights."""

    kserve: LocalKServe
    weights: Callable[[], dict[str, int]]
    model: str
    seed: int = 0
    burst: int = 20
    """Requests in a row that go to the arm drawn for them. On one shared machine, a
    process that sees one request in ten runs from cold caches and looks slower than it
    is; in the cluster each arm has its own CPUs. Short bursts keep both arms warm while
    the split stays the router's."""
    restart_wait: float = 120.0
    """Seconds to wait for a backend that the local KServe is restarting."""
    clients: dict[tuple[str, int], V2Client] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def _split(self) -> tuple[list[str], np.ndarray]:
        """The live backends and their shares, as the router's ConfigMap says now.

        While the only weighted backend is being replaced (a promotion restarts the
        champion on its new version), wait for it as a rolling update would keep the
        service up, for ``restart_wait`` seconds at most."""
        deadline = time.monotonic() + self.restart_wait
        while True:
            weights = self.weights()
            names = [n for n, w in weights.items() if w > 0 and n in self.kserve.servers]
            if names or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if not names:
            raise StageError(f"router of {self.model}: no live backend in {weights}")
        p = np.array([weights[n] for n in names], dtype=float)
        return names, p / p.sum()

    def _client(self, isvc: str) -> V2Client | None:
        served = self.kserve.servers.get(isvc)
        if served is None:
            return None
        key = (isvc, served.port)
        if key not in self.clients:
            self.clients[key] = V2Client(served.port, served.model_name)
        return self.clients[key]

    def send(
        self,
        rows: np.ndarray,
        labels: np.ndarray,
        batch: int,
        arms: dict[str, ArmStats],
        entity_ids: np.ndarray | None = None,
    ) -> list[dict[str, Any]]:
        """Route ``rows`` batch by batch, each request with its rows' customer ids when
        given (the prediction log attributes them); return labelled feedback lines."""
        names, p = self._split()
        feedback: list[dict[str, Any]] = []
        isvc = names[0]
        for index, start in enumerate(range(0, len(rows), batch)):
            if index % self.burst == 0:
                isvc = names[int(self.rng.choice(len(names), p=p))]
            client = self._client(isvc)
            if client is None:  # the loop moved the split meanwhile: route again
                names, p = self._split()
                isvc = names[int(self.rng.choice(len(names), p=p))]
                client = self._client(isvc)
            if client is None:
                raise StageError(f"router of {self.model}: {isvc} has no server")
            chunk, truth = rows[start : start + batch], labels[start : start + batch]
            ids = None if entity_ids is None else entity_ids[start : start + batch].tolist()
            probs = arms.setdefault(isvc, ArmStats()).infer(client, chunk, truth, ids)
            if probs is None:
                continue
            version, now = self.kserve.version_of(isvc), time.time()
            feedback += [
                {"ts": now, "model_version": version, "score": float(s), "label": int(y)}
                for s, y in zip(probs[:, 1], truth, strict=True)
            ]
        return feedback

    def close(self) -> None:
        """Close every client."""
        for client in self.clients.values():
            client.close()
