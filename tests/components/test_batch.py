"""Karpenter pools, Kueue queues and Trainer from the tier presets: builders, policy, wiring."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components._util import wildcard_findings
from components.cluster_karpenter import controller_policy, queue_key_policy, queue_policy
from components.k8s import invariants, karpenter, kueue, trainer
from components.k8s.catalog import CHARTS
from components.platform.batch import kueue_flavors_and_queues, training_placement
from components.platform.sizing import (
    Capacity,
    karpenter_pool_plans,
    single_zone_gpu_notes,
    training_flavors,
    training_quotas,
)
from components.settings import ConfigError, PlatformSettings, settings_from_config

STACKS = Path(__file__).resolve().parents[2] / "stacks"
PROJECT = "sovereign-ml-platform"
REG = "123456789012.dkr.ecr.me-central-1.amazonaws.com"
Plan = dict[str, Any]


def config(stack: str) -> dict[str, Any]:
    return dict(yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"])


def load(stack: str, **changes: Any) -> PlatformSettings:
    raw = config(stack)
    raw.update({f"{PROJECT}:{k}": v for k, v in changes.items()})
    return settings_from_config(
        raw, project=PROJECT, stack=stack, stack_file=f"Pulumi.{stack}.yaml"
    )


# --- sizing -------------------------------------------------------------------------------


def test_pools_from_the_tier_presets() -> None:
    plans = {p.pool: p for p in karpenter_pool_plans(load("prod"))}
    assert set(plans) == {
        "smb-cpu", "smb-train",
        "gulf-bank-cpu", "gulf-bank-gpu", "gulf-bank-train",
        "emirates-health-cpu", "emirates-health-gpu", "emirates-health-train",
    }  # fmt: skip
    assert plans["smb-cpu"].capacity_types == ("on-demand",)
    assert plans["smb-train"].capacity_types == ("spot", "on-demand")
    assert plans["smb-train"].zone_ids == ("mec1-az1", "mec1-az3")
    # g6/g6e exist only in mec1-az1 once mec1-az2 is excluded: single-zone GPU pools.
    assert plans["gulf-bank-gpu"].zone_ids == ("mec1-az1",)
    assert plans["gulf-bank-gpu"].instance_types == ("g6.xlarge",)
    # GPU limits are the tenant's GPU quota (8), CPU/memory its quota plus one node.
    assert plans["gulf-bank-gpu"].limits == Capacity(32, 128, 8)
    assert plans["gulf-bank-cpu"].limits == Capacity(48, 192, 0)
    # SMB CPU: 3 nodes per SMB tenant, at most both SMB quotas plus one node.
    assert plans["smb-cpu"].limits == Capacity(32, 128, 0)  # (8+16, 32+64) + m6i.2xlarge
    for plan in plans.values():
        assert ("nvidia.com/gpu" in {t.key for t in plan.taints}) is (plan.kind.value == "gpu")


def test_single_zone_gpu_pools_are_said_out_loud() -> None:
    notes = single_zone_gpu_notes(karpenter_pool_plans(load("staging")))
    assert notes == [
        "GPU pool gulf-bank-gpu (g6.xlarge) can launch only in mec1-az1: the only healthy "
        "zone offering these types. Its pods survive a node loss, not a zone loss.",
        "GPU pool gulf-bank-train (g6e.xlarge) can launch only in mec1-az1: the only healthy "
        "zone offering these types. Its pods survive a node loss, not a zone loss.",
    ]


def test_p5en_training_launches_into_the_reservation_only() -> None:
    settings = load(
        "staging",
        tenants=[
            {"name": "souk-analytics", "tier": "smb"},
            {
                "name": "gulf-bank",
                "tier": "enterprise",
                "overrides": {
                    "training_instance_types": ["p5en.48xlarge"],
                    "training_capacity_reservation_id": "cr-0123456789abcdef0",
                    "quota": {"cpu": 400, "memory_gib": 4096, "gpus": 24, "pods": 200},
                },
            },
        ],
    )
    plans = {p.pool: p for p in karpenter_pool_plans(settings)}
    train = plans["gulf-bank-train"]
    assert train.capacity_types == ("reserved",)
    assert train.node_class == "gulf-bank-reserved"
    assert train.capacity_reservation_id == "cr-0123456789abcdef0"
    assert train.zone_ids == ("mec1-az1", "mec1-az3")
    quota = {q.tenant: q for q in training_quotas(settings)}["gulf-bank"]
    assert quota.flavor == "gpu-reserved"
    assert quota.nominal.gpus == 16  # 2 nodes x 8 H200
    assert train.limits.gpus == 24  # nominal + borrowing, capped by the GPU quota
    flavors = {f.name: f for f in training_flavors(settings)}
    assert flavors["gpu-reserved"].node_labels["karpenter.sh/capacity-type"] == "reserved"
    node_class = karpenter.ec2_node_class(
        karpenter.NodeClassSpec(
            name=train.node_class,
            cluster_name="c",
            instance_profile="p",
            ebs_kms_key_arn="arn:aws:kms:me-central-1:123456789012:key/k",
            capacity_reservation_ids=(train.capacity_reservation_id or "",),
        ),
        {},
    )
    assert node_class["spec"]["capacityReservationSelectorTerms"] == [
        {"id": "cr-0123456789abcdef0"}
    ]


# --- settings: GPU offering errors --------------------------------------------------------


def test_a_gpu_choice_without_an_offering_in_a_healthy_zone_is_one_line() -> None:
    # mec1-az2 is lost in the shipped region data, so mec1-az1 is the only healthy zone
    # offering the enterprise GPU types.
    network = {
        "cidr": "10.20.0.0/16",
        "zone_ids": ["mec1-az1", "mec1-az3"],
        "excluded_zone_ids": [],
    }
    ok = load("staging", network=network)
    assert [p.zone_ids for p in karpenter_pool_plans(ok) if p.pool == "gulf-bank-gpu"] == [
        ("mec1-az1",)
    ]
    with pytest.raises(ConfigError) as info:
        load(
            "staging",
            network={
                **network,
                "zone_ids": ["mec1-az1", "mec1-az3"],
                "excluded_zone_ids": ["mec1-az1"],
            },
        )
    lines = [line for line in info.value.lines if "GPU choice" in line]
    assert lines == [
        "Pulumi.staging.yaml: sovereign-ml-platform:tenants[1].overrides.gpu_instance_types: "
        "the enterprise tier's GPU choice (g6.xlarge) has no offering in any healthy zone of "
        "the stack (mec1-az3; offered in: mec1-az1, mec1-az2); set gpu_instance_types to GPU "
        "types offered there: p5en.48xlarge",
        "Pulumi.staging.yaml: sovereign-ml-platform:tenants[1].overrides.training_instance_types: "
        "the enterprise tier's GPU choice (g6e.xlarge) has no offering in any healthy zone of "
        "the stack (mec1-az3; offered in: mec1-az1, mec1-az2); set training_instance_types to "
        "GPU types offered there: p5en.48xlarge",
    ]


# --- Kueue ----------------------------------------------------------------------------------


def test_queues_follow_the_tiers() -> None:
    flavors, queues = kueue_flavors_and_queues(load("prod"))
    assert [f.name for f in flavors] == ["smb-train", "gpu-train"]
    by_tenant = {q.tenant: q for q in queues}
    smb = kueue.cluster_queue(by_tenant["souk-analytics"], {})
    assert smb["spec"]["resourceGroups"][0]["coveredResources"] == ["cpu", "memory"]
    assert "cohortName" not in smb["spec"]
    assert smb["spec"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "tenant-souk-analytics"}
    }
    bank = kueue.cluster_queue(by_tenant["gulf-bank"], {})
    assert bank["spec"]["cohortName"] == "enterprise"
    (flavor,) = bank["spec"]["resourceGroups"][0]["flavors"]
    gpu = {r["name"]: r for r in flavor["resources"]}["nvidia.com/gpu"]
    assert gpu == {
        "name": "nvidia.com/gpu",
        "nominalQuota": "2",
        "borrowingLimit": "2",
        "lendingLimit": "1",
    }
    assert bank["spec"]["preemption"] == {
        "withinClusterQueue": "LowerPriority",
        "reclaimWithinCohort": "Any",
        "borrowWithinCohort": {"policy": "Never"},
    }
    local = kueue.local_queue(by_tenant["gulf-bank"], {})
    assert local["metadata"] == {
        "name": "training",
        "namespace": "tenant-gulf-bank",
        "labels": {},
    }
    with pytest.raises(ValueError, match="GPU queue needs GPU quota"):
        kueue.cluster_queue(
            kueue.TenantQueue("x", "tenant-x", "f", kueue.Quota(1, 1, 0), gpu=True), {}
        )


def test_kueue_manages_training_in_tenant_namespaces_only() -> None:
    config = yaml.safe_load(kueue.manager_config())
    assert config["integrations"]["frameworks"] == [
        "trainer.kubeflow.org/trainjob",
        "jobset.x-k8s.io/jobset",
    ]
    assert config["manageJobsWithoutQueueName"] is True
    assert config["managedJobsNamespaceSelector"] == {
        "matchExpressions": [{"key": "mlplatform.io/tenant", "operator": "Exists"}]
    }
    assert config["waitForPodsReady"]["timeout"] == "20m"


def test_onprem_queues_use_one_default_flavor() -> None:
    flavors, queues = kueue_flavors_and_queues(load("onprem"))
    assert [(f.name, dict(f.node_labels)) for f in flavors] == [("default", {})]
    assert {q.flavor for q in queues} == {"default"}
    assert training_placement(load("onprem"), load("onprem").tenants[1]).node_selector == {}


# --- Trainer --------------------------------------------------------------------------------


def test_the_runtime_pod_is_restricted_and_never_disrupted() -> None:
    runtime = trainer.cluster_training_runtime("reg/mlplatform/training:0.1.0", {})
    assert runtime["spec"]["mlPolicy"] == {"numNodes": 1, "torch": {}}
    (job,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    template = job["template"]["spec"]["template"]
    assert template["metadata"]["annotations"] == {"karpenter.sh/do-not-disrupt": "true"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": template["spec"]}
    assert invariants.restricted_findings(pod) == []
    node = template["spec"]["containers"][0]
    assert node["name"] == "node" and node["command"] == ["torchrun", "-m", "workloads.training"]
    assert template["spec"]["nodeSelector"] == {"mlplatform.io/purpose": "training"}


def test_training_placement_per_tier() -> None:
    settings = load("prod")
    tenants = {t.name: t for t in settings.tenants}
    bank = training_placement(settings, tenants["gulf-bank"])
    assert bank.node_selector == {
        "mlplatform.io/purpose": "training",
        "mlplatform.io/tenant": "gulf-bank",
        "nvidia.com/gpu.present": "true",
    }
    assert bank.gpus == 1 and bank.cpu == "3" and bank.memory == "24Gi"
    assert bank.service_account == "gulf-bank-training"
    smb = training_placement(settings, tenants["souk-analytics"])
    assert smb.gpus == 0 and smb.node_selector == {"mlplatform.io/purpose": "training"}
    assert smb.tolerations == [
        {
            "key": "mlplatform.io/purpose",
            "operator": "Equal",
            "value": "training",
            "effect": "NoSchedule",
        }
    ]


# --- Karpenter ------------------------------------------------------------------------------


def _policy(**extra: Any) -> dict[str, Any]:
    return controller_policy(
        partition="aws",
        region="me-central-1",
        account_id="123456789012",
        cluster_name="sovereign-ml-platform-prod",
        node_role_arn="arn:aws:iam::123456789012:role/nodes",
        instance_profile_arn="arn:aws:iam::123456789012:instance-profile/nodes",
        queue_arn="arn:aws:sqs:me-central-1:123456789012:q",
        queue_key_arn="arn:aws:kms:me-central-1:123456789012:key/k",
        **extra,
    )


def test_the_controller_policy_is_least_privilege() -> None:
    policy = _policy()
    # Only the Describe* calls (which support no resource ARNs) have Resource "*".
    assert [f for f in wildcard_findings(policy) if "Statement[9]" not in f] == []
    assert policy["Statement"][9]["Sid"] == "DescribeThisRegion"
    actions = {
        a
        for s in policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not [a for a in actions if "*" in a]
    assert not {a for a in actions if a.startswith(("iam:Create", "iam:Delete", "iam:Tag"))}
    assert "pricing:GetProducts" not in actions  # isolated VPC: never leaves the country
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        acts = (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
        writes = [a for a in acts if not a.split(":")[1].startswith(("Get", "Describe", "List"))]
        if writes and any(r == "*" or r.endswith("/*") for r in resources):
            assert statement.get("Condition"), statement["Sid"]
        assert all("me-central-1" in r or ":iam::" in r or r == "*" for r in resources)
    sids = {s["Sid"] for s in policy["Statement"]}
    assert "LaunchIntoOwnReservations" not in sids
    reserved = _policy(capacity_reservation_ids=["cr-0123456789abcdef0"])
    (statement,) = [s for s in reserved["Statement"] if s["Sid"] == "LaunchIntoOwnReservations"]
    assert statement["Resource"] == [
        "arn:aws:ec2:me-central-1:123456789012:capacity-reservation/cr-0123456789abcdef0"
    ]


def test_the_interruption_queue_admits_only_this_clusters_rules() -> None:
    policy = queue_policy("arn:q", ["arn:rule-b", "arn:rule-a"])
    allow = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "EventBridgeRulesOfThisCluster",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": "arn:q",
            "Condition": {"ArnEquals": {"aws:SourceArn": ["arn:rule-a", "arn:rule-b"]}},
        }
    ]
    key = queue_key_policy(account_id="123456789012", region="me-central-1", partition="aws")
    events = [
        s for s in key["Statement"] if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert events[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_node_classes_and_pools_are_hardened() -> None:
    with pytest.raises(ValueError, match="reserved by Karpenter"):
        karpenter.ec2_node_class(
            karpenter.NodeClassSpec("x", "c", "p", "k", tags={"karpenter.sh/nodepool": "x"}), {}
        )
    with pytest.raises(ValueError, match="restricted domain"):
        karpenter.node_pool(
            karpenter.NodePoolSpec(
                "p", "cpu", ["m6i.xlarge"], ["mec1-az1"], ["spot"],
                {"karpenter.sh/custom": "x"}, [], {},
            ),
            {},
        )  # fmt: skip
    assert karpenter.disruption(training=True)["consolidationPolicy"] == "WhenEmpty"
    assert {"nodes": "0", "reasons": ["Drifted", "Underutilized"]} in karpenter.disruption(
        training=True
    )["budgets"]


def test_the_controller_runs_on_the_system_pool_without_the_pricing_api() -> None:
    values = karpenter.controller_values(
        registry_repository=f"{REG}/public.ecr.aws/karpenter/controller",
        tag="1.13.0",
        digest="sha256:" + "0" * 64,
        cluster_name="c",
        cluster_endpoint="https://c",
        interruption_queue="q",
        role_arn="arn:aws:iam::123456789012:role/k",
        replicas=1,
        system_selector={"mlplatform.io/purpose": "system"},
    )
    assert values["nodeSelector"] == {
        "kubernetes.io/os": "linux",
        "mlplatform.io/purpose": "system",
    }
    assert values["settings"]["isolatedVPC"] is True
    assert values["settings"]["interruptionQueue"] == "q"
    assert invariants.helm_values_findings(values, REG) == []


# --- the plans ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_cluster_wide_releases_are_pinned_and_mirrored(
    stack: str, stack_plan: Callable[[str], Plan]
) -> None:
    plan = stack_plan(stack)
    releases = {
        r["inputs"]["chart"].rsplit("/", 1)[-1]: r["inputs"]
        for r in plan["resources"]
        if r["type"] == "kubernetes:helm.sh/v3:Release"
    }
    expected = {"kueue", "kubeflow-trainer"} | ({"karpenter"} if stack != "onprem" else set())
    assert expected <= set(releases)
    if stack == "onprem":
        assert "karpenter" not in releases
    for name in expected:
        release = releases[name]
        assert release["version"] == CHARTS[name].version and release["atomic"] is True
        host = release["chart"].split("/")[2]
        assert invariants.helm_values_findings(release.get("values") or {}, host) == []
    namespaces = {
        r["inputs"]["metadata"]["name"]: r["inputs"]["metadata"]["labels"]
        for r in plan["resources"]
        if r["type"] == "kubernetes:core/v1:Namespace"
    }
    for ns in ("kueue-system", "kubeflow-system", *(["karpenter"] if stack != "onprem" else [])):
        assert namespaces[ns]["pod-security.kubernetes.io/enforce"] == "restricted", ns


def test_karpenter_aws_side_in_prod(stack_plan: Callable[[str], Plan]) -> None:
    plan = stack_plan("prod")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in plan["resources"]:
        by_type.setdefault(r["type"], []).append(r)
    (queue,) = [
        q for q in by_type["aws:sqs/queue:Queue"] if q["inputs"]["name"].endswith("-karpenter")
    ]
    assert queue["inputs"]["kmsMasterKeyId"].startswith("arn:aws:kms:me-central-1:")
    rules = [r for r in by_type["aws:cloudwatch/eventRule:EventRule"] if "karpenter" in r["name"]]
    patterns = {json.loads(r["inputs"]["eventPattern"])["detail-type"][0] for r in rules}
    assert "EC2 Spot Instance Interruption Warning" in patterns and len(patterns) == 5
    (entry,) = [
        e for e in by_type["aws:eks/accessEntry:AccessEntry"] if e["inputs"]["type"] == "EC2_LINUX"
    ]
    tags = [t["inputs"] for t in by_type["aws:ec2/tag:Tag"]]
    assert {t["key"] for t in tags} == {"karpenter.sh/discovery"}
    assert len(tags) == 3  # two healthy-zone node subnets + the cluster security group
    assert entry["inputs"]["clusterName"] == "sovereign-ml-platform-prod"
