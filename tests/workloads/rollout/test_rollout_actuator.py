"""The actuator's calls against a loopback Kubernetes API: idempotent, tenant-scoped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workloads.rollout.actuator import ActuatorError, CanaryActuator, TenantScopeError
from workloads.rollout.canary import Action, CanaryDecision
from workloads.rollout.localkube import LocalKube, inference_service, merge_patch

TOKEN = "test-token-123"
PATH = "/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices/fraud"


@pytest.fixture
def kube() -> Iterator[LocalKube]:
    with LocalKube(TOKEN) as server:
        server.add(inference_service("team-a", "fraud", "s3://b/v2", canary_percent=10))
        server.add(inference_service("team-b", "fraud", "s3://other/v1", canary_percent=10))
        yield server


@pytest.fixture
def actuator(kube: LocalKube) -> CanaryActuator:
    return CanaryActuator.from_configuration(kube.configuration(), "team-a", actor="tester")


def test_rollback_patches_once_then_is_a_no_op(kube: LocalKube, actuator: CanaryActuator) -> None:
    first = actuator.rollback("team-a", "fraud", "p99 too high", previous_storage_uri="s3://b/v1")
    assert first.changed
    assert (first.canary_percent_before, first.canary_percent_after) == (10, 0)
    assert [(c.method, c.path) for c in kube.calls] == [("GET", PATH), ("PATCH", PATH)]
    patch_call = kube.calls[1]
    assert patch_call.content_type == "application/merge-patch+json"
    assert patch_call.body["spec"] == {
        "predictor": {"canaryTrafficPercent": 0, "model": {"storageUri": "s3://b/v1"}}
    }
    stored = kube.get("team-a", "fraud")
    assert stored["spec"]["predictor"]["model"] == {
        "modelFormat": {"name": "onnx"},
        "storageUri": "s3://b/v1",
    }
    assert (
        '"reason": "p99 too high"'
        in stored["metadata"]["annotations"]["serving.mlplatform.ai/last-canary-action"]
    )
    again = actuator.rollback("team-a", "fraud", "redelivered", previous_storage_uri="s3://b/v1")
    assert not again.changed
    assert [c.method for c in kube.calls] == ["GET", "PATCH", "GET"]


def test_promote_removes_the_canary_field(kube: LocalKube, actuator: CanaryActuator) -> None:
    result = actuator.promote("team-a", "fraud", "all checks passed")
    assert result.changed
    assert kube.calls[1].body["spec"] == {"predictor": {"canaryTrafficPercent": None}}
    assert "canaryTrafficPercent" not in kube.get("team-a", "fraud")["spec"]["predictor"]
    assert not actuator.promote("team-a", "fraud").changed
    assert [c.method for c in kube.calls] == ["GET", "PATCH", "GET"]


def test_set_traffic_and_bounds(kube: LocalKube, actuator: CanaryActuator) -> None:
    assert actuator.set_traffic("team-a", "fraud", 25).canary_percent_after == 25
    assert not actuator.set_traffic("team-a", "fraud", 25).changed
    with pytest.raises(ValueError, match="percent 101: must be between 0 and 100"):
        actuator.set_traffic("team-a", "fraud", 101)


def test_refuses_other_tenant_namespace_without_any_call(
    kube: LocalKube, actuator: CanaryActuator
) -> None:
    with pytest.raises(TenantScopeError, match="refusing to act on namespace 'team-b'"):
        actuator.rollback("team-b", "fraud", "x")
    with pytest.raises(TenantScopeError):
        actuator.apply_decision(CanaryDecision(Action.HOLD, ["wait"]), "team-b", "fraud")
    assert kube.calls == []
    assert kube.get("team-b", "fraud")["spec"]["predictor"]["canaryTrafficPercent"] == 10


def test_apply_decision_routes_actions(kube: LocalKube, actuator: CanaryActuator) -> None:
    assert actuator.apply_decision(CanaryDecision(Action.HOLD, ["wait"]), "team-a", "fraud") is None
    assert kube.calls == []
    result = actuator.apply_decision(
        CanaryDecision(Action.ROLLBACK, ["error rate"]), "team-a", "fraud"
    )
    assert result is not None
    assert result.action == "rollback"
    assert kube.get("team-a", "fraud")["spec"]["predictor"]["canaryTrafficPercent"] == 0


def test_api_errors_are_one_line(kube: LocalKube) -> None:
    good = CanaryActuator.from_configuration(kube.configuration(), "team-a")
    with pytest.raises(
        ActuatorError, match=r"cannot read InferenceService team-a/absent: HTTP 404"
    ):
        good.rollback("team-a", "absent")
    bad = CanaryActuator.from_configuration(kube.configuration(token="wrong"), "team-a")
    with pytest.raises(ActuatorError, match="HTTP 401"):
        bad.rollback("team-a", "fraud")
    assert kube.get("team-a", "fraud")["spec"]["predictor"]["canaryTrafficPercent"] == 10


def test_bad_tenant_namespace_is_rejected() -> None:
    with pytest.raises(ValueError, match="tenant_namespace 'Team_A': must be a DNS-1123 label"):
        CanaryActuator(None, "Team_A")  # type: ignore[arg-type]


def test_merge_patch_semantics() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None, "e": 4}, "f": 5}) == {
        "a": 1,
        "b": {"d": 3, "e": 4},
        "f": 5,
    }
