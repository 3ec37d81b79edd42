"""The Kubernetes platform layer: GPU enablement, Feast, KServe, monitoring, SQS integration.

Platform-wide components (one per cluster): :class:`GpuEnablement`,
:class:`KServeInstall`, :class:`MonitoringStack`. Per-tenant components:
:class:`FeatureStore`, :class:`ModelServing`, :class:`TenantMonitoring`,
:class:`TenantQueues`, :class:`TenantAutomation`. Pinned charts and images, and the list an air-gapped team must
mirror, live in :mod:`components.k8s.catalog`.
"""

from components.k8s.automation import TenantAutomation, TenantAutomationArgs
from components.k8s.catalog import PlatformFeatures, Registry, required_artifacts
from components.k8s.featurestore import FeatureStore, FeatureStoreArgs
from components.k8s.gpu import GpuEnablement, GpuEnablementArgs
from components.k8s.monitoring import (
    MonitoringStack,
    MonitoringStackArgs,
    TenantMonitoring,
    TenantMonitoringArgs,
)
from components.k8s.queues import TenantQueues, TenantQueuesArgs
from components.k8s.serving import KServeInstall, KServeInstallArgs, ModelServing, ModelServingArgs

__all__ = [
    "FeatureStore",
    "FeatureStoreArgs",
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
    "TenantQueues",
    "TenantQueuesArgs",
    "required_artifacts",
]
