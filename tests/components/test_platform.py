"""Platform composition over every shipped stack file: the cross-cutting invariants.

The second half covers the Kubernetes platform layer as wired per tier: what SMB and
enterprise tenants get, where their pods land, and that generated credentials only
ever travel as secrets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pulumi.runtime import rpc

from components._util import wildcard_findings
from components.k8s import invariants
from components.k8s.invariants import pod_specs, requests_gpu
from components.platform import Platform
from components.platform.aws import REDIS_TOKEN_SPECIALS
from components.platform.kubernetes import model_specs
from components.platform.sizing import pool_zone_ids
from components.settings import ConfigError, ModelSettings, PlatformSettings, settings_from_config
from contracts.feature_store import FEATURE_VIEWS, dynamodb_table_name
from contracts.names import automation_service_accounts, feast_project, tenant_data_bucket_name
from tests.components import k8s_validation as validation

STACKS = Path(__file__).resolve().parents[2] / "stacks"
PROJECT = "sovereign-ml-platform"


def load(stack: str) -> PlatformSettings:
    path = STACKS / f"Pulumi.{stack}.yaml"
    config = yaml.safe_load(path.read_text())["config"]
    return settings_from_config(config, project=PROJECT, stack=stack, stack_file=path.name)


_BUILT: dict[str, tuple[Any, Platform, PlatformSettings]] = {}
"""Shipped stack -> (recording, platform, settings): each is run once per test session.

