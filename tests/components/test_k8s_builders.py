"""Pure builders of the Kubernetes layer: restricted pods, serving, Feast, monitoring.

Every manifest a builder returns is validated against the Kubernetes 1.31 schema
(strict) or, for KServe kinds, the KServe 0.16 SDK models; the invariant checkers are
run over all of them and shown to catch each violation they exist for.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.aws import online_store
from components.k8s import (
    alerting,
    automation,
    featurestore,
    invariants,
    monitoring,
    podspec,
    serving,
    tenant_monitoring,
)
from components.k8s import kserve as kserve_platform
from components.k8s.catalog import Registry
from contracts.names import labels
from contracts.router import router_traffic_patch
from tests.components import k8s_validation as validation

_spec = importlib.util.spec_from_file_location(
    "k8s_samples", Path(__file__).with_name("k8s_data") / "samples.py"
)
assert _spec is not None and _spec.loader is not None
samples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(samples)

REG = samples.REGISTRY


def feature_manifests(tier: str) -> list[dict[str, Any]]:
    t = samples.tenant(tier)
    return featurestore.feature_server_manifests(
        t,
        t,
        tier,
        Registry(REG),
        service_account_name=f"{t}-feast",
        config_name=f"{t}-feature-repo",
        secret_name=f"{t}-feast-redis" if tier == "enterprise" else None,
        region="me-central-1",
        replicas=2 if tier == "enterprise" else 1,
        schedule="0 * * * *",
        materialize_image=Registry(REG).own_image("loop", "0.1.0"),
        online_ttl_days=90,
    )


def all_manifests(tier: str) -> list[dict[str, Any]]:
    t = samples.tenant(tier)
    return [
        *serving.serving_manifests(samples.serving_args(tier)),
        *feature_manifests(tier),
        *tenant_monitoring.tenant_monitoring_manifests(samples.monitoring_args(tier)),
        *automation.automation_manifests(
            t, t, Registry(REG), "0.1.0", queue_url=samples.QUEUE_URL, role_arn=samples.ROLE_ARN
        ),
        podspec.service_account(f"{t}-feast", t, labels(t, "x"), samples.ROLE_ARN),
        podspec.config_map(f"{t}-repo", t, labels(t, "x"), {"a.yaml": "a: 1\n"}),
        podspec.namespace("gpu-system", "privileged", {}, "device plugin hostPath"),
    ]


BUILTIN_GROUPS = (
    "v1",
    "apps/v1",
    "batch/v1",
    "policy/v1",
    "rbac.authorization.k8s.io/v1",
    "networking.k8s.io/v1",
)


@pytest.mark.parametrize("tier", samples.TIERS)
def test_every_builtin_manifest_is_schema_valid_for_1_31(tier: str) -> None:
    checked = 0
    for manifest in all_manifests(tier):
        if manifest["apiVersion"] in BUILTIN_GROUPS:
            assert validation.kubernetes_findings(manifest) == [], manifest["metadata"]["name"]
            checked += 1
    assert checked == (13 if tier == "smb" else 29)


@pytest.mark.parametrize("tier", samples.TIERS)
def test_every_kserve_manifest_is_valid_for_the_sdk(tier: str) -> None:
    kinds = []
    for manifest in all_manifests(tier):
        if validation.is_kserve(manifest):
            assert validation.kserve_findings(manifest) == [], manifest["metadata"]["name"]
            kinds.append(manifest["kind"])
    if tier == "smb":
        assert sorted(kinds) == ["InferenceService", "InferenceService", "ServingRuntime"]
    else:
        assert kinds.count("InferenceService") == 3  # churn champion+challenger, fraud
        assert kinds.count("ServingRuntime") == 2  # CPU and GPU
        assert len(kinds) == 5


@pytest.mark.parametrize("tier", samples.TIERS)
def test_every_manifest_holds_the_invariants(tier: str) -> None:
    for manifest in all_manifests(tier):
        assert invariants.all_findings(manifest, REG, samples.GPU_SELECTOR) == []


# --- the checkers catch what they are for ----------------------------------------------


def _deployment() -> dict[str, Any]:
    return copy.deepcopy(feature_manifests("smb")[0])


def test_validation_rejects_unknown_and_mistyped_fields() -> None:
    dep = _deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = True
    findings = validation.kubernetes_findings(dep)
    assert len(findings) == 1 and "runAsNonroot" in findings[0]

    isvc = copy.deepcopy(serving.serving_manifests(samples.serving_args("smb"))[1])
    isvc["spec"]["predictor"]["canaryTraficPercent"] = 10  # misspelt: must not pass silently
    assert validation.kserve_findings(isvc) == [
        "InferenceService.spec.predictor.canaryTraficPercent: not a field of V1beta1PredictorSpec"
    ]
    isvc = copy.deepcopy(serving.serving_manifests(samples.serving_args("smb"))[1])
    isvc["spec"]["predictor"]["model"]["resources"] = ["not", "an", "object"]
    assert validation.kserve_findings(isvc) == [
        "InferenceService.spec.predictor.model.resources: expected an object "
        "(V1ResourceRequirements)"
    ]
    runtime = copy.deepcopy(serving.serving_manifests(samples.serving_args("smb"))[0])
    del runtime["spec"]["containers"][0]["name"]  # required by V1Container
    assert validation.kserve_findings(runtime) == [
        "ServingRuntime: V1Container: name: Field required"
    ]
    runtime["spec"]["containers"][0]["name"] = 7
    assert validation.kserve_findings(runtime) == [
        "ServingRuntime.spec.containers[0].name: expected str, got int"
    ]
    # Plans carry numbers as doubles: 8080.0 is a port, 8080.5 is not.
    runtime["spec"]["containers"][0]["name"] = "kserve-container"
    runtime["spec"]["containers"][0]["ports"][0]["containerPort"] = 8080.0
    assert validation.kserve_findings(runtime) == []
    runtime["spec"]["containers"][0]["ports"][0]["containerPort"] = 8080.5
    assert validation.kserve_findings(runtime) == [
        "ServingRuntime.spec.containers[0].ports[0].containerPort: expected int, got float"
    ]
    assert validation.kubernetes_findings({"apiVersion": "x.io/v1", "kind": "Thing"}) == [
        "x.io/v1/Thing: no schema in 1.31.0"
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c, s: c["securityContext"].update(runAsUser=0), "runAsUser is not a non-zero"),
        (lambda c, s: c["securityContext"].update(runAsUser=0.0), "runAsUser is not a non-zero"),
        (lambda c, s: c["securityContext"].update(runAsUser="1000"), "runAsUser is not a non-zero"),
        (
            lambda c, s: c["securityContext"].update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation is not false",
        ),
        (lambda c, s: c["securityContext"].update(privileged=True), "privileged"),
        (lambda c, s: c["securityContext"]["capabilities"].update(drop=[]), "capabilities.drop"),
        (
            lambda c, s: c["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
            "adds capabilities",
        ),
        (
            lambda c, s: c["securityContext"].update(readOnlyRootFilesystem=False),
            "readOnlyRootFilesystem",
        ),
        (lambda c, s: c["resources"].pop("limits"), "resources.limits lacks"),
        (lambda c, s: s["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
        (lambda c, s: s.update(hostNetwork=True), "hostNetwork is true"),
        (lambda c, s: s.update(automountServiceAccountToken=True), "automountServiceAccountToken"),
        (
            lambda c, s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
            "hostPath volume h",
        ),
    ],
)
def test_restricted_checker_catches_each_violation(mutate: Any, expected: str) -> None:
    dep = _deployment()
    spec = dep["spec"]["template"]["spec"]
    mutate(spec["containers"][0], spec)
    findings = invariants.restricted_findings(dep)
    assert len(findings) == 1 and expected in findings[0], findings


def test_image_checker_rejects_foreign_and_unpinned_images() -> None:
    dep = _deployment()
    container = dep["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "quay.io/feastdev/feature-server:0.67.0"
    assert invariants.image_findings(dep, REG) == [
        f"Deployment/corner-shop/corner-shop-feature-server[feature-server]: image "
        f"quay.io/feastdev/feature-server:0.67.0 not from {REG}"
    ]
    container["image"] = f"{REG}/quay.io/feastdev/feature-server:latest"
    assert [f for f in invariants.image_findings(dep, REG) if "not pinned" in f]
    container["image"] = f"{REG}/quay.io/feastdev/feature-server"
    assert [f for f in invariants.image_findings(dep, REG) if "not pinned" in f]


def test_service_checker_allows_only_cluster_ip_or_internal_lb() -> None:
    svc = copy.deepcopy(feature_manifests("smb")[1])
    assert svc["spec"]["type"] == "ClusterIP"
    assert invariants.service_findings(svc) == []
    svc["spec"]["type"] = "LoadBalancer"
    assert invariants.service_findings(svc) == [
        "Service/corner-shop/corner-shop-feature-server: LoadBalancer without an internal annotation"
    ]
    svc["metadata"]["annotations"] = {
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true"
    }
    assert invariants.service_findings(svc) == []
    svc["spec"]["type"] = "NodePort"
    assert "NodePort" in invariants.service_findings(svc)[0]


def test_gpu_checker_requires_gpu_pools_for_gpu_pods_only() -> None:
    args = samples.serving_args("enterprise")
    manifests = serving.serving_manifests(args)
    gpu_isvc = next(
        m for m in manifests if m["kind"] == "InferenceService" and "churn" in m["metadata"]["name"]
    )
    assert invariants.requests_gpu(gpu_isvc["spec"]["predictor"])
    assert invariants.gpu_placement_findings(gpu_isvc, samples.GPU_SELECTOR) == []
    broken = copy.deepcopy(gpu_isvc)
    del broken["spec"]["predictor"]["nodeSelector"]
    broken["spec"]["predictor"]["tolerations"] = []
    findings = invariants.gpu_placement_findings(broken, samples.GPU_SELECTOR)
    assert len(findings) == 2
    assert "nodeSelector lacks" in findings[0] and "does not tolerate" in findings[1]
    cpu_dep = _deployment()
    cpu_dep["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert (
        "without requesting a GPU"
        in invariants.gpu_placement_findings(cpu_dep, samples.GPU_SELECTOR)[0]
    )


# --- pod spec builders -----------------------------------------------------------------


def test_restricted_pod_spec_shape() -> None:
    c = podspec.container("app", f"{REG}/x/y:1", podspec.Resources("100m", "128Mi"))
    spec = podspec.pod_spec([c])
    ctx = c["securityContext"]
    assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == podspec.NONROOT_UID
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctx["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in spec["volumes"]
    assert spec["automountServiceAccountToken"] is False
    assert c["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "100m", "memory": "128Mi"},
    }
    assert "nodeSelector" not in spec and "tolerations" not in spec


def test_gpu_pod_spec_requests_gpu_and_targets_gpu_pools() -> None:
    res = podspec.Resources("1", "4Gi", gpus=1).to_manifest()
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"] == "1"
    spec = podspec.pod_spec(
        [podspec.container("t", f"{REG}/x:1", podspec.Resources("1", "4Gi", gpus=1))],
        gpu=podspec.GpuScheduling(),
    )
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_builders_reject_bad_input_with_clear_errors() -> None:
    with pytest.raises(ValueError, match="runAsUser must be a non-zero UID, got 0"):
        podspec.container_security_context(0)
    with pytest.raises(ValueError, match="image 'busybox' has no tag or digest"):
        podspec.container("c", "busybox", podspec.Resources("1m", "1Mi"))
    with pytest.raises(ValueError, match="replicas must be >= 1, got 0"):
        podspec.deployment("d", "ns", {}, {}, replicas=0)
    with pytest.raises(ValueError, match="unknown Pod Security level 'open'"):
        podspec.namespace("n", "open", {}, "why")


# --- serving ---------------------------------------------------------------------------


def _router(manifests: list[dict[str, Any]], model: str) -> dict[str, dict[str, Any]]:
    return {
        m["kind"]: m
        for m in manifests
        if m["metadata"]["name"] in {f"{model}-router", model} and m["kind"] != "InferenceService"
    }


def test_canary_is_a_weighted_envoy_route_not_canary_traffic_percent() -> None:
    manifests = serving.serving_manifests(samples.serving_args("enterprise"))
    for m in manifests:
        assert "canaryTrafficPercent" not in json.dumps(m)
        assert m["kind"] != "InferenceGraph"
    router = _router(manifests, "churn")
    assert set(router) == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}
    config = yaml.safe_load(router["ConfigMap"]["data"]["envoy.yaml"])
    (listener,) = config["static_resources"]["listeners"]
    assert listener["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 8080}
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    # One route per public API path (tests/contracts/test_router_routes.py), same weights.
    assert len(routes) == 10 and all(r["route"] == routes[0]["route"] for r in routes)
    route = routes[0]
    assert route["route"]["weighted_clusters"]["clusters"] == [
        {"name": "champion", "weight": 90},
        {"name": "challenger", "weight": 10},
    ]
    hosts = {
        c["name"]: c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
            "socket_address"
        ]
        for c in config["static_resources"]["clusters"]
    }
    # KServe names a RawDeployment predictor's Service <isvc>-predictor, port 80.
    assert hosts == {
        "champion": {
            "address": "churn-champion-predictor.big-bank.svc.cluster.local",
            "port_value": 80,
        },
        "challenger": {
            "address": "churn-challenger-predictor.big-bank.svc.cluster.local",
            "port_value": 80,
        },
    }
    assert "admin" not in config  # no admin interface to expose
    dep = router["Deployment"]
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"mlplatform.io/traffic-weights": "champion=90,challenger=10"}
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    envoy = dep["spec"]["template"]["spec"]["containers"][0]
    assert envoy["image"] == f"{REG}/docker.io/envoyproxy/envoy:distroless-v1.37.2"
    assert "--disable-hot-restart" in envoy["args"]
    svc = router["Service"]
    assert svc["metadata"]["name"] == "churn" and svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    # Both versions serve under the model's name, so one request path fits either.
    for isvc in (m for m in manifests if m["kind"] == "InferenceService"):
        assert isvc["metadata"]["labels"]["modelName"] in {"churn", "fraud"}
    fraud = yaml.safe_load(_router(manifests, "fraud")["ConfigMap"]["data"]["envoy.yaml"])
    assert [c["name"] for c in fraud["static_resources"]["clusters"]] == ["champion"]


def test_router_traffic_patch_moves_and_rolls_back_weights() -> None:
    patch = router_traffic_patch("ns", "m-champion", "m-challenger", 25)
    config = yaml.safe_load(patch["configmap"]["data"]["envoy.yaml"])
    route = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"
    ]["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    assert route["weighted_clusters"]["clusters"] == [
        {"name": "champion", "weight": 75},
        {"name": "challenger", "weight": 25},
    ]
    assert patch["deployment"]["spec"]["template"]["metadata"]["annotations"] == {
        "mlplatform.io/traffic-weights": "champion=75,challenger=25"
    }
    rollback = router_traffic_patch("ns", "m-champion", None, 0)
    config = yaml.safe_load(rollback["configmap"]["data"]["envoy.yaml"])
    assert [c["name"] for c in config["static_resources"]["clusters"]] == ["champion"]
    assert rollback["deployment"]["spec"]["template"]["metadata"]["annotations"] == {
        "mlplatform.io/traffic-weights": "champion=100"
    }


def test_enterprise_serving_is_highly_available() -> None:
    manifests = serving.serving_manifests(samples.serving_args("enterprise"))
    isvcs = [m for m in manifests if m["kind"] == "InferenceService"]
    pdbs = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "PodDisruptionBudget"}
    for isvc in isvcs:
        predictor = isvc["spec"]["predictor"]
        assert predictor["minReplicas"] >= 2 and predictor["maxReplicas"] == 6
        assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
        name = isvc["metadata"]["name"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == {
            "mlplatform.io/tenant": "big-bank",
            "mlplatform.io/inferenceservice": name,
        }
        # The PDB selects labels the predictor actually puts on its pods.
        assert predictor["labels"]["mlplatform.io/inferenceservice"] == name
    assert set(pdbs) == {
        "churn-champion",
        "churn-challenger",
        "churn-router",
        "fraud-champion",
        "fraud-router",
    }


def test_gpu_runtime_only_where_asked() -> None:
    manifests = serving.serving_manifests(samples.serving_args("enterprise"))
    runtimes = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "ServingRuntime"}
    assert set(runtimes) == {"big-bank-onnx-cpu", "big-bank-onnx-gpu"}
    gpu_rt = runtimes["big-bank-onnx-gpu"]["spec"]
    assert gpu_rt["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu_rt["nodeSelector"] == samples.GPU_SELECTOR
    cpu_rt = runtimes["big-bank-onnx-cpu"]["spec"]
    assert "nodeSelector" not in cpu_rt and "tolerations" not in cpu_rt
    assert cpu_rt["containers"][0]["image"] == f"{REG}/mlplatform/onnx-serving:0.1.0"
    assert "--bind_address=0.0.0.0" in cpu_rt["containers"][0]["args"]
    assert "--model_name={{.Labels.modelName}}" in cpu_rt["containers"][0]["args"]
    fraud = next(m for m in manifests if m["metadata"]["name"] == "fraud-champion")
    assert fraud["spec"]["predictor"]["model"]["runtime"] == "big-bank-onnx-cpu"
    smb = serving.serving_manifests(samples.serving_args("smb"))
    assert [m["metadata"]["name"] for m in smb if m["kind"] == "ServingRuntime"] == [
        "corner-shop-onnx-cpu"
    ]


def test_serving_rejects_what_the_tier_does_not_offer() -> None:
    smb = samples.serving_args("smb")
    smb["models"][0]["challenger_storage_uri"] = "s3://corner-shop-data/models/churn/2/"
    with pytest.raises(ValueError, match="canary rollouts are an enterprise feature"):
        serving.serving_manifests(smb)
    smb = samples.serving_args("smb")
    smb["models"][0]["gpu"] = True
    with pytest.raises(ValueError, match="GPU inference is an enterprise feature"):
        serving.serving_manifests(smb)
    ent = samples.serving_args("enterprise")
    ent["min_replicas"] = 1
    with pytest.raises(ValueError, match="enterprise needs min_replicas >= 2, got 1"):
        serving.serving_manifests(ent)
    ent = samples.serving_args("enterprise")
    ent["models"][0]["canary_percent"] = 100
    with pytest.raises(ValueError, match="canary_percent must be between 1 and 99, got 100"):
        serving.serving_manifests(ent)
    ent = samples.serving_args("enterprise")
    ent["models"][1]["name"] = "Fraud_Model"
    with pytest.raises(ValueError, match="model name 'Fraud_Model' must be a DNS-1123 label"):
        serving.serving_manifests(ent)
    ent = samples.serving_args("enterprise")
    ent["models"][1]["storage_uri"] = "https://example.com/model"
    with pytest.raises(ValueError, match="storage_uri must be s3:// or pvc://"):
        serving.serving_manifests(ent)


# --- feature store ---------------------------------------------------------------------


def test_feature_server_runs_restricted_with_workload_identity() -> None:
    dep, svc, cron, pdb = feature_manifests("enterprise")
    spec = dep["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "big-bank-feast"
    assert spec["automountServiceAccountToken"] is False
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert env["FEAST_USAGE"]["value"] == "False"
    assert env["FEAST_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "big-bank-feast-redis",
        "key": "auth-token",
    }
    assert svc["spec"]["type"] == "ClusterIP"
    assert {p["port"] for p in svc["spec"]["ports"]} == {6566, 8000}
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    # Materialisation runs the platform's writer in the loop image: rows expire.
    (job,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert job["image"] == f"{REG}/mlplatform/loop:0.1.0"
    assert job["command"] == ["python", "-m", "workloads.features"]
    assert job["args"] == ["materialize", "--repo=/feature_repo", "--online-ttl-days=90"]
    assert pdb["kind"] == "PodDisruptionBudget"
    assert len(feature_manifests("smb")) == 3  # one replica: no PDB


def test_redis_security_group_admits_only_the_nodes() -> None:
    rules = online_store.redis_security_group_rules("sg-0nodes")
    assert rules["egress"] == []
    (ingress,) = rules["ingress"]
    assert (ingress["from_port"], ingress["to_port"]) == (6379, 6379)
    assert ingress["security_groups"] == ["sg-0nodes"]
    assert "cidr_blocks" not in ingress


# --- monitoring ------------------------------------------------------------------------


def test_alert_rules_speak_the_webhooks_contract() -> None:
    smb = tenant_monitoring.tenant_monitoring_manifests(samples.monitoring_args("smb"))
    rules = next(m for m in smb if m["kind"] == "PrometheusRule")["spec"]["groups"][0]["rules"]
    names = [r["alert"] for r in rules]
    assert names == ["ModelP99LatencyHigh", "ModelErrorRateHigh", "ModelInputDrift"]
    drift = rules[2]
    assert drift["expr"] == (
        'max by (namespace, model, feature) (mlplatform_drift_psi{namespace="corner-shop"}) > 0.2'
    )
    ent = tenant_monitoring.tenant_monitoring_manifests(samples.monitoring_args("enterprise"))
    rules = next(m for m in ent if m["kind"] == "PrometheusRule")["spec"]["groups"][0]["rules"]
    canary = [r for r in rules if r["alert"] == "CanaryDegraded"]
    assert [r["labels"]["reason"] for r in canary] == ["p99-latency", "error-rate"]
    for r in canary:
        # The webhook acts on (namespace, inferenceservice), challengers only.
        assert "by (le, namespace, inferenceservice)" in r["expr"] or (
            "by (namespace, inferenceservice)" in r["expr"]
        )
        assert 'role="challenger"' in r["expr"]
    assert 'status=~"5..|error"' in canary[1]["expr"]
    assert "mlplatform_inference_request_duration_seconds_bucket" in canary[0]["expr"]
    # The PodMonitor turns the pod labels into exactly those series labels.
    pm = next(m for m in ent if m["metadata"]["name"] == "big-bank-model-servers")
    relabel = pm["spec"]["podMetricsEndpoints"][0]["relabelings"]
    assert relabel[0] == {
        "sourceLabels": ["__meta_kubernetes_pod_label_mlplatform_io_inferenceservice"],
        "targetLabel": "inferenceservice",
        "action": "replace",
    }


def test_alertmanager_routes_to_the_receiver_with_a_bearer_token() -> None:
    manifests = tenant_monitoring.tenant_monitoring_manifests(samples.monitoring_args("smb"))
    amc = next(m for m in manifests if m["kind"] == "AlertmanagerConfig")
    assert amc["spec"]["route"]["matchers"] == [
        {"name": "alertname", "value": "CanaryDegraded|ModelInputDrift", "matchType": "=~"}
    ]
    (receiver,) = amc["spec"]["receivers"]
    (hook,) = receiver["webhookConfigs"]
    assert hook["url"] == "http://corner-shop-alert-receiver.corner-shop.svc:9095/alerts"
    assert hook["httpConfig"]["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "corner-shop-alert-webhook", "key": "token"},
    }
    with pytest.raises(ValueError, match="must be an in-cluster service URL"):
        alerting.alertmanager_config("t", "t", "https://hooks.example.com/x", "s")
    # A tenant without automation keeps its alerts but routes them nowhere.
    quiet = tenant_monitoring.tenant_monitoring_manifests(
        samples.monitoring_args("smb") | {"automation": False}
    )
    assert [m["kind"] for m in quiet if m["kind"] == "AlertmanagerConfig"] == []
    assert [m["kind"] for m in quiet if m["kind"] == "PrometheusRule"] == ["PrometheusRule"]


def test_alert_receiver_deployment_matches_the_webhook_cli() -> None:
    manifests = automation.automation_manifests(
        "big-bank", "big-bank", Registry(REG), "0.1.0", queue_url=samples.QUEUE_URL,
        role_arn=samples.ROLE_ARN, canary_models=["churn"],
    )  # fmt: skip
    kinds = [m["kind"] for m in manifests]
    assert kinds == [
        "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "NetworkPolicy"
    ]  # fmt: skip
    sa, role, _, dep, svc, netpol = manifests
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": samples.ROLE_ARN}
    assert role["rules"] == [
        {
            "apiGroups": ["serving.kserve.io"],
            "resources": ["inferenceservices"],
            "verbs": ["get"],
        },
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["churn-router"],
            "verbs": ["get", "patch"],
        },
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": ["churn-router"],
            "verbs": ["get", "patch"],
        },
    ]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["python", "-m", "workloads.alerts.webhook"]
    assert f"--queue=sqs:{samples.QUEUE_URL}" in c["args"]
    assert "--tenant_namespace=big-bank" in c["args"] and "--port=9095" in c["args"]
    # The receiver's own parser accepts exactly these arguments (no network, no cluster).
    from workloads.alerts import webhook

    parsed = _parse_webhook_args(webhook, c["args"])
    assert parsed.port == 9095 and parsed.queue == f"sqs:{samples.QUEUE_URL}"
    assert svc["spec"]["type"] == "ClusterIP"
    (rule,) = netpol["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 9095}]
    assert rule["from"][0]["podSelector"] == {
        "matchLabels": {
            "app.kubernetes.io/name": "alertmanager",
            "alertmanager": "kps-alertmanager",
        }
    }
    # It mounts its token (to patch KServe objects) and says why.
    assert dep["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    assert invariants.restricted_findings(dep) == []
    del dep["spec"]["template"]["metadata"]["annotations"]
    assert "automountServiceAccountToken is not false" in invariants.restricted_findings(dep)[0]


def _parse_webhook_args(module: Any, args: list[str]) -> Any:
    """Run the receiver's argparse on ``args`` by intercepting ``parse_args``."""
    import argparse

    captured: dict[str, Any] = {}
    original = argparse.ArgumentParser.parse_args

    def capture(self: argparse.ArgumentParser, argv: Any = None, namespace: Any = None) -> Any:
        captured["ns"] = original(self, argv, namespace)
        raise SystemExit(0)

    argparse.ArgumentParser.parse_args = capture  # type: ignore[method-assign]
    try:
        with pytest.raises(SystemExit):
            module.main(args)
    finally:
        argparse.ArgumentParser.parse_args = original  # type: ignore[method-assign]
    return captured["ns"]


