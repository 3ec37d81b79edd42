"""Pinned charts and images of the Kubernetes platform layer, and where they are pulled from.

Sovereign supply chain: the cluster never pulls from a public registry. Every chart is an
OCI artifact and every image a repository in one in-region registry (an ECR mirror in
``me-central-1`` by default). Upstream coordinates are kept here only so that
``required_artifacts`` can tell an air-gapped team exactly what to mirror.

Mirror layout (what ``mlplatform mirror`` prints and what the manifests reference):

- image ``quay.io/prometheus/prometheus:v3.10.0`` ->
  ``<registry>/[<image prefix>/]quay.io/prometheus/prometheus:v3.10.0`` (the upstream host
  becomes a path segment, so two upstreams can never collide; ECR repository names
  allow dots);
- chart ``kube-prometheus-stack`` 82.12.0 ->
  ``oci://<registry>/<chart prefix>/kube-prometheus-stack`` version ``82.12.0``;
- the platform's own model-server image: ``<registry>/mlplatform/onnx-serving:<tag>``.

Images are pinned by exact tag, not digest: no digest below was read from the registry
that serves it, and an invented digest would be worse than none. Pin digests when the
mirror is populated (``crane digest <mirror ref>``) by setting ``ImagePin.digest``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

from components.k8s.podspec import image_lock, pin_image
from contracts.names import DEFAULT_REGION

"""The UAE region: the default home of the registry mirror."""

CHART_PREFIX = "charts"
"""Repository namespace in the mirror that holds the OCI Helm charts."""
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImagePin:
    """One upstream container image at an exact version."""

    upstream: str
    """Upstream repository with its host, e.g. ``quay.io/prometheus/prometheus``."""
    tag: str
    """Exact tag; never ``latest``."""
    source: str
    """Where the version was verified (a chart file or release note), for auditors."""
    digest: str | None = None
    """``sha256:...`` once read from the mirror; then manifests reference the digest."""

    def __post_init__(self) -> None:
        if not self.tag or self.tag == "latest":
            raise ValueError(f"image {self.upstream}: an exact tag is required, got {self.tag!r}")
        if self.digest is not None and not _DIGEST.match(self.digest):
            raise ValueError(f"image {self.upstream}: digest must be sha256:<64 hex>")


@dataclass(frozen=True)
class ChartPin:
    """One upstream Helm chart at an exact version."""

    name: str
    """Chart name (also its repository name under ``charts/`` in the mirror)."""
    version: str
    """Exact chart version, as ``helm pull --version`` takes it."""
    upstream: str
    """Upstream repository (OCI or HTTP index) the mirror copies from."""
    source: str
    """Where the version was verified."""


# --- Charts -------------------------------------------------------------------------------
# Versions below were checked against public sources on 2026-11-26; the ``source`` field
# says which. Bumping one is a reviewed change: the values builders set keys by name.
CHARTS: dict[str, ChartPin] = {
    "kube-prometheus-stack": ChartPin(
        name="kube-prometheus-stack",
        version="82.12.0",
        upstream="oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack",
        # The image set of 82.12.0 is published in air-gap mirror scripts; we pin those
        # tags explicitly below so the mirror list is exact, not "whatever the chart says".
        source="prometheus-community/helm-charts kube-prometheus-stack-82.12.0",
    ),
    "nvidia-device-plugin": ChartPin(
        name="nvidia-device-plugin",
        version="0.18.2",
        upstream="https://nvidia.github.io/k8s-device-plugin",
        source="NVIDIA/k8s-device-plugin deployments/helm/nvidia-device-plugin (v0.18.2)",
    ),
    "dcgm-exporter": ChartPin(
        name="dcgm-exporter",
        version="4.6.0",
        upstream="https://nvidia.github.io/dcgm-exporter/helm-charts",
        # The chart is versioned with the exporter: tag 4.4.1-4.6.0 (DCGM 4.4.1 + exporter
        # 4.6.0) ships deployment/Chart.yaml version 4.6.0 and that image tag as default.
        source="NVIDIA/dcgm-exporter tag 4.4.1-4.6.0: deployment/Chart.yaml, values.yaml",
    ),
    "cert-manager": ChartPin(
        name="cert-manager",
        version="v1.19.2",
        upstream="oci://quay.io/jetstack/charts/cert-manager",
        # KServe's webhooks need serving certificates; cert-manager is its documented source.
        source="cert-manager v1.19.2 release (oci://quay.io/jetstack/charts)",
    ),
    "kserve-crd": ChartPin(
        name="kserve-crd",
        version="v0.16.0",
        upstream="oci://ghcr.io/kserve/charts/kserve-crd",
        # Same minor as the kserve SDK (0.16.0) our tests validate the objects with.
        source="kserve v0.16.0 release charts (ghcr.io/kserve/charts)",
    ),
    "kserve": ChartPin(
        name="kserve",
        version="v0.16.0",
        upstream="oci://ghcr.io/kserve/charts/kserve",
        source="kserve v0.16.0 release charts (ghcr.io/kserve/charts)",
    ),
    # Node autoscaling, quotas and distributed training: defaults of each chart are
    # vendored under tests/components/upstream/values/ and checked against our values.
    "karpenter": ChartPin(
        name="karpenter",
        version="1.13.0",
        upstream="oci://public.ecr.aws/karpenter/karpenter",
        # Supports Kubernetes 1.35 (>= 1.9) and 1.36 (1.13.x) per its compatibility matrix.
        source="aws/karpenter-provider-aws fe623d5 'chore: Release v1.13.0' charts/karpenter",
    ),
    "kueue": ChartPin(
        name="kueue",
        version="0.19.2",
        upstream="oci://registry.k8s.io/kueue/charts/kueue",
        source="kubernetes-sigs/kueue v0.19.2 charts/kueue (hack/helm-chart-package.sh)",
    ),
    # Event-driven autoscaling of the ingestion workers (SQS / NATS JetStream depth).
    # KEDA 2.20 supports Kubernetes 1.32-1.35+ (its N-2 policy at release, July 2026).
    "keda": ChartPin(
        name="keda",
        version="2.20.2",
        upstream="oci://ghcr.io/kedacore/charts/keda",
        source="kedacore/charts v2.20.2 keda/ (appVersion 2.20.2)",
    ),
    # The in-country site's tenant broker (JetStream); chart and server versions move
    # together. The tests run the PyPI nats-server 2.15.1: same client protocol and
    # JetStream API as the chart's 2.14.2.
    "nats": ChartPin(
        name="nats",
        version="2.14.2",
        upstream="https://nats-io.github.io/k8s/helm/charts/",
        source="nats-io/k8s 957650f 'Update NATS chart to 2.14.2' helm/charts/nats",
    ),
    # The in-country site's per-tenant online feature store: the Valkey project's own chart
    # (Bitnami's moved to an unmaintained 'bitnamilegacy' image repository in 2025).
    "valkey": ChartPin(
        name="valkey",
        version="0.11.0",
        upstream="https://valkey.io/valkey-helm/",
        source="valkey-io/valkey-helm bde1691 'updated chart version' valkey/ (appVersion 9.1.1)",
    ),
    # Kubernetes objects backed up to the in-country site's store (issue 14).
    "velero": ChartPin(
        name="velero",
        version="12.1.0",
        upstream="https://vmware-tanzu.github.io/helm-charts",
        source="vmware-tanzu/helm-charts 73466ca charts/velero (appVersion 1.18.1)",
    ),
    "kubeflow-trainer": ChartPin(
        name="kubeflow-trainer",
        version="2.3.0",
        upstream="oci://ghcr.io/kubeflow/charts/kubeflow-trainer",
        # Bundles its JobSet 0.12.0 dependency (charts/ of the packaged chart).
        source="kubeflow/trainer v2.3.0 charts/kubeflow-trainer",
    ),
}

# --- Images -------------------------------------------------------------------------------
IMAGES: dict[str, ImagePin] = {
    # kube-prometheus-stack 82.12.0
    "prometheus": ImagePin("quay.io/prometheus/prometheus", "v3.10.0", "kps 82.12.0"),
    "alertmanager": ImagePin("quay.io/prometheus/alertmanager", "v0.31.1", "kps 82.12.0"),
    "kube-state-metrics": ImagePin(
        "registry.k8s.io/kube-state-metrics/kube-state-metrics", "v2.18.0", "kps 82.12.0"
    ),
    "prometheus-operator": ImagePin(
        "quay.io/prometheus-operator/prometheus-operator", "v0.89.0", "kps 82.12.0"
    ),
    "prometheus-config-reloader": ImagePin(
        "quay.io/prometheus-operator/prometheus-config-reloader", "v0.89.0", "kps 82.12.0"
    ),
    "kube-webhook-certgen": ImagePin(
        # Upstream tags carry no "v" (kps values.yaml: tag 1.7.8).
        "ghcr.io/jkroepke/kube-webhook-certgen",
        "1.7.8",
        "kps 82.12.0 values.yaml",
    ),
    # The Grafana *chart* kps 82.12.0 depends on is 11.3.3; the image is its appVersion.
    "grafana": ImagePin("docker.io/grafana/grafana", "12.4.1", "grafana chart 11.3.3 appVersion"),
    "grafana-sidecar": ImagePin("quay.io/kiwigrid/k8s-sidecar", "2.5.0", "kps 82.12.0"),
    # NVIDIA
    "nvidia-device-plugin": ImagePin(
        "nvcr.io/nvidia/k8s-device-plugin", "v0.18.2", "device plugin chart appVersion"
    ),
    "dcgm-exporter": ImagePin(
        "nvcr.io/nvidia/k8s/dcgm-exporter", "4.4.1-4.6.0-ubuntu22.04", "dcgm-exporter 4.6.0"
    ),
    # cert-manager v1.19.2
    "cert-manager-controller": ImagePin(
        "quay.io/jetstack/cert-manager-controller", "v1.19.2", "cert-manager v1.19.2"
    ),
    "cert-manager-webhook": ImagePin(
        "quay.io/jetstack/cert-manager-webhook", "v1.19.2", "cert-manager v1.19.2"
    ),
    "cert-manager-cainjector": ImagePin(
        "quay.io/jetstack/cert-manager-cainjector", "v1.19.2", "cert-manager v1.19.2"
    ),
    "cert-manager-startupapicheck": ImagePin(
        "quay.io/jetstack/cert-manager-startupapicheck", "v1.19.2", "cert-manager v1.19.2"
    ),
    "cert-manager-acmesolver": ImagePin(
        "quay.io/jetstack/cert-manager-acmesolver", "v1.19.2", "cert-manager v1.19.2"
    ),
    # KServe v0.16.0
    "kserve-controller": ImagePin("docker.io/kserve/kserve-controller", "v0.16.0", "kserve"),
    "kserve-agent": ImagePin("docker.io/kserve/agent", "v0.16.0", "kserve v0.16.0"),
    "kserve-router": ImagePin("docker.io/kserve/router", "v0.16.0", "kserve v0.16.0"),
    "kserve-storage-initializer": ImagePin(
        "docker.io/kserve/storage-initializer", "v0.16.0", "kserve v0.16.0"
    ),
    "kube-rbac-proxy": ImagePin(
        "quay.io/brancz/kube-rbac-proxy", "v0.18.0", "kserve chart rbacProxyImage"
    ),
    # Canary router (weighted_clusters): distroless build runs as the nonroot user.
    "envoy": ImagePin(
        "docker.io/envoyproxy/envoy", "distroless-v1.37.2", "envoyproxy/envoy release v1.37.2"
    ),
    # Feast feature server: same version as the feast SDK the feature repo is tested with.
    "feast-feature-server": ImagePin(
        "quay.io/feastdev/feature-server", "0.67.0", "feast 0.67.0 (pyproject pin)"
    ),
    # Karpenter 1.13.0: tag and digest from the chart's values.yaml.
    "karpenter-controller": ImagePin(
        "public.ecr.aws/karpenter/controller",
        "1.13.0",
        "karpenter chart 1.13.0 values.yaml",
        digest="sha256:ea731b0cd813add8b2947a76bfe861c38069d85922b01d0c1647d1466279b7fe",
    ),
    # Kueue 0.19.2 and Kubeflow Trainer 2.3.0 (with its JobSet 0.12.0 dependency).
    "kueue-controller": ImagePin(
        "registry.k8s.io/kueue/kueue", "v0.19.2", "kueue chart 0.19.2 (release packaging)"
    ),
    "trainer-controller": ImagePin(
        "ghcr.io/kubeflow/trainer/trainer-controller-manager",
        "v2.3.0",
        "kubeflow-trainer chart 2.3.0 (tag v<chart version>)",
    ),
    "jobset-controller": ImagePin(
        "registry.k8s.io/jobset/jobset", "v0.12.0", "jobset chart 0.12.0 (release packaging)"
    ),
    # KEDA 2.20.2: the chart's defaults (registry ghcr.io, tag '' = appVersion 2.20.2).
    "nats": ImagePin("docker.io/library/nats", "2.14.2-alpine", "nats chart 2.14.2 values.yaml"),
    "valkey": ImagePin("docker.io/valkey/valkey", "9.1.1", "valkey chart 0.11.0 appVersion"),
    "velero": ImagePin("docker.io/velero/velero", "v1.18.1", "velero chart 12.1.0 values.yaml"),
    # The AWS object-store plugin line paired with Velero 1.18 (v1.14.x); v1.14.4 carries the
    # CVE fixes of its release notes (velero discussion #10563, 2026-09-28).
    "velero-plugin-for-aws": ImagePin(
        "docker.io/velero/velero-plugin-for-aws", "v1.14.4", "velero-plugin-for-aws v1.14.4"
    ),
    "nats-config-reloader": ImagePin(
        "docker.io/natsio/nats-server-config-reloader", "0.23.0", "nats chart 2.14.2 values.yaml"
    ),
    "keda-operator": ImagePin("ghcr.io/kedacore/keda", "2.20.2", "keda chart 2.20.2 values.yaml"),
    "keda-metrics-apiserver": ImagePin(
        "ghcr.io/kedacore/keda-metrics-apiserver", "2.20.2", "keda chart 2.20.2 values.yaml"
    ),
    "keda-admission-webhooks": ImagePin(
        "ghcr.io/kedacore/keda-admission-webhooks", "2.20.2", "keda chart 2.20.2 values.yaml"
    ),
}

SERVING_IMAGE_REPOSITORY = "mlplatform/onnx-serving"
"""Repository, in the mirror, of the model-server image built from ``workloads/serving``."""


@dataclass(frozen=True)
class OwnImage:
    """An image the platform builds from this repository (not mirrored from upstream)."""

    repository: str
    """Repository in the registry, e.g. ``mlplatform/onnx-serving``."""
    dockerfile: str
    """Dockerfile, relative to the repository root (the build context)."""
    requirements: str
    """The image's own pinned requirements file (its Dockerfile installs exactly this)."""
    runs: str
    """What its containers run, for auditors and the mirror list."""


