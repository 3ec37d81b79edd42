"""Every pod of every example stack can be placed, and GPU pods only on their tenant's GPUs.

The pods are every pod template in each shipped stack's plan (Deployments, StatefulSets,
DaemonSets, Jobs, CronJobs, InferenceService predictors, the Prometheus objects) and,
per tenant, the training run the platform would start: the plan's
``ClusterTrainingRuntime`` completed by the tenant's ``TrainJob`` (:func:`train_job`
with :func:`training_placement`) and by what Kueue adds on admission (the plan's
ClusterQueue decides admission and flavor; the flavor's node labels and tolerations
are added). The node sources are the plan's managed node groups and Karpenter
NodePools (see :mod:`tests.components.placement_check`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s.kueue import LOCAL_QUEUE
from components.k8s.trainer import NODE, RUNTIME_NAME, train_job
from components.platform.batch import training_placement
from components.settings import PlatformSettings, settings_from_config
from mlplatform.engine.output import manifests
from tests.components.placement_check import (
    GPU,
    NodeSource,
    Pod,
    node_sources,
    placement_findings,
    plan_pods,
    pod_requests,
    quantity,
    why_not,
)

STACKS = Path(__file__).resolve().parents[2] / "stacks"
AWS_STACKS = ["dev", "staging", "prod"]
Plan = dict[str, Any]


def load(stack: str) -> PlatformSettings:
    path = STACKS / f"Pulumi.{stack}.yaml"
    config = yaml.safe_load(path.read_text())["config"]
    return settings_from_config(
        config, project="sovereign-ml-platform", stack=stack, stack_file=path.name
    )


def _objects(plan: Plan) -> list[dict[str, Any]]:
    return [m for _, m in manifests(plan)]


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def kueue_admission(
    objects: list[dict[str, Any]], namespace: str, requests: Mapping[str, float], nodes: int
) -> tuple[dict[str, Any] | None, str]:
    """The ResourceFlavor Kueue would admit a workload to, or None and why not."""
    local = [
        o
        for o in objects
        if o["kind"] == "LocalQueue" and o["metadata"].get("namespace") == namespace
    ]
    if not local:
        return None, f"no LocalQueue in {namespace}"
    queue = _one(objects, "ClusterQueue", local[0]["spec"]["clusterQueue"])
    selector = queue["spec"]["namespaceSelector"]["matchLabels"]
    if selector.get("kubernetes.io/metadata.name") != namespace:
        return None, f"ClusterQueue {queue['metadata']['name']} does not admit {namespace}"
    wanted = {r for r, amount in requests.items() if amount > 0 and r in ("cpu", "memory", GPU)}
    for group in queue["spec"]["resourceGroups"]:
        uncovered = wanted - set(group["coveredResources"])
        if uncovered:
            return None, f"ClusterQueue {queue['metadata']['name']} covers no {sorted(uncovered)}"
        for flavor in group["flavors"]:
            quota = {
                r["name"]: quantity(r["nominalQuota"]) + quantity(r.get("borrowingLimit", 0))
                for r in flavor["resources"]
            }
            if all(requests.get(r, 0) * nodes <= quota.get(r, 0) for r in wanted):
                return _one(objects, "ResourceFlavor", flavor["name"]), ""
    return None, "no flavor has the quota"


def training_pod(
    objects: list[dict[str, Any]], job: dict[str, Any]
) -> tuple[dict[str, Any] | None, str]:
    """The pod of one node of ``job``: runtime template + job + Kueue's admission."""
    runtime = _one(objects, "ClusterTrainingRuntime", job["spec"]["runtimeRef"]["name"])
    (replicated,) = [
        r for r in runtime["spec"]["template"]["spec"]["replicatedJobs"] if r["name"] == NODE
    ]
    spec = copy.deepcopy(replicated["template"]["spec"]["template"]["spec"])
    trainer = job["spec"]["trainer"]
    for c in spec["containers"]:
        if c["name"] == NODE:
            c["image"] = trainer.get("image", c["image"])
            c["resources"] = trainer["resourcesPerNode"]
    for patch in job["spec"].get("runtimePatches") or []:
        for rj in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
            pod_patch = rj["template"]["spec"]["template"]["spec"]
            spec["nodeSelector"] = {
                **spec.get("nodeSelector", {}),
                **pod_patch.get("nodeSelector", {}),
            }
            spec["tolerations"] = [*spec.get("tolerations", []), *pod_patch.get("tolerations", [])]
    flavor, why = kueue_admission(
        objects, job["metadata"]["namespace"], pod_requests(spec), trainer.get("numNodes", 1)
    )
    if flavor is None:
        return None, why
    spec["nodeSelector"] = {**spec.get("nodeSelector", {}), **flavor["spec"].get("nodeLabels", {})}
    spec["tolerations"] = [*spec.get("tolerations", []), *flavor["spec"].get("tolerations", [])]
    return spec, ""


def stack_pods(plan: Plan, settings: PlatformSettings) -> list[Pod]:
    """Every pod template of the plan, plus one training node per tenant."""
    objects = _objects(plan)
    pods = list(plan_pods(objects))
    for tenant in settings.tenants:
        job = train_job(
            tenant.name,
            tenant.namespace,
            f"{tenant.name}-run",
            "registry.example/mlplatform/training:0.1.0",
            ["--repo", "/repo"],
            LOCAL_QUEUE,
            training_placement(settings, tenant),
        )
        spec, why = training_pod(objects, job)
        assert spec is not None, f"TrainJob {tenant.namespace}/{tenant.name}-run: {why}"
        pods.append(Pod(f"TrainJob/{tenant.namespace}/{tenant.name}-run", tenant.namespace, spec))
    return pods


