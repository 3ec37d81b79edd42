"""The Kubernetes layer, the same on every site.

Platform-wide: KServe (RawDeployment) with cert-manager, the shared monitoring stack,
and GPU enablement when any tenant has GPU pools. Per tenant: the services its site
backs (feature store, queues), its model serving, its monitoring and, where the site
gives it a queue, the alert receiver that turns alerts into retraining requests and
canary rollbacks; where the site also gives its bucket a key (AWS) or the in-country
store's client (on-prem), the MLOps loop in its namespace: prediction logging, a drift
monitor per model, the retraining controller and its training runs
(:class:`~components.k8s.retraining.TenantLoop`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.k8s import (
    GpuEnablement,
    KServeInstall,
    ModelServing,
    MonitoringStack,
    TenantAutomation,
    TenantMonitoring,
)
from components.k8s.automation import TenantAutomationArgs
from components.k8s.ingestion import TenantIngestion, TenantIngestionArgs
from components.k8s.keda import KedaInstall
from components.k8s.nats import QueueClient
from components.k8s.retraining import TenantLoop, TenantLoopArgs
from components.k8s.serving import ModelServingArgs, ModelSpec
from components.k8s.tenant_monitoring import TenantMonitoringArgs
from components.platform.batch import training_placement
from components.platform.site import (
    AuditTrail,
    Credentials,
    IngestionTarget,
    ModelStorage,
    Site,
    TenantServices,
)
from components.settings import ModelSettings, PlatformSettings
from components.settings import Tenant as TenantSettings
from contracts.names import (
    Tier,
    model_storage_uri,
    prediction_log_uri,
    registry_uri,
    webhook_secret_name,
)

DEFAULT_CANARY_PERCENT = 10
"""The tier's canary share (enterprise) when a model sets none."""


def model_specs(models: Sequence[ModelSettings], bucket: str, *, gpu: bool) -> list[ModelSpec]:
    """Serving specs of a tenant's models: ``s3://<bucket>/models/<name>/<version>/``."""
    specs: list[ModelSpec] = []
    for model in models:
        spec: ModelSpec = {
            "name": model.name,
            "storage_uri": model_storage_uri(bucket, model.name, model.version),
            "gpu": gpu,
        }
        if model.challenger_version is not None:
            spec["challenger_storage_uri"] = model_storage_uri(
                bucket, model.name, model.challenger_version
            )
            spec["canary_percent"] = (
                model.canary_percent if model.canary_percent is not None else DEFAULT_CANARY_PERCENT
            )
        specs.append(spec)
    return specs


