"""Regenerate the vendored upstream CRD schemas and chart default values (run by hand).

``python tests/components/upstream/vendor.py MIRROR_ROOT`` where ``MIRROR_ROOT`` holds
git clones named ``<owner>+<repo>/repo`` (any clone works: only ``git show <ref>:<path>``
is used). Each CRD file keeps the ``openAPIV3Schema`` of one served version with the
``description`` annotations dropped (they never affect validation and are 80 % of the
bytes); everything else (types, required, enums, formats, ``x-kubernetes-*``) is
upstream's, byte for byte in meaning. Each values file is upstream's ``values.yaml``
verbatim below a comment header naming its source. ``SOURCES`` below is the manifest.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads a plain ``=`` as the string it is (PyYAML's 'value' tag)."""


_Loader.add_constructor("tag:yaml.org,2002:value", _Loader.construct_yaml_str)

# (repo, ref, commit-ish, path, version to keep) per CRD.
CRDS: list[tuple[str, str, str, str]] = [
    # Karpenter: the "chore: Release v1.13.0" commit (chart 1.13.0; tags v1.14.x carry it).
    (
        "aws/karpenter-provider-aws",
        "fe623d537f85b0e6a69fc3eebc3692f80efda891",
        "pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml",
        "v1",
    ),
    (
        "aws/karpenter-provider-aws",
        "fe623d537f85b0e6a69fc3eebc3692f80efda891",
        "pkg/apis/crds/karpenter.sh_nodepools.yaml",
        "v1",
    ),
    (
        "kubernetes-sigs/kueue",
        "v0.19.2",
        "config/components/crd/bases/kueue.x-k8s.io_resourceflavors.yaml",
        "v1beta2",
    ),
    (
        "kubernetes-sigs/kueue",
        "v0.19.2",
        "config/components/crd/bases/kueue.x-k8s.io_clusterqueues.yaml",
        "v1beta2",
    ),
    (
        "kubernetes-sigs/kueue",
        "v0.19.2",
        "config/components/crd/bases/kueue.x-k8s.io_localqueues.yaml",
        "v1beta2",
    ),
    (
        "kubeflow/trainer",
        "v2.3.0",
        "manifests/base/crds/trainer.kubeflow.org_clustertrainingruntimes.yaml",
        "v1alpha1",
    ),
    (
        "kubeflow/trainer",
        "v2.3.0",
        "manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml",
        "v1alpha1",
    ),
    (
        "kserve/kserve",
        "v0.16.0",
        "charts/kserve-crd/templates/serving.kserve.io_inferenceservices.yaml",
        "v1beta1",
    ),
    (
        "kserve/kserve",
        "v0.16.0",
        "charts/kserve-crd/templates/serving.kserve.io_servingruntimes.yaml",
        "v1alpha1",
    ),
    (
        "prometheus-community/helm-charts",
        "kube-prometheus-stack-82.12.0",
        "charts/kube-prometheus-stack/charts/crds/crds/crd-podmonitors.yaml",
        "v1",
    ),
    (
        "prometheus-community/helm-charts",
        "kube-prometheus-stack-82.12.0",
        "charts/kube-prometheus-stack/charts/crds/crds/crd-servicemonitors.yaml",
        "v1",
    ),
    (
        "prometheus-community/helm-charts",
        "kube-prometheus-stack-82.12.0",
        "charts/kube-prometheus-stack/charts/crds/crds/crd-prometheusrules.yaml",
        "v1",
    ),
    (
        "prometheus-community/helm-charts",
        "kube-prometheus-stack-82.12.0",
        "charts/kube-prometheus-stack/charts/crds/crds/crd-prometheuses.yaml",
        "v1",
    ),
    (
        "prometheus-community/helm-charts",
        "kube-prometheus-stack-82.12.0",
        "charts/kube-prometheus-stack/charts/crds/crds/crd-alertmanagerconfigs.yaml",
        "v1alpha1",
    ),
    # KEDA 2.20.2 (chart 2.20.2 installs these CRDs): the ingestion workers' autoscaling.
    ("kedacore/keda", "v2.20.2", "config/crd/bases/keda.sh_scaledobjects.yaml", "v1alpha1"),
    (
        "kedacore/keda",
        "v2.20.2",
        "config/crd/bases/keda.sh_triggerauthentications.yaml",
        "v1alpha1",
    ),
]

