"""The in-country site's tenant messaging: one NATS JetStream broker in the cluster.

:class:`NatsBroker` installs the pinned official ``nats`` chart (2.14.2) from the mirror
into its own ``restricted`` namespace (:data:`contracts.messaging.NATS_NAMESPACE`):

- **JetStream on disk**: file storage on a PersistentVolumeClaim per server of the
  site's StorageClass; a three-server cluster (routes between them), so streams survive
  a server and its node; a PodDisruptionBudget keeps the quorum during drains.
- **TLS** on the client port with the certificate the operator's PKI issues
  (:data:`~contracts.messaging.NATS_TLS_SECRET`, like the site's other certificates and
  the object store's credentials: provisioned on the cluster, never in stack state);
  clients verify it with the CA in each tenant namespace
  (:data:`~contracts.messaging.NATS_CA_CONFIG_MAP`).
- **Auth per tenant**: one NATS account per tenant (its own subject space and JetStream
  limits) with one user whose permissions cover only its own subjects and streams
  (:func:`contracts.messaging.server_accounts`): its retraining and ingestion work
  queues, and its ingestion dead letters (append and read by sequence; no consumer,
  delete or purge). The tenant's workloads create these streams when missing (the
  chart creates none), each with the retention its spec carries. Passwords are generated (stable, in
  the encrypted state), held in one Secret of the broker's namespace that the server
  reads through environment variables (``<< $NATS_PW_<TENANT> >>`` in the config, never
  the value), and a copy per tenant namespace for its workloads
  (:func:`contracts.messaging.credentials_secret_name`).
- **No public exposure**: ClusterIP only (websocket, MQTT, leaf nodes and gateways off),
  default-deny network policies, clients only from tenant namespaces, the monitoring
  port only from the monitoring and KEDA namespaces (the ``nats-jetstream`` scaler reads
  ``/jsz``), and no nats-box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi

from components.k8s._resources import namespace_with_policies, pinned_release, register
from components.k8s.catalog import CHARTS, IMAGES, Registry, RegistryArgs, registry_of
from components.k8s.netpol import _ns_peer, _policy, baseline_policies, tcp_ports
from components.k8s.podspec import (
    Manifest,
    container_security_context,
    namespace,
    object_meta,
    pod_security_context,
)
from contracts.messaging import (
    NATS_CA_CONFIG_MAP,
    NATS_CA_FILE_ENV,
    NATS_CA_KEY,
    NATS_CA_MOUNT,
    NATS_CLIENT_PORT,
    NATS_CLUSTER_SIZE,
    NATS_CREDENTIALS_MOUNT,
    NATS_INBOX_ENV,
    NATS_MONITOR_PORT,
    NATS_NAMESPACE,
    NATS_PASSWORD_FILE_ENV,
    NATS_RELEASE,
    NATS_TLS_SECRET,
    NATS_USER_FILE_ENV,
    credentials_secret_name,
    inbox_prefix,
    password_variable,
    server_accounts,
    tenant_user,
)
from contracts.names import PART_OF, TENANT_LABEL, labels

COMPONENT = "messaging"
CLUSTER_PORT = 6222
"""Route port between the broker's servers."""
PASSWORDS_SECRET = "nats-tenant-passwords"  # noqa: S105 (a Secret's name)
"""Secret of the broker's namespace holding every tenant's password (server side)."""
NATS_UID = 1000
"""The server runs as this non-root user (the chart's image does not set one)."""


