"""A tenant's alert automation: the Alertmanager webhook receiver from ``workloads/alerts``.

It turns ``ModelInputDrift`` alerts into retraining triggers on the tenant's SQS queue
and ``CanaryDegraded`` alerts into canary decisions (hold or rollback, never promotion)
through the Kubernetes API, marks rollbacks in the tenant's model registry, and audits
every call. It runs in the loop image (``mlplatform/loop``: Kubernetes client, boto3),
not the lean model-server image, which has neither. What it may touch is exactly its tenant's:

- AWS: the IRSA role passed in, which :class:`components.aws.queues.TenantQueues`
  grants this tenant's queue ARNs and key only;
- Kubernetes: a Role in the tenant namespace allowing only get on its
  InferenceServices (the actuator reads a challenger's Ready condition before sending
  it traffic) and get/patch on its canary routers' ConfigMaps and Deployments, by name
  (traffic moves, promotion, rollback); nothing cluster-wide. The receiver itself
  refuses namespaces other than its own;
- network: a NetworkPolicy admitting only the shared Alertmanager on the webhook port.

Alertmanager authenticates with a bearer token held in a Secret both sides read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NotRequired

import pulumi

from components.k8s._resources import register, resolve_placeholders
from components.k8s.catalog import Registry, RegistryArgs, registry_of
from components.k8s.invariants import API_ACCESS_ANNOTATION
from components.k8s.placement import Placement
from components.k8s.podspec import (
    IRSA_ANNOTATION,
    TMP_PATH,
    Manifest,
    Resources,
    cluster_ip_service,
    container,
    deployment,
    object_meta,
    pod_spec,
    role_binding,
    selector_labels,
    service_account_subject,
)
from components.k8s.podspec import (
    role as podspec_role,
)
from contracts.names import (
    alert_receiver_name,
    automation_service_account,
    labels,
    webhook_secret_name,
)
from contracts.router import router_name
from contracts.telemetry import WEBHOOK_PORT, WEBHOOK_TOKEN_ENV, webhook_url

COMPONENT = "automation"
AUDIT_DIR = "/var/lib/mlplatform/audit"


def automation_manifests(
    tenant: str,
    namespace: str,
    registry: Registry,
    image_tag: str,
    *,
    queue_url: str,
    role_arn: str | None,
    canary_models: Sequence[str] = (),
    monitoring_namespace: str = "monitoring",
    registry_uri: str | None = None,
    kms_key_arn: str | None = None,
) -> list[Manifest]:
    """ServiceAccount, Role, RoleBinding, Deployment, Service and NetworkPolicy (pure).

    ``queue_url`` may be a placeholder string when called from the component: the
    component substitutes the Output before registering.
    """
    name = alert_receiver_name(tenant)
    obj_labels = labels(tenant, COMPONENT, name=name)
    rbac = _rbac(tenant, namespace, obj_labels, role_arn, canary_models)
    receiver = _receiver_deployment(
        tenant, namespace, obj_labels, registry.own_image("loop", image_tag), queue_url
    )
    if registry_uri is not None:
        # Rollbacks are recorded in the tenant's model registry too.
        args = receiver["spec"]["template"]["spec"]["containers"][0]["args"]
        args.append(f"--registry={registry_uri}")
        if kms_key_arn is not None:
            args.append(f"--kms_key={kms_key_arn}")
    svc = cluster_ip_service(
        name,
        namespace,
        obj_labels,
        selector_labels(obj_labels),
        [{"name": "webhook", "port": WEBHOOK_PORT, "targetPort": "webhook", "protocol": "TCP"}],
    )
    return [
        *rbac,
        receiver,
        svc,
        _ingress_from_alertmanager(name, namespace, obj_labels, monitoring_namespace),
    ]


def _rbac(
    tenant: str,
    namespace: str,
    obj_labels: dict[str, str],
    role_arn: str | None,
    canary_models: Sequence[str],
) -> list[Manifest]:
    """The receiver's account (IRSA), and a Role reading InferenceServices and patching
    only its canary models' routers, by name."""
    sa_name = automation_service_account(tenant)
    annotations = {IRSA_ANNOTATION: role_arn} if role_arn else {}
    sa: Manifest = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(sa_name, namespace, obj_labels, annotations=annotations),
        # Off on the account; the receiver's pods opt in (the actuator calls the API).
        "automountServiceAccountToken": False,
    }
    rules: list[Manifest] = [
        {
            "apiGroups": ["serving.kserve.io"],
            "resources": ["inferenceservices"],
            # Read-only: traffic moves through the router, never the InferenceService.
            "verbs": ["get"],
        }
    ]
    routers = sorted(router_name(model) for model in canary_models)
    if routers:
        rules += [
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": routers,
             "verbs": ["get", "patch"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": routers,
             "verbs": ["get", "patch"]},
        ]  # fmt: skip
    role = podspec_role(sa_name, namespace, obj_labels, rules)
    binding = role_binding(
        sa_name, namespace, obj_labels, sa_name, [service_account_subject(sa_name, namespace)]
    )
    return [sa, role, binding]