def test_shared_and_dedicated_prometheus_split_the_work() -> None:
    smb = tenant_monitoring.tenant_monitoring_manifests(samples.monitoring_args("smb"))
    assert not [m for m in smb if m["kind"] == "Prometheus"]
    for m in smb:
        assert monitoring.DEDICATED_LABEL not in m["metadata"]["labels"]
    ent = tenant_monitoring.tenant_monitoring_manifests(samples.monitoring_args("enterprise"))
    prom = next(m for m in ent if m["kind"] == "Prometheus")
    assert prom["spec"]["retention"] == "180d"
    assert prom["spec"]["image"] == f"{REG}/quay.io/prometheus/prometheus:v3.10.0"
    assert prom["spec"]["securityContext"]["runAsNonRoot"] is True
    assert prom["spec"]["serviceMonitorSelector"] == {
        "matchLabels": {monitoring.DEDICATED_LABEL: "big-bank"}
    }
    monitors = [m for m in ent if m["kind"] in {"PodMonitor", "ServiceMonitor", "PrometheusRule"}]
    assert len(monitors) == 4
    for m in monitors:
        assert m["metadata"]["labels"][monitoring.DEDICATED_LABEL] == "big-bank"
    # The shared Prometheus must skip exactly those.
    values = monitoring.kube_prometheus_values(
        Registry(REG), retention_days=15, storage_size="1Gi", storage_class="gp3",
        grafana_admin_secret="g",
    )  # fmt: skip
    assert values["prometheus"]["prometheusSpec"]["podMonitorSelector"] == {
        "matchExpressions": [{"key": monitoring.DEDICATED_LABEL, "operator": "DoesNotExist"}]
    }


