"""Node pools: hardened launch templates, GPU and tenant taints, AMI types, bounds."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components.nodepools import (
    CapacityType,
    NodePool,
    NodePoolArgs,
    NodeRole,
    NodeRoleArgs,
    PoolKind,
    Taint,
    ami_type_for,
    is_arm,
    launch_template_spec,
    pod_scheduling,
    pool_labels,
    pool_taints,
)

KEY = "arn:aws:kms:me-central-1:123456789012:key/ebs"


BASE_ARGS = NodePoolArgs(
    cluster_name="dev",
    node_role_arn="arn:aws:iam::123456789012:role/nodes",
    subnet_ids=["subnet-a", "subnet-b"],
    instance_types=["m6i.xlarge"],
    ebs_kms_key_arn=KEY,
)


def _args(**overrides: Any) -> NodePoolArgs:
    return dataclasses.replace(BASE_ARGS, **overrides)


@pytest.mark.parametrize(
    ("instance_type", "arm"),
    [
        ("m7g.large", True),
        ("c6gn.xlarge", True),
        ("m6i.xlarge", False),
        ("g5.xlarge", False),
        ("g6e.2xlarge", False),
        ("p5en.48xlarge", False),
        ("m7gd.medium", True),
    ],
)
def test_arch_detection(instance_type: str, arm: bool) -> None:
    assert is_arm(instance_type) is arm


def test_ami_types() -> None:
    assert ami_type_for(PoolKind.GPU, ["g6.xlarge", "g5.xlarge"]) == "AL2023_x86_64_NVIDIA"
    assert ami_type_for(PoolKind.CPU, ["m6i.xlarge"]) == "AL2023_x86_64_STANDARD"
    assert ami_type_for(PoolKind.CPU, ["m7g.large"]) == "AL2023_ARM_64_STANDARD"
    with pytest.raises(ValueError, match="mixes x86_64 and arm64"):
        ami_type_for(PoolKind.CPU, ["m7g.large", "m6i.large"])


def test_taints_and_labels() -> None:
    gpu = [taint.to_args() for taint in pool_taints(PoolKind.GPU, "acme")]
    assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in gpu
    assert {"key": "mlplatform.io/tenant", "value": "acme", "effect": "NO_SCHEDULE"} in gpu
    assert pool_taints(PoolKind.CPU, None) == []
    labels = pool_labels("p", PoolKind.GPU, "inference", "acme", {})
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["mlplatform.io/tenant"] == "acme"


def test_launch_template_spec_is_hardened() -> None:
    spec = launch_template_spec(ebs_kms_key_arn=KEY, disk_gib=200, tags={})
    metadata_options = spec["metadata_options"]
    assert metadata_options["http_tokens"] == "required"
    assert metadata_options["http_put_response_hop_limit"] == 1
    ebs = spec["block_device_mappings"][0]["ebs"]
    assert (ebs["encrypted"], ebs["kms_key_id"], ebs["volume_type"]) == ("true", KEY, "gp3")
    assert "key_name" not in spec


def test_gpu_pool_registration(run_program) -> None:
    mocks = run_program(
        lambda: NodePool(
            "acme-gpu",
            _args(
                kind=PoolKind.GPU,
                instance_types=["g6.xlarge"],
                min_size=0,
                max_size=4,
                tenant="acme",
                purpose="inference",
            ),
        )
    )
    (template,) = mocks.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    assert template.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    ebs = template.inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs["encrypted"] == "true"
    assert ebs["kmsKeyId"] == KEY
    assert "keyName" not in template.inputs
    (node_group,) = mocks.of_type("aws:eks/nodeGroup:NodeGroup")
    assert node_group.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in node_group.inputs[
        "taints"
    ]
    assert node_group.inputs["scalingConfig"] == {"minSize": 0, "maxSize": 4, "desiredSize": 0}
    assert node_group.inputs["launchTemplate"]["version"] == "1"
    assert node_group.inputs["capacityType"] == "ON_DEMAND"
    assert "remoteAccess" not in node_group.inputs


def test_spot_cpu_pool(run_program) -> None:
    mocks = run_program(
        lambda: NodePool("train", _args(capacity_type=CapacityType.SPOT, min_size=0))
    )
    (node_group,) = mocks.of_type("aws:eks/nodeGroup:NodeGroup")
    assert node_group.inputs["capacityType"] == "SPOT"
    assert not node_group.inputs.get("taints")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_size": 3, "max_size": 2}, "scaling bounds"),
        ({"desired_size": 9}, "desired_size=9"),
        ({"instance_types": []}, "at least one instance type"),
        ({"capacity_reservation_id": "cr-1", "capacity_type": CapacityType.SPOT}, "not SPOT"),
        ({"kind": PoolKind.GPU, "instance_types": ["m7g.large"]}, "GPU pools use x86_64"),
    ],
)
def test_bad_pools(run_program, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_program(lambda: NodePool("bad", _args(**overrides)))


def test_node_role_is_minimal(run_program) -> None:
    mocks = run_program(lambda: NodeRole("nodes", NodeRoleArgs()))
    arns = {
        attachment.inputs["policyArn"]
        for attachment in mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert arns == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    }


def test_pod_scheduling_matches_pool_taints_and_labels() -> None:
    """A pod built with pod_scheduling tolerates every taint of its pool and matches its labels."""
    cases = [
        ({"tenant": "acme", "gpu": True}, PoolKind.GPU, "acme", "inference", ()),
        ({"tenant": "acme"}, PoolKind.CPU, "acme", "inference", ()),
        ({"tenant": "acme", "gpu": True, "training": True}, PoolKind.GPU, "acme", "training", ()),
        ({"tenant": None}, PoolKind.CPU, None, "shared", ()),
        (
            {"tenant": None, "training": True},
            PoolKind.CPU,
            None,
            "training",
            (Taint("mlplatform.io/purpose", "training"),),
        ),
    ]
    effects = {"NO_SCHEDULE": "NoSchedule"}
    for kwargs, kind, tenant, purpose, extra in cases:
        scheduling = pod_scheduling(**kwargs)
        labels = pool_labels("p", kind, purpose, tenant, {})
        selector = scheduling["nodeSelector"]
        assert all(labels.get(key) == value for key, value in selector.items()), kwargs
        for taint in [*pool_taints(kind, tenant), *extra]:
            assert any(
                toleration["key"] == taint.key
                and toleration["effect"] == effects[taint.effect]
                and (toleration["operator"] == "Exists" or toleration["value"] == taint.value)
                for toleration in scheduling["tolerations"]
            ), (kwargs, taint)
    with pytest.raises(ValueError, match="enterprise-only"):
        pod_scheduling(tenant=None, gpu=True)
