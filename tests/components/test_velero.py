"""Velero on the AWS stacks: pinned chart, restricted, objects to the in-country store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.k8s.catalog import CHARTS, IMAGES, Registry
from components.k8s.velero import velero_values
from contracts.backup import copy_cron
from policies.rules import residency
from tests.components.test_chart_values import (
    _docker,
    chart_defaults,
    documented_keys,
    values_findings,
)
from tests.policies.policy_helpers import validate

REG = Registry("123456789012.dkr.ecr.me-central-1.amazonaws.com")
VALUES_FILE = "velero-12.1.0.yaml"
STORE = "https://s3.dc1.onprem.example.ae"


def _values() -> dict[str, Any]:
    return velero_values(REG, endpoint=STORE, bucket="mlp-dr-platform-prod", interval_minutes=60,
                         retention_days=35, system_selector={"mlplatform.io/purpose": "system"})  # fmt: skip


def test_every_values_key_exists_in_the_pinned_chart() -> None:
    defaults, header = chart_defaults(VALUES_FILE)
    assert CHARTS["velero"].version in VALUES_FILE
    assert header["Chart.yaml appVersion"] == "1.18.1"
    assert values_findings(_values(), defaults, conditions=documented_keys(VALUES_FILE)) == []
    image = defaults["image"]
    assert (IMAGES["velero"].upstream, IMAGES["velero"].tag) == (
        _docker(image["repository"]),
        image["tag"],
    )


def test_velero_backs_objects_up_in_country_restricted_without_host_access() -> None:
    values = _values()
    (location,) = values["configuration"]["backupStorageLocation"]
    assert location["config"]["s3Url"] == STORE and location["default"] is True
    assert values["configuration"]["volumeSnapshotLocation"] == []
    assert values["deployNodeAgent"] is False and values["snapshotsEnabled"] is False
    assert values["upgradeCRDs"] is False  # no kubectl job image
    assert values["credentials"] == {
        "useSecret": True,
        "existingSecret": "velero-store-credentials",
    }
    for ctx in (values["containerSecurityContext"], values["initContainers"][0]["securityContext"]):
        assert ctx["runAsNonRoot"] and ctx["readOnlyRootFilesystem"]
        assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert values["initContainers"][0]["image"].endswith("velero-plugin-for-aws:v1.14.4")
    schedule = values["schedules"]["platform"]
    assert schedule["schedule"] == copy_cron(60)
    assert schedule["template"]["ttl"] == "840h"


def test_the_residency_pack_judges_the_chart_location() -> None:
    props = {"chart": f"oci://{REG.host}/charts/velero", "values": _values()}
    rule = residency.backup_destination_in_country
    release = "kubernetes:helm.sh/v3:Release"
    ok = {"approvedObjectStores": ["s3.dc1.onprem.example.ae"]}
    assert validate(rule, release, props, config=ok) == []
    (message,) = validate(rule, release, props)
    assert "approvedObjectStores" in message


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "onprem"])
def test_aws_stacks_run_velero_and_the_second_site_does_not(
    stack: str, stack_plan: Callable[[str], dict[str, Any]]
) -> None:
    releases = [
        r
        for r in stack_plan(stack)["resources"]
        if r["type"] == "kubernetes:helm.sh/v3:Release" and r["inputs"].get("namespace") == "velero"
    ]
    assert len(releases) == (0 if stack == "onprem" else 1)
    for release in releases:
        assert release["inputs"]["version"] == CHARTS["velero"].version
        values = release["inputs"]["values"]
        assert values["configuration"]["backupStorageLocation"][0]["config"]["s3Url"] == STORE