OWN_IMAGES: dict[str, OwnImage] = {
    # Lean: the model server only (no Kubernetes client, no scipy, no torch).
    "onnx-serving": OwnImage(
        SERVING_IMAGE_REPOSITORY,
        "workloads/serving/Dockerfile",
        "workloads/serving/requirements.txt",
        "python -m workloads.serving (KServe V1/V2 on ONNX Runtime, prediction logging)",
    ),
    # The loop's control plane: small, CPU only, one image for three commands.
    "loop": OwnImage(
        "mlplatform/loop",
        "workloads/images/loop/Dockerfile",
        "workloads/images/loop/requirements.txt",
        "alert receiver, drift monitor, retraining controller, model registry",
    ),
    # Training runs: torch CPU (SMB pools) and CUDA (enterprise GPU pools).
    "training": OwnImage(
        "mlplatform/training",
        "workloads/images/training/Dockerfile",
        "workloads/images/training/requirements.txt",
        "python -m workloads.retraining.run (training, gate, sign, upload, register)",
    ),
    "training-cuda": OwnImage(
        "mlplatform/training-cuda",
        "workloads/images/training/Dockerfile.cuda",
        "workloads/images/training/requirements-cuda.txt",
        "python -m workloads.retraining.run on CUDA (enterprise GPU training pools)",
    ),
}
"""The platform's own images, all tagged with the stack's ``registry.serving_image_tag``
(one release of this repository builds all of them)."""


