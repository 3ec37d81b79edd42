"""The Kubernetes platform layer: GPU enablement, KServe, monitoring, alert automation.

Platform-wide components (one per cluster): :class:`GpuEnablement`,
:class:`KServeInstall`, :class:`MonitoringStack`. Per-tenant components:
:class:`ModelServing`, :class:`TenantMonitoring`, :class:`TenantAutomation` (the feature
server's manifests are built in :mod:`components.k8s.featurestore`; the component that
pairs them with the AWS online store is :class:`components.featurestore.FeatureStore`).
Pinned charts and images, and the list an air-gapped team must mirror, live in
:mod:`components.k8s.catalog`.
"""

from components.k8s.automation import TenantAutomation, TenantAutomationArgs
from components.k8s.catalog import PlatformFeatures, Registry, required_artifacts
from components.k8s.gpu import GpuEnablement, GpuEnablementArgs
from components.k8s.kserve import KServeInstall, KServeInstallArgs
from components.k8s.monitoring import MonitoringStack, MonitoringStackArgs
from components.k8s.serving import ModelServing, ModelServingArgs
from components.k8s.tenant_monitoring import TenantMonitoring, TenantMonitoringArgs

__all__ = [
    "GpuEnablement",
    "GpuEnablementArgs",
    "KServeInstall",
    "KServeInstallArgs",
    "ModelServing",
    "ModelServingArgs",
    "MonitoringStack",
    "MonitoringStackArgs",
    "PlatformFeatures",
    "Registry",
    "TenantAutomation",
    "TenantAutomationArgs",
    "TenantMonitoring",
    "TenantMonitoringArgs",
    "required_artifacts",
]
