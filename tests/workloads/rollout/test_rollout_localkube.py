"""The loopback API stand-in speaks the patch content types the official client sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from workloads.rollout.localkube import LocalKube, canary_objects, merge_patch, object_path

TOKEN = "test-token-123"


@pytest.fixture
def kube() -> Iterator[LocalKube]:
    with LocalKube(TOKEN) as server:
        server.add_all(canary_objects("team-a", "fraud", "s3://b/v1", "s3://b/v2", 20))
        yield server


def _apis(kube: LocalKube) -> tuple[client.CoreV1Api, client.AppsV1Api]:
    api = client.ApiClient(kube.configuration())
    return client.CoreV1Api(api), client.AppsV1Api(api)


def test_client_default_patch_is_strategic_merge_and_is_applied(kube: LocalKube) -> None:
    core, apps = _apis(kube)
    cm = core.patch_namespaced_config_map("fraud-router", "team-a", {"data": {"extra": "1"}})
    assert cm.data["extra"] == "1" and "envoy.yaml" in cm.data
    assert kube.calls[-1].content_type == "application/strategic-merge-patch+json"
    patch = {"spec": {"template": {"metadata": {"annotations": {"a": "b"}}}}}
    dep = apps.patch_namespaced_deployment("fraud-router", "team-a", patch)
    assert dep.spec.template.metadata.annotations["a"] == "b"
    assert dep.metadata.generation == 2
    assert kube.deployment("team-a", "fraud-router")["metadata"]["resourceVersion"] == "2"


def test_list_semantics_and_json_patch_are_refused_not_guessed(kube: LocalKube) -> None:
    _, apps = _apis(kube)
    containers = {"spec": {"template": {"spec": {"containers": [{"name": "envoy"}]}}}}
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("fraud-router", "team-a", containers)
    assert err.value.status == 415
    assert "strategic merge of lists is not implemented" in (err.value.body or "")
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 5}]
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("fraud-router", "team-a", ops)
    assert err.value.status == 415
    assert kube.deployment("team-a", "fraud-router")["spec"]["replicas"] == 2


def test_unchanged_patch_keeps_the_resource_version(kube: LocalKube) -> None:
    core, _ = _apis(kube)
    same = kube.config_map("team-a", "fraud-router")["data"]
    core.patch_namespaced_config_map(
        "fraud-router", "team-a", {"data": same}, _content_type="application/merge-patch+json"
    )
    assert kube.config_map("team-a", "fraud-router")["metadata"]["resourceVersion"] == "1"


def test_paths_and_unknown_kinds() -> None:
    assert object_path(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": "n", "name": "d"}}
    ) == ("/apis/apps/v1/namespaces/n/deployments/d")
    with pytest.raises(ValueError, match="kind 'Secret': LocalKube serves only ConfigMap"):
        object_path({"apiVersion": "v1", "kind": "Secret", "metadata": {}})


def test_merge_patch_semantics() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None, "e": 4}, "f": 5}) == {
        "a": 1,
        "b": {"d": 3, "e": 4},
        "f": 5,
    }