_PREFIX = re.compile(r"^([a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*)?$")


@dataclass(frozen=True)
class Registry:
    """The in-region registry every chart and image is pulled from."""

    host: str
    """Registry host, e.g. ``123456789012.dkr.ecr.me-central-1.amazonaws.com``."""
    image_prefix: str = ""
    """Repository prefix of mirrored images (``mirror`` puts them under ``<host>/mirror/``)."""
    chart_prefix: str = CHART_PREFIX
    """Repository prefix of the OCI charts."""

    def __post_init__(self) -> None:
        if not _HOST.match(self.host):
            raise ValueError(
                f"registry host {self.host!r} is not a host name (no scheme, no path), "
                "e.g. 123456789012.dkr.ecr.me-central-1.amazonaws.com"
            )
        for field_name in ("image_prefix", "chart_prefix"):
            value = getattr(self, field_name)
            if not _PREFIX.match(value):
                raise ValueError(
                    f"registry {field_name} {value!r}: lowercase path segments separated by '/'"
                )
        if not self.chart_prefix:
            raise ValueError("registry chart_prefix must not be empty")

    @classmethod
    def ecr(cls, account_id: str, region: str = DEFAULT_REGION) -> Registry:
        """The private ECR registry of ``account_id`` in ``region``."""
        if not re.fullmatch(r"[0-9]{12}", account_id):
            raise ValueError(f"AWS account id must be 12 digits, got {account_id!r}")
        return cls(f"{account_id}.dkr.ecr.{region}.amazonaws.com")

    def repository(self, pin: ImagePin) -> str:
        """Mirror repository (without tag) of an upstream image."""
        return f"{self.host}/{self.repository_path(pin)}"

    def repository_path(self, pin: ImagePin) -> str:
        """Repository path inside the registry (what ``registry``-split chart values take)."""
        return f"{self.image_prefix}/{pin.upstream}" if self.image_prefix else pin.upstream

    def image(self, pin: ImagePin) -> str:
        """Full mirror reference: by digest when known (the pin's, else the mirror's image
        lock, see :func:`components.k8s.podspec.image_lock`), else by exact tag."""
        if pin.digest:
            return f"{self.repository(pin)}@{pin.digest}"
        return pin_image(f"{self.repository(pin)}:{pin.tag}")

    def helm_image(self, pin: ImagePin) -> dict[str, str]:
        """``registry``/``repository``/``tag`` triple as most charts' ``image`` values take it
        (plus ``digest`` when the pin or the image lock has one)."""
        values = {"registry": self.host, "repository": self.repository_path(pin), "tag": pin.tag}
        digest = pin.digest or image_lock().get(f"{self.repository_path(pin)}:{pin.tag}")
        if digest:
            values["digest"] = digest
        return values

    def chart(self, pin: ChartPin) -> str:
        """OCI URL of a chart in the mirror (``helm.v3.Release`` ``chart`` input)."""
        return f"oci://{self.host}/{self.chart_prefix}/{pin.name}"

    def serving_image(self, tag: str) -> str:
        """The platform's own ONNX Runtime model server image."""
        return self.own_image("onnx-serving", tag)

    def own_image(self, key: str, tag: str) -> str:
        """One of the platform's own images (:data:`OWN_IMAGES`) at an exact tag."""
        if not tag or tag == "latest":
            raise ValueError(f"{key} image tag must be exact, got {tag!r}")
        return pin_image(f"{self.host}/{OWN_IMAGES[key].repository}:{tag}")

    def owns(self, image: str) -> bool:
        """Whether an image reference points into this registry."""
        return image.startswith(f"{self.host}/")


