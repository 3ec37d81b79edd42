"""The cluster's model-serving platform: cert-manager, the KServe CRDs and controller.

All pinned Helm releases from the in-region mirror, ``deploymentMode: Standard`` (what
KServe 0.16 calls the former ``RawDeployment`` mode, whose name it deprecates) so
neither Knative nor Istio is needed, and no Ingress objects (clients are in-cluster;
exposure is the tenant's explicit decision). KServe's built-in runtimes are disabled:
tenants serve through the platform's own ONNX runtime (:mod:`components.k8s.serving`).

Tenant admins may write InferenceServices, and KServe merges an InferenceService's
``predictor.model`` (a container spec) over the runtime's container: environment, args,
image and mounts set there would replace what the platform put in the runtime (the
model-signing key, the anti-rollback record, the server itself). A
``ValidatingAdmissionPolicy`` (:func:`inference_service_admission`) therefore refuses, in
every tenant namespace, InferenceServices that set any of those, or bring their own
containers, volumes, transformer or explainer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired

import pulumi
import pulumi_kubernetes as k8s

from components.k8s._resources import pinned_release, register
from components.k8s.catalog import CHARTS, IMAGES, Registry, RegistryArgs, registry_of
from components.k8s.netpol import baseline_policies, scrape_ingress, webhook_ingress
from components.k8s.podspec import (
    Manifest,
    namespace,
)
from contracts.names import TENANT_LABEL

DEPLOYMENT_MODE = "Standard"
"""KServe mode without Knative or Istio: plain Deployments, Services and HPAs. KServe 0.16
renamed it from ``RawDeployment`` (pkg/constants: ``LegacyRawDeployment ... deprecated: use
Standard``); the old name still works but is converted with a deprecation warning."""


def cert_manager_values(
    registry: Registry, service_monitor_labels: Mapping[str, str]
) -> dict[str, Any]:
    """Values for cert-manager v1.19 (its chart already runs restricted-compliant pods)."""

    def img(key: str) -> dict[str, str]:
        pin = IMAGES[key]
        return {"repository": registry.repository(pin), "tag": pin.tag}

    return {
        "crds": {"enabled": True, "keep": True},
        "image": img("cert-manager-controller"),
        "webhook": {"image": img("cert-manager-webhook")},
        "cainjector": {"image": img("cert-manager-cainjector")},
        "startupapicheck": {"image": img("cert-manager-startupapicheck")},
        "acmesolver": {"image": img("cert-manager-acmesolver")},
        "prometheus": {
            "enabled": True,
            "servicemonitor": {"enabled": True, "labels": dict(service_monitor_labels)},
        },
    }


BUILTIN_RUNTIMES = (
    "huggingfaceserver",
    "lgbserver",
    "mlserver",
    "paddleserver",
    "pmmlserver",
    "sklearnserver",
    "tensorflow",
    "torchserve",
    "tritonserver",
    "xgbserver",
)
"""ClusterServingRuntimes the chart renders (charts/kserve-resources/templates/
clusterservingruntimes.yaml: ``disabled: {{ .Values.kserve.servingruntime.<name>.disabled }}``)."""


def _controller_container_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def kserve_values(registry: Registry) -> dict[str, Any]:
    """Values for the ``kserve`` chart v0.16.0 (keys from charts/kserve-resources).

    The chart's built-in ClusterServingRuntimes point at upstream images we do not
    mirror (and Triton's also claims the ``onnx`` format); they are all disabled, so the
    only runtimes that can be selected are the tenants' own, mirrored ones.
    """

    def split(key: str) -> dict[str, str]:
        pin = IMAGES[key]
        return {"image": registry.repository(pin), "tag": pin.tag}

    controller = split("kserve-controller")
    return {
        "kserve": {
            "servingruntime": {name: {"disabled": True} for name in BUILTIN_RUNTIMES},
            "agent": split("kserve-agent"),
            # Only InferenceGraphs use it (we do not, see the module docstring); pinned to
            # the mirror anyway so nothing in the chart's config points upstream.
            "router": split("kserve-router"),
            "storage": split("kserve-storage-initializer"),
            "controller": {
                **controller,
                # Pod Security ``restricted`` for the controller pod and both containers;
                # keys from charts/kserve-resources values (controller.securityContext,
                # controller.containerSecurityContext, controller.rbacProxy.securityContext).
                "securityContext": {
                    "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containerSecurityContext": _controller_container_context(),
                "rbacProxy": {"securityContext": _controller_container_context()},
                "deploymentMode": DEPLOYMENT_MODE,
                "rbacProxyImage": registry.image(IMAGES["kube-rbac-proxy"]),
                "gateway": {
                    # No Ingress per InferenceService: serving is in-cluster (ClusterIP).
                    "disableIngressCreation": True,
                    "ingressGateway": {"enableGatewayApi": False},
                },
            },
        }
    }


class KServeInstallArgs(RegistryArgs):
    """Inputs of :class:`KServeInstall`."""

    namespace: NotRequired[str]
    """KServe controller namespace (default ``kserve``)."""
    cert_manager_namespace: NotRequired[str]
    """cert-manager namespace (default ``cert-manager``)."""
    service_monitor_labels: NotRequired[Mapping[str, str]]
    """Labels the platform Prometheus selects ServiceMonitors by (default ``release: kps``)."""
    cluster_cidrs: Sequence[str]
    """API server and node ranges (EKS: the VPC CIDR): webhook callers, API server egress."""
    monitoring_namespace: NotRequired[str]
    """Namespace whose Prometheus scrapes the controllers (default ``monitoring``)."""


ISVC_ADMISSION_POLICY = "mlplatform-inferenceservice-platform-runtime"
"""The ValidatingAdmissionPolicy (and its binding) guarding tenants' InferenceServices."""
RUNTIME_OWNED_MODEL_FIELDS = (
    "image", "command", "args", "env", "envFrom", "volumeMounts", "workingDir",
    "securityContext", "lifecycle", "livenessProbe", "readinessProbe", "startupProbe",
)  # fmt: skip
"""Container fields of ``predictor.model`` that would override the platform's runtime."""
FORBIDDEN_PREDICTOR_FIELDS = ("containers", "initContainers", "volumes")
"""Predictor fields that would run other containers or mount other files into the pod."""


def inference_service_admission() -> list[Manifest]:
    """ValidatingAdmissionPolicy + binding: tenants' InferenceServices use the runtime as is.

    Applies to namespaces carrying the tenant label; the loop's own edits (a new
    ``storageUri``) pass, as does everything the serving component creates.
    """
    model_checks = " && ".join(
        f"!has(object.spec.predictor.model.{field})" for field in RUNTIME_OWNED_MODEL_FIELDS
    )
    predictor_checks = " && ".join(
        f"!has(object.spec.predictor.{field})" for field in FORBIDDEN_PREDICTOR_FIELDS
    )
    labels_ = {"app.kubernetes.io/part-of": "mlplatform", "app.kubernetes.io/managed-by": "pulumi"}
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": ISVC_ADMISSION_POLICY, "labels": labels_},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["serving.kserve.io"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["inferenceservices"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "!has(object.spec.predictor.model) || (" + model_checks + ")",
                    "message": "predictor.model may not set "
                    + ", ".join(RUNTIME_OWNED_MODEL_FIELDS)
                    + ": the platform's ServingRuntime owns them (model-signing key,"
                    " anti-rollback record, server image)",
                    "reason": "Forbidden",
                },
                {
                    "expression": predictor_checks,
                    "message": "predictor may not bring "
                    + ", ".join(FORBIDDEN_PREDICTOR_FIELDS)
                    + ": models are served by the platform's runtime only",
                    "reason": "Forbidden",
                },
                {
                    "expression": "!has(object.spec.transformer) && !has(object.spec.explainer)",
                    "message": "transformers and explainers are not offered: they would run"
                    " tenant containers in front of the model",
                    "reason": "Forbidden",
                },
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": ISVC_ADMISSION_POLICY, "labels": labels_},
        "spec": {
            "policyName": ISVC_ADMISSION_POLICY,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {
                    "matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]
                }
            },
        },
    }
    return [policy, binding]


