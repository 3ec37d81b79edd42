"""Node placement of a tenant's pods: which pools they select and which taints they tolerate.

The composition knows the node pools (``components.nodepools.pod_scheduling`` states
their contract); the Kubernetes-layer builders do not. A :class:`Placement` carries
that contract into a component, which applies it to every pod spec it registers:
CPU pods get ``cpu``, pods that request GPUs get ``gpu``. Without it the builders'
own scheduling stays as is (on-prem clusters, whose pools this blueprint does not
create).

Why it matters: enterprise pools carry the ``mlplatform.io/tenant=<name>:NoSchedule``
taint, so a pod that only tolerates the GPU taint would stay Pending there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.k8s.invariants import pod_specs, requests_gpu
from components.k8s.podspec import Manifest

_EXTRA_POD_SPEC_KINDS = frozenset({"Prometheus"})
"""Custom resources whose ``spec`` takes ``nodeSelector``/``tolerations`` like a pod spec."""


@dataclass(frozen=True)
class Scheduling:
    """A ``nodeSelector`` and the tolerations that go with it (wire format)."""

    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Labels the target nodes carry."""
    tolerations: Sequence[Mapping[str, str]] = ()
    """Taints of the target nodes the pods tolerate."""

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Scheduling:
        """From ``{"nodeSelector": ..., "tolerations": ...}`` (``pod_scheduling``'s result)."""
        return cls(dict(data.get("nodeSelector") or {}), list(data.get("tolerations") or []))

    def merge_into(self, spec: dict[str, Any]) -> None:
        """Add the selector and tolerations to ``spec`` (existing entries are kept)."""
        selector = {**(spec.get("nodeSelector") or {}), **self.node_selector}
        tolerations = [dict(t) for t in spec.get("tolerations") or []]
        for toleration in self.tolerations:
            if dict(toleration) not in tolerations:
                tolerations.append(dict(toleration))
        if selector:
            spec["nodeSelector"] = selector
        if tolerations:
            spec["tolerations"] = tolerations


@dataclass(frozen=True)
class Placement:
    """Where a tenant's CPU pods and GPU pods go."""

    cpu: Scheduling
    """Placement of pods that request no GPU."""
    gpu: Scheduling | None = None
    """Placement of pods that request GPUs (``None``: the tenant has no GPU pools)."""

    def apply(self, manifest: Manifest) -> Manifest:
        """Place every pod spec of ``manifest`` (mutated and returned)."""
        specs: list[Mapping[str, Any]] = [spec for _, spec in pod_specs(manifest)]
        if manifest.get("kind") in _EXTRA_POD_SPEC_KINDS and isinstance(manifest.get("spec"), dict):
            specs.append(manifest["spec"])
        for spec in specs:
            assert isinstance(spec, dict)  # builders return plain dicts
            if requests_gpu(spec):
                if self.gpu is None:
                    raise ValueError(
                        f"{manifest['kind']} {manifest['metadata']['name']}: requests GPUs "
                        "but the tenant has no GPU placement"
                    )
                self.gpu.merge_into(spec)
            else:
                self.cpu.merge_into(spec)
        return manifest