def _sources(plan: Plan, settings: PlatformSettings) -> list[NodeSource]:
    return node_sources(plan, settings.zone_ids)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_pod_of_the_plan_can_be_placed(stack: str, stack_plan: Callable[[str], Plan]) -> None:
    plan, settings = stack_plan(stack), load(stack)
    pods = stack_pods(plan, settings)
    sources = _sources(plan, settings)
    tenants = {t.namespace: t.name for t in settings.tenants}
    assert placement_findings(pods, sources, settings.region, tenants) == []
    kinds = {p.where.split("/")[0] for p in pods}
    assert {"Deployment", "CronJob", "InferenceService", "TrainJob"} <= kinds, kinds
    gpu_pods = [p for p in pods if pod_requests(p.spec).get(GPU, 0) > 0]
    enterprise = [t for t in settings.tenants if t.tier.value == "enterprise"]
    assert bool(gpu_pods) == bool(enterprise)


def test_onprem_pods_impose_no_platform_pools(stack_plan: Callable[[str], Plan]) -> None:
    """On an existing cluster the pools are the operator's: no pod may require ours."""
    for pod in plan_pods(_objects(stack_plan("onprem"))):
        selector = pod.spec.get("nodeSelector") or {}
        assert not [k for k in selector if k.startswith("mlplatform.io/")], pod.where


def test_a_planted_gpu_pod_without_a_matching_pool_fails_naming_the_pod(
    stack_plan: Callable[[str], Plan],
) -> None:
    plan, settings = stack_plan("staging"), load("staging")
    sources = _sources(plan, settings)
    gpu_request = {"requests": {"cpu": "1", "memory": "1Gi", GPU: "1"}, "limits": {GPU: "1"}}
    smb = next(t for t in settings.tenants if t.tier.value == "smb")
    planted = Pod(
        f"Deployment/{smb.namespace}/planted-gpu",
        smb.namespace,
        {
            "containers": [{"name": "c", "image": "x:1", "resources": gpu_request}],
            "nodeSelector": {"mlplatform.io/purpose": "shared"},
            "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
        },
    )
    findings = placement_findings([planted], sources, settings.region, {smb.namespace: smb.name})
    assert len(findings) == 1
    assert findings[0].startswith(f"Deployment/{smb.namespace}/planted-gpu: no node source")
    assert "NodePool smb-cpu: requests nvidia.com/gpu=1 > 0 allocatable" in findings[0]
    # The same pod in an enterprise namespace selecting another tenant's GPU pool.
    spec = copy.deepcopy(planted.spec)
    spec["nodeSelector"] = {"mlplatform.io/purpose": "inference", "mlplatform.io/tenant": "other"}
    other = placement_findings(
        [Pod("Deployment/tenant-gulf-bank/wrong", "tenant-gulf-bank", spec)],
        sources,
        settings.region,
        {"tenant-gulf-bank": "gulf-bank"},
    )
    assert other and "mlplatform.io/tenant=other not on its nodes" in other[0]


def test_smb_training_that_asks_for_gpus_is_never_admitted(
    stack_plan: Callable[[str], Plan],
) -> None:
    plan, settings = stack_plan("staging"), load("staging")
    smb = next(t for t in settings.tenants if t.tier.value == "smb")
    placement = training_placement(settings, smb)
    job = train_job(
        smb.name, smb.namespace, "greedy", "img:1", ["--repo", "/r"], LOCAL_QUEUE, placement
    )
    job["spec"]["trainer"]["resourcesPerNode"]["requests"][GPU] = "1"
    spec, why = training_pod(_objects(plan), job)
    assert spec is None
    assert why == f"ClusterQueue tenant-{smb.name} covers no ['{GPU}']"


def test_gpu_node_agents_reach_every_gpu_node_source(stack_plan: Callable[[str], Plan]) -> None:
    """The device plugin and DCGM DaemonSets (Helm values) tolerate and select every GPU pool."""
    plan, settings = stack_plan("prod"), load("prod")
    releases = {
        r["inputs"]["name"]: r["inputs"].get("values") or {}
        for r in plan["resources"]
        if r["type"] == "kubernetes:helm.sh/v3:Release"
    }
    gpu_sources = [s for s in _sources(plan, settings) if s.has_gpus]
    assert gpu_sources
    for release in ("nvidia-device-plugin", "dcgm-exporter"):
        values = releases[release]
        agent = {
            "nodeSelector": values["nodeSelector"],
            "affinity": values["affinity"],
            "tolerations": values["tolerations"],
            "containers": [],
        }
        assert {s.name: why_not(agent, s, settings.region) for s in gpu_sources} == {
            s.name: None for s in gpu_sources
        }, release


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_training_pools_fit_the_quota_kueue_can_admit(
    stack: str, stack_plan: Callable[[str], Plan]
) -> None:
    """A tenant's nominal plus borrowable GPUs never exceed its training pool's limit."""
    objects = _objects(stack_plan(stack))
    for queue in (o for o in objects if o["kind"] == "ClusterQueue"):
        tenant = queue["metadata"]["labels"]["mlplatform.io/tenant"]
        for group in queue["spec"]["resourceGroups"]:
            for flavor in group["flavors"]:
                gpus = {r["name"]: r for r in flavor["resources"]}.get(GPU)
                if gpus is None:
                    continue
                pool = _one(objects, "NodePool", f"{tenant}-train")
                admitted = quantity(gpus["nominalQuota"]) + quantity(gpus["borrowingLimit"])
                assert admitted <= quantity(pool["spec"]["limits"][GPU]), tenant
        assert RUNTIME_NAME