def nats_values(
    registry: Registry,
    tenants: Sequence[str],
    *,
    storage_class: str,
    storage_gib: int,
    replicas: int = NATS_CLUSTER_SIZE,
    tenant_storage_bytes: int,
) -> dict[str, Any]:
    """Values for the ``nats`` chart 2.14 (keys from its values.yaml)."""
    if replicas < 3:
        raise ValueError(f"nats replicas: JetStream clustering needs at least 3, got {replicas}")

    def image(key: str) -> dict[str, str]:
        pin = IMAGES[key]
        return {
            "registry": registry.host,
            "repository": registry.repository_path(pin),
            "tag": pin.tag,
            "pullPolicy": "IfNotPresent",
        }

    hardened = {"securityContext": container_security_context(NATS_UID)}
    accounts = server_accounts(
        {t: f"<< ${password_variable(t)} >>" for t in tenants},
        max_file_bytes=tenant_storage_bytes,
    )
    return {
        "config": {
            "cluster": {"enabled": True, "replicas": replicas},
            "jetstream": {
                "enabled": True,
                "fileStore": {
                    "enabled": True,
                    "pvc": {
                        "enabled": True,
                        "size": f"{storage_gib}Gi",
                        "storageClassName": storage_class,
                    },
                },
                "memoryStore": {"enabled": False},
            },
            "nats": {
                "port": NATS_CLIENT_PORT,
                "tls": {"enabled": True, "secretName": NATS_TLS_SECRET},
            },
            "leafnodes": {"enabled": False},
            "websocket": {"enabled": False},
            "mqtt": {"enabled": False},
            "gateway": {"enabled": False},
            "monitor": {"enabled": True, "port": NATS_MONITOR_PORT},
            "profiling": {"enabled": False},
            # Per-tenant accounts; passwords come from the environment (the Secret).
            "merge": {"accounts": accounts},
        },
        "container": {
            "image": image("nats"),
            "env": {
                password_variable(t): {
                    "valueFrom": {"secretKeyRef": {"name": PASSWORDS_SECRET, "key": t}}
                }
                for t in tenants
            },
            "merge": {
                **hardened,
                "resources": {
                    "requests": {"cpu": "250m", "memory": "512Mi"},
                    "limits": {"cpu": "1", "memory": "1Gi"},
                },
            },
        },
        "reloader": {"enabled": True, "image": image("nats-config-reloader"), "merge": hardened},
        "promExporter": {"enabled": False},
        "podTemplate": {
            "merge": {
                "spec": {
                    "securityContext": pod_security_context(NATS_UID),
                    "automountServiceAccountToken": False,
                }
            },
            # One server per node where the cluster allows it.
            "topologySpreadConstraints": {
                "kubernetes.io/hostname": {"maxSkew": 1, "whenUnsatisfiable": "ScheduleAnyway"}
            },
        },
        "service": {
            "enabled": True,
            "ports": {
                "nats": {"enabled": True},
                "leafnodes": {"enabled": False},
                "websocket": {"enabled": False},
                "mqtt": {"enabled": False},
                "monitor": {"enabled": True},
            },
        },
        "podDisruptionBudget": {"enabled": True},
        "natsBox": {"enabled": False},
    }


def nats_policies(
    obj_labels: Mapping[str, str], cluster_cidrs: Sequence[str], monitoring_namespace: str
) -> list[Manifest]:
    """Default deny; clients from tenant namespaces; monitoring from Prometheus and KEDA."""
    tenants_peer = {
        "namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]}
    }
    return [
        *baseline_policies(NATS_NAMESPACE, obj_labels, cluster_cidrs),
        _policy(
            "allow-tenant-clients",
            NATS_NAMESPACE,
            obj_labels,
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [tenants_peer], "ports": tcp_ports([NATS_CLIENT_PORT])}],
            },
        ),
        _policy(
            "allow-monitoring",
            NATS_NAMESPACE,
            obj_labels,
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_ns_peer(monitoring_namespace), _ns_peer("keda")],
                        "ports": tcp_ports([NATS_MONITOR_PORT]),
                    }
                ],
            },
        ),
    ]


def tenant_client_policy(tenant: str, tenant_namespace: str) -> Manifest:
    """Egress from a tenant namespace to the broker's client port (nothing else there)."""
    return _policy(
        "allow-egress-nats",
        tenant_namespace,
        labels(tenant, COMPONENT),
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [_ns_peer(NATS_NAMESPACE)], "ports": tcp_ports([NATS_CLIENT_PORT])}],
        },
    )


class QueueClient(TypedDict):
    """What a pod needs to use the broker: environment, volumes and their mounts."""

    env: list[Manifest]
    volumes: list[Manifest]
    volume_mounts: list[Manifest]


def queue_client(tenant: str) -> QueueClient:
    """The tenant's user and password (its Secret, mounted read-only as files whose paths
    the environment names), its inbox prefix, and the CA (the ConfigMap the operator
    provides) mounted read-only (pure)."""
    return {
        "env": [
            {"name": NATS_USER_FILE_ENV, "value": f"{NATS_CREDENTIALS_MOUNT}/user"},
            {"name": NATS_PASSWORD_FILE_ENV, "value": f"{NATS_CREDENTIALS_MOUNT}/password"},
            {"name": NATS_INBOX_ENV, "value": inbox_prefix(tenant)},
            {"name": NATS_CA_FILE_ENV, "value": f"{NATS_CA_MOUNT}/{NATS_CA_KEY}"},
        ],
        "volumes": [
            {
                "name": "nats-ca",
                "configMap": {
                    "name": NATS_CA_CONFIG_MAP,
                    "items": [{"key": NATS_CA_KEY, "path": NATS_CA_KEY}],
                },
            },
            {
                "name": "nats-credentials",
                "secret": {
                    "secretName": credentials_secret_name(tenant),
                    "items": [
                        {"key": "user", "path": "user"},
                        {"key": "password", "path": "password"},
                    ],
                    # Owner-read; the pod's fsGroup makes it group-readable for its user.
                    "defaultMode": 0o400,
                },
            },
        ],
        "volume_mounts": [
            {"name": "nats-ca", "mountPath": NATS_CA_MOUNT, "readOnly": True},
            {"name": "nats-credentials", "mountPath": NATS_CREDENTIALS_MOUNT, "readOnly": True},
        ],
    }


