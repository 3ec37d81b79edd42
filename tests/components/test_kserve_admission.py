"""Tenants' InferenceServices cannot override the platform's model-server runtime.

The ValidatingAdmissionPolicy's CEL rules are evaluated with a CEL engine (cel-python)
on every InferenceService the shipped stacks plan (all must pass) and on tenant edits
that would swap the verify key, lift the anti-rollback check or run another server
(each must be refused).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import celpy
import pytest

from components.k8s.kserve import ISVC_ADMISSION_POLICY, inference_service_admission
from contracts.names import TENANT_LABEL
from tests.conftest import SHIPPED_STACKS

Plan = dict[str, Any]


def _refusals(isvc: dict[str, Any]) -> list[str]:
    """Messages of the policy's validations that refuse ``isvc`` (empty: admitted)."""
    policy, _ = inference_service_admission()
    env = celpy.Environment()
    activation = {"object": celpy.json_to_cel(isvc)}
    refused = []
    for validation in policy["spec"]["validations"]:
        program = env.program(env.compile(validation["expression"]))
        result = program.evaluate(activation)
        assert isinstance(result, celpy.celtypes.BoolType), (validation, result)
        if not result:
            refused.append(validation["message"])
    return refused


def _planned_isvcs(plan: Plan) -> list[dict[str, Any]]:
    return [
        {"apiVersion": r["inputs"]["apiVersion"], "kind": "InferenceService", **r["inputs"]}
        for r in plan["resources"]
        if r["type"].endswith(":InferenceService")
    ]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_planned_inference_service_is_admitted(
    stack: str, stack_plan: Callable[[str], Plan]
) -> None:
    isvcs = _planned_isvcs(stack_plan(stack))
    assert isvcs
    for isvc in isvcs:
        assert _refusals(isvc) == [], isvc["metadata"]["name"]


def _edit(path: list[str], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(isvc: dict[str, Any]) -> None:
        node = isvc
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return apply


MODEL = ["spec", "predictor", "model"]
TENANT_EDITS = {
    "swap the verify key": _edit(
        [*MODEL, "env"], [{"name": "MLPLATFORM_VERIFY_KEY_PEM", "value": "tenant key"}]
    ),
    "allow a rollback": _edit([*MODEL, "args"], ["--allow_rollback=true"]),
    "another server image": _edit([*MODEL, "image"], "example.org/any:1"),
    "another command": _edit([*MODEL, "command"], ["sh"]),
    "mount a key file": _edit(
        [*MODEL, "volumeMounts"], [{"name": "k", "mountPath": "/etc/mlplatform/keys"}]
    ),
    "env from a ConfigMap": _edit([*MODEL, "envFrom"], [{"configMapRef": {"name": "x"}}]),
    "own container": _edit(["spec", "predictor", "containers"], [{"name": "x", "image": "y"}]),
    "own volume": _edit(["spec", "predictor", "volumes"], [{"name": "k", "configMap": {}}]),
    "init container": _edit(["spec", "predictor", "initContainers"], [{"name": "x"}]),
    "transformer": _edit(["spec", "transformer"], {"containers": [{"name": "t", "image": "i"}]}),
    "explainer": _edit(["spec", "explainer"], {"containers": [{"name": "e", "image": "i"}]}),
}


@pytest.mark.parametrize("edit", sorted(TENANT_EDITS))
def test_tenant_overrides_are_refused(edit: str, stack_plan: Callable[[str], Plan]) -> None:
    isvc = copy.deepcopy(_planned_isvcs(stack_plan("prod"))[0])
    TENANT_EDITS[edit](isvc)
    assert _refusals(isvc), edit


def test_the_loop_may_still_move_a_version(stack_plan: Callable[[str], Plan]) -> None:
    isvc = copy.deepcopy(_planned_isvcs(stack_plan("prod"))[0])
    isvc["spec"]["predictor"]["model"]["storageUri"] = "s3://b/models/churn/v9/"
    assert _refusals(isvc) == []


def test_binding_covers_tenant_namespaces_only() -> None:
    policy, binding = inference_service_admission()
    assert binding["spec"]["policyName"] == policy["metadata"]["name"] == ISVC_ADMISSION_POLICY
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {
        "matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]
    }
    assert policy["spec"]["failurePolicy"] == "Fail"
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["inferenceservices"]
    assert set(rule["operations"]) == {"CREATE", "UPDATE"}
