"""KEDA: scales each tenant's ingestion worker on the depth of its queue.

:class:`KedaInstall` installs the pinned ``keda`` chart (2.20.2) from the mirror into a
``restricted`` namespace with default-deny network policies plus what KEDA needs: the
API server's calls to its metrics API server (the external metrics API) and admission
webhooks, HTTPS to the cluster and AWS endpoints (SQS ``GetQueueAttributes``), and on
the on-prem site the broker's monitoring port (``/jsz``).

Per tenant, :func:`scaled_object` targets the worker's Deployment with one trigger:

- AWS: ``aws-sqs-queue`` on the tenant's ingestion queue, visible plus in-flight
  messages, authenticated by a ``TriggerAuthentication`` with ``podIdentity`` provider
  ``aws`` and ``identityOwner: keda``: the operator's own IRSA role, which may call
  ``sqs:GetQueueAttributes`` on the tenants' ingestion queues and nothing else (the
  queue component writes that policy). No static keys anywhere;
- on-prem: ``nats-jetstream`` on the tenant's ingestion stream and its durable
  consumer (names from :mod:`contracts.messaging`), read from the broker's monitoring
  endpoint, which needs no credentials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired

import pulumi

from components.k8s._resources import namespace_with_policies, pinned_release
from components.k8s.catalog import CHARTS, IMAGES, Registry, RegistryArgs, registry_of
from components.k8s.netpol import _ns_peer, baseline_policies, egress_to, webhook_ingress
from components.k8s.podspec import Manifest, namespace, object_meta
from contracts.messaging import (
    INGESTION,
    NATS_MONITOR_PORT,
    NATS_NAMESPACE,
    NATS_SERVICE_HOST,
    consumer_name,
    stream_name,
    tenant_account,
)

API_VERSION = "keda.sh/v1alpha1"
"""KEDA's API version (ScaledObject, TriggerAuthentication)."""
NAMESPACE = "keda"
"""Namespace of the operator, the metrics API server and the webhooks."""
METRICS_API_PORT = 6443
"""Container port of the metrics API server (the API server calls it)."""
WEBHOOK_PORT = 9443
"""Container port of the admission webhooks."""


def keda_values(
    registry: Registry, system_selector: Mapping[str, str], role_arn: str | None
) -> dict[str, Any]:
    """Values for the ``keda`` chart 2.20 (keys from its values.yaml)."""

    def image(key: str) -> dict[str, str]:
        pin = IMAGES[key]
        return {
            "registry": registry.host,
            "repository": registry.repository_path(pin),
            "tag": pin.tag,
        }

    values: dict[str, Any] = {
        "image": {
            "keda": image("keda-operator"),
            "metricsApiServer": image("keda-metrics-apiserver"),
            "webhooks": image("keda-admission-webhooks"),
            # The chart's default is Always: a pinned tag from the mirror needs no re-pull.
            "pullPolicy": "IfNotPresent",
        },
        "nodeSelector": dict(system_selector),
    }
    if role_arn is not None:
        # IRSA for the operator: the aws-sqs-queue scaler with identityOwner keda.
        values["podIdentity"] = {"aws": {"irsa": {"enabled": True, "roleArn": role_arn}}}
    return values


def keda_policies(
    labels: Mapping[str, str], cluster_cidrs: Sequence[str], *, nats: bool
) -> list[Manifest]:
    """Default deny, the API server to the metrics API and webhooks, and (on-prem) NATS."""
    policies = [
        *baseline_policies(NAMESPACE, labels, cluster_cidrs),
        webhook_ingress(
            NAMESPACE, labels, cluster_cidrs, {}, METRICS_API_PORT, "allow-api-server-to-metrics"
        ),
        webhook_ingress(
            NAMESPACE, labels, cluster_cidrs, {}, WEBHOOK_PORT, "allow-api-server-to-webhooks"
        ),
    ]
    if nats:
        policies.append(
            egress_to(
                "allow-nats-monitoring",
                NAMESPACE,
                labels,
                [_ns_peer(NATS_NAMESPACE)],
                [NATS_MONITOR_PORT],
            )
        )
    return policies