def test_dashboard_is_grafana_json_in_a_labelled_config_map() -> None:
    cm = alerting.dashboard_config_map("big-bank", "monitoring", "big-bank", ["churn"])
    assert cm["metadata"]["labels"][monitoring.DASHBOARD_LABEL] == "1"
    assert cm["metadata"]["namespace"] == "monitoring"
    board = json.loads(cm["data"]["big-bank-models.json"])
    assert board["uid"] == "mlp-big-bank"
    assert [p["title"] for p in board["panels"]] == [
        "p99 latency",
        "Requests/s",
        "Error rate",
        "Drift (PSI) by feature",
    ]
    assert all('namespace="big-bank"' in p["targets"][0]["expr"] for p in board["panels"])
    assert validation.kubernetes_findings(cm) == []


# --- platform namespaces ---------------------------------------------------------------


def test_platform_namespaces_deny_by_default_and_allow_named_flows() -> None:
    from components.k8s import netpol

    policies = netpol.monitoring_policies("monitoring", {}, samples.CLUSTER_CIDRS)
    by_name = {p["metadata"]["name"]: p["spec"] for p in policies}
    assert by_name["default-deny-all"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert by_name["allow-https-to-cluster"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.40.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    ]
    alert_in = by_name["allow-alerts-from-tenant-prometheus"]["ingress"][0]
    assert alert_in["ports"] == [{"protocol": "TCP", "port": 9093}]
    kserve_policies = kserve_platform.kserve_install_policies(
        "kserve", "cert-manager", {}, samples.CLUSTER_CIDRS, "monitoring"
    )
    hooks = [p for p in kserve_policies if p["metadata"]["name"] == "allow-api-server-to-webhook"]
    assert [
        (h["metadata"]["namespace"], h["spec"]["ingress"][0]["ports"][0]["port"]) for h in hooks
    ] == [
        ("kserve", 9443),
        ("cert-manager", 10250),
    ]
    for policy in [*policies, *kserve_policies]:
        assert validation.kubernetes_findings(policy) == []
    with pytest.raises(ValueError, match="must be a bounded range, not the world"):
        netpol.baseline_policies("ns", {}, ["0.0.0.0/0"])
    with pytest.raises(ValueError, match="at least one CIDR"):
        netpol.baseline_policies("ns", {}, [])


def test_data_tags_name_owner_and_classification() -> None:
    from components.aws.tags import data_tags

    assert data_tags("acme", "restricted", {"cost-centre": "ml"}) == {
        "tenant": "acme",
        "data-classification": "restricted",
        "cost-centre": "ml",
    }
    with pytest.raises(ValueError, match="data_classification 'secret': allowed public"):
        data_tags("acme", "secret")


def test_kserve_controller_runs_restricted() -> None:
    controller = kserve_platform.kserve_values(Registry(REG))["kserve"]["controller"]
    assert controller["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for ctx in (controller["containerSecurityContext"], controller["rbacProxy"]["securityContext"]):
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}


def test_a_namespace_below_restricted_must_say_why() -> None:
    with pytest.raises(ValueError, match="Pod Security 'privileged' needs a reason"):
        podspec.namespace("gpu-system", "privileged", {})
    relaxed = podspec.namespace("gpu-system", "privileged", {}, "device plugin hostPath")
    assert relaxed["metadata"]["annotations"] == {
        "mlplatform.io/pod-security-reason": "device plugin hostPath"
    }
    assert "annotations" not in podspec.namespace("t", "restricted", {})["metadata"]