ArtifactKind = Literal["chart", "image"]


@dataclass(frozen=True)
class Artifact:
    """One thing to mirror before deploying: a chart or an image."""

    kind: ArtifactKind
    """``chart`` or ``image``."""
    name: str
    """Logical name (key in ``CHARTS``/``IMAGES``, or ``onnx-serving``)."""
    upstream: str
    """Where to copy from (``None``-free: our own image says ``build:workloads/serving``)."""
    version: str
    """Exact chart version or image tag."""
    mirror: str
    """Where the cluster pulls it from."""

    def as_dict(self) -> dict[str, str]:
        """JSON-friendly form, in a stable key order."""
        return {
            "kind": self.kind,
            "name": self.name,
            "upstream": self.upstream,
            "version": self.version,
            "mirror": self.mirror,
        }


@dataclass(frozen=True)
class PlatformFeatures:
    """Which optional parts of the Kubernetes layer a stack uses (decides the mirror list)."""

    gpu: bool
    """Any GPU node pool: device plugin and DCGM exporter."""
    serving_image_tag: str
    """Tag of the model-server image built from ``workloads/serving``."""
    canary: bool = False
    """Any tenant with a champion/challenger rollout (needs the Envoy router image)."""
    loop: bool = False
    """Any tenant running the MLOps loop (alert receiver, drift monitor, retraining)."""
    karpenter: bool = False
    """Nodes from Karpenter (AWS stacks; an on-prem cluster's nodes are the operator's)."""
    ingestion: bool = False
    """Any tenant with an ingestion worker (KEDA scales it; it runs the loop image)."""
    broker: bool = False
    """The in-cluster NATS JetStream broker and Valkey online stores (the hybrid site)."""
    velero: bool = False
    """Velero backing the cluster's objects up to the in-country store (AWS with dr_site)."""


