"""The local lifecycle: helpers on their own, then the whole loop once (slow)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from workloads.lifecycle.runtime import Processes, StageError, last_json_line, traffic

FEATURES = [
    "age",
    "tenure_months",
    "segment_code",
    "emirate_code",
    "balance_aed",
    "balance_change_90d_pct",
    "txn_count_30d",
    "digital_logins_30d",
    "salary_transfer",
    "complaints_90d",
    "products_held",
]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by an unrelated parent) no longer runs.
    stat = pathlib.Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_traffic_rows_follow_the_model_feature_order_and_shift_moves_inputs() -> None:
    rows, labels = traffic(FEATURES, 500, seed=3, shift=0.0)
    assert rows.shape == (500, len(FEATURES))
    assert rows.dtype == np.float32
    assert set(np.unique(labels)) <= {0, 1}
    assert 0.05 < labels.mean() < 0.5
    shifted, _ = traffic(FEATURES, 500, seed=3, shift=1.5)
    balance = FEATURES.index("balance_aed")
    assert np.median(shifted[:, balance]) < 0.6 * np.median(rows[:, balance])
    with pytest.raises(StageError, match="model expects features the generator lacks: nope"):
        traffic([*FEATURES, "nope"], 50, seed=3, shift=0.0)


def test_processes_are_stopped_even_when_they_ignore_sigterm(tmp_path: pathlib.Path) -> None:
    procs = Processes(tmp_path / "logs")
    stubborn = procs.start(
        "stubborn",
        [
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('up', flush=True); time.sleep(60)",
        ],
    )
    polite = procs.start("polite", ["-c", "import time; time.sleep(60)"])
    time.sleep(0.5)
    began = time.monotonic()
    procs.stop_all()
    assert stubborn.returncode is not None
    assert polite.returncode is not None
    assert time.monotonic() - began < 20
    assert (tmp_path / "logs" / "stubborn.log").read_text().startswith("$ python -c")


def test_failed_stage_names_its_log(tmp_path: pathlib.Path) -> None:
    procs = Processes(tmp_path / "logs")
    with pytest.raises(StageError, match=r"broken: exit code 3 \(log: .*broken\.log\): .*boom"):
        procs.run("broken", ["-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"], 30)
    assert procs.run("fine", ["-c", "print('{\"ok\": 1}')"], 30).strip() == '{"ok": 1}'
    assert last_json_line('log line\n{"a": 1}\nnot json\n') == {"a": 1}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_deployed_loop_promotes_a_better_and_rolls_back_a_worse_challenger(
    tmp_path: pathlib.Path,
) -> None:
    """The whole loop from the staging plan's manifests (planned here): drift -> trigger
    -> controller -> TrainJob -> challenger -> canary -> promote; then a run on a broken
    export -> canary -> rollback on accuracy; both audit chains verify."""
    workdir = tmp_path / "local"
    result = subprocess.run(
        [sys.executable, "-m", "workloads.lifecycle", "--workdir", str(workdir),
         "--customers", "2000", "--stack", "staging"],
        capture_output=True, text=True, timeout=880, check=False,
        # The trainer creates its dev signing key under the working directory.
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    out = result.stdout
    assert "Deployment tenant-gulf-bank/gulf-bank-retraining-controller: python -m" in out
    assert "drifted: balance_aed" in out
    # The champion trained after the ingestion: its card names the ingested partitions.
    assert re.search(r"lineage: \d+ partitions of 2 views in the card, [1-9]\d* with ingested", out)
    assert "TrainJob churn-rt-" in out and "Complete (exit 0)" in out
    assert "promoted rt-" in out and "churn-champion serves s3://" in out
    assert "salary_transfer inverted" in out
    # Rolled back on accuracy (the line lists every finding; a p99-latency finding of the
    # fresh challenger on a busy machine may come first).
    assert "rolled back rt-" in out
    assert "accuracy" in out.split("rolled back rt-", 1)[1].split("\n", 1)[0]
    assert out.count("chain verifies") == 2
    # The traffic named each row's customer: the erasure finds and removes the erased
    # customer's rows in the shipped prediction logs, and no record is unattributed.
    logs = re.search(r"prediction-logs +found +(\d+), removed +(\d+)(.*)", out)
    assert logs, out[-3000:]
    assert int(logs.group(1)) == int(logs.group(2)) > 0, logs.group(0)
    assert "without entity ids" not in logs.group(3), logs.group(0)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["retraining_triggered"]
    assert summary["promoted"].startswith("rt-") and summary["rolled_back"].startswith("rt-")
    assert summary["promoted"] != summary["rolled_back"]
    # What it started is gone.
    pids = json.loads((workdir / "logs" / "processes.json").read_text())
    assert {"aws-moto", "retraining-controller", "alert-receiver"} <= set(pids)
    assert sum(name.startswith("trainjob-") for name in pids) == 2
    assert not [name for name, pid in pids.items() if _alive(pid)]


# --- the planned manifests, adapted to this machine ----------------------------------

NS = "tenant-acme"


def _plan(tmp_path: pathlib.Path, objects: list[dict[str, object]]) -> pathlib.Path:
    """A plan folder as ``mlplatform plan --out`` writes it, holding ``objects``."""
    import yaml

    (tmp_path / "plan" / "manifests" / NS).mkdir(parents=True, exist_ok=True)
    for obj in objects:
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        folder = tmp_path / "plan" / "manifests" / str(meta.get("namespace") or "_cluster")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{str(obj['kind']).lower()}-{meta['name']}.yaml"
        (folder / name).write_text(yaml.safe_dump(obj))
    return tmp_path / "plan"


def _drift_cronjob() -> dict[str, object]:
    from components.k8s.catalog import Registry
    from components.k8s.drift_monitor import drift_monitor_cronjob
    from contracts.names import Tier

    return drift_monitor_cronjob(
        "acme", NS, Tier.ENTERPRISE, Registry.ecr("123456789012"), "0.1.0", model="churn",
        version="1", bucket="b", kms_key_arn="arn:aws:kms:me-central-1:1:key/k",
        queue_url="https://sqs.me-central-1.amazonaws.com/1/q",
    )  # fmt: skip


def test_a_planned_container_runs_with_its_own_arguments(tmp_path: pathlib.Path) -> None:
    from workloads.lifecycle.planned import PlannedTenant

    job = _drift_cronjob()
    planned = PlannedTenant(_plan(tmp_path, [job]), NS)
    launch = planned.launch(planned.get("CronJob", "churn-drift"), workdir=tmp_path, env={})
    (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
    assert launch.argv() == ["-m", "workloads.monitoring", *container["args"]]
    assert launch.env["HOME"].startswith(str(tmp_path))  # the pod's emptyDir, a local folder


def test_a_workload_that_rejects_its_manifest_fails_the_stage(tmp_path: pathlib.Path) -> None:
    """The infrastructure renames an argument the workload does not know: the local
    step fails at once, naming the log, as ``make demo`` then does."""
    from workloads.lifecycle.planned import PlannedTenant

    job = _drift_cronjob()
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    container["args"] = [a.replace("--since=", "--window=") for a in container["args"]]
    planned = PlannedTenant(_plan(tmp_path, [job]), NS)
    launch = planned.launch(planned.get("CronJob", "churn-drift"), workdir=tmp_path, env={})
    procs = Processes(tmp_path / "logs")
    with pytest.raises(StageError, match=r"drift: exit code 2 .*unrecognized arguments: --window"):
        procs.run("drift", launch.argv(), timeout=60, env={**os.environ, **launch.env})


def test_ports_hosts_secrets_and_mounts_are_the_only_changes(tmp_path: pathlib.Path) -> None:
    from workloads.lifecycle.planned import PlannedTenant

    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "rx", "namespace": NS},
        "spec": {"template": {"spec": {
            "containers": [{
                "name": "rx", "image": "r/mlplatform/loop:1",
                "command": ["python", "-m", "workloads.alerts.webhook"],
                "args": ["--host=0.0.0.0", "--port=9095", "--audit_log=/var/lib/a/x.jsonl",
                         "--queue=sqs:https://q"],
                "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}},
                        {"name": "KEY_PEM", "value": "stack key"}],
                "volumeMounts": [{"name": "audit", "mountPath": "/var/lib/a"},
                                 {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True}],
            }],
            "volumes": [{"name": "audit", "emptyDir": {}},
                        {"name": "cfg", "configMap": {"name": "cfg"}}],
        }}},
    }  # fmt: skip
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": NS},
              "data": {"run.json": "{}"}}  # fmt: skip
    planned = PlannedTenant(_plan(tmp_path, [deployment, config]), NS)
    obj = planned.get("Deployment", "rx")
    with pytest.raises(StageError, match="env TOKEN comes from Secret s/t, which has no local"):
        planned.launch(obj, workdir=tmp_path, env={})
    launch = planned.launch(
        obj, workdir=tmp_path, env={}, secrets={("s", "t"): "local-token"},
        keys={"KEY_PEM": "local key"}, extra=["--kubeconfig=/x"],
    )  # fmt: skip
    port = launch.ports["port"]
    audit = _arg(launch.args, "audit_log")
    assert launch.args == [
        "--host=127.0.0.1",
        f"--port={port}",
        f"--audit_log={audit}",
        "--queue=sqs:https://q",
        "--kubeconfig=/x",
    ]
    assert audit.startswith(str(tmp_path)) and audit.endswith("/x.jsonl") and port != 9095
    assert launch.env == {"TOKEN": "local-token", "KEY_PEM": "local key"}
    mounted = [c for c in launch.changed if c.startswith("volume cfg")]
    (local,) = [pathlib.Path(c.rsplit(" -> ", 1)[1]) for c in mounted]
    assert (local / "run.json").read_text() == "{}"  # the ConfigMap's data, as mounted


def _arg(args: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in args if a.startswith(f"--{name}="))


def test_a_train_job_runs_as_trainer_would_run_its_node(tmp_path: pathlib.Path) -> None:
    from components.k8s.trainer import TrainingPlacement, cluster_training_runtime, train_job
    from contracts.training import RUN_COMMAND
    from workloads.lifecycle.planned import PlannedTenant

    runtime = cluster_training_runtime("r/mlplatform/training:1", {})
    job = train_job(
        "acme", NS, "churn-rt-0123", "r/mlplatform/training:1", ["--repo=/etc/repo"],
        "training", TrainingPlacement({}, (), gpus=0), command=list(RUN_COMMAND),
        env=[{"name": "FEAST_USAGE", "value": "False"}],
        volumes=[{"name": "repo", "configMap": {"name": "repo"}}],
        volume_mounts=[{"name": "repo", "mountPath": "/etc/repo", "readOnly": True}],
    )  # fmt: skip
    planned = PlannedTenant(_plan(tmp_path, [runtime]), NS)
    repo = tmp_path / "feature_repo"
    launch = planned.launch_train_job(job, workdir=tmp_path, env={}, mounts={"repo": repo})
    assert launch.argv() == [
        "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=1",
        "-m", "workloads.retraining.run", f"--repo={repo}",
    ]  # fmt: skip
    assert launch.env["FEAST_USAGE"] == "False"  # the job's patch
    assert launch.env["PYTHONUNBUFFERED"] == "1"  # the runtime's own


def test_local_pods_do_not_inherit_feasts_multiprocess_metrics_folder() -> None:
    from workloads.lifecycle.runtime import pod_environment

    env = {
        "PROMETHEUS_MULTIPROCESS_DIR": "/var/tmp/feast_metrics_abc",
        "PROMETHEUS_MULTIPROC_DIR": "/var/tmp/feast_metrics_abc",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    }
    assert pod_environment(env) == {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
    # A folder the user chose on purpose is kept.
    own = {"PROMETHEUS_MULTIPROC_DIR": "/var/run/metrics"}
    assert pod_environment(own) == own
