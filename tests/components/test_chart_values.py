"""Our Helm values against each pinned chart's own defaults (vendored in upstream/values/).

Two classes of deploy-time breakage are caught here, from the charts' files rather than
from memory:

- a values key the chart does not have (Helm ignores it silently: a misspelt
  ``securityContext`` leaves the chart's default in force), and a map that cannot clear
  a default (Helm merges maps: ``{}`` over a non-empty default changes nothing, and the
  Python SDK drops ``None``, so only an explicit list replaces it);
- an image pin that is not what the chart itself would run (a chart's version is not
  its app's: the Grafana *chart* is 11.3.3, its image 12.4.1; upstream certgen tags
  have no ``v``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s import gpu, karpenter, keda, kueue, monitoring, trainer
from components.k8s import kserve as kserve_platform
from components.k8s.catalog import CHARTS, IMAGES, ImagePin, Registry
from components.k8s.podspec import GpuScheduling

VALUES = Path(__file__).resolve().parent / "upstream" / "values"
REG = Registry("123456789012.dkr.ecr.me-central-1.amazonaws.com")
MISSING = object()


PASS_THROUGH = frozenset(
    {
        "securityContext",
        "containerSecurityContext",
        "podSecurityContext",
        "nodeSelector",
        "resources",
        "affinity",
        "annotations",
        "podAnnotations",
        "labels",
        "podLabels",
        "additionalLabels",
        "grafana.ini",
    }
)
"""Maps charts render whole (``toYaml``): any key the Kubernetes type (or grafana.ini) has
is valid inside, so only whether they can replace their default is checked."""


def documented_keys(file: str) -> set[str]:
    """Keys values.yaml documents as commented-out ``+docs:property`` entries (cert-manager).

    ``# +docs:property`` followed by ``#   name: value`` documents ``<parents>.name``; the
    parents are the uncommented keys above it at a smaller indentation.
    """
    found: set[str] = set()
    stack: list[tuple[int, str]] = []
    documented = False
    for line in (VALUES / file).read_text().splitlines():
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        key = re.match(r"^([A-Za-z0-9_.-]+):", stripped)
        if key and not stripped.startswith("#"):
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, key.group(1)))
            documented = False
        elif stripped.startswith("# +docs:property"):
            documented = True
        elif documented and (commented := re.match(r"^#\s*([A-Za-z0-9_]+):", stripped)):
            parents = [name for level, name in stack if level < indent]
            found.add(".".join([*parents, commented.group(1)]))
            documented = False
    return found


@cache
def chart_defaults(file: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A vendored values file and its header facts (``Chart.yaml appVersion``, ``Note``)."""
    text = (VALUES / file).read_text()
    header: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"^# (Chart\.yaml appVersion|Source|Note): (.*)$", line)
        if match:
            header[match.group(1)] = match.group(2)
        if line.startswith("# Below:"):
            break
    return yaml.safe_load(text) or {}, header


CHART_FILES: dict[str, str] = {
    "kube-prometheus-stack": "kube-prometheus-stack-82.12.0.yaml",
    "nvidia-device-plugin": "nvidia-device-plugin-0.18.2.yaml",
    "dcgm-exporter": "dcgm-exporter-4.6.0.yaml",
    "cert-manager": "cert-manager-v1.19.2.yaml",
    "kserve": "kserve-v0.16.0.yaml",
    "karpenter": "karpenter-1.13.0.yaml",
    "kueue": "kueue-0.19.2.yaml",
    "kubeflow-trainer": "kubeflow-trainer-2.3.0.yaml",
    "keda": "keda-2.20.2.yaml",
}
"""Pinned chart -> its vendored default values (the chart without values: kserve-crd)."""

SUBCHARTS: dict[str, dict[str, str]] = {
    "kube-prometheus-stack": {
        "grafana": "grafana-11.3.3.yaml",
        "kube-state-metrics": "kube-state-metrics-7.2.1.yaml",
    },
    "kubeflow-trainer": {"jobset": "jobset-0.12.0.yaml"},
}
"""Dependencies whose values we set through the parent chart (Chart.yaml dependencies)."""

