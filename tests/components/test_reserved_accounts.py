"""A tenant admin cannot run code as the loop's service accounts (which assume the
automation IAM role: queues, registry, audit bucket, audit MAC key).

The ValidatingAdmissionPolicy's CEL is evaluated with a CEL engine (cel-python): every
pod-bearing object the four stacks plan passes when the platform applies it; a tenant
admin creating or changing one that uses a reserved account is refused in every shape
(Pod, Deployment, CronJob, InferenceService, the deprecated ``serviceAccount`` field),
and the controllers that create the platform's own pods are not.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import celpy
import pytest

from components.k8s.automation import reserved_accounts_admission
from contracts.names import automation_service_account, tenant_admin_group
from tests.conftest import SHIPPED_STACKS

TENANT, NS = "acme", "tenant-acme"
PLATFORM = {"username": "arn:aws:iam::123456789012:role/deployer", "groups": ["system:masters"]}
ADMIN = {"username": "alice@acme", "groups": [tenant_admin_group(TENANT), "system:authenticated"]}
CONTROLLER = {"username": "system:serviceaccount:kube-system:replicaset-controller",
              "groups": ["system:serviceaccounts", "system:authenticated"]}  # fmt: skip


def _refused(obj: dict[str, Any], user: dict[str, Any], tenant: str = TENANT) -> list[str]:
    policy, binding = reserved_accounts_admission(tenant, f"tenant-{tenant}")
    assert binding["spec"]["validationActions"] == ["Deny"]
    env = celpy.Environment()
    activation: dict[str, Any] = {
        "object": celpy.json_to_cel(obj),
        "request": celpy.json_to_cel({"userInfo": user, "operation": "CREATE"}),
    }
    variables: dict[Any, Any] = {}
    for variable in policy["spec"]["variables"]:
        activation["variables"] = celpy.celtypes.MapType(variables)
        value = env.program(env.compile(variable["expression"])).evaluate(activation)
        variables[celpy.celtypes.StringType(variable["name"])] = value
    activation["variables"] = celpy.celtypes.MapType(variables)
    refused = []
    for validation in policy["spec"]["validations"]:
        result = env.program(env.compile(validation["expression"])).evaluate(activation)
        assert isinstance(result, celpy.celtypes.BoolType), (validation, result)
        if not result:
            refused.append(validation["message"])
    return refused


def _pod_spec(account: str, field: str = "serviceAccountName") -> dict[str, Any]:
    return {field: account, "containers": [{"name": "x", "image": "r.example/x:1"}]}


SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "Pod": lambda spec: {"kind": "Pod", "spec": spec},
    "Deployment": lambda spec: {"kind": "Deployment", "spec": {"template": {"spec": spec}}},
    "Job": lambda spec: {"kind": "Job", "spec": {"template": {"spec": spec}}},
    "CronJob": lambda spec: {
        "kind": "CronJob",
        "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}},
    },
    "InferenceService": lambda spec: {
        "kind": "InferenceService",
        "spec": {"predictor": {"serviceAccountName": spec.get("serviceAccountName")}},
    },
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_tenant_admin_cannot_run_as_the_automation_accounts(shape: str) -> None:
    obj = SHAPES[shape](_pod_spec(automation_service_account(TENANT)))
    [message] = _refused(obj, ADMIN)
    assert "reserved to the platform's own workloads" in message
    assert _refused(obj, PLATFORM) == []
    assert _refused(obj, CONTROLLER) == []
    # Their own accounts stay theirs.
    assert _refused(SHAPES[shape](_pod_spec("my-app")), ADMIN) == []


def test_the_deprecated_service_account_field_is_covered_too() -> None:
    obj = SHAPES["Pod"](_pod_spec(automation_service_account(TENANT), "serviceAccount"))
    assert _refused(obj, ADMIN)
    # Another tenant's admins are another policy's business (and another namespace).
    assert _refused(obj, {"username": "bob", "groups": [tenant_admin_group("other")]}) == []
    assert _refused(obj, {"username": "anonymous"}) == []  # no groups at all


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_everything_the_platform_plans_is_admitted_and_reserved_ones_are_guarded(
    stack: str, stack_plan: Callable[[str], dict[str, Any]]
) -> None:
    plan = stack_plan(stack)
    policies = [
        r for r in plan["resources"]
        if r["type"] == "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
        and r["inputs"]["metadata"]["name"].endswith("-reserved-accounts")
    ]  # fmt: skip
    guarded = 0
    for resource in plan["resources"]:
        inputs = resource.get("inputs") or {}
        kind = resource["type"].rsplit(":", 1)[-1]
        if kind not in SHAPES or not isinstance(inputs.get("metadata"), dict):
            continue
        tenant = (inputs["metadata"].get("labels") or {}).get("mlplatform.io/tenant")
        if not tenant:
            continue
        obj = {"kind": kind, **copy.deepcopy(inputs)}
        assert _refused(obj, PLATFORM, tenant) == [], resource["name"]
        if _refused(obj, {"username": "a", "groups": [tenant_admin_group(tenant)]}, tenant):
            guarded += 1
    receivers = [
        r for r in plan["resources"]
        if r["type"] == "kubernetes:apps/v1:Deployment"
        and r["inputs"]["metadata"]["name"].endswith("-alert-receiver")
    ]  # fmt: skip
    # One policy per tenant with an alert receiver; its Deployment is guarded.
    assert len(policies) == len(receivers)
    assert guarded >= len(receivers)
