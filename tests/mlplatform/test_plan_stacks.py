"""Invariants over the plans of the shipped stacks, and schema validation of every manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from mlplatform.cli import main
from mlplatform.engine.output import manifests

Plan = dict[str, Any]
AWS_STACKS = ["dev", "staging", "prod"]
REPO = Path(__file__).resolve().parents[2]
SHIPPED_STACKS = sorted(
    path.name[len("Pulumi.") : -len(".yaml")] for path in (REPO / "stacks").glob("Pulumi.*.yaml")
)


def of_type(plan: Plan, type_: str) -> list[dict[str, Any]]:
    return [resource for resource in plan["resources"] if resource["type"] == type_]


def test_plan_json_has_the_contract_shape(tmp_path: Path) -> None:
    assert main(["plan", "--stack", "dev", "--out", str(tmp_path)]) == 0
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert set(plan) >= {"project", "stack", "resources"}
    assert plan["project"] == "sovereign-ml-platform" and plan["stack"] == "dev"
    for resource in plan["resources"]:
        assert set(resource) >= {
            "urn",
            "type",
            "name",
            "parent",
            "provider",
            "custom",
            "inputs",
            "options",
        }
        assert resource["urn"].startswith("urn:pulumi:dev::sovereign-ml-platform::")
        if resource["custom"] and not resource["type"].startswith("pulumi:providers:"):
            assert resource["provider"], resource["urn"]
    assert (tmp_path / "manifests").is_dir()


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_aws_provider_is_in_me_central_1(
    stack: str, stack_plan: Callable[[str], Plan]
) -> None:
    plan = stack_plan(stack)
    providers = of_type(plan, "pulumi:providers:aws")
    assert providers
    assert {provider["inputs"].get("region") for provider in providers} == {"me-central-1"}
    for resource in plan["resources"]:
        if resource["type"].startswith("aws:") and "region" in resource["inputs"]:
            assert resource["inputs"]["region"] == "me-central-1", resource["urn"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_eks_endpoint_is_private_with_secrets_encryption_and_all_logs(
    stack: str, stack_plan: Callable[[str], Plan]
) -> None:
    clusters = of_type(stack_plan(stack), "aws:eks/cluster:Cluster")
    assert len(clusters) == 1
    inputs = clusters[0]["inputs"]
    assert inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert set(inputs["enabledClusterLogTypes"]) == {
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    }
    assert float(inputs["version"]) >= 1.35


def test_prod_has_gpu_pools_tainted_and_tenant_tainted(stack_plan: Callable[[str], Plan]) -> None:
    # GPU pools are Karpenter NodePools (no node while no pod needs one).
    pools = of_type(stack_plan("prod"), "kubernetes:karpenter.sh/v1:NodePool")
    gpu_pools = [
        pool
        for pool in pools
        if pool["inputs"]["spec"]["template"]["metadata"]["labels"].get("nvidia.com/gpu.present")
    ]
    assert len(gpu_pools) >= 2, "each enterprise tenant needs GPU pools"
    for pool in gpu_pools:
        template = pool["inputs"]["spec"]["template"]["spec"]
        taints = {(taint["key"], taint["effect"]) for taint in template["taints"]}
        assert ("nvidia.com/gpu", "NoSchedule") in taints, pool["name"]
        assert any(key == "mlplatform.io/tenant" for key, _ in taints), pool["name"]
        assert "nvidia.com/gpu" in pool["inputs"]["spec"]["limits"], pool["name"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_kms_key_rotates_with_a_30_day_window(
    stack: str, stack_plan: Callable[[str], Plan]
) -> None:
    keys = of_type(stack_plan(stack), "aws:kms/key:Key")
    assert keys
    for key in keys:
        if key["inputs"].get("customerMasterKeySpec") == "HMAC_256":
            # The audit chain's MAC key: KMS cannot rotate HMAC keys (records name their key).
            assert key["inputs"]["keyUsage"] == "GENERATE_VERIFY_MAC", key["name"]
            assert key["name"].endswith("-audit-mac"), key["name"]
        else:
            assert key["inputs"]["enableKeyRotation"] is True, key["name"]
        assert key["inputs"]["deletionWindowInDays"] == 30, key["name"]
        policy = json.loads(key["inputs"]["policy"])
        for statement in policy["Statement"]:
            assert statement.get("Principal") != "*" and "*" not in json.dumps(
                statement.get("Principal", {})
            ).split('"'), key["name"]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_tenant_namespace_is_restricted_with_default_deny(
    stack: str, stack_plan: Callable[[str], Plan]
) -> None:
    plan = stack_plan(stack)
    namespaces = [
        namespace
        for namespace in of_type(plan, "kubernetes:core/v1:Namespace")
        if namespace["inputs"]["metadata"].get("labels", {}).get("mlplatform.io/tenant")
    ]
    assert namespaces
    policies = of_type(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    for namespace in namespaces:
        meta = namespace["inputs"]["metadata"]
        assert meta["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        deny = [
            policy
            for policy in policies
            if policy["inputs"]["metadata"].get("namespace") == meta["name"]
            and policy["inputs"]["spec"].get("podSelector") == {}
            and set(policy["inputs"]["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not policy["inputs"]["spec"].get("ingress")
            and not policy["inputs"]["spec"].get("egress")
        ]
        assert deny, f"{meta['name']} has no default-deny NetworkPolicy"


def test_onprem_has_no_aws_resources(stack_plan: Callable[[str], Plan]) -> None:
    plan = stack_plan("onprem")
    assert not [
        resource
        for resource in plan["resources"]
        if resource["type"].startswith("aws:") or resource["type"] == "pulumi:providers:aws"
    ]
    assert of_type(plan, "kubernetes:core/v1:Namespace")


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
@pytest.mark.parametrize("k8s_version", ["1.31.0", "1.35.0"])
def test_every_manifest_is_schema_valid(
    stack: str, k8s_version: str, stack_plan: Callable[[str], Plan]
) -> None:
    docs = manifests(stack_plan(stack))
    assert docs
    checked = 0
    for path, doc in docs:
        try:
            kubernetes_validate.validate(doc, k8s_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            # Custom resources (KServe, Prometheus operator): validated against their own models elsewhere.
            assert "." in doc["apiVersion"].split("/")[0], (
                f"{path}: no schema for a core kind {doc['kind']}"
            )
            continue
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{stack}: {path}: {exc.message} at {'/'.join(map(str, exc.path))}")
        checked += 1
    assert checked > 0