CONDITION_KEYS: dict[str, set[str]] = {
    # nvidia-device-plugin Chart.yaml: dependency node-feature-discovery (alias nfd),
    # condition "nfd.enabled,gfd.enabled".
    "nvidia-device-plugin": {"nfd.enabled"},
    # Chart.yaml dependency conditions: jobset.install (values.yaml has it).
    "kubeflow-trainer": set(),
}
"""Keys Helm reads from Chart.yaml dependency conditions, not from values.yaml."""


def our_values() -> dict[str, dict[str, Any]]:
    """The values each component passes to its pinned chart (both tiers' settings on)."""
    g = GpuScheduling()
    pin = IMAGES["karpenter-controller"]
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
            registry_repository=REG.repository(pin),
            tag=pin.tag,
            digest=pin.digest,
            cluster_name="c",
            cluster_endpoint="https://c",
            interruption_queue="q",
            role_arn="arn:aws:iam::123456789012:role/k",
            replicas=2,
            system_selector={"mlplatform.io/purpose": "system"},
        ),
        "kueue": kueue.kueue_values(REG, {"mlplatform.io/purpose": "system"}),
        "kubeflow-trainer": trainer.trainer_values(REG, {"mlplatform.io/purpose": "system"}),
        "keda": keda.keda_values(
            REG, {"mlplatform.io/purpose": "system"}, "arn:aws:iam::123456789012:role/keda"
        ),
    }


def _merge(base: Any, over: Any) -> Any:
    """Helm's coalescing of a parent's values for a subchart over the subchart's defaults."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return over


def values_findings(
    ours: Mapping[str, Any],
    defaults: Mapping[str, Any],
    *,
    path: str = "",
    subcharts: Mapping[str, Mapping[str, Any]] | None = None,
    conditions: set[str] | frozenset[str] = frozenset(),
) -> list[str]:
    """Keys the chart does not have, and maps or ``None`` that cannot replace a default."""
    findings: list[str] = []
    for key, value in ours.items():
        where = f"{path}{key}"
        if subcharts and key in subcharts:
            sub_defaults = _merge(subcharts[key], defaults.get(key) or {})
            findings += values_findings(value, sub_defaults, path=f"{where}.")
            continue
        default = defaults.get(key, MISSING)
        if value is None:
            findings.append(
                f"{where}: None is dropped by the Pulumi SDK; the chart default stays "
                "(clear it with an explicit value or list)"
            )
            continue
        if default is MISSING:
            if where not in conditions:
                findings.append(f"{where}: not a key of the chart's values.yaml")
            continue
        if isinstance(value, Mapping):
            if isinstance(default, Mapping) and default and not value:
                findings.append(
                    f"{where}: {{}} cannot clear the chart's default {sorted(default)} "
                    "(Helm merges maps; give an explicit list to replace it)"
                )
            elif isinstance(default, Mapping) and default and key not in PASS_THROUGH:
                findings += values_findings(value, default, path=f"{where}.", conditions=conditions)
            elif default not in ({}, "", None) and not isinstance(default, Mapping):
                findings.append(f"{where}: a map where the chart has {type(default).__name__}")
    return findings


@pytest.mark.parametrize("chart", sorted(CHART_FILES))
def test_every_values_key_exists_and_can_replace_its_default(chart: str) -> None:
    defaults, header = chart_defaults(CHART_FILES[chart])
    assert CHARTS[chart].version in CHART_FILES[chart], "vendored file of another version"
    assert header.get("Source", "").startswith("https://github.com/"), chart
    subcharts = {name: chart_defaults(file)[0] for name, file in SUBCHARTS.get(chart, {}).items()}
    findings = values_findings(
        our_values()[chart],
        defaults,
        subcharts=subcharts,
        conditions=CONDITION_KEYS.get(chart, set()) | documented_keys(CHART_FILES[chart]),
    )
    assert findings == []


def test_documented_commented_keys_are_read_from_the_file() -> None:
    keys = documented_keys(CHART_FILES["cert-manager"])
    assert {"image.tag", "image.registry", "webhook.image.tag", "fullnameOverride"} <= keys


def test_a_map_that_cannot_clear_a_default_fails() -> None:
    defaults, _ = chart_defaults(CHART_FILES["nvidia-device-plugin"])
    ours = {**gpu.device_plugin_values(REG, GpuScheduling()), "affinity": {}}
    assert values_findings(ours, defaults, conditions={"nfd.enabled"}) == [
        "affinity: {} cannot clear the chart's default ['nodeAffinity'] (Helm merges maps; "
        "give an explicit list to replace it)"
    ]
    typo = {"securityContex": {"runAsNonRoot": True}, "tolerations": None}
    assert values_findings(typo, defaults) == [
        "securityContex: not a key of the chart's values.yaml",
        "tolerations: None is dropped by the Pulumi SDK; the chart default stays (clear it "
        "with an explicit value or list)",
    ]


def test_the_device_plugin_affinity_replaces_the_default_for_another_gpu_selector() -> None:
    """A stack whose GPU nodes carry another label still gets the device plugin."""
    defaults, _ = chart_defaults(CHART_FILES["nvidia-device-plugin"])
    values = gpu.device_plugin_values(REG, GpuScheduling({"accelerator": "nvidia-l4"}))
    rendered = _merge(defaults, values)  # what Helm coalesces
    terms = rendered["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "accelerator", "operator": "In", "values": ["nvidia-l4"]}]}
    ]
    assert rendered["nodeSelector"] == {"accelerator": "nvidia-l4"}


# --- image pins derived from the charts' own defaults -------------------------------------

_KUEUE_PACKAGED = ("registry.k8s.io/kueue/kueue", "v0.19.2")
_JOBSET_PACKAGED = ("registry.k8s.io/jobset/jobset", "v0.12.0")


def _dig(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        node = node[part]
    return node


def _docker(repository: str) -> str:
    """Docker Hub's implicit host and library namespace, spelt out."""
    first = repository.split("/", 1)[0]
    if "." in first or ":" in first:
        return repository
    return f"docker.io/{repository}" if "/" in repository else f"docker.io/library/{repository}"


