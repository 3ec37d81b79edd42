"""GPU enablement: the NVIDIA device plugin and the DCGM exporter, on GPU pools only.

Both are pinned Helm releases from the in-region mirror. They run only where GPUs are
(a required node affinity on the GPU pool labels, the ``nvidia.com/gpu`` and tenant
taint tolerations), never on CPU nodes.
They run in ``kube-system`` by default, beside the cluster's other node agents (VPC
CNI, kube-proxy): the device plugin registers with the kubelet through a hostPath
socket and DCGM reads the GPUs through the host, which no ``restricted`` pod can do, and
``kube-system`` is the one namespace that is privileged by construction. No tenant or
platform workload runs there. A custom namespace is created ``privileged`` with the
reason annotated (the Zero Trust pack will report it: that is the point).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired

import pulumi
import pulumi_kubernetes as k8s

from components.k8s._resources import pinned_release
from components.k8s.catalog import CHARTS, IMAGES, Registry, RegistryArgs, registry_of
from components.k8s.podspec import (
    DEFAULT_GPU_NODE_SELECTOR,
    GpuScheduling,
    Resources,
    namespace,
)
from contracts.names import TENANT_LABEL


class GpuEnablementArgs(RegistryArgs):
    """Inputs of :class:`GpuEnablement` (plain data: the platform maps settings onto them)."""

    namespace: NotRequired[str]
    """Namespace of the two DaemonSets (default ``kube-system``, which is not created)."""
    gpu_node_selector: NotRequired[Mapping[str, str]]
    """Labels of GPU pool nodes (default ``nvidia.com/gpu.present=true``)."""
    dcgm_exporter: NotRequired[bool]
    """Install the DCGM exporter (default true)."""
    service_monitor_labels: NotRequired[Mapping[str, str]]
    """Labels the Prometheus instance selects ServiceMonitors by (default ``release: kps``)."""


TENANT_TOLERATION: Mapping[str, str] = {
    "key": TENANT_LABEL,
    "operator": "Exists",
    "effect": "NoSchedule",
}
"""Enterprise GPU nodes are also tainted for their tenant: node agents must run there too."""


def gpu_node_affinity(node_selector: Mapping[str, str]) -> dict[str, Any]:
    """A required node affinity with exactly one term: every label of ``node_selector``."""
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": key, "operator": "In", "values": [value]}
                            for key, value in sorted(node_selector.items())
                        ]
                    }
                ]
            }
        }
    }


def _placement(gpu: GpuScheduling) -> dict[str, Any]:
    """nodeSelector, tolerations and affinity of a GPU node agent.

    Helm merges maps: ``affinity: {}`` would leave the device plugin chart's default
    required node affinity (NFD PCI labels or ``nvidia.com/gpu.present``) in force, so a
    stack whose GPU nodes carry another selector would get no device plugin, and GPU
    pods would stay Pending. Lists are replaced, so an explicit ``nodeSelectorTerms``
    list built from the GPU node selector is what really replaces the default.
    Tolerations (a list, replaced too) cover the GPU taint and the tenant taints of
    enterprise GPU pools.
    """
    return {
        "nodeSelector": dict(gpu.node_selector),
        "tolerations": [*gpu.tolerations(), dict(TENANT_TOLERATION)],
        "affinity": gpu_node_affinity(gpu.node_selector),
    }


def device_plugin_values(registry: Registry, gpu: GpuScheduling) -> dict[str, Any]:
    """Values for the ``nvidia-device-plugin`` chart (keys from its 0.18 values.yaml)."""
    pin = IMAGES["nvidia-device-plugin"]
    return {
        "image": {"repository": registry.repository(pin), "tag": pin.tag},
        **_placement(gpu),
        # The plugin talks to the kubelet over a socket; it needs no privilege or capability.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": Resources("50m", "64Mi", cpu_limit="200m", memory_limit="128Mi").to_manifest(),
        # Node feature discovery and GFD pull more images and need privilege: not used;
        # GPU pools are labelled by the node-pool component instead.
        "nfd": {"enabled": False},
        "gfd": {"enabled": False},
    }


def dcgm_exporter_values(
    registry: Registry, gpu: GpuScheduling, service_monitor_labels: Mapping[str, str]
) -> dict[str, Any]:
    """Values for the ``dcgm-exporter`` chart (keys from NVIDIA/dcgm-exporter deployment/)."""
    pin = IMAGES["dcgm-exporter"]
    return {
        "image": {"repository": registry.repository(pin), "tag": pin.tag},
        **_placement(gpu),
        # DCGM's profiling metrics need SYS_ADMIN (the chart's default); we drop it and
        # keep the device-level metrics (utilisation, memory, power, temperature) that
        # work without it. Helm deep-merges maps but replaces lists, so ``add: []`` is
        # what removes the chart's SYS_ADMIN. Root is still needed to open the NVIDIA
        # device nodes (hence the privileged namespace).
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": [], "drop": ["ALL"]},
        },
        "arguments": ["-f", "/etc/dcgm-exporter/default-counters.csv"],
        "service": {"enable": True, "type": "ClusterIP", "port": 9400},
        "serviceMonitor": {
            "enabled": True,
            "interval": "30s",
            "additionalLabels": dict(service_monitor_labels),
        },
        "resources": Resources(
            "100m", "256Mi", cpu_limit="500m", memory_limit="512Mi"
        ).to_manifest(),
    }


class GpuEnablement(pulumi.ComponentResource):
    """Device plugin (advertises ``nvidia.com/gpu``) and DCGM exporter on the GPU pools."""

    namespace: pulumi.Output[str]
    """Namespace holding the GPU DaemonSets."""
    device_plugin_release: pulumi.Output[str]
    """Helm release name of the device plugin (status/debugging)."""

    def __init__(
        self, name: str, args: GpuEnablementArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:gpu:GpuEnablement", name, None, opts)
        registry = registry_of(args)
        ns_name = args.get("namespace", "kube-system")
        gpu = GpuScheduling(dict(args.get("gpu_node_selector", DEFAULT_GPU_NODE_SELECTOR)))
        sm_labels = dict(args.get("service_monitor_labels", {"release": "kps"}))
        child = pulumi.ResourceOptions(parent=self)

        after_ns = child
        if ns_name != "kube-system":
            ns_manifest = namespace(
                ns_name,
                "privileged",
                {"app.kubernetes.io/part-of": "mlplatform"},
                "device plugin needs the kubelet's device-plugin socket (hostPath); "
                "DCGM exporter needs host GPU device access",
            )
            ns = k8s.core.v1.Namespace(f"{name}-ns", metadata=ns_manifest["metadata"], opts=child)
            after_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])

        plugin_pin = CHARTS["nvidia-device-plugin"]
        plugin = pinned_release(
            f"{name}-device-plugin",
            "nvidia-device-plugin",
            plugin_pin,
            registry,
            ns_name,
            after_ns,
            values=device_plugin_values(registry, gpu),
        )
        if args.get("dcgm_exporter", True):
            dcgm_pin = CHARTS["dcgm-exporter"]
            pinned_release(
                f"{name}-dcgm-exporter",
                "dcgm-exporter",
                dcgm_pin,
                registry,
                ns_name,
                after_ns,
                values=dcgm_exporter_values(registry, gpu, sm_labels),
            )

        self.namespace = pulumi.Output.from_input(ns_name)
        self.device_plugin_release = plugin.name.apply(lambda n: n or "nvidia-device-plugin")
        self.register_outputs(
            {"namespace": self.namespace, "devicePluginRelease": self.device_plugin_release}
        )