class KubernetesLayer:
    """Creates the layer's components as children of ``parent`` on ``site``'s cluster."""

    serving: dict[str, ModelServing]
    """Model serving by tenant name."""

    def __init__(
        self,
        name: str,
        settings: PlatformSettings,
        site: Site,
        credentials: Credentials,
        parent: pulumi.Resource,
    ) -> None:
        self._settings = settings
        self._site = site
        self._credentials = credentials
        self._parent = parent
        self.serving = {}
        platform = self._platform_components(name)
        for tenant in settings.tenants:
            self._tenant(tenant, platform)

    def _platform_components(self, name: str) -> list[pulumi.Resource]:
        """KServe, monitoring and GPU enablement: what every tenant's objects wait for."""
        settings, site = self._settings, self._site
        opts = pulumi.ResourceOptions(
            parent=self._parent, providers=[site.k8s_provider], depends_on=list(site.k8s_depends)
        )
        kserve = KServeInstall(
            f"{name}-kserve", {**site.registry, "cluster_cidrs": site.cluster_cidrs}, opts
        )
        smb_retention = [
            t.monitoring_retention_days for t in settings.tenants if t.tier is Tier.SMB
        ]
        monitoring = MonitoringStack(
            f"{name}-monitoring",
            {
                **site.registry,
                "cluster_cidrs": site.cluster_cidrs,
                "retention_days": max(smb_retention, default=15),
                "grafana_admin_password": self._credentials.generate(
                    f"{name}-grafana-admin", length=32, specials="!#%*-_=+"
                ),
                "storage_class": site.storage_class,
            },
            opts,
        )
        if any(t.gpu_pool is not None for t in settings.tenants):
            GpuEnablement(f"{name}-gpu", {**site.registry}, opts)
        # KEDA scales the tenants' ingestion workers on their queues (AWS: SQS via IRSA).
        self._keda: KedaInstall | None = None
        if site.keda_role_arn is not None or site.keda_nats:
            self._keda = KedaInstall(
                f"{name}-keda",
                {
                    **site.registry,
                    "cluster_cidrs": site.cluster_cidrs,
                    "role_arn": site.keda_role_arn,
                    "nats": site.keda_nats,
                },
                opts,
            )
        return [kserve, monitoring]

    def _tenant(self, tenant: TenantSettings, platform: list[pulumi.Resource]) -> None:
        """One tenant's site services, serving, monitoring and alert receiver."""
        site = self._site
        opts = pulumi.ResourceOptions(
            parent=self._parent,
            providers=[site.k8s_provider],
            depends_on=[*platform, site.tenants[tenant.name]],
        )
        services = site.tenant_services(tenant, opts, self._credentials)
        # The receiver needs a queue for retraining triggers: without one, alerts stop at
        # Alertmanager (they still fire and notify).
        automation = services.retraining_queue_url is not None and (
            tenant.drift_automation or tenant.inference.canary
        )
        storage = site.model_storage(tenant)
        # The loop keeps its state in the tenant bucket: under the tenant key (AWS), or on
        # the in-country store that encrypts at rest (on-prem, through its client).
        loop = (
            automation
            and tenant.drift_automation
            and (storage.kms_key_arn is not None or storage.object_store is not None)
            and services.feature_repo_config_map is not None
        )
        self.serving[tenant.name] = self._serving(tenant, opts, prediction_log=loop)
        self._monitoring(tenant, automation, opts)
        if automation:
            assert services.retraining_queue_url is not None
            self._automation(
                tenant,
                services.retraining_queue_url,
                services.automation_role_arn,
                opts,
                audit=services.audit,
                queue_client=services.queue_client,
            )
        if loop:
            self._loop(tenant, services, storage, opts)
        if services.ingestion is not None and services.feature_repo_config_map is not None:
            self._ingestion(tenant, services.ingestion, services.feature_repo_config_map, opts)

    def _ingestion(
        self,
        tenant: TenantSettings,
        target: IngestionTarget,
        feature_repo_config_map: str,
        opts: pulumi.ResourceOptions,
    ) -> TenantIngestion:
        """The tenant's ingestion worker and its ScaledObject (after KEDA's CRDs)."""
        site = self._site
        args: TenantIngestionArgs = {
            **site.registry,
            "tenant": tenant.name,
            "namespace": tenant.namespace,
            "tier": tenant.tier,
            "image_tag": self._settings.registry.serving_image_tag,
            "trigger": target.trigger,
            "queue_spec": target.queue_spec,
            "queue_url": target.queue_url,
            "dlq_spec": target.dlq_spec,
            "bucket": target.bucket,
            "kms_key_arn": target.kms_key_arn,
            "role_arn": target.role_arn,
            "feature_repo_config_map": feature_repo_config_map,
            "region": self._settings.region,
            "online_ttl_days": tenant.retention.online_features_days,
            "redis_secret_name": target.redis_secret_name,
            "s3_endpoint": target.s3_endpoint,
            "pod_access": list(target.pod_access),
            "depends_on": [self._keda.release] if self._keda is not None else [],
        }
        placement = site.placement(tenant)
        if placement is not None:
            args["placement"] = placement
        return TenantIngestion(f"{tenant.name}-ingestion", args, opts)

    def _serving(
        self, tenant: TenantSettings, opts: pulumi.ResourceOptions, *, prediction_log: bool
    ) -> ModelServing:
        site = self._site
        storage = site.model_storage(tenant)
        placement = site.placement(tenant)
        gpu = tenant.inference.gpu and tenant.gpu_pool is not None
        serving: ModelServingArgs = {
            **site.registry,
            "tenant": tenant.name,
            "namespace": tenant.namespace,
            "tier": tenant.tier,
            "image_tag": self._settings.registry.serving_image_tag,
            "min_replicas": tenant.inference.min_replicas,
            "max_replicas": tenant.inference.max_replicas,
            "models": model_specs(tenant.models, storage.bucket, gpu=gpu),
            "verify_key_pem": tenant.model_signing_public_key,
        }
        if storage.role_arn is not None:
            serving["role_arn"] = storage.role_arn
        if storage.s3_endpoint is not None:
            serving["s3_endpoint"] = storage.s3_endpoint
        if placement is not None:
            serving["placement"] = placement
        # Every server writes its anti-rollback record to the tenant bucket: with the
        # tenant key (AWS) or through the in-country store's client (on-prem).
        if storage.kms_key_arn is not None:
            serving["kms_key_arn"] = storage.kms_key_arn
        if storage.object_store is not None:
            serving["object_store"] = storage.object_store
        # The servers ship their prediction log where the drift monitors read it: under
        # the tenant key (AWS) or through the in-country store's client (on-prem).
        if prediction_log and (storage.kms_key_arn is not None or storage.object_store is not None):
            serving["prediction_log_uri"] = prediction_log_uri(storage.bucket)
        return ModelServing(f"{tenant.name}-serving", serving, opts)

    def _loop(
        self,
        tenant: TenantSettings,
        services: TenantServices,
        storage: ModelStorage,
        opts: pulumi.ResourceOptions,
    ) -> TenantLoop:
        """Drift monitors, the retraining controller and its training-run template."""
        site = self._site
        assert services.retraining_queue_url is not None
        assert services.feature_repo_config_map is not None
        canary = tenant.inference.canary
        args: TenantLoopArgs = {
            **site.registry,
            "tenant": tenant.name,
            "namespace": tenant.namespace,
            "tier": tenant.tier,
            "image_tag": self._settings.registry.serving_image_tag,
            "models": [
                {
                    "name": m.name,
                    "version": m.version,
                    "canary_percent": (m.canary_percent or DEFAULT_CANARY_PERCENT) if canary else 0,
                }
                for m in tenant.models
            ],
            "bucket": storage.bucket,
            "retraining_queue_url": services.retraining_queue_url,
            "feature_repo_config_map": services.feature_repo_config_map,
            "role_arn": services.automation_role_arn,
            "training_role_arn": storage.role_arn,
            # Runs go where the batch layer queues them (GPU pools: the CUDA image).
            "training_placement": training_placement(self._settings, tenant),
        }
        if storage.kms_key_arn is not None:
            args["kms_key_arn"] = storage.kms_key_arn
        if storage.object_store is not None:
            args["object_store"] = storage.object_store
        if services.queue_client is not None:
            args["queue_client"] = services.queue_client
        placement = site.placement(tenant)
        if placement is not None:
            args["placement"] = placement
        return TenantLoop(f"{tenant.name}-loop", args, opts)

    def _monitoring(
        self, tenant: TenantSettings, automation: bool, opts: pulumi.ResourceOptions
    ) -> TenantMonitoring:
        site = self._site
        placement = site.placement(tenant)
        monitoring: TenantMonitoringArgs = {
            **site.registry,
            "tenant": tenant.name,
            "namespace": tenant.namespace,
            "tier": tenant.tier,
            "models": [m.name for m in tenant.models],
            "retention_days": tenant.monitoring_retention_days,
            "canary": any(m.challenger_version is not None for m in tenant.models),
            "automation": automation,
            "storage_class": site.storage_class,
        }
        if placement is not None:
            monitoring["placement"] = placement
        return TenantMonitoring(f"{tenant.name}-monitoring", monitoring, opts)

    def _automation(
        self,
        tenant: TenantSettings,
        queue_url: pulumi.Output[str],
        role_arn: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions,
        audit: AuditTrail | None = None,
        queue_client: QueueClient | None = None,
    ) -> TenantAutomation:
        site = self._site
        placement = site.placement(tenant)
        receiver: TenantAutomationArgs = {
            **site.registry,
            "tenant": tenant.name,
            "namespace": tenant.namespace,
            "image_tag": self._settings.registry.serving_image_tag,
            "retraining_queue_url": queue_url,
            "webhook_token": self._credentials.generate(
                webhook_secret_name(tenant.name), length=48, specials=None
            ),
            "role_arn": role_arn,
            # The loop may give any enterprise model a challenger, so the receiver may
            # roll back any of their routers (by name).
            "canary_models": [
                m.name
                for m in tenant.models
                if m.challenger_version is not None
                or (tenant.inference.canary and tenant.drift_automation)
            ],
        }
        storage = site.model_storage(tenant)
        if storage.kms_key_arn is not None:
            receiver["registry_uri"] = registry_uri(storage.bucket)
            receiver["kms_key_arn"] = storage.kms_key_arn
        elif storage.object_store is not None:
            # On-prem: rollbacks recorded in the registry on the in-country store.
            receiver["registry_uri"] = registry_uri(storage.bucket)
            receiver["object_store"] = storage.object_store
        if placement is not None:
            receiver["placement"] = placement
        if queue_client is not None:
            receiver["queue_client"] = queue_client
        if audit is not None:
            receiver["audit_bucket"] = audit.bucket
            receiver["audit_mac_key_arn"] = audit.mac_key_arn
            receiver["audit_lock_mode"] = audit.lock_mode
            receiver["audit_retention_days"] = audit.retention_days
            receiver["region"] = audit.region
        return TenantAutomation(f"{tenant.name}-automation", receiver, opts)
