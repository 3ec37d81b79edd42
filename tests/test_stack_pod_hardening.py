"""Every pod spec of every planned manifest of the four shipped stacks, walked the way the
policy packs walk objects (custom resources included):

- every long-running container has a liveness and a readiness probe;
- secrets reach containers as mounted files, not ``secretKeyRef`` environment variables,
  except where the program cannot do otherwise (listed below with the reason);
- a service-account token is mounted only in pods that call the API server, and those
  say why (``mlplatform.io/kubernetes-api-access``);
- the alert receiver admits only the shared Alertmanager: its pod is left out of the
  namespace's allow-same-namespace policy, and its own policy names Alertmanager's pods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from components.k8s.invariants import API_ACCESS_ANNOTATION
from contracts.telemetry import WEBHOOK_PORT
from policies.rules.kubernetes.pods import PodSpec, scan_pods
from tests.conftest import SHIPPED_STACKS

Plan = dict[str, Any]

RUN_TO_COMPLETION = ("Job", "CronJob", "TrainJob", "TrainingRuntime", "ClusterTrainingRuntime")
"""Kinds whose pods finish (probes would only kill a run that is working)."""

SECRET_ENV_ALLOWED = {
    # Feast's Redis online store takes its password only inside the connection string of
    # feature_store.yaml, which it expands from the environment; a file cannot be named.
    ("feature-server", "FEAST_REDIS_PASSWORD"),
    ("materialize", "FEAST_REDIS_PASSWORD"),
    ("ingestion-worker", "FEAST_REDIS_PASSWORD"),
}
"""(container, variable) pairs that must stay environment variables, and why."""

LIVENESS_MISSING_KNOWN = {
    # components/k8s/retraining.py belongs to the retraining work (issue 12): its
    # controller has a readiness probe and still needs a liveness probe.
    "retraining-controller",
}


def _kubernetes_objects(plan: Plan) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for resource in plan["resources"]:
        type_ = resource["type"]
        if type_.startswith("kubernetes:") and not type_.startswith(
            ("kubernetes:helm.sh/", "pulumi:providers:")
        ):
            yield resource["name"], type_, resource.get("inputs") or {}


def _pods(plan: Plan) -> Iterator[tuple[str, str, dict[str, Any], PodSpec]]:
    for name, type_, inputs in _kubernetes_objects(plan):
        for pod in scan_pods(type_, inputs):
            yield name, type_, inputs, pod


@pytest.fixture(scope="module", params=SHIPPED_STACKS)
def plan(request: pytest.FixtureRequest, stack_plan: Callable[[str], Plan]) -> Plan:
    return stack_plan(request.param)


def test_the_walk_finds_the_platform_pods(plan: Plan) -> None:
    pods = list(_pods(plan))
    assert len(pods) >= 5
    assert any(type_.endswith(":Deployment") for _, type_, _, _ in pods)


def test_long_running_containers_have_liveness_and_readiness_probes(plan: Plan) -> None:
    missing = []
    for name, type_, _, pod in _pods(plan):
        if type_.rsplit(":", 1)[-1] in RUN_TO_COMPLETION:
            continue
        for container in pod.containers:
            spec = container.spec if isinstance(container.spec, dict) else {}
            if container.partial or "initContainers" in container.where:
                continue  # completed by KServe's runtime; init containers run to completion
            cname = str(spec.get("name"))
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in spec and not (
                    probe == "livenessProbe" and cname in LIVENESS_MISSING_KNOWN
                ):
                    missing.append(f"{name}: {container.where}: no {probe}")
    assert missing == []


def test_secrets_are_mounted_files_not_environment_variables(plan: Plan) -> None:
    in_env = []
    for name, _, _, pod in _pods(plan):
        for container in pod.containers:
            spec = container.spec if isinstance(container.spec, dict) else {}
            for var in spec.get("env") or []:
                source = (var.get("valueFrom") or {}) if isinstance(var, dict) else {}
                if "secretKeyRef" in source and (
                    (spec.get("name"), var.get("name")) not in SECRET_ENV_ALLOWED
                ):
                    in_env.append(f"{name}: {container.where}: {var.get('name')}")
            for env_from in spec.get("envFrom") or []:
                if "secretRef" in env_from:
                    in_env.append(f"{name}: {container.where}: envFrom {env_from['secretRef']}")
    assert in_env == []


def test_service_account_tokens_only_where_the_pod_calls_the_api(plan: Plan) -> None:
    wrong = []
    for name, type_, inputs, pod in _pods(plan):
        automount = pod.spec.get("automountServiceAccountToken")
        if pod.custom:
            continue  # operators (KServe, Trainer) build these pods; checked by the policies
        if automount is not False:
            annotations = ((inputs.get("spec") or {}).get("template") or {}).get(
                "metadata", {}
            ).get("annotations") or {}
            if automount is not True or API_ACCESS_ANNOTATION not in annotations:
                wrong.append(f"{name} ({type_}): automount {automount!r} without a reason")
    assert wrong == []


def test_alert_receiver_admits_only_alertmanager(plan: Plan) -> None:
    from components.k8s.automation import ALERTMANAGER_POD_LABELS
    from components.k8s.netpol import RESTRICTED_INGRESS_LABEL

    objects = [inputs for _, _, inputs in _kubernetes_objects(plan)]
    receivers = [
        o
        for o in objects
        if o.get("kind") == "Deployment" and o["metadata"]["name"].endswith("-alert-receiver")
    ]
    if not receivers:
        pytest.skip("no alert receiver in this stack")
    for receiver in receivers:
        ns = receiver["metadata"]["namespace"]
        pod_labels = receiver["spec"]["template"]["metadata"]["labels"]
        policies = [
            o
            for o in objects
            if o.get("kind") == "NetworkPolicy"
            and o["metadata"].get("namespace") == ns
            and "Ingress" in o["spec"].get("policyTypes", [])
            and _selects(o["spec"]["podSelector"], pod_labels)
        ]
        # Peers of the rules that open the webhook port (a rule without ports opens all).
        peers = [
            peer
            for policy in policies
            for rule in policy["spec"].get("ingress", [])
            if not rule.get("ports")
            or any(p.get("port") in (WEBHOOK_PORT, "webhook") for p in rule["ports"])
            for peer in rule.get("from", [{}])
        ]
        assert peers, f"{ns}: no policy admits anything to the receiver"
        for peer in peers:
            # Only Alertmanager's pods, only in the monitoring namespace.
            assert peer["podSelector"] == {"matchLabels": ALERTMANAGER_POD_LABELS}, peer
            assert peer["namespaceSelector"] == {
                "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
            }, peer
        assert pod_labels[RESTRICTED_INGRESS_LABEL] == "true"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) selects ``labels``."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True
