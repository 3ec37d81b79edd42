"""The ``hybrid`` site: the Kubernetes layer on an existing in-country cluster.

No AWS resources at all. Models are read from the in-country object store
(``hybrid.object_store_endpoint``, bucket ``hybrid.tenant_bucket_template``): the
serving account carries KServe's ``s3-endpoint`` annotations, and the store's
credentials are provisioned on the cluster by the operator (there is no IRSA on-prem).
The cluster's node pools are the operator's, so no placement is imposed.

Tenant messaging is a NATS JetStream broker in the cluster
(:class:`~components.k8s.nats.NatsBroker`, names in :mod:`contracts.messaging`): each
tenant gets its own account, user and password (generated, kept in the encrypted state,
handed to its namespace as a Secret), its retraining-trigger stream, and its ingestion
stream with a dead-letter stream. The alert receiver turns alerts into triggers on that
stream, as it does on SQS on AWS.

Each tenant's feature store (:class:`~components.featurestore.FeatureStore` with
``in_cluster``): a Valkey server in its namespace from the pinned chart (TLS with the
operator's PKI, AUTH with a password generated here and kept in the encrypted state, a
persistent volume), the feature server and materialisation, and its ``feature_store.yaml``
with the registry and offline data on the in-country store.

The loop (drift monitors, retraining controller) keeps its state in the tenant bucket on
the in-country store: its pods get the store's endpoint, the operator's credentials file
and CA, and the explicit "the store encrypts at rest" mode
(:func:`~components.k8s.objectstore.object_store_client`), as there is no KMS key here.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.featurestore import FeatureStore, FeatureStoreArgs
from components.k8s.catalog import RegistryArgs
from components.k8s.nats import NatsBroker, QueueClient, queue_client
from components.k8s.objectstore import object_store_client
from components.k8s.placement import Placement
from components.platform.site import (
    Credentials,
    IngestionTarget,
    ModelStorage,
    Site,
    TenantServices,
    tenant_args,
)
from components.settings import HybridSettings, PlatformSettings
from components.settings import Tenant as TenantSettings
from components.tenant import Tenant
from contracts.feature_store import FEATURE_VIEWS
from contracts.messaging import (
    INGESTION,
    NATS_CLUSTER_SIZE,
    RETRAINING,
    nats_dead_letter_spec,
    nats_queue_spec,
    nats_server_url,
)
from contracts.names import feature_repo_config_map_name


class HybridSite(Site):
    """An existing cluster in a UAE data centre, with an S3-compatible object store."""

    def __init__(
        self,
        name: str,
        settings: PlatformSettings,
        hybrid: HybridSettings,
        registry_host: str,
        parent: pulumi.Resource,
    ) -> None:
        provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=hybrid.kubeconfig_path,
            context=hybrid.context,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        registry: RegistryArgs = {
            "registry_host": registry_host,
            "image_prefix": settings.registry.image_prefix,
            "chart_prefix": settings.registry.chart_prefix,
        }
        super().__init__(
            k8s_provider=provider,
            registry=registry,
            cluster_cidrs=list(hybrid.cluster_cidrs),
            storage_class=hybrid.storage_class,
        )
        self._hybrid = hybrid
        self._image_tag = settings.registry.serving_image_tag
        self.feature_stores: dict[str, FeatureStore] = {}
        # KEDA scales the tenants' ingestion workers on their broker streams.
        self.keda_nats = True
        for tenant in settings.tenants:
            self.tenants[tenant.name] = Tenant(
                f"{name}-{tenant.name}",
                tenant_args(
                    tenant,
                    https_cidrs=list(hybrid.object_store_cidrs),
                    extra_egress=[],
                    aws_identity=None,
                ),
                pulumi.ResourceOptions(parent=parent, providers=[provider]),
            )
        # Tenant messaging: one broker, an account per tenant (passwords stable in state).
        credentials = Credentials(parent)
        self.broker = NatsBroker(
            f"{name}-nats",
            {
                **registry,
                "tenants": {t.name: t.namespace for t in settings.tenants},
                "passwords": {
                    t.name: credentials.generate(f"{name}-nats-{t.name}", length=40, specials=None)
                    for t in settings.tenants
                },
                "cluster_cidrs": list(hybrid.cluster_cidrs),
                "storage_class": hybrid.storage_class,
            },
            pulumi.ResourceOptions(
                parent=parent, providers=[provider], depends_on=list(self.tenants.values())
            ),
        )

    def model_storage(self, tenant: TenantSettings) -> ModelStorage:
        """The tenant's bucket in the in-country object store."""
        return ModelStorage(
            bucket=self._hybrid.tenant_bucket_template.replace("{tenant}", tenant.name),
            s3_endpoint=self._hybrid.object_store_endpoint,
            object_store=object_store_client(self._hybrid.object_store_endpoint),
        )

    def placement(self, tenant: TenantSettings) -> Placement | None:
        """None: on-prem pools are the operator's; impose no selector they may not carry."""
        return None

    def tenant_services(
        self, tenant: TenantSettings, opts: pulumi.ResourceOptions, credentials: Credentials
    ) -> TenantServices:
        """The tenant's feature store (in-cluster Valkey, in-country store), and its
        retraining-trigger stream on the broker with its client settings."""
        storage = self.model_storage(tenant)
        assert storage.object_store is not None
        store: FeatureStoreArgs = {
            **self.registry,
            "tenant": tenant.name,
            "namespace": tenant.namespace,
            "tier": tenant.tier,
            "bucket_name": storage.bucket,
            "feature_views": list(FEATURE_VIEWS),
            "online_ttl_days": tenant.retention.online_features_days,
            "image_tag": self._image_tag,
            "in_cluster": {
                "auth_token": credentials.generate(
                    f"{tenant.name}-valkey-auth", length=48, specials=None
                ),
                "storage_class": self.storage_class,
                "s3_endpoint": self._hybrid.object_store_endpoint,
                "object_store": storage.object_store,
            },
        }
        self.feature_stores[tenant.name] = FeatureStore(f"{tenant.name}-features", store, opts)
        spec = nats_queue_spec(
            nats_server_url(),
            tenant.name,
            RETRAINING,
            replicas=NATS_CLUSTER_SIZE,
            max_age_days=tenant.retention.queue_messages_days,
        )
        return TenantServices(
            retraining_queue_url=pulumi.Output.from_input(spec),
            feature_repo_config_map=feature_repo_config_map_name(tenant.name),
            queue_client=queue_client(tenant.name),
            ingestion=self._ingestion(tenant, storage.bucket),
        )

    def _ingestion(self, tenant: TenantSettings, bucket: str) -> IngestionTarget:
        """The tenant's ingestion stream on the broker and its dead-letter stream there
        (limits retention: letters kept for the tenant's ``dead_letter_days``); the
        worker creates both when missing, as every broker client creates its stream."""
        feature_store = self.feature_stores[tenant.name]
        access = feature_store.pod_access
        spec = nats_queue_spec(
            nats_server_url(),
            tenant.name,
            INGESTION,
            replicas=NATS_CLUSTER_SIZE,
            max_age_days=tenant.retention.queue_messages_days,
        )
        return IngestionTarget(
            trigger="nats",
            queue_spec=pulumi.Output.from_input(spec),
            dlq_spec=pulumi.Output.from_input(
                nats_dead_letter_spec(
                    nats_server_url(),
                    tenant.name,
                    max_age_days=tenant.retention.dead_letter_days,
                    replicas=NATS_CLUSTER_SIZE,
                )
            ),
            bucket=bucket,
            redis_secret_name=feature_store.redis_secret_name,
            pod_access=(
                _client_access(queue_client(tenant.name)),
                {
                    "env": access.get("extra_env", []),
                    "volumes": access.get("extra_volumes", []),
                    "volume_mounts": access.get("extra_mounts", []),
                },
            ),
        )


def _client_access(client: QueueClient) -> dict[str, list[Any]]:
    """A broker client's env, volumes and mounts as the ingestion worker takes them."""
    return {
        "env": list(client["env"]),
        "volumes": list(client["volumes"]),
        "volume_mounts": list(client["volume_mounts"]),
    }