The tests below only read what a run recorded, so sharing one run per stack is safe and
saves re-planning a whole stack (seconds each) in every test.
"""


def build(run_program, stack: str) -> tuple[Any, Platform, PlatformSettings]:
    """The shipped stack ``stack``, unchanged, run under the recording mocks (cached)."""
    if stack not in _BUILT:
        settings = load(stack)
        holder: dict[str, Platform] = {}

        def program():
            holder["p"] = Platform(settings.prefix(), settings)

        mocks = run_program(program)
        _BUILT[stack] = (mocks, holder["p"], settings)
    return _BUILT[stack]


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


def _custom(mocks: Any, kind: str) -> list[Any]:
    """Registered custom resources of one kind (their inputs as the manifest)."""
    return [
        r
        for r in mocks.resources
        if r.typ.startswith("kubernetes:") and r.typ.endswith(f":{kind}") and r.custom
    ]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_pools(run_program, stack: str) -> None:
    mocks, _, settings = build(run_program, stack)
    # Managed node groups remain only for the platform's own services.
    groups = mocks.of_type("aws:eks/nodeGroup:NodeGroup")
    assert [ng.inputs["labels"]["mlplatform.io/purpose"] for ng in groups] == ["system"]
    assert "k8s.io/cluster-autoscaler/enabled" not in groups[0].inputs["tags"]
    for lt in mocks.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        assert lt.inputs["metadataOptions"]["httpTokens"] == "required"
        assert lt.inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
        assert lt.inputs["blockDeviceMappings"][0]["ebs"]["kmsKeyId"]
    # Everything else is a Karpenter NodePool with the pool contract's labels and taints.
    pools = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in _custom(mocks, "NodePool")}
    for name, spec in pools.items():
        labels = spec["template"]["metadata"]["labels"]
        taints = spec["template"]["spec"]["taints"]
        requirements = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
        if labels.get("nvidia.com/gpu.present") == "true":
            assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"} in taints
            assert "nvidia.com/gpu" in spec["limits"]
        tenant = labels.get("mlplatform.io/tenant")
        if tenant:
            assert {
                "key": "mlplatform.io/tenant",
                "value": tenant,
                "effect": "NoSchedule",
            } in taints
        if "spot" in requirements["karpenter.sh/capacity-type"]:
            assert labels["mlplatform.io/purpose"] == "training", name
            assert tenant is None, "only SMB training runs on spot"
        assert "mec1-az2" not in requirements["topology.k8s.aws/zone-id"], name
        if labels["mlplatform.io/purpose"] == "training":
            assert spec["disruption"]["consolidationPolicy"] == "WhenEmpty"
            assert spec["template"]["spec"]["expireAfter"] == "Never"
    for node_class in _custom(mocks, "EC2NodeClass"):
        body = node_class.inputs["spec"]
        assert body["metadataOptions"]["httpTokens"] == "required"
        assert body["metadataOptions"]["httpPutResponseHopLimit"] == 1
        ebs = body["blockDeviceMappings"][0]["ebs"]
        assert ebs["encrypted"] is True and ebs["kmsKeyID"]
    enterprise = [t.name for t in settings.tenants if t.tier.value == "enterprise"]
    for name in enterprise:
        assert {f"{name}-cpu", f"{name}-gpu", f"{name}-train"} <= set(pools)
    if any(t.tier.value == "smb" for t in settings.tenants):
        assert {"smb-cpu", "smb-train"} <= set(pools)


def test_gpu_pools_follow_offerings(run_program) -> None:
    # g6 is offered in mec1-az1/az2 only; with az2 excluded only az1 remains.
    assert pool_zone_ids(["g6.xlarge"], ["mec1-az1", "mec1-az3"], "me-central-1") == ["mec1-az1"]
    with pytest.raises(ValueError, match="no zone of the stack"):
        pool_zone_ids(["g6.xlarge"], ["mec1-az3"], "me-central-1")
    mocks, _, _ = build(run_program, "staging")
    for pool in _custom(mocks, "NodePool"):
        spec = pool.inputs["spec"]["template"]
        zones = {r["key"]: r["values"] for r in spec["spec"]["requirements"]}[
            "topology.k8s.aws/zone-id"
        ]
        if spec["metadata"]["labels"].get("nvidia.com/gpu.present") == "true":
            assert zones == ["mec1-az1"]
        else:
            assert zones == ["mec1-az1", "mec1-az3"]


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


def test_prod_protects_stateful_resources(stack_plan) -> None:
    # The protect option as the engine sent it to the (offline) deployment engine.
    protected = {
        f"{r['type']}::{r['name']}": bool(r["options"]["protect"])
        for r in stack_plan("prod")["resources"]
        if r["custom"]
    }
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


# --- the Kubernetes platform layer, per tier --------------------------------------------

TENANT_TAINT_KEY = "mlplatform.io/tenant"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
RUNTIME = "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime"


def _k8s_objects(mocks, namespace: str) -> list[dict[str, Any]]:
    """Every Kubernetes object registered in ``namespace`` (wire format, secrets unwrapped)."""
    out = []
    for r in mocks.resources:
        if not r.typ.startswith("kubernetes:") or r.typ.startswith("kubernetes:helm"):
            continue
        obj = _plain(r.inputs)
        if (obj.get("metadata") or {}).get("namespace") == namespace:
            out.append(obj)
    return out


def _plain(node: Any) -> Any:
    if rpc.is_rpc_secret(node):
        return _plain(rpc.unwrap_rpc_secret(node))
    if isinstance(node, Mapping):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        yield from pod_specs(obj)  # type: ignore[misc]
        if obj.get("kind") == "Prometheus":
            yield f"Prometheus/{obj['metadata']['name']}", obj["spec"]


def _named(objects: list[dict[str, Any]], kind: str) -> set[str]:
    return {o["metadata"]["name"] for o in objects if o.get("kind") == kind}


def test_smb_tenant_layer(run_program) -> None:
    mocks, _, settings = build(run_program, "prod")
    smb = [t for t in settings.tenants if t.tier.value == "smb"]
    assert len(smb) == 2
    tables = {t.inputs["name"]: t for t in mocks.of_type("aws:dynamodb/table:Table")}
    key_by_tenant = {
        k.inputs["tags"]["tenant"]: k.state["arn"]
        for k in mocks.of_type("aws:kms/key:Key")
        if k.inputs["tags"]["tenant"] != "platform"
    }
    for tenant in smb:
        project = feast_project(tenant.name)
        for view in FEATURE_VIEWS:
            table = tables[dynamodb_table_name(project, view)]
            assert table.inputs["serverSideEncryption"]["enabled"] is True
            assert table.inputs["serverSideEncryption"]["kmsKeyArn"] == key_by_tenant[tenant.name]
            assert table.inputs["pointInTimeRecovery"]["enabled"] is True
            assert table.inputs["tags"]["tenant"] == tenant.name
            assert table.inputs["deletionProtectionEnabled"] is True  # prod
            assert "replicas" not in table.inputs  # no copy outside the region
        objects = _k8s_objects(mocks, tenant.namespace)
        runtimes = _named(objects, "ServingRuntime")
        assert runtimes == {f"{tenant.name}-onnx-cpu"}, "SMB has no GPU runtime"
        isvcs = [o for o in objects if o["kind"] == "InferenceService"]
        assert [i["metadata"]["name"] for i in isvcs] == ["churn"]
        assert not [o for o in objects if "challenger" in o["metadata"]["name"]]
        assert not [o for o in objects if o["metadata"]["name"].endswith("-router")]
        assert not [o for o in objects if o["kind"] == "Prometheus"], "SMB shares Prometheus"
        uri = isvcs[0]["spec"]["predictor"]["model"]["storageUri"]
        bucket = tenant_data_bucket_name("prod", tenant.name, "123456789012")
        assert uri == f"s3://{bucket}/models/churn/1/"
    redis = mocks.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert {r.inputs["tags"]["tenant"] for r in redis} == {
        t.name for t in settings.tenants if t.tier.value == "enterprise"
    }, "no Redis for SMB tenants"


def test_enterprise_tenant_layer(run_program) -> None:
    mocks, _, settings = build(run_program, "prod")
    enterprise = {t.name: t for t in settings.tenants if t.tier.value == "enterprise"}
    assert set(enterprise) == {"gulf-bank", "emirates-health"}
    key_by_tenant = {
        k.inputs["tags"]["tenant"]: k.state["arn"]
        for k in mocks.of_type("aws:kms/key:Key")
        if k.inputs["tags"]["tenant"] != "platform"
    }
    redis = {r.inputs["tags"]["tenant"]: r.inputs for r in mocks.of_type(
        "aws:elasticache/replicationGroup:ReplicationGroup"
    )}  # fmt: skip
    for name, tenant in enterprise.items():
        rg = redis[name]
        assert rg["transitEncryptionEnabled"] is True
        assert rg["transitEncryptionMode"] == "required"
        assert rg["atRestEncryptionEnabled"] is True
        assert rg["kmsKeyId"] == key_by_tenant[name], "the tenant's own CMK"
        assert rg["multiAzEnabled"] is True and rg["automaticFailoverEnabled"] is True
        assert rg["numCacheClusters"] >= 2
        token = _plain(rg["authToken"])
        assert 16 <= len(token) <= 128
        assert not set(token) & set('@"/ ')
        objects = _k8s_objects(mocks, tenant.namespace)
        assert _named(objects, "ServingRuntime") == {f"{name}-onnx-cpu", f"{name}-onnx-gpu"}
        isvcs = {o["metadata"]["name"]: o for o in objects if o["kind"] == "InferenceService"}
        for isvc in isvcs.values():
            predictor = isvc["spec"]["predictor"]
            assert predictor["minReplicas"] >= 2
            assert requests_gpu(predictor), "enterprise serves on the GPU runtime"
        pdbs = _named(objects, "PodDisruptionBudget")
        assert set(isvcs) <= pdbs, "a PDB per predictor"
        assert "churn-router" in _named(objects, "Deployment")
        assert "churn" in _named(objects, "Service"), "the router is the stable endpoint"
        assert f"{name}-prometheus" in _named(objects, "Prometheus")
    gulf = {o["metadata"]["name"] for o in _k8s_objects(mocks, "tenant-gulf-bank")
            if o["kind"] == "InferenceService"}  # fmt: skip
    assert gulf == {"churn-champion", "churn-challenger"}, "prod overrides a challenger"
    health = {o["metadata"]["name"] for o in _k8s_objects(mocks, "tenant-emirates-health")
              if o["kind"] == "InferenceService"}  # fmt: skip
    assert health == {"churn-champion"}
    router = next(
        o for o in _k8s_objects(mocks, "tenant-gulf-bank")
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "churn-router"
    )  # fmt: skip
    envoy = yaml.safe_load(router["data"]["envoy.yaml"])
    weights = json.dumps(envoy)
    assert '"weight": 90' in weights and '"weight": 10' in weights


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_enterprise_pods_land_on_their_dedicated_pools(run_program, stack: str) -> None:
    mocks, _, settings = build(run_program, stack)
    checked = 0
    for tenant in settings.tenants:
        for where, spec in _pod_specs(_k8s_objects(mocks, tenant.namespace)):
            selector = spec.get("nodeSelector") or {}
            tolerations = spec.get("tolerations") or []
            tenant_taint = {
                "key": TENANT_TAINT_KEY,
                "operator": "Equal",
                "value": tenant.name,
                "effect": "NoSchedule",
            }
            if tenant.tier.value == "enterprise":
                assert selector.get(TENANT_TAINT_KEY) == tenant.name, where
                assert selector.get("mlplatform.io/purpose") == "inference", where
                assert tenant_taint in tolerations, where
                if requests_gpu(spec):
                    assert selector.get("nvidia.com/gpu.present") == "true", where
                    assert any(t["key"] == "nvidia.com/gpu" for t in tolerations), where
            else:
                assert selector.get("mlplatform.io/purpose") == "shared", where
                assert not [t for t in tolerations if t["key"] == TENANT_TAINT_KEY], where
                assert not requests_gpu(spec), where
            checked += 1
    assert checked >= 10


def test_generated_credentials_never_appear_in_clear(run_program) -> None:
    mocks, _, _ = build(run_program, "prod")
    generated = {
        r.name: _plain(r.state["result"])
        for r in mocks.of_type("random:index/randomPassword:RandomPassword")
    }
    assert set(generated) == {
        "prod-grafana-admin",
        "gulf-bank-redis-auth",
        "emirates-health-redis-auth",
        *(f"{t}-alert-webhook" for t in
          ("souk-analytics", "desert-logistics", "gulf-bank", "emirates-health")),
    }  # fmt: skip
    redis = [r for r in mocks.of_type("random:index/randomPassword:RandomPassword")
             if r.name.endswith("-redis-auth")]  # fmt: skip
    for r in redis:
        assert r.inputs["overrideSpecial"] == REDIS_TOKEN_SPECIALS

    leaks: list[str] = []

    def walk(node: Any, where: str, secret: bool) -> None:
        if rpc.is_rpc_secret(node):
            walk(rpc.unwrap_rpc_secret(node), where, True)
        elif isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, f"{where}.{k}", secret)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]", secret)
        elif isinstance(node, str) and not secret:
            leaks.extend(f"{where} holds {n}" for n, v in generated.items() if v in node)

    consumers = 0
    for r in mocks.resources:
        if r.typ.startswith("random:"):
            continue
        before = len(leaks)
        walk(r.inputs, f"{r.typ}::{r.name}", False)
        assert len(leaks) == before, leaks
        consumers += any(v in json.dumps(_plain(r.inputs)) for v in generated.values())
    # Each value reaches its consumers (Secrets, Secrets Manager, ElastiCache), only as secrets.
    assert consumers >= len(generated)
    for stack_file in STACKS.glob("Pulumi.*.yaml"):
        assert "secure:" not in stack_file.read_text(), stack_file.name


def test_plan_masks_every_credential(stack_plan, tmp_path: Path) -> None:
    from mlplatform.engine.output import write_outputs

    # What ``mlplatform plan --stack prod`` writes: the same plan through the same writer.
    write_outputs(stack_plan("prod"), tmp_path)
    plan = json.loads((tmp_path / "plan.json").read_text())
    seen = 0
    for res in plan["resources"]:
        inputs = res["inputs"]
        if res["type"] == "aws:elasticache/replicationGroup:ReplicationGroup":
            assert inputs["authToken"] == "[secret]"
            seen += 1
        elif res["type"] == "aws:secretsmanager/secretVersion:SecretVersion":
            assert inputs["secretString"] == "[secret]"
            seen += 1
        elif res["type"] == "kubernetes:core/v1:Secret":
            assert set(inputs["stringData"].values()) == {"[secret]"}, res["name"]
            seen += 1
    # 2 Redis groups + 2 Secrets Manager versions + 2 Redis, 4 webhook and 1 Grafana Secret.
    assert seen == 11


@pytest.mark.parametrize("stack", [*AWS_STACKS, "onprem"])
def test_every_tenant_gets_serving_and_monitoring(run_program, stack: str) -> None:
    mocks, platform, settings = build(run_program, stack)
    types = {r.typ for r in mocks.resources}
    assert "mlplatform:serving:KServeInstall" in types
    assert "mlplatform:monitoring:MonitoringStack" in types
    has_gpu = any(t.gpu_pool is not None for t in settings.tenants)
    assert ("mlplatform:gpu:GpuEnablement" in types) is has_gpu
    monitors = {r.name for r in mocks.of_type("mlplatform:monitoring:TenantMonitoring")}
    assert set(platform.serving) == {t.name for t in settings.tenants}
    assert monitors == {f"{t.name}-monitoring" for t in settings.tenants}
    if stack == "onprem":
        # No AWS on-prem: no feature store (DynamoDB/ElastiCache) or SQS queues; the alert
        # receiver sends its triggers to the in-cluster NATS broker instead.
        assert not platform.feature_stores and not platform.queues
        assert "mlplatform:messaging:NatsBroker" in types
        automations = {r.name for r in mocks.of_type("mlplatform:automation:TenantAutomation")}
        assert automations == {f"{t.name}-automation" for t in settings.tenants}
        (sa,) = [
            o for o in _k8s_objects(mocks, "tenant-gulf-bank")
            if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "gulf-bank-serving"
        ]  # fmt: skip
        assert sa["metadata"]["annotations"]["serving.kserve.io/s3-endpoint"] == (
            "s3.dc1.onprem.example.ae"
        )
        return
    assert set(platform.feature_stores) == {t.name for t in settings.tenants}
    assert set(platform.queues) == {t.name for t in settings.tenants}
    automations = {r.name for r in mocks.of_type("mlplatform:automation:TenantAutomation")}
    assert automations == {f"{t.name}-automation" for t in settings.tenants}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_automation_roles_reach_only_their_own_queues(run_program, stack: str) -> None:
    mocks, _, settings = build(run_program, stack)
    roles = {
        r.name: r for r in mocks.of_type("aws:iam/role:Role") if r.name.endswith("-automation-role")
    }
    assert len(roles) == len(settings.tenants)
    policies = {p.rid: p for p in mocks.of_type("aws:iam/policy:Policy")}
    attachments = [
        a for a in mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.endswith("-queues-automation-attach")
    ]  # fmt: skip
    assert len(attachments) == len(settings.tenants)
    for tenant in settings.tenants:
        role = roles[f"{stack}-{tenant.name}-automation-role"]
        trust = json.loads(role.inputs["assumeRolePolicy"])
        (statement,) = trust["Statement"]
        subjects = [v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(
            ":sub")]  # fmt: skip
        # The loop's accounts: alert receiver, drift monitors, retraining controller.
        assert subjects == [
            [
                f"system:serviceaccount:{tenant.namespace}:{account}"
                for account in sorted(automation_service_accounts(tenant.name))
            ]
        ]
        loop_state = next(
            p for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy")
            if p.name == f"{stack}-{tenant.name}-automation-loop-state"
        )  # fmt: skip
        state_doc = json.loads(loop_state.inputs["policy"])
        assert wildcard_findings(state_doc) == []
        writes = next(s for s in state_doc["Statement"] if s["Sid"] == "WriteLoopState")
        assert all(tenant.name in arn for arn in writes["Resource"])
        assert sorted(a.rsplit(":::", 1)[-1].split("/", 1)[1] for a in writes["Resource"]) == [
            "models/*/drift/*",
            "registry/*",
        ]
    for attach in attachments:
        tenant = attach.name.removesuffix("-queues-automation-attach")
        role_name = attach.inputs["role"]
        owner = next(r for r in roles.values() if r.state and r.state.get("name") == role_name)
        assert owner.name == f"{stack}-{tenant}-automation-role"
        doc = json.loads(policies[attach.inputs["policyArn"].rsplit("/", 1)[-1]].inputs["policy"])
        assert wildcard_findings(doc) == []
        queues = doc["Statement"][0]["Resource"]
        assert queues and all(f":{tenant}-" in arn for arn in queues), queues


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_smb_roles_read_exactly_their_online_tables(run_program, stack: str) -> None:
    mocks, _, settings = build(run_program, stack)
    access = {
        p.name.removeprefix(f"{stack}-").removesuffix("-workload-access"): json.loads(
            p.inputs["policy"]
        )
        for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.name.endswith("-workload-access")
    }
    for tenant in settings.tenants:
        doc = access[tenant.name]
        tables = [s for s in doc["Statement"] if s.get("Sid") == "FeastOnlineTables"]
        if tenant.tier.value == "enterprise":
            assert not tables, "enterprise uses Redis, no DynamoDB grant"
            continue
        (grant,) = tables
        project = feast_project(tenant.name)
        assert sorted(grant["Resource"]) == sorted(
            f"arn:aws:dynamodb:me-central-1:123456789012:table/{dynamodb_table_name(project, v)}"
            for v in FEATURE_VIEWS
        )
        assert not any(a.endswith(("CreateTable", "DeleteTable")) for a in grant["Action"])


def test_dynamodb_is_reachable_through_an_interface_endpoint(run_program) -> None:
    mocks, _, _ = build(run_program, "dev")
    endpoints = {
        e.inputs["serviceName"]: e
        for e in mocks.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.inputs["vpcEndpointType"] == "Interface"
    }
    dynamodb = endpoints["com.amazonaws.me-central-1.dynamodb"]
    assert dynamodb.inputs["privateDnsEnabled"] is True
    assert dynamodb.inputs["dnsOptions"]["privateDnsOnlyForInboundResolverEndpoint"] is False


def test_model_specs_and_data_bucket_names() -> None:
    models = [
        ModelSettings(name="churn", version="3", challenger_version="4", canary_percent=25),
        ModelSettings(name="fraud", version="2024-06"),
    ]
    specs = model_specs(models, "b", gpu=False)
    assert specs[0] == {
        "name": "churn",
        "storage_uri": "s3://b/models/churn/3/",
        "gpu": False,
        "challenger_storage_uri": "s3://b/models/churn/4/",
        "canary_percent": 25,
    }
    assert specs[1] == {
        "name": "fraud",
        "storage_uri": "s3://b/models/fraud/2024-06/",
        "gpu": False,
    }
    long = tenant_data_bucket_name("x" * 80 + "_Stack", "a" * 20, "123456789012")
    assert len(long) == 63 and long.endswith("-" + "a" * 20 + "-data-123456789012")
    assert tenant_data_bucket_name("prod", "gulf-bank", "123456789012") == (
        "mlp-prod-gulf-bank-data-123456789012"
    )


def _with_tenant(stack: str, tenant: dict[str, Any]) -> dict[str, Any]:
    config = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]
    config[f"{PROJECT}:tenants"] = [tenant]
    return config


def test_canary_is_enterprise_only() -> None:
    config = _with_tenant(
        "dev",
        {
            "name": "souk",
            "tier": "smb",
            "overrides": {"models": [{"name": "churn", "version": "1", "challenger_version": "2"}]},
        },
    )
    with pytest.raises(ConfigError) as err:
        settings_from_config(config, project=PROJECT, stack="dev", stack_file="Pulumi.dev.yaml")
    assert err.value.lines == [
        "Pulumi.dev.yaml: sovereign-ml-platform:tenants[0].overrides.models[0]."
        "challenger_version: canary rollouts are enterprise-only; SMB tenants serve one "
        "version per model"
    ]


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ([{"name": "Churn", "version": "1"}], "is not a DNS-1123 label of at most 40"),
        ([{"name": "churn", "version": "a/b"}], "is not a version: one path segment"),
        (
            [{"name": "churn", "version": "1", "canary_percent": 5}],
            "canary_percent needs a challenger_version",
        ),
        (
            [{"name": "churn", "version": "1"}, {"name": "churn", "version": "2"}],
            "duplicate model names: churn",
        ),
    ],
)
def test_bad_model_overrides_are_one_line_each(models: list[Any], message: str) -> None:
    config = _with_tenant(
        "staging", {"name": "bank", "tier": "enterprise", "overrides": {"models": models}}
    )
    with pytest.raises(ConfigError) as err:
        settings_from_config(config, project=PROJECT, stack="staging", stack_file="s.yaml")
    assert len(err.value.lines) == 1
    assert err.value.lines[0].startswith(
        "s.yaml: sovereign-ml-platform:tenants[0].overrides.models"
    )
    assert message in err.value.lines[0]


def test_serving_image_tag_must_be_exact() -> None:
    config = yaml.safe_load((STACKS / "Pulumi.dev.yaml").read_text())["config"]
    config[f"{PROJECT}:registry"] = {"serving_image_tag": "latest"}
    with pytest.raises(ConfigError) as err:
        settings_from_config(config, project=PROJECT, stack="dev", stack_file="d.yaml")
    assert err.value.lines == [
        "d.yaml: sovereign-ml-platform:registry.serving_image_tag: 'latest' is not an exact "
        "image tag; allowed: letters, digits, '_', '.', '-' (at most 128), not 'latest'"
    ]


def test_hybrid_needs_registry_and_cluster_ranges() -> None:
    config = yaml.safe_load((STACKS / "Pulumi.onprem.yaml").read_text())["config"]
    del config[f"{PROJECT}:registry"]
    del config[f"{PROJECT}:hybrid"]["cluster_cidrs"]
    with pytest.raises(ConfigError) as err:
        settings_from_config(config, project=PROJECT, stack="onprem", stack_file="o.yaml")
    assert err.value.lines == [
        "o.yaml: sovereign-ml-platform:hybrid.cluster_cidrs: required but missing"
    ]
    config[f"{PROJECT}:hybrid"]["cluster_cidrs"] = ["10.200.0.0/22"]
    with pytest.raises(ConfigError) as err:
        settings_from_config(config, project=PROJECT, stack="onprem", stack_file="o.yaml")
    assert len(err.value.lines) == 1 and "needs registry.host" in err.value.lines[0]


@pytest.mark.parametrize("stack", [*AWS_STACKS, "onprem"])
def test_every_model_server_can_verify_model_signatures(run_program, stack: str) -> None:
    mocks, _, settings = build(run_program, stack)
    shipped = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]
    configured = shipped[f"{PROJECT}:model_signing_public_key"]
    for tenant in settings.tenants:
        assert tenant.model_signing_public_key == configured  # no shipped tenant overrides it
        objects = _k8s_objects(mocks, tenant.namespace)
        # In the runtime (which no tenant role may write), never in a tenant ConfigMap.
        assert not any(
            configured.strip() in str(o.get("data", {}))
            for o in objects
            if o["kind"] in {"ConfigMap", "Secret"}
        )
        runtimes = [o for o in objects if o["kind"] == "ServingRuntime"]
        assert len(runtimes) == (2 if tenant.gpu_pool is not None else 1)
        for runtime in runtimes:
            assert validation.kserve_findings(runtime) == []
            assert invariants.restricted_findings(runtime) == [], runtime["metadata"]["name"]
            for container in runtime["spec"]["containers"]:
                assert container["securityContext"]["readOnlyRootFilesystem"] is True
                assert container["securityContext"]["runAsNonRoot"] is True
                env = {e["name"]: e.get("value") for e in container["env"]}
                assert env["MLPLATFORM_VERIFY_KEY_PEM"] == configured, "exactly the configured PEM"
                assert "MLPLATFORM_VERIFY_KEY" not in env
