"""Process and traffic helpers of the local lifecycle: child processes that are always
stopped, free loopback ports, and a keep-alive V2 client that records latency.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from contracts.serving import ENTITY_IDS_PARAMETER
from workloads.features.datagen import GeneratorConfig, churn_logit, generate
from workloads.features.definitions import ENTITY_KEY


class StageError(RuntimeError):
    """A lifecycle stage failed; the message says which and where its log is."""


FEAST_METRICS_ENV = ("PROMETHEUS_MULTIPROCESS_DIR", "PROMETHEUS_MULTIPROC_DIR")
"""Set by ``import feast`` (feast.metrics) in this process for its own gunicorn workers."""


def pod_environment(env: dict[str, str] | None) -> dict[str, str]:
    """The environment of a local "pod": ``env`` (or this process's), without the
    variables ``import feast`` put here. A container never inherits them; a child that
    did would keep its metrics in a folder this process deletes at exit, and every
    metric object of the same name would share one value."""
    base = dict(os.environ if env is None else env)
    for name in FEAST_METRICS_ENV:
        if "feast_metrics_" in base.get(name, ""):
            del base[name]
    return base


@dataclass
class Processes:
    """Every child process the lifecycle started, so all of them can be stopped."""

    log_dir: pathlib.Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def run(
        self, name: str, args: list[str], timeout: float, env: dict[str, str] | None = None
    ) -> str:
        """Run a module to completion; return its stdout. Raise StageError on failure."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        proc = self._popen(name, args, log, capture=True, env=env)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            raise StageError(f"{name}: no result within {timeout:.0f} s (log: {log})") from None
        text = out.decode(errors="replace")
        with log.open("a", encoding="utf-8") as handle:
            handle.write(text)
        if proc.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            raise StageError(
                f"{name}: exit code {proc.returncode} (log: {log}): " + " | ".join(tail)
            )
        return text

    def start(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running module in the background, logging to a file."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self._popen(name, args, self.log_dir / f"{name}.log", capture=False, env=env)

    def _popen(
        self,
        name: str,
        args: list[str],
        log: pathlib.Path,
        capture: bool,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        with log.open("w", encoding="utf-8") as handle:
            handle.write(f"$ python {' '.join(args)}\n")
        # Own session: the whole group (workers included) can be signalled at once.
        with log.open("ab") as err:
            proc = subprocess.Popen(
                [sys.executable, *args],
                stdout=subprocess.PIPE if capture else err,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=pod_environment(env),
            )
        self.started.append((name, proc))
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def stop_all(self) -> None:
        """Stop every started process, newest first."""
        for _, proc in reversed(self.started):
            self.stop(proc)


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, model: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll the V2 model-ready endpoint until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StageError(f"model server exited with code {proc.returncode}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", f"/v2/models/{model}/ready")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    raise StageError(f"model server on port {port} not ready within {timeout:.0f} s")


@dataclass
class ArmStats:
    """What one server answered: latency per request, errors, labelled correctness."""

    requests: int = 0
    errors: int = 0
    latency_ms: list[float] = field(default_factory=list)
    labelled: int = 0
    correct: int = 0

    def infer(
        self,
        client: V2Client,
        rows: np.ndarray,
        truth: np.ndarray | None = None,
        entity_ids: Sequence[int | str] | None = None,
    ) -> np.ndarray | None:
        """One request through ``client``: record its latency, an error (None back) and,
        with ``truth``, how many rows it got right; return the probabilities."""
        began = time.perf_counter()
        probs = client.infer(rows, entity_ids)
        self.latency_ms.append((time.perf_counter() - began) * 1000.0)
        self.requests += 1
        if probs is None:
            self.errors += 1
        elif truth is not None:
            self.labelled += len(truth)
            self.correct += int(np.sum(probs.argmax(axis=1) == truth))
        return probs


class V2Client:
    """A keep-alive HTTP client for one model's V2 infer endpoint."""

    def __init__(self, port: int, model: str, input_name: str = "features") -> None:
        self.port = port
        self.model = model
        self.input_name = input_name
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def infer(
        self, rows: np.ndarray, entity_ids: Sequence[int | str] | None = None
    ) -> np.ndarray | None:
        """Probabilities for ``rows``, or None when the request failed.

        ``entity_ids`` (one per row: the customer each row is about) go in the request's
        ``entity_ids`` parameter, so the server's prediction log attributes each row and
        an erasure request can find and remove that customer's records."""
        request: dict[str, Any] = {
            "inputs": [
                {
                    "name": self.input_name,
                    "datatype": "FP32",
                    "shape": list(rows.shape),
                    "data": rows.ravel().tolist(),
                }
            ]
        }
        if entity_ids is not None:
            if len(entity_ids) != len(rows):
                raise ValueError(f"{len(entity_ids)} entity ids for {len(rows)} rows")
            request["parameters"] = {ENTITY_IDS_PARAMETER: [str(i) for i in entity_ids]}
        body = json.dumps(request)
        for attempt in (1, 2):
            try:
                self.conn.request(
                    "POST",
                    f"/v2/models/{self.model}/infer",
                    body=body,
                    headers={"Content-Type": "application/json"},
                )
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                # The server closes idle keep-alive connections; reconnect once, as
                # HTTP clients do. A second failure is a real error.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    return None
        if response.status != 200:
            return None
        out = json.loads(payload)["outputs"][0]
        return np.asarray(out["data"], dtype=np.float64).reshape(out["shape"])

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def send(
    client: V2Client,
    rows: np.ndarray,
    labels: np.ndarray | None,
    batch: int,
    stats: ArmStats | None = None,
    entity_ids: np.ndarray | None = None,
) -> ArmStats:
    """Send ``rows`` in batches (with their customers' ids when given); record latency,
    errors and (with labels) correctness."""
    stats = stats or ArmStats()
    for start in range(0, len(rows), batch):
        ids = None if entity_ids is None else entity_ids[start : start + batch].tolist()
        truth = None if labels is None else labels[start : start + batch]
        stats.infer(client, rows[start : start + batch], truth, ids)
    return stats


@dataclass(frozen=True)
class Traffic:
    """Request rows, their true labels and the customer each row is about."""

    rows: np.ndarray
    labels: np.ndarray
    entity_ids: np.ndarray
    """Customer ids (the feature views' entity key), one per row."""


def traffic(
    features: list[str], n_customers: int, seed: int, shift: float
) -> tuple[np.ndarray, np.ndarray]:
    """Request rows in the model's feature order, and their true churn labels."""
    drawn = customer_traffic(features, n_customers, seed, shift)
    return drawn.rows, drawn.labels


def customer_traffic(features: list[str], n_customers: int, seed: int, shift: float) -> Traffic:
    """Request rows in the model's feature order, their true churn labels and customers.

    Drawn from the same generator as the training data (``shift`` moves the inputs,
    not the churn mechanism), one row per customer from a random weekly snapshot.
    """
    data = generate(GeneratorConfig(n_customers=n_customers, seed=seed, shift=shift))
    rng = np.random.default_rng(seed + 1)
    customers = len(data.profile)
    snapshots = len(data.activity) // customers
    pick = rng.integers(0, snapshots, customers) * customers + np.arange(customers)
    activity = data.activity.iloc[pick].reset_index(drop=True)
    profile = data.profile.reset_index(drop=True)
    joined = pd.concat(
        [profile, activity.drop(columns=[column for column in activity if column in profile])],
        axis=1,
    )
    missing = [feature for feature in features if feature not in joined]
    if missing:
        raise StageError(f"model expects features the generator lacks: {', '.join(missing)}")
    rows = joined[features].to_numpy(dtype=np.float32)
    probability = 1.0 / (1.0 + np.exp(-churn_logit(activity, profile)))
    labels = (rng.random(customers) < probability).astype(np.int64)
    return Traffic(rows, labels, profile[ENTITY_KEY].to_numpy(dtype=np.int64))


def last_json_line(text: str) -> dict[str, Any]:
    """The last stdout line that is a JSON object (the CLIs' summary)."""
    for line in reversed(text.strip().splitlines()):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(line)
            if isinstance(value, dict):
                return value
    raise StageError("no JSON summary line in the output")