# (file name, repo, ref, path, chart name, chart version, note)
VALUES: list[tuple[str, str, str, str, str, str, str]] = [
    (
        "kube-prometheus-stack-82.12.0.yaml",
        "prometheus-community/helm-charts",
        "kube-prometheus-stack-82.12.0",
        "charts/kube-prometheus-stack/values.yaml",
        "kube-prometheus-stack",
        "82.12.0",
        "",
    ),
    (
        "grafana-11.3.3.yaml",
        "grafana-community/helm-charts",
        "grafana-11.3.3",
        "charts/grafana/values.yaml",
        "grafana",
        "11.3.3",
        "kube-prometheus-stack 82.12.0 dependency (appVersion 12.4.1)",
    ),
    (
        "kube-state-metrics-7.2.1.yaml",
        "prometheus-community/helm-charts",
        "kube-state-metrics-7.2.1",
        "charts/kube-state-metrics/values.yaml",
        "kube-state-metrics",
        "7.2.1",
        "kube-prometheus-stack 82.12.0 dependency",
    ),
    (
        "nvidia-device-plugin-0.18.2.yaml",
        "NVIDIA/k8s-device-plugin",
        "v0.18.2",
        "deployments/helm/nvidia-device-plugin/values.yaml",
        "nvidia-device-plugin",
        "0.18.2",
        "image tag '' means the chart appVersion (0.18.2) with a 'v' prefix",
    ),
    (
        "dcgm-exporter-4.6.0.yaml",
        "NVIDIA/dcgm-exporter",
        "4.4.1-4.6.0",
        "deployment/values.yaml",
        "dcgm-exporter",
        "4.6.0",
        "",
    ),
    (
        "cert-manager-v1.19.2.yaml",
        "cert-manager/cert-manager",
        "v1.19.2",
        "deploy/charts/cert-manager/values.yaml",
        "cert-manager",
        "v1.19.2",
        "image tags '' mean the chart appVersion (v1.19.2)",
    ),
    (
        "kserve-v0.16.0.yaml",
        "kserve/kserve",
        "v0.16.0",
        "charts/kserve-resources/values.yaml",
        "kserve",
        "v0.16.0",
        "",
    ),
    (
        "karpenter-1.13.0.yaml",
        "aws/karpenter-provider-aws",
        "fe623d537f85b0e6a69fc3eebc3692f80efda891",
        "charts/karpenter/values.yaml",
        "karpenter",
        "1.13.0",
        "release commit 'chore: Release v1.13.0'",
    ),
    (
        "kueue-0.19.2.yaml",
        "kubernetes-sigs/kueue",
        "v0.19.2",
        "charts/kueue/values.yaml",
        "kueue",
        "0.19.2",
        "hack/helm-chart-package.sh rewrites the three image repositories to registry.k8s.io/kueue/<name>, their tags to v0.19.2 and pullPolicy to IfNotPresent when it packages a release tag",
    ),
    (
        "kubeflow-trainer-2.3.0.yaml",
        "kubeflow/trainer",
        "v2.3.0",
        "charts/kubeflow-trainer/values.yaml",
        "kubeflow-trainer",
        "2.3.0",
        "image tag '' means v<chart version> (templates/_helpers.tpl trainer.resolveImageTag)",
    ),
    (
        "jobset-0.12.0.yaml",
        "kubernetes-sigs/jobset",
        "v0.12.0",
        "charts/jobset/values.yaml",
        "jobset",
        "0.12.0",
        "kubeflow-trainer 2.3.0 dependency; hack/helm-chart-package.sh rewrites image to registry.k8s.io/jobset/jobset:v0.12.0 when it packages a release tag",
    ),
    (
        "keda-2.20.2.yaml",
        "kedacore/charts",
        "v2.20.2",
        "keda/values.yaml",
        "keda",
        "2.20.2",
        "image tags '' mean the chart appVersion (2.20.2)",
    ),
]


def _git_show(root: Path, repo: str, ref: str, path: str) -> bytes:
    folder = root / repo.replace("/", "+") / "repo"
    return subprocess.run(
        ["git", "-C", str(folder), "show", f"{ref}:{path}"], check=True, capture_output=True
    ).stdout


def _commit(root: Path, repo: str, ref: str) -> str:
    folder = root / repo.replace("/", "+") / "repo"
    return subprocess.run(
        ["git", "-C", str(folder), "rev-parse", f"{ref}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_ONE = ("items", "additionalProperties", "not")


def strip_descriptions(node: Any) -> Any:
    """A schema node without ``description`` annotations (property names are kept)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description" and isinstance(value, str):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: strip_descriptions(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [strip_descriptions(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = strip_descriptions(value)
        else:
            out[key] = value
    return out


def vendor(root: Path) -> None:
    for repo, ref, path, version in CRDS:
        raw = _git_show(root, repo, ref, path)
        crd = yaml.load(raw, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
        names = crd["spec"]["names"]
        (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
        record = {
            "source": f"https://github.com/{repo}/blob/{_commit(root, repo, ref)}/{path}",
            "ref": ref,
            "source_sha256": hashlib.sha256(raw).hexdigest(),
            "transformation": "openAPIV3Schema of one version; 'description' annotations dropped",
            "group": crd["spec"]["group"],
            "version": version,
            "kind": names["kind"],
            "scope": crd["spec"]["scope"],
            "schema": strip_descriptions(served["schema"]["openAPIV3Schema"]),
        }
        out = HERE / "crds" / f"{crd['spec']['group']}_{names['plural']}_{version}.json"
        out.write_text(json.dumps(record, separators=(",", ":"), sort_keys=False) + "\n")
    for name, repo, ref, path, chart, version, note in VALUES:
        raw = _git_show(root, repo, ref, path)
        try:
            chart_yaml = yaml.safe_load(
                _git_show(root, repo, ref, path.replace("values.yaml", "Chart.yaml"))
            )
            app_version = str(chart_yaml.get("appVersion", "")) or "(templated at release)"
        except subprocess.CalledProcessError:
            app_version = "(templated at release)"
        header = [
            f"# Vendored default values of the Helm chart {chart} {version}.",
            f"# Source: https://github.com/{repo}/blob/{_commit(root, repo, ref)}/{path}",
            f"# Ref: {ref}; sha256 of the source file: {hashlib.sha256(raw).hexdigest()}",
            f"# Chart.yaml appVersion: {app_version}",
        ]
        if note:
            header.append(f"# Note: {note}")
        header.append("# Below: the upstream file, unchanged.")
        (HERE / "values" / name).write_bytes(("\n".join(header) + "\n").encode() + raw)


if __name__ == "__main__":
    vendor(Path(sys.argv[1]))
