"""Pinned charts and images, the mirror list, and the security-relevant Helm values."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from components.k8s import (
    gpu,
    invariants,
    karpenter,
    kueue,
    monitoring,
    serving,
    tenant_monitoring,
    trainer,
)
from components.k8s import kserve as kserve_platform
from components.k8s.catalog import (
    CHARTS,
    IMAGES,
    ImagePin,
    PlatformFeatures,
    Registry,
    merge_features,
    required_artifacts,
)
from components.k8s.podspec import GpuScheduling

_spec = importlib.util.spec_from_file_location(
    "k8s_samples", Path(__file__).with_name("k8s_data") / "samples.py"
)
assert _spec is not None and _spec.loader is not None
samples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(samples)

REG = Registry(samples.REGISTRY)
FULL = PlatformFeatures(gpu=True, serving_image_tag="0.1.0", canary=True, karpenter=True)


def all_values() -> dict[str, dict[str, Any]]:
    g = GpuScheduling()
    return {
        "nvidia-device-plugin": gpu.device_plugin_values(REG, g),
        "dcgm-exporter": gpu.dcgm_exporter_values(REG, g, {"release": "kps"}),
        "cert-manager": kserve_platform.cert_manager_values(REG, {"release": "kps"}),
        "kserve": kserve_platform.kserve_values(REG),
        "kube-prometheus-stack": monitoring.kube_prometheus_values(
            REG,
            retention_days=30,
            storage_size="100Gi",
            storage_class="gp3",
            grafana_admin_secret="grafana-admin",
        ),
        "karpenter": karpenter.controller_values(
            registry_repository=REG.repository(IMAGES["karpenter-controller"]),
            tag=IMAGES["karpenter-controller"].tag,
            digest=IMAGES["karpenter-controller"].digest,
            cluster_name="c",
            cluster_endpoint="https://c",
            interruption_queue="q",
            role_arn="arn:aws:iam::123456789012:role/k",
            replicas=2,
            system_selector={"mlplatform.io/purpose": "system"},
        ),
        "kueue": kueue.kueue_values(REG, {}),
        "kubeflow-trainer": trainer.trainer_values(REG, {}),
    }


def manifest_images() -> set[str]:
    """Images in the manifests our components register (both tiers, GPU and canary on)."""
    from components.k8s import featurestore

    found: set[str] = set()
    for tier in samples.TIERS:
        t = samples.tenant(tier)
        manifests = [
            *serving.serving_manifests(samples.serving_args(tier)),
            *tenant_monitoring.tenant_monitoring_manifests(samples.monitoring_args(tier)),
            *featurestore.feature_server_manifests(
                t, t, tier, REG, service_account_name="sa", config_name="cm",
                secret_name="s", region="me-central-1", replicas=2, schedule="0 * * * *",
                materialize_image=REG.own_image("loop", "0.1.0"),
            ),
        ]  # fmt: skip
        for m in manifests:
            for _, spec in invariants.pod_specs(m):
                found |= {c["image"] for c in spec.get("containers", []) if "image" in c}
            if m["kind"] == "Prometheus":
                found.add(m["spec"]["image"])
    return found


def test_mirror_list_covers_every_image_the_stack_references() -> None:
    # A digest-pinned image is mirrored as repo@digest; charts spell it repo + tag + digest.
    mirror = {
        a.mirror if "@" not in a.mirror else f"{a.mirror.split('@')[0]}:{a.version}"
        for a in required_artifacts(REG, FULL)
        if a.kind == "image"
    }
    referenced = manifest_images()
    for values in all_values().values():
        referenced |= set(invariants.helm_value_images(values))
    assert referenced - mirror == set()
    # ... and lists nothing stale: every image it names is referenced somewhere.
    assert mirror - referenced == set()


def test_mirror_list_follows_the_features() -> None:
    full = required_artifacts(REG, FULL)
    names = {(a.kind, a.name) for a in full}
    assert ("chart", "nvidia-device-plugin") in names and ("image", "envoy") in names
    assert ("image", "onnx-serving") in names
    lean = required_artifacts(REG, PlatformFeatures(gpu=False, serving_image_tag="0.1.0"))
    lean_names = {(a.kind, a.name) for a in lean}
    assert ("chart", "nvidia-device-plugin") not in lean_names
    assert ("image", "dcgm-exporter") not in lean_names
    assert ("image", "envoy") not in lean_names
    # GPU: 2 charts + 2 images; canary: envoy; Karpenter: its chart and image.
    assert len(full) == len(lean) + 7
    assert ("chart", "karpenter") not in lean_names and ("chart", "kueue") in lean_names
    for artifact in full:
        assert artifact.mirror.startswith(("oci://" + REG.host + "/charts/", REG.host + "/"))
        assert artifact.version and artifact.version != "latest"
        assert set(artifact.as_dict()) == {"kind", "name", "upstream", "version", "mirror"}
    chart = next(a for a in full if a.name == "kube-prometheus-stack")
    assert chart.as_dict() == {
        "kind": "chart",
        "name": "kube-prometheus-stack",
        "upstream": "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack",
        "version": "82.12.0",
        "mirror": f"oci://{REG.host}/charts/kube-prometheus-stack",
    }


def test_merge_features_unions_tenants_and_rejects_mixed_server_tags() -> None:
    merged = merge_features(
        [
            PlatformFeatures(gpu=False, serving_image_tag="0.1.0"),
            PlatformFeatures(gpu=True, serving_image_tag="0.1.0", canary=True),
        ]
    )
    assert merged == PlatformFeatures(gpu=True, serving_image_tag="0.1.0", canary=True)
    with pytest.raises(ValueError, match=r"different serving image tags \['0.1.0', '0.2.0'\]"):
        merge_features(
            [
                PlatformFeatures(gpu=False, serving_image_tag="0.1.0"),
                PlatformFeatures(gpu=False, serving_image_tag="0.2.0"),
            ]
        )


def test_registry_and_pins_reject_bad_input() -> None:
    assert Registry.ecr("123456789012").host == "123456789012.dkr.ecr.me-central-1.amazonaws.com"
    with pytest.raises(ValueError, match="account id must be 12 digits, got '1234'"):
        Registry.ecr("1234")
    with pytest.raises(ValueError, match="is not a host name"):
        Registry("https://registry.example.com/path")
    with pytest.raises(ValueError, match="an exact tag is required, got 'latest'"):
        ImagePin("docker.io/library/busybox", "latest", "test")
    with pytest.raises(ValueError, match="digest must be sha256"):
        ImagePin("docker.io/library/busybox", "1.37.0", "test", digest="sha256:abc")
    with pytest.raises(ValueError, match="serving image tag must be exact"):
        REG.serving_image("latest")
    pinned = ImagePin("docker.io/library/busybox", "1.37.0", "test", digest="sha256:" + "a" * 64)
    assert REG.image(pinned) == f"{REG.host}/docker.io/library/busybox@sha256:{'a' * 64}"


def test_every_pin_is_exact() -> None:
    for pin in CHARTS.values():
        assert pin.version[0] in "v0123456789" and "*" not in pin.version and "x" not in pin.version
    for pin in IMAGES.values():
        assert pin.tag != "latest" and pin.source


def test_pinned_kserve_chart_is_the_sdk_version_we_validate_with() -> None:
    sdk = importlib.metadata.version("kserve")
    assert CHARTS["kserve"].version == f"v{sdk}" == CHARTS["kserve-crd"].version
    assert IMAGES["kserve-controller"].tag == f"v{sdk}"
    # The 0.16 SDK still has canaryTrafficPercent (Serverless only); we never use it.
    from kserve.models import V1beta1ComponentExtensionSpec

    assert "canaryTrafficPercent" in V1beta1ComponentExtensionSpec.attribute_map.values()


def test_feature_server_image_matches_the_feast_sdk() -> None:
    assert IMAGES["feast-feature-server"].tag == importlib.metadata.version("feast")


# --- security-relevant values ----------------------------------------------------------


def test_every_values_image_is_mirrored() -> None:
    for name, values in all_values().items():
        assert invariants.helm_values_findings(values, REG.host) == [], name
        assert invariants.helm_value_images(values), name


def test_gpu_daemonsets_run_only_on_gpu_pools() -> None:
    for values in (all_values()["nvidia-device-plugin"], all_values()["dcgm-exporter"]):
        assert values["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert values["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            # Enterprise GPU pools are also tainted for their tenant.
            {"key": "mlplatform.io/tenant", "operator": "Exists", "effect": "NoSchedule"},
        ]
        # An explicit term list: Helm replaces lists, so it replaces the chart's default
        # required node affinity (``{}`` would have been merged away).
        terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms["nodeSelectorTerms"] == [
            {
                "matchExpressions": [
                    {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}
                ]
            }
        ]
        assert values["securityContext"]["allowPrivilegeEscalation"] is False
        assert values["securityContext"]["capabilities"]["drop"] == ["ALL"]
    dcgm = all_values()["dcgm-exporter"]
    assert dcgm["securityContext"]["capabilities"]["add"] == []  # replaces the chart's SYS_ADMIN
    assert dcgm["service"]["type"] == "ClusterIP"
    plugin = all_values()["nvidia-device-plugin"]
    assert plugin["nfd"] == {"enabled": False} and plugin["gfd"] == {"enabled": False}


def test_kserve_runs_raw_deployment_without_ingress_or_builtin_runtimes() -> None:
    runtimes = all_values()["kserve"]["kserve"]["servingruntime"]
    assert len(runtimes) == 10 and all(v == {"disabled": True} for v in runtimes.values())
    controller = all_values()["kserve"]["kserve"]["controller"]
    assert controller["deploymentMode"] == "Standard"
    assert controller["gateway"]["disableIngressCreation"] is True
    assert controller["gateway"]["ingressGateway"]["enableGatewayApi"] is False


def test_kube_prometheus_stack_is_locked_down() -> None:
    values = all_values()["kube-prometheus-stack"]
    assert values["prometheus"]["prometheusSpec"]["retention"] == "30d"
    for part in ("prometheus", "alertmanager", "grafana"):
        assert values[part]["service"]["type"] == "ClusterIP"
    # node-exporter needs host namespaces: off, so the namespace can enforce restricted.
    assert values["nodeExporter"] == {"enabled": False}
    grafana = values["grafana"]
    assert grafana["admin"] == {
        "existingSecret": "grafana-admin",
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert "adminPassword" not in grafana
    assert grafana["grafana.ini"]["auth.anonymous"] == {"enabled": False}
    assert grafana["grafana.ini"]["users"]["allow_sign_up"] is False
    assert grafana["grafana.ini"]["analytics"]["reporting_enabled"] is False
    assert grafana["initChownData"] == {"enabled": False}
    am = values["alertmanager"]["alertmanagerSpec"]
    assert am["alertmanagerConfigMatcherStrategy"] == {"type": "OnNamespace"}
    with pytest.raises(ValueError, match="retention must be >= 1 day, got 0"):
        monitoring.kube_prometheus_values(
            REG, retention_days=0, storage_size="1Gi", storage_class="gp3",
            grafana_admin_secret="g",
        )  # fmt: skip


def test_cert_manager_installs_its_crds_and_is_scraped() -> None:
    values = all_values()["cert-manager"]
    assert values["crds"] == {"enabled": True, "keep": True}
    assert values["prometheus"]["servicemonitor"]["labels"] == {"release": "kps"}


def test_registry_prefixes_follow_the_settings() -> None:
    reg = Registry(REG.host, image_prefix="mirror", chart_prefix="helm/charts")
    pin = IMAGES["prometheus"]
    assert reg.image(pin) == f"{REG.host}/mirror/quay.io/prometheus/prometheus:v3.10.0"
    assert reg.helm_image(pin) == {
        "registry": REG.host,
        "repository": "mirror/quay.io/prometheus/prometheus",
        "tag": "v3.10.0",
    }
    assert reg.chart(CHARTS["kserve"]) == f"oci://{REG.host}/helm/charts/kserve"
    # Our own image is built, not mirrored: no mirror prefix.
    assert reg.serving_image("0.1.0") == f"{REG.host}/mlplatform/onnx-serving:0.1.0"
    args = samples.serving_args("smb") | {"image_prefix": "mirror"}
    runtime = serving.serving_manifests(args)[0]
    assert runtime["spec"]["containers"][0]["image"] == f"{REG.host}/mlplatform/onnx-serving:0.1.0"
    values = kserve_platform.kserve_values(reg)
    assert values["kserve"]["controller"]["image"] == (
        f"{REG.host}/mirror/docker.io/kserve/kserve-controller"
    )
    mirror = {a.mirror for a in required_artifacts(reg, FULL)}
    assert set(invariants.helm_value_images(values)) <= mirror
    for bad in ("Mirror", "/mirror", "mirror/", "a//b"):
        with pytest.raises(ValueError, match="lowercase path segments"):
            Registry(REG.host, image_prefix=bad)
