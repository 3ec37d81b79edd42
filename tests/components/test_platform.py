"""Platform composition over every shipped stack file: the cross-cutting invariants."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from components._util import wildcard_findings
from components.platform import Platform, pool_zone_ids
from mlplatform.settings import PlatformSettings, settings_from_config

STACKS = Path(__file__).resolve().parents[2] / "stacks"
PROJECT = "sovereign-ml-platform"


def load(stack: str) -> PlatformSettings:
    path = STACKS / f"Pulumi.{stack}.yaml"
    config = yaml.safe_load(path.read_text())["config"]
    return settings_from_config(config, project=PROJECT, stack=stack, stack_file=path.name)


def build(run_program, stack: str):
    settings = load(stack)
    holder: dict[str, Platform] = {}

    def program():
        holder["p"] = Platform(settings.prefix(), settings)

    mocks = run_program(program)
    return mocks, holder["p"], settings


AWS_STACKS = ["dev", "staging", "prod"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_eks_endpoint_private(run_program, stack: str) -> None:
    mocks, platform, _ = build(run_program, stack)
    (eks,) = mocks.of_type("aws:eks/cluster:Cluster")
    assert eks.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert eks.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert platform.exports()["clusterPrivateEndpointOnly"] is True


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_tenant_bucket_uses_its_tenant_key(run_program, stack: str) -> None:
    mocks, _, settings = build(run_program, stack)
    key_by_tenant = {
        k.inputs["tags"]["tenant"]: k.state["arn"]
        for k in mocks.of_type("aws:kms/key:Key")
        if k.inputs.get("tags", {}).get("tenant", "platform") != "platform"
    }
    assert set(key_by_tenant) == {t.name for t in settings.tenants}
    buckets = {b.rid: b for b in mocks.of_type("aws:s3/bucket:Bucket")}
    sse = mocks.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert len(sse) == len(buckets), "every bucket has a default-encryption configuration"
    tenant_buckets = 0
    for config in sse:
        bucket = buckets[config.inputs["bucket"]]
        default = config.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        if bucket.inputs["tags"].get("purpose") == "access-logs":
            assert default["sseAlgorithm"] == "AES256"  # the only option S3 log delivery allows
            continue
        assert default["sseAlgorithm"] == "aws:kms"
        tenant = bucket.inputs["tags"]["tenant"]
        if tenant != "platform":
            tenant_buckets += 1
            assert default["kmsMasterKeyId"] == key_by_tenant[tenant], bucket.name
    enterprise = sum(1 for t in settings.tenants if t.object_lock)
    assert tenant_buckets == len(settings.tenants) + enterprise


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_taggable_resources_name_owner_and_classification(run_program, stack: str) -> None:
    mocks, _, settings = build(run_program, stack)
    owners = {"platform", *(t.name for t in settings.tenants)}
    tagged = [r for r in mocks.resources if r.typ.startswith("aws:") and "tags" in r.inputs]
    assert len(tagged) > 50
    for res in tagged:
        tags = res.inputs["tags"]
        assert tags.get("tenant") in owners, (res.typ, res.name)
        assert tags.get("data-classification") in {"internal", "confidential", "restricted"}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_pools(run_program, stack: str) -> None:
    mocks, platform, settings = build(run_program, stack)
    groups = mocks.of_type("aws:eks/nodeGroup:NodeGroup")
    assert groups
    for ng in groups:
        taints = ng.inputs.get("taints") or []
        if ng.inputs["amiType"] == "AL2023_x86_64_NVIDIA":
            assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in taints
            assert ng.inputs["labels"]["nvidia.com/gpu.present"] == "true"
            assert ng.inputs["scalingConfig"]["minSize"] == 0
        tenant = ng.inputs["labels"].get("mlplatform.io/tenant")
        if tenant:
            assert {
                "key": "mlplatform.io/tenant",
                "value": tenant,
                "effect": "NO_SCHEDULE",
            } in taints
        if ng.inputs["capacityType"] == "SPOT":
            assert ng.inputs["labels"]["mlplatform.io/purpose"] == "training"
            assert tenant is None, "only SMB training runs on spot"
    for lt in mocks.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        assert lt.inputs["metadataOptions"]["httpTokens"] == "required"
        assert lt.inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
        assert lt.inputs["blockDeviceMappings"][0]["ebs"]["kmsKeyId"]
    enterprise = [t.name for t in settings.tenants if t.tier.value == "enterprise"]
    for name in enterprise:
        assert {f"{name}-cpu", f"{name}-gpu", f"{name}-train"} <= set(platform.node_pools)


def test_gpu_pool_subnets_follow_offerings(run_program) -> None:
    # g6 is offered in mec1-az1/az2 only; with az2 excluded only az1 remains.
    assert pool_zone_ids(["g6.xlarge"], ["mec1-az1", "mec1-az3"], "me-central-1") == ["mec1-az1"]
    with pytest.raises(ValueError, match="no zone of the stack"):
        pool_zone_ids(["g6.xlarge"], ["mec1-az3"], "me-central-1")
    mocks, _, _ = build(run_program, "staging")
    subnets = {
        s.rid: s.inputs["availabilityZoneId"] for s in mocks.of_type("aws:ec2/subnet:Subnet")
    }
    for ng in mocks.of_type("aws:eks/nodeGroup:NodeGroup"):
        if ng.inputs["amiType"] == "AL2023_x86_64_NVIDIA":
            assert {subnets[s] for s in ng.inputs["subnetIds"]} == {"mec1-az1"}
        assert "mec1-az2" not in {subnets[s] for s in ng.inputs["subnetIds"]}


@pytest.mark.parametrize("stack", [*AWS_STACKS, "onprem"])
def test_tenant_namespaces(run_program, stack: str) -> None:
    mocks, platform, settings = build(run_program, stack)
    namespaces = {
        n.inputs["metadata"]["name"]: n for n in mocks.of_type("kubernetes:core/v1:Namespace")
    }
    for tenant in settings.tenants:
        ns = namespaces[tenant.namespace]
        assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        policies = [
            p
            for p in mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
            if p.inputs["metadata"]["namespace"] == tenant.namespace
        ]
        deny = [p for p in policies if p.inputs["metadata"]["name"] == "default-deny-all"]
        assert len(deny) == 1
        assert deny[0].inputs["spec"]["policyTypes"] == ["Ingress", "Egress"]
        for manifest in platform.tenants[tenant.name].manifests:
            kubernetes_validate.validate(manifest, "1.35.0", strict=True)
    assert platform.exports()["tenantNamespaces"] == {t.name: t.namespace for t in settings.tenants}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_tenant_roles_are_least_privilege(run_program, stack: str) -> None:
    mocks, _, settings = build(run_program, stack)
    policies = [
        p
        for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.name.endswith("-workload-access")
    ]
    assert len(policies) == len(settings.tenants)
    for policy in policies:
        doc = json.loads(policy.inputs["policy"])
        assert wildcard_findings(doc) == [], policy.name


def test_hybrid_has_no_aws_resources(run_program) -> None:
    mocks, platform, _ = build(run_program, "onprem")
    assert not [r.typ for r in mocks.resources if r.typ.startswith("aws:")]
    assert platform.cluster is None
    assert "clusterName" not in platform.exports()


def test_prod_protects_stateful_resources(run_program) -> None:
    settings = load("prod")
    protected: dict[str, bool] = {}

    def program():
        platform = Platform(settings.prefix(), settings)
        stack = [platform]
        while stack:
            res = stack.pop()
            for child in getattr(res, "_childResources", set()):
                protected[f"{child._type}::{child._name}"] = bool(child._protect)
                stack.append(child)

    run_program(program)
    buckets = {k: v for k, v in protected.items() if k.startswith("aws:s3/bucket:Bucket::")}
    keys = {k: v for k, v in protected.items() if k.startswith("aws:kms/key:Key::")}
    assert buckets
    assert all(buckets.values()), buckets
    assert keys
    assert all(keys.values()), keys


def test_dev_protects_nothing(run_program) -> None:
    mocks, _, _ = build(run_program, "dev")
    (eks,) = mocks.of_type("aws:eks/cluster:Cluster")
    assert eks.inputs.get("deletionProtection") is False
