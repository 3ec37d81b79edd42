"""The actuator's calls on a model's Envoy router, against a loopback Kubernetes API.

It must patch exactly the objects the serving component deploys (ConfigMap, then
Deployment ``<model>-router``), be idempotent, stay in its tenant's namespace, and turn
every API failure into one line that says what to check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from components.k8s import serving
from contracts.router import ROUTER_CONFIG_KEY, WEIGHTS_ANNOTATION
from workloads.rollout.actuator import (
    CHANGE_ANNOTATION,
    ActuatorError,
    CanaryActuator,
    TenantScopeError,
)
from workloads.rollout.canary import Action, CanaryDecision
from workloads.rollout.localkube import LocalKube, canary_objects

TOKEN = "test-token-123"
CM = "/api/v1/namespaces/team-a/configmaps/fraud-router"
DEP = "/apis/apps/v1/namespaces/team-a/deployments/fraud-router"
ISVC = "/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices/fraud-challenger"
REGISTRY = "123456789012.dkr.ecr.me-central-1.amazonaws.com"


@pytest.fixture
def kube() -> Iterator[LocalKube]:
    with LocalKube(TOKEN) as server:
        server.add_all(canary_objects("team-a", "fraud", "s3://b/v1", "s3://b/v2", 20))
        server.add_all(canary_objects("team-b", "fraud", "s3://x/v1", "s3://x/v2", 20))
        yield server


@pytest.fixture
def actuator(kube: LocalKube) -> CanaryActuator:
    return CanaryActuator.from_configuration(kube.configuration(), "team-a", actor="tester")


def _weights(kube: LocalKube, namespace: str = "team-a") -> str:
    dep = kube.deployment(namespace, "fraud-router")
    return dep["spec"]["template"]["metadata"]["annotations"][WEIGHTS_ANNOTATION]


def _served(kube: LocalKube, namespace: str = "team-a") -> list[tuple[str, int]]:
    """(predictor host, weight) pairs Envoy would route to with the stored ConfigMap."""
    config = yaml.safe_load(kube.config_map(namespace, "fraud-router")["data"][ROUTER_CONFIG_KEY])
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    route = hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    hosts = {
        c["name"]: c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
            "socket_address"
        ]["address"]
        for c in config["static_resources"]["clusters"]
    }
    return [(hosts[c["name"]], c["weight"]) for c in route["weighted_clusters"]["clusters"]]


def test_rollback_patches_configmap_then_deployment_once(
    kube: LocalKube, actuator: CanaryActuator
) -> None:
    first = actuator.rollback("team-a", "fraud", "p99 too high")
    assert first.changed
    assert first.traffic_before == {"fraud-champion": 80, "fraud-challenger": 20}
    assert first.traffic_after == {"fraud-champion": 100}
    assert [(c.method, c.path) for c in kube.calls] == [
        ("GET", CM),
        ("PATCH", CM),
        ("GET", DEP),
        ("PATCH", DEP),
    ]
    assert {c.content_type for c in kube.writes()} == {"application/merge-patch+json"}
    assert _served(kube) == [("fraud-champion-predictor.team-a.svc.cluster.local", 100)]
    assert _weights(kube) == "champion=100"
    dep = kube.deployment("team-a", "fraud-router")
    note = json.loads(dep["metadata"]["annotations"][CHANGE_ANNOTATION])
    assert (note["action"], note["by"], note["reason"]) == ("rollback", "tester", "p99 too high")
    # The change note is on the Deployment, not its pod template: it rolls nothing.
    assert CHANGE_ANNOTATION not in dep["spec"]["template"]["metadata"]["annotations"]
    # A redelivered alert reads both objects and writes nothing.
    again = actuator.rollback("team-a", "fraud", "redelivered")
    assert not again.changed and again.patch is None
    assert [c.method for c in kube.calls[4:]] == ["GET", "GET"]
    assert kube.deployment("team-a", "fraud-router")["metadata"]["resourceVersion"] == "2"


def _enterprise_args(challenger: bool) -> dict[str, Any]:
    model: dict[str, Any] = {"name": "fraud", "storage_uri": "s3://team-a-data/models/fraud/1/"}
    if challenger:
        model |= {
            "challenger_storage_uri": "s3://team-a-data/models/fraud/2/",
            "canary_percent": 20,
        }
    return {
        "tenant": "team-a",
        "namespace": "team-a",
        "tier": "enterprise",
        "registry_host": REGISTRY,
        "image_tag": "0.1.0",
        "models": [model],
        "min_replicas": 2,
        "max_replicas": 4,
    }


def _router_objects(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        m["kind"]: m
        for m in manifests
        if m["metadata"]["name"] == "fraud-router" and m["kind"] in {"ConfigMap", "Deployment"}
    }


def test_rollback_writes_exactly_what_the_serving_component_deploys_without_challenger() -> None:
    deployed = serving.serving_manifests(_enterprise_args(challenger=True))  # type: ignore[arg-type]
    expected = _router_objects(serving.serving_manifests(_enterprise_args(challenger=False)))  # type: ignore[arg-type]
    served_kinds = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "InferenceService"}
    with LocalKube(TOKEN) as kube:
        kube.add_all(m for m in deployed if m["kind"] in served_kinds)
        before = kube.config_map("team-a", "fraud-router")
        assert before["data"] != expected["ConfigMap"]["data"]  # the canary is live at 20 %
        actuator = CanaryActuator.from_configuration(kube.configuration(), "team-a")
        result = actuator.rollback("team-a", "fraud", "CanaryDegraded")
        assert result.traffic_before == {"fraud-champion": 80, "fraud-challenger": 20}
        cm = kube.config_map("team-a", "fraud-router")
        dep = kube.deployment("team-a", "fraud-router")
    # The whole ConfigMap equals the builder's, byte for byte, apart from the server's
    # resourceVersion.
    assert cm["metadata"].pop("resourceVersion") == "2"
    assert cm == expected["ConfigMap"]
    assert cm["data"][ROUTER_CONFIG_KEY] == expected["ConfigMap"]["data"][ROUTER_CONFIG_KEY]
    # The Deployment's spec (pods, weights annotation) equals the builder's as well.
    assert dep["spec"] == expected["Deployment"]["spec"]
    assert dep["metadata"]["generation"] == 2
    assert set(dep["metadata"]["annotations"]) == {CHANGE_ANNOTATION}


def test_promote_routes_everything_to_the_challenger_and_rollback_undoes_it(
    kube: LocalKube, actuator: CanaryActuator
) -> None:
    result = actuator.promote("team-a", "fraud", "all checks passed")
    assert result.traffic_after == {"fraud-challenger": 100}
    assert ("GET", ISVC) in [(c.method, c.path) for c in kube.calls]
    assert _served(kube) == [("fraud-challenger-predictor.team-a.svc.cluster.local", 100)]
    # Differs from a rollback's "champion=100", so the router pods roll either way.
    assert _weights(kube) == "challenger=100"
    writes = len(kube.writes())
    assert not actuator.promote("team-a", "fraud").changed
    assert len(kube.writes()) == writes
    back = actuator.rollback("team-a", "fraud", "regret")
    assert [p.kind for p in back.patches] == ["ConfigMap", "Deployment"]
    assert _served(kube) == [("fraud-champion-predictor.team-a.svc.cluster.local", 100)]


def test_set_traffic_steps_and_edges(kube: LocalKube, actuator: CanaryActuator) -> None:
    assert actuator.set_traffic("team-a", "fraud", 35).traffic_after == {
        "fraud-champion": 65,
        "fraud-challenger": 35,
    }
    assert _weights(kube) == "champion=65,challenger=35"
    assert not actuator.set_traffic("team-a", "fraud", 35).changed
    assert actuator.set_traffic("team-a", "fraud", 0).traffic_after == {"fraud-champion": 100}
    assert not actuator.rollback("team-a", "fraud").changed  # 0 % is the rollback state
    assert actuator.set_traffic("team-a", "fraud", 100).traffic_after == {"fraud-challenger": 100}
    assert not actuator.promote("team-a", "fraud").changed  # 100 % is the promoted state
    for bad in (101, -1, True, 12.5):
        with pytest.raises(ValueError, match=r"must be a whole number between 0 and 100"):
            actuator.set_traffic("team-a", "fraud", bad)  # type: ignore[arg-type]


def test_traffic_to_a_challenger_that_is_not_ready_is_refused_without_a_write() -> None:
    with LocalKube(TOKEN) as kube:
        kube.add_all(
            canary_objects("team-a", "fraud", "s3://b/v1", "s3://b/v2", 20, challenger_ready=False)
        )
        actuator = CanaryActuator.from_configuration(kube.configuration(), "team-a")
        with pytest.raises(ActuatorError, match=r"fraud-challenger: Ready is False"):
            actuator.promote("team-a", "fraud")
        with pytest.raises(ActuatorError, match=r"fraud-challenger: Ready is False"):
            actuator.set_traffic("team-a", "fraud", 50)
        assert kube.writes() == []
        # Rolling back never depends on the challenger.
        assert actuator.rollback("team-a", "fraud").changed


def test_refuses_other_tenant_namespace_without_any_call(
    kube: LocalKube, actuator: CanaryActuator
) -> None:
    with pytest.raises(TenantScopeError, match="refusing to act on namespace 'team-b'"):
        actuator.rollback("team-b", "fraud", "x")
    with pytest.raises(TenantScopeError):
        actuator.set_traffic("team-b", "fraud", 50)
    with pytest.raises(TenantScopeError):
        actuator.apply_decision(CanaryDecision(Action.HOLD, ["wait"]), "team-b", "fraud")
    with pytest.raises(ValueError, match="model 'Fraud_1': must be a DNS-1123 label"):
        actuator.rollback("team-a", "Fraud_1")
    assert kube.calls == []
    assert _weights(kube, "team-b") == "champion=80,challenger=20"


def test_apply_decision_routes_actions(kube: LocalKube, actuator: CanaryActuator) -> None:
    assert actuator.apply_decision(CanaryDecision(Action.HOLD, ["wait"]), "team-a", "fraud") is None
    assert kube.calls == []
    result = actuator.apply_decision(
        CanaryDecision(Action.ROLLBACK, ["error rate"]), "team-a", "fraud"
    )
    assert result is not None and result.action == "rollback"
    assert _weights(kube) == "champion=100"


def test_api_errors_are_one_line_with_what_to_check(kube: LocalKube) -> None:
    good = CanaryActuator.from_configuration(kube.configuration(), "team-a")
    with pytest.raises(ActuatorError) as err:
        good.rollback("team-a", "absent")
    assert str(err.value) == (
        'cannot read ConfigMap team-a/absent-router: HTTP 404 configmaps "absent-router" not '
        "found (not found: is this an enterprise model deployed with a canary router?)"
    )
    bad = CanaryActuator.from_configuration(kube.configuration(token="wrong"), "team-a")
    with pytest.raises(ActuatorError, match=r"HTTP 401 Unauthorized \(the API server rejected"):
        bad.rollback("team-a", "fraud")
    kube.forbidden.add(("PATCH", DEP))
    with pytest.raises(ActuatorError) as err:
        good.rollback("team-a", "fraud")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("cannot patch Deployment team-a/fraud-router: HTTP 403")
    assert message.endswith(
        "(RBAC: the receiver's Role must allow this verb on this object by name)"
    )
    # Half done (ConfigMap written, pods not rolled): a retry finishes the job only.
    assert _weights(kube) == "champion=80,challenger=20"
    kube.forbidden.clear()
    retry = good.rollback("team-a", "fraud")
    assert [p.kind for p in retry.patches] == ["Deployment"]
    assert _weights(kube) == "champion=100"


def test_a_configmap_that_is_not_a_router_is_not_touched() -> None:
    with LocalKube(TOKEN) as kube:
        objs = canary_objects("team-a", "fraud", "s3://b/v1", "s3://b/v2", 20)
        objs[2]["data"] = {ROUTER_CONFIG_KEY: "static_resources: {listeners: []}\n"}
        kube.add_all(objs)
        actuator = CanaryActuator.from_configuration(kube.configuration(), "team-a")
        with pytest.raises(
            ActuatorError,
            match=r"ConfigMap team-a/fraud-router: envoy.yaml is not a router this platform wrote",
        ):
            actuator.rollback("team-a", "fraud")
        objs[2]["data"] = {"other.yaml": "x"}
        kube.add(objs[2])
        with pytest.raises(ActuatorError, match=r"no envoy.yaml key, not a canary router"):
            actuator.rollback("team-a", "fraud")
        assert kube.writes() == []


def test_same_config_in_other_yaml_formatting_needs_no_patch() -> None:
    with LocalKube(TOKEN) as kube:
        objs = canary_objects("team-a", "fraud", "s3://b/v1", "s3://b/v2", 20)
        config = yaml.safe_load(objs[2]["data"][ROUTER_CONFIG_KEY])
        objs[2]["data"][ROUTER_CONFIG_KEY] = json.dumps(config, indent=1)  # JSON is YAML
        kube.add_all(objs)
        actuator = CanaryActuator.from_configuration(kube.configuration(), "team-a")
        assert not actuator.set_traffic("team-a", "fraud", 20).changed
        assert actuator.traffic("team-a", "fraud") == {"fraud-champion": 80, "fraud-challenger": 20}


def test_bad_tenant_namespace_is_rejected() -> None:
    with pytest.raises(ValueError, match="tenant_namespace 'Team_A': must be a DNS-1123 label"):
        CanaryActuator(None, "Team_A")  # type: ignore[arg-type]


def test_the_workloads_side_needs_no_pulumi() -> None:
    # The alert receiver runs from the workloads image, which does not ship Pulumi.
    code = (
        "import sys; import workloads.alerts.webhook, workloads.rollout.actuator; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'pulumi', 'components'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"