def sqs_trigger(queue_url: str, region: str, auth: str, target_per_replica: int) -> Manifest:
    """``aws-sqs-queue`` trigger: visible plus in-flight messages per replica."""
    return {
        "type": "aws-sqs-queue",
        "metadata": {
            "queueURL": queue_url,
            "queueLength": str(target_per_replica),
            "awsRegion": region,
            "scaleOnInFlight": "true",
        },
        "authenticationRef": {"name": auth},
    }


def nats_trigger(tenant: str, target_per_replica: int) -> Manifest:
    """``nats-jetstream`` trigger on the tenant's ingestion stream and consumer."""
    return {
        "type": "nats-jetstream",
        "metadata": {
            "natsServerMonitoringEndpoint": f"{NATS_SERVICE_HOST}:{NATS_MONITOR_PORT}",
            "account": tenant_account(tenant),
            "stream": stream_name(tenant, INGESTION),
            "consumer": consumer_name(tenant, INGESTION),
            "lagThreshold": str(target_per_replica),
            "useHttps": "false",
        },
    }


def aws_trigger_authentication(name: str, ns: str, labels: Mapping[str, str]) -> Manifest:
    """Pod identity of the KEDA operator itself (IRSA), no secrets."""
    return {
        "apiVersion": API_VERSION,
        "kind": "TriggerAuthentication",
        "metadata": object_meta(name, ns, labels),
        "spec": {"podIdentity": {"provider": "aws", "identityOwner": "keda"}},
    }


def scaled_object(
    name: str,
    ns: str,
    labels: Mapping[str, str],
    deployment: str,
    trigger: Manifest,
    *,
    min_replicas: int,
    max_replicas: int,
    polling_seconds: int = 15,
    cooldown_seconds: int = 300,
) -> Manifest:
    """A ScaledObject for ``deployment`` with one trigger (bounds checked)."""
    if not 0 <= min_replicas <= max_replicas or max_replicas < 1:
        raise ValueError(
            f"replicas: need 0 <= min <= max, max >= 1; got {min_replicas}..{max_replicas}"
        )
    return {
        "apiVersion": API_VERSION,
        "kind": "ScaledObject",
        "metadata": object_meta(name, ns, labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicaCount": min_replicas,
            "maxReplicaCount": max_replicas,
            "pollingInterval": polling_seconds,
            "cooldownPeriod": cooldown_seconds,
            "triggers": [trigger],
        },
    }


class KedaInstallArgs(RegistryArgs):
    """Inputs of :class:`KedaInstall`."""

    cluster_cidrs: Sequence[str]
    """API server and node ranges (callers of the metrics API and webhooks)."""
    role_arn: NotRequired[pulumi.Input[str] | None]
    """IRSA role of the operator (AWS); None on-prem."""
    nats: NotRequired[bool]
    """Whether tenants scale on the in-cluster NATS broker (egress to its monitoring)."""
    system_selector: NotRequired[Mapping[str, str]]
    """Labels of the nodes KEDA runs on."""


class KedaInstall(pulumi.ComponentResource):
    """The KEDA operator, metrics API server and webhooks from the pinned chart."""

    release: pulumi.Resource
    """The Helm release (ScaledObjects wait for its CRDs)."""

    def __init__(
        self, name: str, args: KedaInstallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:keda:KedaInstall", name, None, opts)
        registry = registry_of(args)
        part_of = {"app.kubernetes.io/part-of": "mlplatform"}
        ns = namespace_with_policies(
            name,
            namespace(NAMESPACE, "restricted", part_of, "KEDA runs restricted"),
            keda_policies(part_of, args["cluster_cidrs"], nats=args.get("nats", False)),
            self,
        )
        role_arn = args.get("role_arn")
        values: Any = keda_values(registry, args.get("system_selector", {}), None)
        if role_arn is not None:
            values = pulumi.Output.from_input(role_arn).apply(
                lambda arn: keda_values(registry, args.get("system_selector", {}), arn)
            )
        self.release = pinned_release(
            f"{name}-operator",
            "keda",
            CHARTS["keda"],
            registry,
            NAMESPACE,
            pulumi.ResourceOptions(parent=self, depends_on=[ns]),
            values=values,
        )
        self.register_outputs({})
