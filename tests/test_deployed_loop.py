"""The loop as the example stacks deploy it: images that hold what their pods run, and
runtime-owned fields that ``pulumi up`` never takes back.

Plans every example stack once (the CLI, as ``make demo`` does) and reads the manifests:

- every container (and the training-run template the controller instantiates) that runs
  one of the platform's own images: the modules its ``python -m`` command imports,
  transitively, are among the files the image's Dockerfile ``COPY``s, and every
  third-party import comes from a distribution pinned in that image's requirements;
  removing a ``COPY`` line or a requirement makes the check fail;
- the model versions and traffic weights are ``ignoreChanges`` in the recorded resource
  options, exactly those fields, so re-planning after a rollback changes nothing the
  loop set;
- the loop's new objects are schema-valid.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.k8s.catalog import OWN_IMAGES
from components.k8s.serving import RUNTIME_OWNED
from contracts.router import router_traffic_patch
from tests.components.crd_validation import crd_findings
from tests.components.k8s_validation import kubernetes_findings
from tests.image_contents import ROOT, command_problems, image_files, pinned
from workloads.rollout.localkube import merge_patch

STACKS = ("dev", "staging", "prod", "onprem")


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """plan.json of every example stack (planned in parallel, as the CLI writes it)."""
    out = tmp_path_factory.mktemp("plans")
    cli = Path(sys.executable).parent / "mlplatform"
    procs = {
        stack: subprocess.Popen(
            [str(cli), "plan", "--stack", stack, "--out", str(out / stack), "--format", "json"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for stack in STACKS
    }
    for stack, proc in procs.items():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{stack}: {err.decode()[-2000:]}"
    return {stack: json.loads((out / stack / "plan.json").read_text()) for stack in STACKS}


def _manifests(plan: dict[str, Any]) -> list[dict[str, Any]]:
    from mlplatform.engine.output import manifests

    return [manifest for _, manifest in manifests(plan)]


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every container (and init container) anywhere in an object, templates included."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict) and "image" in c)
            elif key == "trainer" and isinstance(value, dict) and "image" in value:
                yield value  # a TrainJob's trainer: image, command, args of every node
            elif key == "run.json" and isinstance(value, str):
                yield from _containers(json.loads(value))  # the training-run template
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _own_image(image: str) -> str | None:
    repository = image.rsplit(":", 1)[0].split("/", 1)[-1]
    return next((k for k, o in OWN_IMAGES.items() if o.repository == repository), None)


def _module(command: list[str]) -> tuple[str, list[str]]:
    """The module a ``python -m M`` or ``torchrun [...] -m M`` command runs, and the
    distributions the launcher itself needs (``torchrun`` is torch's)."""
    if command[:2] == ["python", "-m"]:
        return command[2], []
    if command and command[0] == "torchrun" and "-m" in command:
        return command[command.index("-m") + 1], ["torch"]
    raise AssertionError(f"not a python -m or torchrun -m command: {command}")


def test_every_container_command_is_inside_its_image(plans: dict[str, dict[str, Any]]) -> None:
    seen: dict[str, set[str]] = {}
    problems: list[str] = []
    for stack, plan in plans.items():
        for manifest in _manifests(plan):
            for container in _containers(manifest):
                key = _own_image(str(container["image"]))
                if key is None:
                    continue  # a mirrored upstream image (Envoy, Feast, Prometheus, ...)
                own = OWN_IMAGES[key]
                image = image_files(ROOT / own.dockerfile)
                assert image.requirements == own.requirements, own.dockerfile
                command = list(container.get("command") or image.entrypoint)
                module, launcher = _module(command)
                seen.setdefault(key, set()).add(module)
                pins = pinned((ROOT / own.requirements).read_text())
                where = f"{stack} {manifest['kind']}/{manifest['metadata']['name']} ({key})"
                problems += [f"{where}: {p}" for p in command_problems(image, pins, module)]
                problems += [f"{where}: {d} not pinned" for d in launcher if d not in pins]
    assert not problems, "\n".join(sorted(set(problems)))
    assert seen == {
        "onnx-serving": {"workloads.serving"},
        "loop": {
            "workloads.alerts.webhook",
            "workloads.dr",
            "workloads.monitoring",
            "workloads.retraining",
            "workloads.ingestion",
            "workloads.features",
        },
        # The retraining controller's runs, and Kubeflow Trainer's runtime (torchrun).
        "training": {"workloads.retraining.run", "workloads.training"},
        "training-cuda": {"workloads.retraining.run"},
    }


@pytest.mark.parametrize(
    ("key", "module", "remove", "expected"),
    [
        ("loop", "workloads.retraining", "COPY workloads/registry", "workloads/registry/index.py"),
        ("loop", "workloads.alerts.webhook", "kubernetes==", "imports kubernetes"),
        ("onnx-serving", "workloads.serving", "boto3==", "imports boto3"),
        ("training", "workloads.retraining.run", "COPY workloads/training", "workloads/training"),
    ],
)
def test_a_missing_copy_line_or_requirement_is_caught(
    key: str, module: str, remove: str, expected: str
) -> None:
    own = OWN_IMAGES[key]
    dockerfile = (ROOT / own.dockerfile).read_text()
    requirements = (ROOT / own.requirements).read_text()
    image, pins = image_files(ROOT / own.dockerfile), pinned(requirements)
    assert command_problems(image, pins, module) == []
    if remove.startswith("COPY"):
        kept = "\n".join(line for line in dockerfile.splitlines() if not line.startswith(remove))
        image = image_files(ROOT / own.dockerfile, kept)
    else:
        pins = pinned("\n".join(r for r in requirements.splitlines() if not r.startswith(remove)))
    found = command_problems(image, pins, module)
    assert found and any(expected in problem for problem in found), found


def _ignored(resource: dict[str, Any]) -> list[str]:
    return list(resource["options"].get("ignoreChanges") or [])


def test_runtime_owned_fields_are_ignore_changes_exactly(plans: dict[str, dict[str, Any]]) -> None:
    counted = 0
    for stack, plan in plans.items():
        for resource in plan["resources"]:
            typ = resource["type"]
            if not typ.startswith("kubernetes:"):
                continue
            kind = typ.rsplit(":", 1)[-1]
            name = resource["inputs"].get("metadata", {}).get("name", "")
            if kind == "InferenceService" or (
                kind in {"ConfigMap", "Deployment"} and name.endswith("-router")
            ):
                assert _ignored(resource) == RUNTIME_OWNED[kind], f"{stack} {resource['urn']}"
                counted += 1
            else:
                assert _ignored(resource) == [], f"{stack} {resource['urn']}"
    assert counted >= 10


def _paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Pulumi property paths where two input trees differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after)):
            step = f'["{key}"]' if any(c in key for c in "./") else (f".{key}" if prefix else key)
            found += _paths(before.get(key), after.get(key), prefix + step)
        return found
    return [] if before == after else [prefix]


