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
- network: a NetworkPolicy admitting only the shared Alertmanager's pods on the webhook
  port; the pod carries :data:`~components.k8s.netpol.RESTRICTED_INGRESS_LABEL`, so the
  namespace's allow-same-namespace policy does not admit the tenant's other pods.

Alertmanager authenticates with a bearer token held in a Secret both sides read; the
receiver reads it as a mounted file, not an environment variable.

The audit log is durable and keyed: each record is chained with a KMS HMAC key only the
receiver's IAM role may use (``--audit_key=kms:<arn>``) and shipped, object-locked, to
the tenant's audit bucket (``--audit_bucket``); the ``emptyDir`` is only the local copy
(restored from the bucket when a new pod starts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired

import pulumi
import pulumi_kubernetes as k8s

from components.k8s._resources import register, resolve_placeholders
from components.k8s.catalog import Registry, RegistryArgs, registry_of
from components.k8s.invariants import API_ACCESS_ANNOTATION
from components.k8s.monitoring import RELEASE as MONITORING_RELEASE
from components.k8s.nats import QueueClient, add_queue_client
from components.k8s.netpol import RESTRICTED_INGRESS_LABEL
from components.k8s.objectstore import ObjectStoreClient, add_object_store_client
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
from contracts.messaging import trigger_queue_spec
from contracts.names import (
    PART_OF,
    alert_receiver_name,
    automation_service_account,
    automation_service_accounts,
    labels,
    tenant_admin_group,
    webhook_secret_name,
)
from contracts.router import router_name
from contracts.telemetry import CONTROLLER_METRICS_PORT, WEBHOOK_PORT, webhook_url

COMPONENT = "automation"
AUDIT_DIR = "/var/lib/mlplatform/audit"
TOKEN_DIR = "/var/run/secrets/mlplatform/webhook"  # noqa: S105 (a mount path)
AUDIT_PREFIX = "alerts"
"""Folder of the audit bucket (the AWS site grants the receiver exactly this folder)."""
ALERTMANAGER_POD_LABELS = {
    "app.kubernetes.io/name": "alertmanager",
    # prometheus-operator labels an Alertmanager's pods with its resource's name.
    "alertmanager": f"{MONITORING_RELEASE}-alertmanager",
}
"""The shared Alertmanager's pods, as the monitoring stack deploys them."""
RECEIVER_METRICS_PORT = CONTROLLER_METRICS_PORT
"""The loop's metrics port (one of the ports the tenant's scrape policy admits)."""


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
    audit: Mapping[str, Any] | None = None,
) -> list[Manifest]:
    """ServiceAccount, Role, RoleBinding, Deployment, Service and NetworkPolicy (pure).

    ``audit`` (keys ``bucket``, ``mac_key_arn``, ``lock_mode``, ``retention_days``,
    ``region``) ships the audit log to the object-locked bucket, chained with the KMS key.

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
    if audit is not None:
        args = receiver["spec"]["template"]["spec"]["containers"][0]["args"]
        args += [
            f"--audit_key=kms:{audit['mac_key_arn']}",
            f"--audit_bucket=s3://{audit['bucket']}/{AUDIT_PREFIX}/",
            f"--audit_lock_mode={audit['lock_mode']}",
            f"--audit_retention_days={audit['retention_days']}",
            f"--region={audit['region']}",
        ]
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
            f"--token_file={TOKEN_DIR}/token",
            f"--audit_log={AUDIT_DIR}/alerts.jsonl",
            f"--queue=sqs:{queue_url}",
            f"--tenant_namespace={namespace}",
            # Refusal and ship-failure counters, on a port of their own (the webhook port
            # admits Alertmanager only; the namespace's scrape policy admits Prometheus).
            f"--metrics_port={RECEIVER_METRICS_PORT}",
        ],
        ports=[
            {"name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": RECEIVER_METRICS_PORT, "protocol": "TCP"},
        ],
        env=[{"name": "HOME", "value": TMP_PATH}],
        volume_mounts=[
            {"name": "audit", "mountPath": AUDIT_DIR},
            {"name": "webhook-token", "mountPath": TOKEN_DIR, "readOnly": True},
        ],
        probes={
            "readinessProbe": {
                "httpGet": {"path": "/healthz", "port": "webhook"},
                "periodSeconds": 10,
            },
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": "webhook"},
                "periodSeconds": 20,
                "failureThreshold": 3,
            },
        },
    )
    spec = pod_spec(
        [receiver],
        service_account=sa_name,
        automount_token=True,
        volumes=[
            # The local copy only: every record is shipped to the object-locked audit
            # bucket, and a new pod restores the chain from there before appending.
            {"name": "audit", "emptyDir": {"sizeLimit": "1Gi"}},
            {
                "name": "webhook-token",
                "secret": {
                    "secretName": webhook_secret_name(tenant),
                    "items": [{"key": "token", "path": "token"}],
                    "defaultMode": 0o400,
                },
            },
        ],
    )
    dep = deployment(name, namespace, obj_labels, spec, replicas=1)
    # Only Alertmanager may reach it, not the namespace's other pods (netpol).
    dep["spec"]["template"]["metadata"]["labels"][RESTRICTED_INGRESS_LABEL] = "true"
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
                            "podSelector": {"matchLabels": dict(ALERTMANAGER_POD_LABELS)},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": WEBHOOK_PORT}],
                }
            ],
        },
    }


def reserved_accounts_admission(tenant: str, namespace: str) -> list[Manifest]:
    """ValidatingAdmissionPolicy + binding: the tenant's admins cannot create or change a
    workload that runs as one of the loop's service accounts.

    Those accounts assume the automation IAM role (the queues, the registry, the audit
    bucket and the audit MAC key); a tenant admin may create pods, Deployments, Jobs and
    InferenceServices in the namespace, and without this policy could run any code as
    them, or rewrite the platform's receiver Deployment. Pods the controllers create from
    the platform's own Deployments pass (their requester is the controller, not a tenant
    admin); the platform's deployer is not in the tenant's group.
    """
    name = f"mlplatform-{tenant}-reserved-accounts"
    accounts = ", ".join(f"'{a}'" for a in automation_service_accounts(tenant))
    meta_labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": meta_labels},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["pods"],
                    },
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["deployments", "statefulsets", "replicasets", "daemonsets"],
                    },
                    {
                        "apiGroups": ["batch"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["jobs", "cronjobs"],
                    },
                    {
                        "apiGroups": ["serving.kserve.io"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["inferenceservices"],
                    },
                ]
            },
            "variables": [
                {
                    "name": "pod",
                    "expression": "object.kind == 'Pod' ? object.spec"
                    " : object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec"
                    " : object.kind == 'InferenceService' ? object.spec.predictor"
                    " : object.spec.template.spec",
                },
                {"name": "reserved", "expression": f"[{accounts}]"},
                {
                    "name": "tenantAdmin",
                    "expression": "has(request.userInfo.groups) && request.userInfo.groups"
                    f".exists(g, g == '{tenant_admin_group(tenant)}')",
                },
            ],
            "validations": [
                {
                    "expression": "!variables.tenantAdmin || !("
                    "(has(variables.pod.serviceAccountName)"
                    " && variables.pod.serviceAccountName in variables.reserved)"
                    " || (has(variables.pod.serviceAccount)"
                    " && variables.pod.serviceAccount in variables.reserved))",
                    "message": "the platform's automation service accounts ("
                    + ", ".join(automation_service_accounts(tenant))
                    + ") are reserved to the platform's own workloads",
                    "reason": "Forbidden",
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": meta_labels},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            },
        },
    }
    return [policy, binding]


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
    """The tenant key of registry and audit writes."""
    audit_bucket: NotRequired[pulumi.Input[str]]
    """The tenant's object-locked audit bucket: the receiver ships its log there."""
    audit_mac_key_arn: NotRequired[pulumi.Input[str]]
    """KMS HMAC key the audit records are chained with (only the receiver's role uses it)."""
    audit_lock_mode: NotRequired[str]
    """Object-lock mode of each shipped record (``COMPLIANCE`` in prod)."""
    audit_retention_days: NotRequired[int]
    """Retention of each shipped record (the tier's)."""
    region: NotRequired[str]
    """Region of the audit bucket and key."""
    queue_client: NotRequired[QueueClient]
    """Broker credentials and CA of the receiver (the on-prem site's NATS); AWS: IRSA."""
    object_store: NotRequired[ObjectStoreClient]
    """The in-country store's client (on-prem registry writes without KMS); AWS: IRSA."""


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
            audit=(
                {
                    "bucket": "__AUDIT_BUCKET__",
                    "mac_key_arn": "__AUDIT_MAC_KEY__",
                    "lock_mode": args.get("audit_lock_mode", "COMPLIANCE"),
                    "retention_days": args.get("audit_retention_days", 365),
                    "region": args.get("region", "me-central-1"),
                }
                if "audit_bucket" in args and "audit_mac_key_arn" in args
                else None
            ),
        )
        outputs = (
            {"__KMS_KEY_ARN__": pulumi.Output.from_input(args["kms_key_arn"])}
            if "kms_key_arn" in args
            else {}
        )
        if "audit_bucket" in args and "audit_mac_key_arn" in args:
            outputs["__AUDIT_BUCKET__"] = pulumi.Output.from_input(args["audit_bucket"])
            outputs["__AUDIT_MAC_KEY__"] = pulumi.Output.from_input(args["audit_mac_key_arn"])
        queue_url = pulumi.Output.from_input(args["retraining_queue_url"])
        role_arn = args.get("role_arn")
        created: list[pulumi.Resource] = [secret]
        for manifest in manifests:
            kind = manifest["kind"]
            if "placement" in args:
                args["placement"].apply(manifest)
            if kind == "ServiceAccount" and role_arn is not None:
                manifest["metadata"]["annotations"] = {IRSA_ANNOTATION: role_arn}
            if kind == "Deployment" and "queue_client" in args:
                add_queue_client(manifest, args["queue_client"])
            if kind == "Deployment" and "object_store" in args:
                add_object_store_client(manifest, args["object_store"])
            if kind == "Deployment":
                c = manifest["spec"]["template"]["spec"]["containers"][0]
                c["args"] = [
                    queue_url.apply(lambda url: f"--queue={trigger_queue_spec(url)}")
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
        policy, binding = reserved_accounts_admission(tenant, ns)
        vap = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-reserved-accounts",
            metadata=policy["metadata"],
            spec=policy["spec"],
            opts=child,
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-reserved-accounts-binding",
            metadata=binding["metadata"],
            spec=binding["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[vap]),
        )
        self.service_url = pulumi.Output.from_input(webhook_url(tenant, ns))
        self.register_outputs({"serviceUrl": self.service_url})