def add_queue_client(manifest: Manifest, client: QueueClient) -> None:
    """Give every container of a Deployment's (or CronJob's) pod the broker client."""
    template = (
        manifest["spec"].get("template") or manifest["spec"]["jobTemplate"]["spec"]["template"]
    )
    spec = template["spec"]
    spec["volumes"] = [*spec.get("volumes", []), *client["volumes"]]
    for c in spec["containers"]:
        c["env"] = [*c.get("env", []), *client["env"]]
        c["volumeMounts"] = [*c.get("volumeMounts", []), *client["volume_mounts"]]


def credentials_secret(tenant: str, tenant_namespace: str) -> Manifest:
    """The tenant's broker credentials (``password`` is filled by the component)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(
            credentials_secret_name(tenant), tenant_namespace, labels(tenant, COMPONENT)
        ),
        "type": "Opaque",
        "stringData": {"user": tenant_user(tenant), "password": "__PASSWORD__"},
    }


class NatsBrokerArgs(RegistryArgs):
    """Inputs of :class:`NatsBroker`."""

    tenants: Mapping[str, str]
    """Tenant name -> its namespace."""
    passwords: Mapping[str, pulumi.Input[str]]
    """Tenant name -> its generated password (a secret Output)."""
    cluster_cidrs: Sequence[str]
    """API server and node ranges (baseline egress)."""
    storage_class: str
    """StorageClass of the JetStream volumes."""
    storage_gib: NotRequired[int]
    """Size of each server's JetStream volume (default 20 GiB)."""
    tenant_storage_gib: NotRequired[int]
    """JetStream file storage each tenant account may use (default 2 GiB)."""
    monitoring_namespace: NotRequired[str]
    """Namespace of Prometheus (default ``monitoring``)."""


class NatsBroker(pulumi.ComponentResource):
    """The namespace, network policies, credentials and the pinned ``nats`` release."""

    release: pulumi.Resource
    """The Helm release (tenant workloads wait for it)."""

    def __init__(
        self, name: str, args: NatsBrokerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:messaging:NatsBroker", name, None, opts)
        registry = registry_of(args)
        obj_labels = {
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/component": COMPONENT,
        }
        ns = namespace_with_policies(
            name,
            namespace(NATS_NAMESPACE, "restricted", obj_labels),
            nats_policies(
                obj_labels, args["cluster_cidrs"], args.get("monitoring_namespace", "monitoring")
            ),
            self,
        )
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        tenants = dict(args["tenants"])
        server_secret = register(
            f"{name}-passwords",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": object_meta(PASSWORDS_SECRET, NATS_NAMESPACE, obj_labels),
                "type": "Opaque",
                "stringData": {t: pulumi.Output.secret(args["passwords"][t]) for t in tenants},
            },
            after_ns,
        )
        for tenant, tenant_ns in sorted(tenants.items()):
            secret = credentials_secret(tenant, tenant_ns)
            secret["stringData"]["password"] = pulumi.Output.secret(args["passwords"][tenant])
            register(f"{name}-{tenant}-credentials", secret, pulumi.ResourceOptions(parent=self))
            register(
                f"{name}-{tenant}-egress",
                tenant_client_policy(tenant, tenant_ns),
                pulumi.ResourceOptions(parent=self),
            )
        gib = args.get("tenant_storage_gib", 2)
        self.release = pinned_release(
            f"{name}-release",
            NATS_RELEASE,
            CHARTS["nats"],
            registry,
            NATS_NAMESPACE,
            pulumi.ResourceOptions(parent=self, depends_on=[ns, server_secret]),
            values=nats_values(
                registry,
                sorted(tenants),
                storage_class=args["storage_class"],
                storage_gib=args.get("storage_gib", 20),
                tenant_storage_bytes=gib * 1024**3,
            ),
            timeout=600,
        )
        self.register_outputs({})