def test_a_rollback_survives_a_replan(plans: dict[str, dict[str, Any]]) -> None:
    """prod declares gulf-bank's churn at 90/10; after the loop rolls it back, the only
    differences between the live objects and a re-plan are fields the plan ignores, so
    ``pulumi up`` (and ``--refresh``, which reads the live values into state) keeps the
    rollback."""
    ns = "tenant-gulf-bank"
    patch = router_traffic_patch(ns, "churn-champion", None, 0)
    checked = 0
    for resource in plans["prod"]["resources"]:
        name = resource["inputs"].get("metadata", {}).get("name")
        if name != "churn-router" or resource["inputs"]["metadata"].get("namespace") != ns:
            continue
        kind = resource["type"].rsplit(":", 1)[-1]
        if kind not in {"ConfigMap", "Deployment"}:
            continue  # the router's Service and PDB carry no weights
        declared = resource["inputs"]
        live = merge_patch(declared, patch["configmap" if kind == "ConfigMap" else "deployment"])
        changed = _paths(live, declared)
        assert changed, "the rollback must change the live object"
        ignored = _ignored(resource)
        assert all(any(path.startswith(i) for i in ignored) for path in changed), (changed, ignored)
        checked += 1
    assert checked == 2


def test_the_loop_objects_are_schema_valid(plans: dict[str, dict[str, Any]]) -> None:
    findings: list[str] = []
    kinds: set[str] = set()
    for manifest in _manifests(plans["prod"]):
        component = manifest["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component not in {"retraining-controller", "drift-monitor", "training", "automation"}:
            continue
        kinds.add(manifest["kind"])
        findings += kubernetes_findings(manifest)
        if manifest["kind"] == "ConfigMap" and "run.json" in manifest.get("data", {}):
            template = json.loads(manifest["data"]["run.json"])
            template["metadata"]["name"] = "churn-rt-0123456789abcdef0123"
            findings += crd_findings(template)  # a TrainJob, against the pinned CRD
            kinds.add(template["kind"])
    assert not findings, findings
    assert {"CronJob", "Deployment", "TrainJob", "Role", "RoleBinding", "ServiceAccount"} <= kinds