def chart_image(key: str) -> tuple[str, str, str | None]:
    """``(upstream repository, tag, digest)`` the pinned chart itself runs for image ``key``."""
    kps, kps_header = chart_defaults(CHART_FILES["kube-prometheus-stack"])
    grafana_defaults, grafana_header = chart_defaults(SUBCHARTS["kube-prometheus-stack"]["grafana"])
    grafana_values = _merge(grafana_defaults, kps["grafana"])
    ksm, ksm_header = chart_defaults(SUBCHARTS["kube-prometheus-stack"]["kube-state-metrics"])
    plugin, plugin_header = chart_defaults(CHART_FILES["nvidia-device-plugin"])
    dcgm, _ = chart_defaults(CHART_FILES["dcgm-exporter"])
    cm, _ = chart_defaults(CHART_FILES["cert-manager"])
    ks, _ = chart_defaults(CHART_FILES["kserve"])
    kar, _ = chart_defaults(CHART_FILES["karpenter"])
    tr, _ = chart_defaults(CHART_FILES["kubeflow-trainer"])
    kd, kd_header = chart_defaults(CHART_FILES["keda"])

    def triple(image: Mapping[str, Any], app_tag: str) -> tuple[str, str, str | None]:
        repository = image["repository"]
        if image.get("registry"):
            repository = f"{image['registry']}/{repository}"
        return _docker(repository), str(image.get("tag") or app_tag), image.get("digest") or None

    app = {
        "kps": kps_header["Chart.yaml appVersion"],
        "grafana": grafana_header["Chart.yaml appVersion"],
        "ksm": "v" + ksm_header["Chart.yaml appVersion"],
        "plugin": "v" + plugin_header["Chart.yaml appVersion"],
        "cert-manager": CHARTS["cert-manager"].version,
        "trainer": "v" + CHARTS["kubeflow-trainer"].version,
    }
    kserve_tag = ks["kserve"]["version"]
    table: dict[str, tuple[str, str, str | None]] = {
        "prometheus": triple(_dig(kps, "prometheus.prometheusSpec.image"), ""),
        "alertmanager": triple(_dig(kps, "alertmanager.alertmanagerSpec.image"), ""),
        "prometheus-operator": triple(_dig(kps, "prometheusOperator.image"), app["kps"]),
        "prometheus-config-reloader": triple(
            _dig(kps, "prometheusOperator.prometheusConfigReloader.image"), app["kps"]
        ),
        "kube-webhook-certgen": triple(
            _dig(kps, "prometheusOperator.admissionWebhooks.patch.image"), ""
        ),
        "grafana": triple(grafana_values["image"], app["grafana"]),
        "grafana-sidecar": triple(_dig(grafana_values, "sidecar.image"), ""),
        "kube-state-metrics": triple(ksm["image"], app["ksm"]),
        "nvidia-device-plugin": triple(plugin["image"], app["plugin"]),
        "dcgm-exporter": triple(dcgm["image"], ""),
        "cert-manager-controller": triple(cm["image"], app["cert-manager"]),
        "cert-manager-webhook": triple(cm["webhook"]["image"], app["cert-manager"]),
        "cert-manager-cainjector": triple(cm["cainjector"]["image"], app["cert-manager"]),
        "cert-manager-startupapicheck": triple(cm["startupapicheck"]["image"], app["cert-manager"]),
        "cert-manager-acmesolver": triple(cm["acmesolver"]["image"], app["cert-manager"]),
        "kserve-controller": (_docker(ks["kserve"]["controller"]["image"]), kserve_tag, None),
        "kserve-agent": (_docker(ks["kserve"]["agent"]["image"]), kserve_tag, None),
        "kserve-router": (_docker(ks["kserve"]["router"]["image"]), kserve_tag, None),
        "kserve-storage-initializer": (_docker(ks["kserve"]["storage"]["image"]), kserve_tag, None),
        "kube-rbac-proxy": (
            *ks["kserve"]["controller"]["rbacProxyImage"].rsplit(":", 1),
            None,
        ),
        "karpenter-controller": triple(kar["controller"]["image"], ""),
        # The release packaging rewrites the staging image (see the vendored file's note).
        "kueue-controller": (*_KUEUE_PACKAGED, None),
        "trainer-controller": triple(tr["image"], app["trainer"]),
        "jobset-controller": (*_JOBSET_PACKAGED, None),
        "keda-operator": triple(kd["image"]["keda"], kd_header["Chart.yaml appVersion"]),
        "keda-metrics-apiserver": triple(
            kd["image"]["metricsApiServer"], kd_header["Chart.yaml appVersion"]
        ),
        "keda-admission-webhooks": triple(
            kd["image"]["webhooks"], kd_header["Chart.yaml appVersion"]
        ),
    }
    return table[key]


