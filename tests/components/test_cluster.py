"""Cluster: private endpoint, secrets encryption, all log types, OIDC, pinned add-ons."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from components.cluster import (
    CONTROL_PLANE_LOG_TYPES,
    Cluster,
    ClusterArgs,
    build_kubeconfig,
    check_version,
)
from components.cluster_addons import ClusterAddons, ClusterAddonsArgs, addon_versions_for

SECRETS_KEY = "arn:aws:kms:me-central-1:123456789012:key/secrets"
LOGS_KEY = "arn:aws:kms:me-central-1:123456789012:key/logs"
BASE_ARGS = ClusterArgs(
    cluster_name="dev-ml",
    region="me-central-1",
    vpc_id="vpc-1",
    vpc_cidr="10.40.0.0/16",
    subnet_ids=["subnet-a", "subnet-b"],
    secrets_kms_key_arn=SECRETS_KEY,
    logs_kms_key_arn=LOGS_KEY,
)


def _args(**overrides: Any) -> ClusterArgs:
    return dataclasses.replace(BASE_ARGS, **overrides)


@pytest.mark.parametrize("version", ["1.34", "1.29", "2.0", "latest"])
def test_versions_before_135_are_refused(version: str) -> None:
    with pytest.raises(ValueError, match=r"1\.35 or later"):
        check_version(version)


def test_addon_pins_exist_for_supported_versions() -> None:
    for version in ("1.35", "1.36"):
        pins = addon_versions_for(version, None)
        assert all("eksbuild" in pin for pin in pins.values())
    with pytest.raises(ValueError, match=r"no pinned add-on versions for Kubernetes 1\.37"):
        addon_versions_for("1.37", None)


def test_kubeconfig_uses_short_lived_tokens() -> None:
    kubeconfig = build_kubeconfig("c", "https://x", "Q0E=", "me-central-1")
    user = kubeconfig["users"][0]["user"]
    assert "token" not in user
    assert user["exec"]["args"][:2] == ["eks", "get-token"]
    assert "--region" in user["exec"]["args"]


def test_cluster(run_program) -> None:
    captured: dict[str, object] = {}

    def program():
        cluster = Cluster(
            "eks", _args(admin_role_arns=["arn:aws:iam::123456789012:role/platform-admin"])
        )
        captured["cluster"] = cluster
        return cluster.kubeconfig.apply(lambda config: captured.setdefault("kubeconfig", config))

    mocks = run_program(program)
    (eks,) = mocks.of_type("aws:eks/cluster:Cluster")
    vpc = eks.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert eks.inputs["encryptionConfig"]["provider"]["keyArn"] == SECRETS_KEY
    assert eks.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert sorted(eks.inputs["enabledClusterLogTypes"]) == sorted(CONTROL_PLANE_LOG_TYPES)
    assert eks.inputs["accessConfig"]["authenticationMode"] == "API"
    assert eks.inputs["version"] == "1.35"

    log_group = mocks.one("aws:cloudwatch/logGroup:LogGroup", "eks-control-plane-logs").inputs
    assert log_group["name"] == "/aws/eks/dev-ml/cluster"
    assert log_group["kmsKeyId"] == LOGS_KEY

    (oidc,) = mocks.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"].startswith("https://oidc.eks.me-central-1.amazonaws.com/id/")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]

    addons = {
        addon.inputs["addonName"]: addon.inputs for addon in mocks.of_type("aws:eks/addon:Addon")
    }
    assert set(addons) == {"vpc-cni", "kube-proxy", "eks-pod-identity-agent"}
    assert all(addon["addonVersion"] for addon in addons.values())
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}

    cni_trust = json.loads(
        mocks.one("aws:iam/role:Role", "eks-vpc-cni-irsa").inputs["assumeRolePolicy"]
    )
    condition = cni_trust["Statement"][0]["Condition"]["StringEquals"]
    assert "system:serviceaccount:kube-system:aws-node" in condition.values()

    (entry,) = mocks.of_type("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["principalArn"].endswith("role/platform-admin")
    (provider,) = mocks.of_type("pulumi:providers:kubernetes")
    assert provider.name == "eks-k8s"
    kubeconfig = json.loads(str(captured["kubeconfig"]))
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://")
    assert captured["cluster"].private_endpoint_only is True  # type: ignore[attr-defined]


def test_late_addons(run_program) -> None:
    def program():
        cluster = Cluster("eks", _args())
        ClusterAddons(
            "eks-late",
            ClusterAddonsArgs(
                cluster_name=cluster.cluster_name,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer_host=cluster.oidc_issuer_host,
                ebs_kms_key_arn="arn:aws:kms:me-central-1:123456789012:key/ebs",
                region="me-central-1",
                addon_versions=cluster.addon_versions,
            ),
        )

    mocks = run_program(program)
    names = {addon.inputs["addonName"] for addon in mocks.of_type("aws:eks/addon:Addon")}
    assert {"coredns", "aws-ebs-csi-driver"} <= names
    kms = json.loads(
        mocks.one("aws:iam/rolePolicy:RolePolicy", "eks-late-ebs-csi-kms").inputs["policy"]
    )
    assert all(statement["Resource"].endswith("key/ebs") for statement in kms["Statement"])


def test_cluster_needs_two_subnets(run_program) -> None:
    with pytest.raises(ValueError, match="at least two zones"):
        run_program(lambda: Cluster("eks", _args(subnet_ids=["subnet-a"])))