CERT_MANAGER_WEBHOOK_PORT = 10250
"""cert-manager webhook's secure port (chart default ``webhook.securePort``)."""
KSERVE_WEBHOOK_PORT = 9443


def kserve_install_policies(
    ns: str, cm_ns: str, labels_: Mapping[str, str], cidrs: Sequence[str], monitoring_ns: str
) -> list[Manifest]:
    """Default-deny plus the allows the KServe and cert-manager namespaces need."""
    return [
        *baseline_policies(ns, labels_, cidrs),
        webhook_ingress(
            ns, labels_, cidrs, {"control-plane": "kserve-controller-manager"},
            KSERVE_WEBHOOK_PORT, "allow-api-server-to-webhook",
        ),
        scrape_ingress(ns, labels_, monitoring_ns, [8080, 8443]),
        *baseline_policies(cm_ns, labels_, cidrs),
        webhook_ingress(
            cm_ns, labels_, cidrs, {"app.kubernetes.io/component": "webhook"},
            CERT_MANAGER_WEBHOOK_PORT, "allow-api-server-to-webhook",
        ),
        scrape_ingress(cm_ns, labels_, monitoring_ns, [9402]),
    ]  # fmt: skip


class KServeInstall(pulumi.ComponentResource):
    """cert-manager, KServe CRDs and KServe (``Standard`` mode) as pinned Helm releases."""

    namespace: pulumi.Output[str]
    """Namespace of the KServe controller."""
    deployment_mode: str
    """Always ``Standard`` (formerly ``RawDeployment``)."""

    def __init__(
        self, name: str, args: KServeInstallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:serving:KServeInstall", name, None, opts)
        registry = registry_of(args)
        ns_name = args.get("namespace", "kserve")
        cm_ns = args.get("cert_manager_namespace", "cert-manager")
        sm_labels = dict(args.get("service_monitor_labels", {"release": "kps"}))
        child = pulumi.ResourceOptions(parent=self)
        part_of = {"app.kubernetes.io/part-of": "mlplatform"}

        cm_ns_res = register(
            f"{name}-cert-manager-ns",
            namespace(cm_ns, "restricted", part_of, "cert-manager pods run restricted"),
            child,
        )
        ks_ns_res = register(
            f"{name}-ns",
            namespace(
                ns_name,
                "restricted",
                part_of,
                "controller runs restricted (security contexts set in the release values)",
            ),
            child,
        )
        for policy in kserve_install_policies(
            ns_name,
            cm_ns,
            part_of,
            args["cluster_cidrs"],
            args.get("monitoring_namespace", "monitoring"),
        ):
            meta = policy["metadata"]
            register(
                f"{name}-netpol-{meta['namespace']}-{meta['name']}",
                policy,
                pulumi.ResourceOptions(parent=self, depends_on=[cm_ns_res, ks_ns_res]),
            )
        cm_pin = CHARTS["cert-manager"]
        cert_manager = pinned_release(
            f"{name}-cert-manager",
            "cert-manager",
            cm_pin,
            registry,
            cm_ns,
            pulumi.ResourceOptions(parent=self, depends_on=[cm_ns_res]),
            values=cert_manager_values(registry, sm_labels),
        )
        crd_pin = CHARTS["kserve-crd"]
        crds = pinned_release(
            f"{name}-crd",
            "kserve-crd",
            crd_pin,
            registry,
            ns_name,
            pulumi.ResourceOptions(parent=self, depends_on=[ks_ns_res]),
        )
        policy, binding = inference_service_admission()
        vap = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-isvc-policy",
            metadata=policy["metadata"],
            spec=policy["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[crds]),
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-isvc-policy-binding",
            metadata=binding["metadata"],
            spec=binding["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[vap]),
        )
        ks_pin = CHARTS["kserve"]
        pinned_release(
            f"{name}-controller",
            "kserve",
            ks_pin,
            registry,
            ns_name,
            pulumi.ResourceOptions(parent=self, depends_on=[crds, cert_manager]),
            values=kserve_values(registry),
        )
        self.namespace = pulumi.Output.from_input(ns_name)
        self.deployment_mode = DEPLOYMENT_MODE
        self.register_outputs({"namespace": self.namespace, "deploymentMode": DEPLOYMENT_MODE})