def charts_for(features: PlatformFeatures) -> list[str]:
    """Chart keys a stack with ``features`` installs, in install order."""
    names = ["karpenter"] if features.karpenter else []
    names += ["cert-manager", "kserve-crd", "kserve", "kube-prometheus-stack"]
    if features.gpu:
        names += ["nvidia-device-plugin", "dcgm-exporter"]
    # Per-tenant quotas (Kueue) and distributed training (Trainer) on every site.
    names += ["kueue", "kubeflow-trainer"]
    if features.ingestion:
        names.append("keda")
    if features.broker:
        names += ["nats", "valkey"]
    if features.velero:
        names.append("velero")
    return names


def images_for(features: PlatformFeatures) -> list[str]:
    """Image keys a stack with ``features`` pulls (from charts and from our own manifests)."""
    names = [
        "prometheus",
        "alertmanager",
        "kube-state-metrics",
        "prometheus-operator",
        "prometheus-config-reloader",
        "kube-webhook-certgen",
        "grafana",
        "grafana-sidecar",
        "cert-manager-controller",
        "cert-manager-webhook",
        "cert-manager-cainjector",
        "cert-manager-startupapicheck",
        "cert-manager-acmesolver",
        "kserve-controller",
        "kserve-agent",
        "kserve-router",
        "kserve-storage-initializer",
        "kube-rbac-proxy",
        "feast-feature-server",
    ]
    if features.canary:
        names.append("envoy")
    if features.gpu:
        names += ["nvidia-device-plugin", "dcgm-exporter"]
    if features.karpenter:
        names.append("karpenter-controller")
    names += ["kueue-controller", "trainer-controller", "jobset-controller"]
    if features.ingestion:
        names += ["keda-operator", "keda-metrics-apiserver", "keda-admission-webhooks"]
    if features.broker:
        names += ["nats", "nats-config-reloader", "valkey"]
    if features.velero:
        names += ["velero", "velero-plugin-for-aws"]
    return names


