"""Every Kubernetes-layer component under the Pulumi mocks, per tier, with invariants.

The program below is what ``components.platform`` will do for one SMB and one
enterprise tenant. Each registered Kubernetes object is rebuilt as a manifest (type
token -> apiVersion/kind, plus its inputs) and checked: Kubernetes 1.31 schema (strict)
for built-in kinds, KServe SDK models for KServe kinds, and the invariants (restricted
pods, approved registry, no exposed Services, GPU pods only on GPU pools).
"""

from __future__ import annotations

import collections
import importlib.util
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from components.aws.queues import TenantQueues
from components.featurestore import FeatureStore
from components.k8s import (
    GpuEnablement,
    KServeInstall,
    ModelServing,
    MonitoringStack,
    TenantAutomation,
    TenantMonitoring,
    invariants,
)
from components.k8s.catalog import CHARTS
from mlplatform.engine.mocks import PlatformMocks, RecordingMonitor
from tests.components import k8s_validation as validation

_spec = importlib.util.spec_from_file_location(
    "k8s_samples", Path(__file__).with_name("k8s_data") / "samples.py"
)
assert _spec is not None and _spec.loader is not None
samples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(samples)

REG = samples.REGISTRY
# A throwaway key: the component only needs a valid Ed25519 public key to mount.
VERIFY_KEY_PEM = (
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def _program(tier: str) -> None:
    GpuEnablement("gpu", {"registry_host": REG})
    KServeInstall("kserve", {"registry_host": REG, "cluster_cidrs": samples.CLUSTER_CIDRS})
    MonitoringStack(
        "monitoring",
        {
            "registry_host": REG,
            "retention_days": 15,
            "grafana_admin_password": "pw-from-config",
            "cluster_cidrs": samples.CLUSTER_CIDRS,
        },
    )
    t = samples.tenant(tier)
    FeatureStore(f"{t}-features", samples.feature_store_args(tier))  # type: ignore[arg-type]
    ModelServing(
        f"{t}-serving",
        {**samples.serving_args(tier), "verify_key_pem": VERIFY_KEY_PEM},  # type: ignore[typeddict-item]
    )
    TenantMonitoring(f"{t}-monitoring", samples.monitoring_args(tier))  # type: ignore[arg-type]
    queues = TenantQueues(f"{t}-queues", samples.queue_args(tier))  # type: ignore[arg-type]
    TenantAutomation(
        f"{t}-automation",
        {
            "tenant": t,
            "namespace": t,
            "registry_host": REG,
            "image_tag": "0.1.0",
            "retraining_queue_url": queues.queue_urls.apply(lambda urls: urls["retraining"]),
            "webhook_token": "webhook-token-from-config-0123",
            "role_arn": f"arn:aws:iam::123456789012:role/{t}-automation",
            "canary_models": ["churn"] if tier == "enterprise" else [],
        },
    )


_CACHE: dict[str, list[dict[str, Any]]] = {}


def registered(tier: str) -> list[dict[str, Any]]:
    """Run the program once per tier under the offline engine's recording monitor."""
    if tier not in _CACHE:
        mocks = PlatformMocks()
        monitor = RecordingMonitor(mocks, {"aws": {"region": "me-central-1"}, "kubernetes": {}})
        pulumi.runtime.set_mocks(
            mocks, project="mlplatform", stack="prod", preview=False, monitor=monitor
        )

        @pulumi.runtime.test
        def body() -> None:
            _program(tier)

        body()
        _CACHE[tier] = [r for r in monitor.records if not r.get("default")]
    return _CACHE[tier]


def manifest_of(record: dict[str, Any]) -> dict[str, Any]:
    """The Kubernetes object a ``kubernetes:<group>/<version>:<Kind>`` registration creates."""
    _, gv, kind = record["type"].split(":")
    group, _, version = gv.rpartition("/")
    api_version = version if group == "core" else f"{group}/{version}"
    inputs = {k: v for k, v in record["inputs"].items() if k not in {"apiVersion", "kind"}}
    for key in record["secretInputs"]:
        # The plan masks secret inputs; keep the object's shape for schema validation.
        if key in ("stringData", "data"):
            inputs[key] = {"masked": "[secret]"}
    return _ints({"apiVersion": api_version, "kind": kind, **inputs})


def _ints(value: Any) -> Any:
    """Undo protobuf's number widening (every number crosses the wire as a double); the
    Kubernetes provider encodes 65532.0 back as ``65532`` when it sends the object."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def is_builtin(api_version: str) -> bool:
    """Core and ``*.k8s.io``/dotless groups: schemas ship with kubernetes-validate."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def k8s_objects(tier: str) -> list[dict[str, Any]]:
    return [
        manifest_of(r)
        for r in registered(tier)
        if r["type"].startswith("kubernetes:") and not r["type"].startswith("kubernetes:helm.sh/")
    ]


def counts(tier: str) -> dict[str, int]:
    return dict(collections.Counter(r["type"] for r in registered(tier)))


EXPECTED_TENANT_COUNTS = {
    # SMB (2 feature views, 2 models): 2 DynamoDB tables; feature server SA, ConfigMap,
    # Deployment, Service, CronJob; serving SA, ServingRuntime (it carries the
    # model-signing key), 2 InferenceServices;
    # 2 PodMonitors (models, drift monitor), ServiceMonitor, PrometheusRule,
    # AlertmanagerConfig, dashboard ConfigMap; 4 queues, 4 queue policies, 2
    # redrive-allow policies, IAM policy + attachment; alert receiver (token Secret, SA,
    # Role, RoleBinding, Deployment, Service, NetworkPolicy, the reserved-accounts
    # ValidatingAdmissionPolicy and its binding); 5 component resources.
    "smb": 43,
    # Enterprise (same inputs, one model with a GPU canary): Redis (Secrets Manager secret
    # + version, subnet group, security group, replication group, Kubernetes Secret)
    # instead of tables; 6 PDBs (feature server, 3 InferenceServices, 2 routers); a GPU
    # ServingRuntime; challenger InferenceService; 2 Envoy routers (ConfigMap,
    # Deployment, Service); the dedicated Prometheus (SA, Role, RoleBinding, Prometheus,
    # egress NetworkPolicy).
    "enterprise": 66,
}
PLATFORM_COUNT = 33
"""Once per cluster with GPU pools: 3 components, 3 namespaces (cert-manager, kserve,
monitoring; the GPU agents go to the existing kube-system), 18 NetworkPolicies (default
deny + DNS + same-namespace + API-server HTTPS in each, plus webhook, scrape and alert
allows), the Grafana admin Secret, 6 Helm releases (cert-manager, kserve-crd, kserve,
kube-prometheus-stack, device plugin, DCGM exporter), the InferenceService admission
policy and its binding. Without GPU pools: 30."""


@pytest.mark.parametrize("tier", samples.TIERS)
def test_resource_counts_per_tier(tier: str) -> None:
    records = [r for r in registered(tier) if r["type"] != "pulumi:pulumi:Stack"]
    tenant = [r for r in records if r["name"].startswith(samples.tenant(tier))]
    platform = [r for r in records if not r["name"].startswith(samples.tenant(tier))]
    by_type = collections.Counter(r["type"] for r in tenant)
    assert len(tenant) == EXPECTED_TENANT_COUNTS[tier], by_type
    assert len(platform) == PLATFORM_COUNT, collections.Counter(r["type"] for r in platform)
    assert counts(tier)["kubernetes:helm.sh/v3:Release"] == 6


@pytest.mark.parametrize("tier", samples.TIERS)
def test_every_child_is_parented_to_its_component(tier: str) -> None:
    records = registered(tier)
    # Type tokens are ``mlplatform:<module>:<Type>`` (module: where the component lives).
    modules = ("automation", "featurestore", "gpu", "monitoring", "queues", "serving")
    components = {
        r["urn"]: r
        for r in records
        if r["type"].startswith(tuple(f"mlplatform:{m}:" for m in modules))
    }
    assert len(components) == 8
    for r in records:
        if r["type"].startswith(("mlplatform:", "pulumi:")):
            continue
        assert r["parent"] in components, f"{r['type']} {r['name']} parent {r['parent']}"
        owner = components[r["parent"]]["name"]
        assert r["name"].startswith(owner), (r["name"], owner)


@pytest.mark.parametrize("tier", samples.TIERS)
def test_every_registered_object_is_schema_valid(tier: str) -> None:
    builtin = kserve = 0
    for manifest in k8s_objects(tier):
        if validation.is_kserve(manifest):
            assert validation.kserve_findings(manifest) == [], manifest["metadata"]["name"]
            kserve += 1
        elif is_builtin(manifest["apiVersion"]):
            assert validation.kubernetes_findings(manifest) == [], manifest["metadata"]["name"]
            builtin += 1
    assert kserve == (3 if tier == "smb" else 5)
    assert builtin >= 10


@pytest.mark.parametrize("tier", samples.TIERS)
def test_invariants_hold_for_every_registered_object(tier: str) -> None:
    objects = k8s_objects(tier)
    findings = [f for m in objects for f in invariants.all_findings(m, REG, samples.GPU_SELECTOR)]
    assert findings == []
    services = [m for m in objects if m["kind"] == "Service"]
    assert services and all(s["spec"]["type"] == "ClusterIP" for s in services)


@pytest.mark.parametrize("tier", samples.TIERS)
def test_helm_releases_are_pinned_and_mirrored(tier: str) -> None:
    releases = [r for r in registered(tier) if r["type"] == "kubernetes:helm.sh/v3:Release"]
    seen = set()
    for r in releases:
        chart = r["inputs"]["chart"]
        name = chart.rsplit("/", 1)[-1]
        assert chart == f"oci://{REG}/charts/{name}"
        assert r["inputs"]["version"] == CHARTS[name].version
        assert r["inputs"]["atomic"] is True
        seen.add(name)
        values = r["inputs"].get("values", {})
        images = invariants.helm_value_images(values)
        if name != "kserve-crd":  # the CRD chart runs no pods
            assert images, name
        assert invariants.helm_values_findings(values, REG) == []
        text = json.dumps(values)
        assert '"LoadBalancer"' not in text and '"NodePort"' not in text
    # Karpenter, Kueue and Trainer are cluster-wide (tests/components/test_batch.py); the
    # NATS broker is the on-prem site's (tests/components/test_nats.py); KEDA comes with
    # the AWS site's ingestion queues (tests/components/test_ingestion.py); Velero with a
    # dr_site (tests/components/test_velero.py); Valkey is the on-prem site's online store
    # (tests/components/test_hybrid_site.py).
    excluded = {"karpenter", "kueue", "kubeflow-trainer", "nats", "keda", "velero", "valkey"}
    assert seen == set(CHARTS) - excluded


@pytest.mark.parametrize("tier", samples.TIERS)
def test_aws_stores_and_queues_are_encrypted_with_the_tenant_key(tier: str) -> None:
    records = registered(tier)
    queues = [r for r in records if r["type"] == "aws:sqs/queue:Queue"]
    assert len(queues) == 4
    for q in queues:
        assert q["inputs"]["kmsMasterKeyId"] == samples.KEY_ARN
    sources = [q for q in queues if not q["inputs"]["name"].endswith("-dlq")]
    for q in sources:
        assert json.loads(q["inputs"]["redrivePolicy"])["maxReceiveCount"] == 5
    tables = [r for r in records if r["type"] == "aws:dynamodb/table:Table"]
    groups = [
        r for r in records if r["type"] == "aws:elasticache/replicationGroup:ReplicationGroup"
    ]
    if tier == "smb":
        assert {t["inputs"]["name"] for t in tables} == {
            "corner_shop.customer_activity",
            "corner_shop.customer_profile",
        }
        for t in tables:
            assert t["inputs"]["billingMode"] == "PAY_PER_REQUEST"
            assert t["inputs"]["serverSideEncryption"] == {
                "enabled": True,
                "kmsKeyArn": samples.KEY_ARN,
            }
            assert t["inputs"]["pointInTimeRecovery"] == {"enabled": True}
            assert "replicas" not in t["inputs"]
        assert groups == []
    else:
        assert tables == []
        (rg,) = groups
        i = rg["inputs"]
        assert i["atRestEncryptionEnabled"] and i["transitEncryptionEnabled"]
        assert i["kmsKeyId"] == samples.KEY_ARN
        assert i["automaticFailoverEnabled"] and i["multiAzEnabled"]
        assert i["numCacheClusters"] == 2
        assert i["authToken"] == "[secret]"
        (secret,) = [r for r in records if r["type"] == "aws:secretsmanager/secret:Secret"]
        assert secret["inputs"]["kmsKeyId"] == samples.KEY_ARN
        (version,) = [
            r for r in records if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion"
        ]
        assert "secretString" in version["secretInputs"]
        (sg,) = [r for r in records if r["type"] == "aws:ec2/securityGroup:SecurityGroup"]
        assert [rule["securityGroups"] for rule in sg["inputs"]["ingress"]] == [["sg-0nodes"]]
        assert sg["inputs"]["egress"] == []


@pytest.mark.parametrize("tier", samples.TIERS)
def test_automation_policy_names_only_its_own_queues(tier: str) -> None:
    records = registered(tier)
    (policy,) = [r for r in records if r["type"] == "aws:iam/policy:Policy"]
    doc = json.loads(policy["inputs"]["policy"])
    queue_arns = {r["inputs"]["name"] for r in records if r["type"] == "aws:sqs/queue:Queue"}
    resources = doc["Statement"][0]["Resource"]
    assert len(resources) == 4
    assert {arn.rsplit(":", 1)[-1] for arn in resources} == queue_arns
    assert all(":sqs:me-central-1:123456789012:" in arn for arn in resources)
    assert "*" not in json.dumps(doc)


@pytest.mark.parametrize("tier", samples.TIERS)
def test_secrets_stay_secret_in_the_plan(tier: str) -> None:
    for r in registered(tier):
        if r["type"] == "kubernetes:core/v1:Secret":
            assert "stringData" in r["secretInputs"], r["name"]
    text = json.dumps(registered(tier))
    assert "pw-from-config" not in text and "webhook-token-from-config" not in text
    assert samples.feature_store_args("enterprise")["redis_auth_token"] not in text


def test_feature_store_yaml_reaches_the_config_map() -> None:
    cms = [
        r
        for r in registered("enterprise")
        if r["type"] == "kubernetes:core/v1:ConfigMap" and r["name"].endswith("-config")
    ]
    (cm,) = cms
    text = cm["inputs"]["data"]["feature_store.yaml"]
    assert "online_store:" in text and "type: redis" in text
    assert "password=${FEAST_REDIS_PASSWORD}" in text
    assert "ssl=true" in text


@pytest.mark.parametrize("tier", samples.TIERS)
def test_every_namespace_is_restricted_and_denies_by_default(tier: str) -> None:
    objects = k8s_objects(tier)
    namespaces = [m for m in objects if m["kind"] == "Namespace"]
    assert {n["metadata"]["name"] for n in namespaces} == {"cert-manager", "kserve", "monitoring"}
    for ns in namespaces:
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        deny = [
            m
            for m in objects
            if m["kind"] == "NetworkPolicy"
            and m["metadata"]["namespace"] == ns["metadata"]["name"]
            and m["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        ]
        assert len(deny) == 1, ns["metadata"]["name"]


def test_a_custom_gpu_namespace_is_created_privileged_and_says_why() -> None:
    mocks = PlatformMocks()
    monitor = RecordingMonitor(mocks, {"aws": {"region": "me-central-1"}, "kubernetes": {}})
    pulumi.runtime.set_mocks(
        mocks, project="mlplatform", stack="dev", preview=False, monitor=monitor
    )

    @pulumi.runtime.test
    def body() -> None:
        GpuEnablement("gpu", {"registry_host": REG, "namespace": "gpu-system"})

    body()
    (ns,) = [r for r in monitor.records if r["type"] == "kubernetes:core/v1:Namespace"]
    meta = ns["inputs"]["metadata"]
    assert meta["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert "hostPath" in meta["annotations"]["mlplatform.io/pod-security-reason"]
    releases = [r for r in monitor.records if r["type"] == "kubernetes:helm.sh/v3:Release"]
    assert {r["inputs"]["namespace"] for r in releases} == {"gpu-system"}
    assert ns["urn"] in releases[0]["options"]["dependsOn"]


@pytest.mark.parametrize("tier", samples.TIERS)
def test_every_model_server_carries_the_verify_key_in_its_runtime(tier: str) -> None:
    """The key is written into the ServingRuntime (no tenant role may write one), not into
    a ConfigMap the tenant's admins could patch (tests/components/test_verify_key_rbac.py)."""
    objects = k8s_objects(tier)
    runtimes = [o for o in objects if o["kind"] == "ServingRuntime"]
    assert len(runtimes) == (2 if tier == "enterprise" else 1)
    assert not [
        o
        for o in objects
        if any(VERIFY_KEY_PEM.strip() in str(v) for v in (o.get("data") or {}).values())
    ]
    for runtime in runtimes:
        (container,) = runtime["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MLPLATFORM_VERIFY_KEY_PEM"] == VERIFY_KEY_PEM
        assert "MLPLATFORM_VERIFY_KEY" not in env
        assert all("emptyDir" in v for v in runtime["spec"]["volumes"])
