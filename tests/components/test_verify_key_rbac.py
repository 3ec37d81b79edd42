"""No tenant-bound subject can modify the key the model servers verify models with.

Over the planned manifests of every shipped stack: find every object that carries the
configured model-signing public key to a model server (ConfigMap or Secret data, a
container's environment), then resolve every Role, ClusterRole, RoleBinding and
ClusterRoleBinding the plan creates and check that no subject bound in a tenant
namespace (the tenant's admin and viewer groups, its workload service accounts, the
loop's controllers) may create, update, patch or delete any of those objects, nor
escalate its way there (``bind``/``escalate``/``impersonate``, writes to RBAC objects).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from contracts.names import TENANT_LABEL
from tests.conftest import REPO, SHIPPED_STACKS

Plan = dict[str, Any]
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}
ESCALATION_VERBS = {"bind", "escalate", "impersonate"}
RBAC_GROUP = "rbac.authorization.k8s.io"
RESOURCE_OF_KIND = {
    "ConfigMap": ("", "configmaps"),
    "Secret": ("", "secrets"),
    "ServingRuntime": ("serving.kserve.io", "servingruntimes"),
    "ClusterServingRuntime": ("serving.kserve.io", "clusterservingruntimes"),
    "InferenceService": ("serving.kserve.io", "inferenceservices"),
    "Deployment": ("apps", "deployments"),
}


def _objects(plan: Plan) -> Iterator[dict[str, Any]]:
    for resource in plan["resources"]:
        type_ = resource["type"]
        if type_.startswith("kubernetes:") and not type_.startswith(
            ("kubernetes:helm.sh/", "pulumi:providers:")
        ):
            inputs = dict(resource.get("inputs") or {})
            inputs.setdefault("kind", type_.rsplit(":", 1)[-1])
            yield inputs


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def key_holders(plan: Plan, pem: str) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of every object whose content includes the key's PEM."""
    body = pem.strip()
    return [
        (obj["kind"], obj.get("metadata", {}).get("namespace", ""), obj["metadata"]["name"])
        for obj in _objects(plan)
        if obj["kind"] not in {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
        and any(
            body in text for text in _strings({k: v for k, v in obj.items() if k != "metadata"})
        )
    ]


def _rule_allows(
    rule: dict[str, Any], group: str, resource: str, name: str, verbs: set[str]
) -> bool:
    return (
        bool({group, "*"} & set(rule.get("apiGroups", [])))
        and bool({resource, "*"} & set(rule.get("resources", [])))
        and (not rule.get("resourceNames") or name in rule["resourceNames"])
        and bool(verbs & set(rule.get("verbs", [])))
    )


def tenant_grants(plan: Plan) -> list[tuple[str, str, dict[str, Any]]]:
    """(binding, namespace it applies in ('' = cluster), rule) for tenant-bound subjects."""
    objects = list(_objects(plan))
    tenants = {
        o["metadata"]["name"]: o["metadata"]["labels"][TENANT_LABEL]
        for o in objects
        if o["kind"] == "Namespace" and TENANT_LABEL in o["metadata"].get("labels", {})
    }
    tenant_namespaces = set(tenants)
    assert tenant_namespaces, "no tenant namespace in the plan"
    roles = {
        (o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in objects
        if o["kind"] in {"Role", "ClusterRole"}
    }

    def tenant_bound(binding: dict[str, Any]) -> bool:
        if binding["metadata"].get("namespace") in tenant_namespaces:
            return True
        for subject in binding.get("subjects", []):
            if (
                subject.get("kind") == "ServiceAccount"
                and subject.get("namespace") in tenant_namespaces
            ):
                return True
            if subject.get("kind") in {"Group", "User"} and any(
                subject["name"].startswith(f"mlplatform:{tenant}:") for tenant in tenants.values()
            ):
                return True
        return False

    grants = []
    for binding in objects:
        if binding["kind"] not in {"RoleBinding", "ClusterRoleBinding"} or not tenant_bound(
            binding
        ):
            continue
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace", "")
        key = (namespace if ref["kind"] == "Role" else "", ref["name"])
        assert key in roles, f"{binding['metadata']['name']}: role {key} is not in the plan"
        role = roles[key]
        assert "aggregationRule" not in role, f"{key}: aggregated roles cannot be judged here"
        applies = namespace if binding["kind"] == "RoleBinding" else ""
        grants += [(binding["metadata"]["name"], applies, rule) for rule in role.get("rules", [])]
    return grants


@pytest.fixture(scope="module", params=SHIPPED_STACKS)
def stack(request: pytest.FixtureRequest, stack_plan: Callable[[str], Plan]) -> tuple[str, Plan]:
    return request.param, stack_plan(request.param)


def _configured_key(stack: str) -> str:
    config = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    (key,) = [v for k, v in config.items() if k.endswith(":model_signing_public_key")]
    return str(key)


def test_no_tenant_subject_can_write_the_verify_key(stack: tuple[str, Plan]) -> None:
    name, plan = stack
    holders = key_holders(plan, _configured_key(name))
    assert holders, f"{name}: no object carries the verify key"
    grants = tenant_grants(plan)
    assert grants, f"{name}: no tenant RBAC found; the test would prove nothing"
    problems = []
    for kind, namespace, obj in holders:
        group, resource = RESOURCE_OF_KIND[kind]
        for binding, applies, rule in grants:
            if applies not in ("", namespace):
                continue
            if _rule_allows(rule, group, resource, obj, WRITE_VERBS):
                problems.append(f"{binding} may write {kind} {namespace}/{obj}: {rule}")
    assert problems == [], "\n".join(problems)
    assert {kind for kind, _, _ in holders} == {"ServingRuntime"}, holders


def test_no_tenant_subject_can_escalate(stack: tuple[str, Plan]) -> None:
    _, plan = stack
    for binding, _, rule in tenant_grants(plan):
        assert not ESCALATION_VERBS & set(rule.get("verbs", [])), (binding, rule)
        for resource in ("roles", "rolebindings", "clusterroles", "clusterrolebindings"):
            assert not _rule_allows(rule, RBAC_GROUP, resource, "", WRITE_VERBS), (binding, rule)


def test_the_checker_catches_a_tenant_writable_key() -> None:
    """The old layout (key in a ConfigMap the tenant admin may patch) is reported."""
    pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAabc\n-----END PUBLIC KEY-----\n"
    plan = {
        "resources": [
            {
                "type": "kubernetes:core/v1:Namespace",
                "inputs": {"metadata": {"name": "tenant-a", "labels": {TENANT_LABEL: "a"}}},
            },
            {
                "type": "kubernetes:core/v1:ConfigMap",
                "inputs": {
                    "metadata": {"name": "a-model-verify-key", "namespace": "tenant-a"},
                    "data": {"verify.pub.pem": pem},
                },
            },
            {
                "type": "kubernetes:rbac.authorization.k8s.io/v1:Role",
                "inputs": {
                    "metadata": {"name": "tenant-admin", "namespace": "tenant-a"},
                    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["patch"]}],
                },
            },
            {
                "type": "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
                "inputs": {
                    "metadata": {"name": "tenant-admin", "namespace": "tenant-a"},
                    "roleRef": {"kind": "Role", "name": "tenant-admin", "apiGroup": RBAC_GROUP},
                    "subjects": [{"kind": "Group", "name": "mlplatform:a:admins"}],
                },
            },
        ]
    }
    assert key_holders(plan, pem) == [("ConfigMap", "tenant-a", "a-model-verify-key")]
    ((_binding, applies, rule),) = tenant_grants(plan)
    assert applies == "tenant-a"
    assert _rule_allows(rule, "", "configmaps", "a-model-verify-key", WRITE_VERBS)