CHART_IMAGES = [
    "prometheus", "alertmanager", "prometheus-operator", "prometheus-config-reloader",
    "kube-webhook-certgen", "grafana", "grafana-sidecar", "kube-state-metrics",
    "nvidia-device-plugin", "dcgm-exporter", "cert-manager-controller", "cert-manager-webhook",
    "cert-manager-cainjector", "cert-manager-startupapicheck", "cert-manager-acmesolver",
    "kserve-controller", "kserve-agent", "kserve-router", "kserve-storage-initializer",
    "kube-rbac-proxy", "karpenter-controller", "kueue-controller", "trainer-controller",
    "jobset-controller", "keda-operator", "keda-metrics-apiserver", "keda-admission-webhooks",
]  # fmt: skip
"""Every pinned image a pinned chart has a default for (the others: envoy, Feast)."""


@pytest.mark.parametrize("key", CHART_IMAGES)
def test_image_pins_are_the_charts_own_defaults(key: str) -> None:
    pin: ImagePin = IMAGES[key]
    repository, tag, digest = chart_image(key)
    assert (pin.upstream, pin.tag) == (repository, tag)
    if digest:
        assert pin.digest == digest


def test_the_known_wrong_pins_stay_fixed() -> None:
    assert IMAGES["grafana"].tag == "12.4.1" != "11.3.3"  # image, not chart, version
    assert IMAGES["kube-webhook-certgen"].tag == "1.7.8"  # upstream tags have no "v"
    assert kserve_platform.DEPLOYMENT_MODE == "Standard"  # 0.16 deprecates RawDeployment
