"""The ``hybrid`` site: the Kubernetes layer on an existing in-country cluster.

No AWS resources at all. Models are read from the in-country object store
(``hybrid.object_store_endpoint``, bucket ``hybrid.tenant_bucket_template``): the
serving account carries KServe's ``s3-endpoint`` annotations, and the store's
credentials are provisioned on the cluster by the operator (there is no IRSA on-prem).
The cluster's node pools are the operator's, so no placement is imposed.

What this site does not back yet, and why:

- **Feature store.** The feature store component knows DynamoDB and ElastiCache only,
  both AWS services. An in-cluster online store (a Redis-compatible StatefulSet with
  TLS and AUTH, pinned and mirrored) is not built yet; Feast's SQLite store would be
  per pod and never see what materialisation writes. So on-prem tenants get no feature
  server until that exists, rather than one that would serve stale or no data.
- **Queues and the alert receiver.** They are SQS-based. Alerts still fire and reach
  the shared Alertmanager; only the automatic reaction is missing on-prem.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.catalog import RegistryArgs
from components.k8s.placement import Placement
from components.platform.site import Credentials, ModelStorage, Site, TenantServices, tenant_args
from components.settings import HybridSettings, PlatformSettings
from components.settings import Tenant as TenantSettings
from components.tenant import Tenant


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

    def model_storage(self, tenant: TenantSettings) -> ModelStorage:
        """The tenant's bucket in the in-country object store."""
        return ModelStorage(
            bucket=self._hybrid.tenant_bucket_template.replace("{tenant}", tenant.name),
            s3_endpoint=self._hybrid.object_store_endpoint,
        )

    def placement(self, tenant: TenantSettings) -> Placement | None:
        """None: on-prem pools are the operator's; impose no selector they may not carry."""
        return None

    def tenant_services(
        self, tenant: TenantSettings, opts: pulumi.ResourceOptions, credentials: Credentials
    ) -> TenantServices:
        """None yet (see the module docstring): alerts stop at Alertmanager."""
        return TenantServices()