def required_artifacts(registry: Registry, features: PlatformFeatures) -> list[Artifact]:
    """Every chart and image a stack needs, with upstream and mirror coordinates.

    This is what ``mlplatform mirror --stack S`` prints: copy each ``upstream`` to its
    ``mirror`` (``helm pull``/``helm push`` for charts, ``crane copy`` for images) and
    the stack deploys without reaching outside the country.
    """
    artifacts = [
        Artifact(
            "chart", key, CHARTS[key].upstream, CHARTS[key].version, registry.chart(CHARTS[key])
        )
        for key in charts_for(features)
    ]
    artifacts += [
        Artifact("image", key, IMAGES[key].upstream, IMAGES[key].tag, registry.image(IMAGES[key]))
        for key in images_for(features)
    ]
    artifacts += [
        Artifact(
            "image",
            key,
            f"build:{OWN_IMAGES[key].dockerfile}",
            features.serving_image_tag,
            registry.own_image(key, features.serving_image_tag),
        )
        for key in own_images_for(features)
    ]
    return artifacts


def own_images_for(features: PlatformFeatures) -> list[str]:
    """The platform's own images a stack with ``features`` runs."""
    # Every tenant's feature store materialises with the loop image.
    names = ["onnx-serving", "loop"]
    if features.loop:
        names.append("training")
        if features.gpu:
            names.append("training-cuda")
    return names


def merge_features(features: Iterable[PlatformFeatures]) -> PlatformFeatures:
    """One feature set covering several (e.g. one per tenant); tags must agree."""
    items = list(features)
    if not items:
        raise ValueError("merge_features needs at least one feature set")
    tags = {f.serving_image_tag for f in items}
    if len(tags) != 1:
        raise ValueError(f"tenants use different serving image tags {sorted(tags)}; pick one")
    return PlatformFeatures(
        gpu=any(f.gpu for f in items),
        serving_image_tag=items[0].serving_image_tag,
        canary=any(f.canary for f in items),
        loop=any(f.loop for f in items),
        karpenter=any(f.karpenter for f in items),
        ingestion=any(f.ingestion for f in items),
        broker=any(f.broker for f in items),
        velero=any(f.velero for f in items),
    )


class RegistryArgs(TypedDict):
    """Registry inputs every component of this layer takes (from ``RegistrySettings``)."""

    registry_host: str
    """In-region registry host every chart and image comes from."""
    image_prefix: NotRequired[str]
    """Repository prefix of mirrored images (default: none)."""
    chart_prefix: NotRequired[str]
    """Repository prefix of the OCI charts (default ``charts``)."""


def registry_of(args: RegistryArgs) -> Registry:
    """The :class:`Registry` a component's args describe."""
    return Registry(
        args["registry_host"],
        image_prefix=args.get("image_prefix", ""),
        chart_prefix=args.get("chart_prefix", CHART_PREFIX),
    )