def _receiver_deployment(
    tenant: str, namespace: str, obj_labels: dict[str, str], image: str, queue_url: str
) -> Manifest:
    """One replica of ``python -m workloads.alerts.webhook`` (one writer of the audit log)."""
    name = alert_receiver_name(tenant)
    sa_name = automation_service_account(tenant)
    receiver = container(
        "alert-receiver",
        image,
        Resources("100m", "256Mi", cpu_limit="500m", memory_limit="512Mi"),
        command=["python", "-m", "workloads.alerts.webhook"],
        args=[
            "--host=0.0.0.0",
            f"--port={WEBHOOK_PORT}",
            f"--token_env={WEBHOOK_TOKEN_ENV}",
            f"--audit_log={AUDIT_DIR}/alerts.jsonl",
            f"--queue=sqs:{queue_url}",
            f"--tenant_namespace={namespace}",
        ],
        ports=[{"name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP"}],
        env=[
            {"name": "HOME", "value": TMP_PATH},
            {
                "name": WEBHOOK_TOKEN_ENV,
                "valueFrom": {
                    "secretKeyRef": {"name": webhook_secret_name(tenant), "key": "token"}
                },
            },
        ],
        volume_mounts=[{"name": "audit", "mountPath": AUDIT_DIR}],
        probes={
            "readinessProbe": {
                "httpGet": {"path": "/healthz", "port": "webhook"},
                "periodSeconds": 10,
            }
        },
    )
    spec = pod_spec(
        [receiver],
        service_account=sa_name,
        automount_token=True,
        volumes=[{"name": "audit", "emptyDir": {"sizeLimit": "1Gi"}}],
    )
    dep = deployment(name, namespace, obj_labels, spec, replicas=1)
    dep["spec"]["template"]["metadata"]["annotations"] = {
        API_ACCESS_ANNOTATION: "canary actuator patches InferenceServices and canary routers"
    }
    # One writer of the audit log and of rollbacks: replace, never run two side by side.
    dep["spec"]["strategy"] = {"type": "Recreate"}
    return dep


def _ingress_from_alertmanager(
    name: str, namespace: str, obj_labels: dict[str, str], monitoring_namespace: str
) -> Manifest:
    """Only the shared Alertmanager may reach the receiver."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(f"{name}-from-alertmanager", namespace, obj_labels),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(obj_labels)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": monitoring_namespace}
                            },
                            "podSelector": {
                                "matchLabels": {"app.kubernetes.io/name": "alertmanager"}
                            },
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": WEBHOOK_PORT}],
                }
            ],
        },
    }


class TenantAutomationArgs(RegistryArgs):
    """Inputs of :class:`TenantAutomation`."""

    tenant: str
    """Tenant name."""
    namespace: str
    """Tenant namespace."""
    image_tag: str
    """Tag of the platform's own images (the receiver runs ``mlplatform/loop``)."""
    retraining_queue_url: pulumi.Input[str]
    """``TenantQueues.queue_urls['retraining']``."""
    webhook_token: pulumi.Input[str]
    """Bearer token Alertmanager presents (a config secret, 16+ characters)."""
    role_arn: NotRequired[pulumi.Input[str] | None]
    """The automation's IRSA role (the one ``TenantQueues`` attaches its policy to)."""
    canary_models: NotRequired[Sequence[str]]
    """Models with a challenger: the actuator may patch their routers, by name."""
    monitoring_namespace: NotRequired[str]
    """Namespace of the shared Alertmanager (default ``monitoring``)."""
    placement: NotRequired[Placement]
    """Node pools of the tenant's pods (enterprise: its dedicated, tainted pools)."""
    registry_uri: NotRequired[str]
    """``s3://<bucket>/registry/``: rollbacks are marked in the tenant's model registry."""
    kms_key_arn: NotRequired[pulumi.Input[str]]
    """The tenant key of registry writes."""


class TenantAutomation(pulumi.ComponentResource):
    """The alert receiver Deployment with its identity, RBAC, Service, policy and token."""

    service_url: pulumi.Output[str]
    """URL Alertmanager posts to."""

    def __init__(
        self, name: str, args: TenantAutomationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:automation:TenantAutomation", name, None, opts)
        tenant, ns = args["tenant"], args["namespace"]
        child = pulumi.ResourceOptions(parent=self)
        token = pulumi.Output.secret(args["webhook_token"])
        secret = register(
            f"{name}-token",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": object_meta(webhook_secret_name(tenant), ns, labels(tenant, COMPONENT)),
                "type": "Opaque",
                "stringData": {"token": token},
            },
            child,
        )
        placeholder = "QUEUE_URL"
        manifests = automation_manifests(
            tenant,
            ns,
            registry_of(args),
            args["image_tag"],
            queue_url=placeholder,
            role_arn=None,
            canary_models=args.get("canary_models", ()),
            monitoring_namespace=args.get("monitoring_namespace", "monitoring"),
            registry_uri=args.get("registry_uri"),
            kms_key_arn="__KMS_KEY_ARN__" if "kms_key_arn" in args else None,
        )
        outputs = (
            {"__KMS_KEY_ARN__": pulumi.Output.from_input(args["kms_key_arn"])}
            if "kms_key_arn" in args
            else {}
        )
        queue_url = pulumi.Output.from_input(args["retraining_queue_url"])
        role_arn = args.get("role_arn")
        created: list[pulumi.Resource] = [secret]
        for manifest in manifests:
            kind = manifest["kind"]
            if "placement" in args:
                args["placement"].apply(manifest)
            if kind == "ServiceAccount" and role_arn is not None:
                manifest["metadata"]["annotations"] = {IRSA_ANNOTATION: role_arn}
            if kind == "Deployment":
                c = manifest["spec"]["template"]["spec"]["containers"][0]
                c["args"] = [
                    queue_url.apply(lambda url: f"--queue=sqs:{url}")
                    if a == f"--queue=sqs:{placeholder}"
                    else a
                    for a in c["args"]
                ]
            res = register(
                f"{name}-{kind.lower()}",
                resolve_placeholders(manifest, outputs),
                pulumi.ResourceOptions(parent=self, depends_on=list(created)),
            )
            if kind in {"ServiceAccount", "Role", "RoleBinding"}:
                created.append(res)
        self.service_url = pulumi.Output.from_input(webhook_url(tenant, ns))
        self.register_outputs({"serviceUrl": self.service_url})
