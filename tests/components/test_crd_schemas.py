"""Every custom resource of every example stack against its pinned upstream CRD schema.

Karpenter (NodePool, EC2NodeClass), Kueue (ResourceFlavor, ClusterQueue, LocalQueue),
Kubeflow Trainer (ClusterTrainingRuntime, and the TrainJobs :func:`train_job` builds),
KServe (InferenceService, ServingRuntime) and the Prometheus operator (Prometheus,
PodMonitor, ServiceMonitor, PrometheusRule, AlertmanagerConfig): schemas vendored from
the pinned tags under ``upstream/crds/``. Unknown fields fail (the API server would prune
them silently).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.k8s import karpenter, kueue
from components.k8s.trainer import TrainingPlacement, train_job
from mlplatform.engine.output import manifests
from tests.components import crd_validation
from tests.conftest import SHIPPED_STACKS

Plan = dict[str, Any]


def _custom(plan: Plan) -> list[dict[str, Any]]:
    return [m for _, m in manifests(plan) if crd_validation.is_custom(m)]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_custom_resource_of_the_plan_is_schema_valid(
    stack: str, stack_plan: Callable[[str], Plan]
) -> None:
    objects = _custom(stack_plan(stack))
    assert objects
    findings = [f for m in objects for f in crd_validation.crd_findings(m)]
    assert findings == []


def test_prod_has_the_autoscaling_quota_and_training_objects(
    stack_plan: Callable[[str], Plan],
) -> None:
    kinds = {m["kind"] for m in _custom(stack_plan("prod"))}
    assert kinds >= {
        "EC2NodeClass",
        "NodePool",
        "ResourceFlavor",
        "ClusterQueue",
        "LocalQueue",
        "ClusterTrainingRuntime",
        "InferenceService",
        "ServingRuntime",
        "Prometheus",
        "PodMonitor",
        "ServiceMonitor",
        "PrometheusRule",
        "AlertmanagerConfig",
    }


def test_every_vendored_schema_names_its_source_and_version() -> None:
    for path in sorted(crd_validation.CRD_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        assert record["source"].startswith("https://github.com/"), path.name
        assert record["ref"] and len(record["source_sha256"]) == 64, path.name
        assert path.name == (
            f"{record['group']}_{path.name.split('_')[1]}_{record['version']}.json"
        )


def test_train_jobs_are_schema_valid() -> None:
    gpu = TrainingPlacement(
        {"mlplatform.io/purpose": "training", "mlplatform.io/tenant": "acme"},
        [
            {
                "key": "mlplatform.io/tenant",
                "operator": "Equal",
                "value": "acme",
                "effect": "NoSchedule",
            }
        ],
        cpu="3",
        memory="24Gi",
        gpus=1,
        num_nodes=2,
        service_account="acme-training",
    )
    job = train_job(
        "acme",
        "tenant-acme",
        "acme-retrain-1",
        "reg.example/mlplatform/training-cuda:0.1.0",
        ["--repo", "/repo", "--out", "/tmp/out"],
        kueue.LOCAL_QUEUE,
        gpu,
        command=["torchrun", "-m", "workloads.retraining.run"],
        env=[{"name": "FEAST_USAGE", "value": "False"}],
        volumes=[{"name": "repo", "configMap": {"name": "acme-feature-repo"}}],
        volume_mounts=[{"name": "repo", "mountPath": "/repo", "readOnly": True}],
    )
    assert crd_validation.crd_findings(job) == []
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "training"
    assert job["spec"]["trainer"]["numProcPerNode"] == 1
    plain = train_job("s", "tenant-s", "s-1", "img:1", ["--repo", "/r"], "training")
    assert crd_validation.crd_findings(plain) == []
    assert "runtimePatches" not in plain["spec"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda m: m["spec"]["disruption"].__setitem__("consolidateAftr", "5m"),
            "Additional properties are not allowed ('consolidateAftr' was unexpected)",
        ),
        (
            lambda m: m["spec"]["disruption"].__setitem__("consolidationPolicy", "Sometimes"),
            "'Sometimes' is not one of ['WhenEmpty', 'WhenEmptyOrUnderutilized']",
        ),
        (
            lambda m: m["spec"]["template"]["spec"].pop("nodeClassRef"),
            "'nodeClassRef' is a required property",
        ),
        (
            lambda m: m["spec"]["template"]["spec"]["requirements"][0].__setitem__("values", "x"),
            "'x' is not of type 'array'",
        ),
    ],
)
def test_an_invalid_node_pool_fails(mutate: Callable[[dict[str, Any]], Any], expected: str) -> None:
    pool = karpenter.node_pool(
        karpenter.NodePoolSpec(
            name="p",
            node_class="cpu",
            instance_types=["m6i.xlarge"],
            zone_ids=["mec1-az1"],
            capacity_types=["on-demand"],
            node_labels={"mlplatform.io/pool": "p"},
            taints=[],
            limits={"cpu": "8"},
        ),
        {},
    )
    assert crd_validation.crd_findings(pool) == []
    bad = copy.deepcopy(pool)
    mutate(bad)
    findings = crd_validation.crd_findings(bad)
    assert len(findings) == 1 and expected in findings[0], findings


def test_kinds_without_a_vendored_schema_fail() -> None:
    assert crd_validation.crd_findings(
        {"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {"name": "t"}}
    ) == ["example.io/v1/Thing t: no vendored CRD schema (tests/components/upstream)"]


def test_vendored_files_stay_small() -> None:
    total = sum(p.stat().st_size for p in crd_validation.CRD_DIR.glob("*.json"))
    assert total < 1_500_000
    assert Path(crd_validation.CRD_DIR.parent / "vendor.py").is_file()
