"""Register a wire-format manifest (from the builders) as the matching Pulumi resource.

Typed resources are used for built-in kinds so the Kubernetes provider (and the offline
engine) sees ``kubernetes:apps/v1:Deployment`` and friends, not an opaque object;
everything else is a ``CustomResource``. The manifest dict is passed through unchanged,
so what tests validate is exactly what Pulumi registers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.catalog import ChartPin, Registry

_Factory = Callable[[str, Mapping[str, Any], pulumi.ResourceOptions], pulumi.CustomResource]


def _typed(cls: Any, *fields: str) -> _Factory:
    def make(
        name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions
    ) -> pulumi.CustomResource:
        kwargs = {_snake(key): manifest[key] for key in fields if key in manifest}
        return cls(name, metadata=manifest["metadata"], opts=opts, **kwargs)

    return make


def _snake(key: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in key)


_TYPED: dict[tuple[str, str], _Factory] = {
    ("v1", "Namespace"): _typed(k8s.core.v1.Namespace, "spec"),
    ("v1", "ServiceAccount"): _typed(k8s.core.v1.ServiceAccount, "automountServiceAccountToken"),
    ("v1", "ConfigMap"): _typed(k8s.core.v1.ConfigMap, "data"),
    ("v1", "Secret"): _typed(k8s.core.v1.Secret, "type", "stringData"),
    ("v1", "Service"): _typed(k8s.core.v1.Service, "spec"),
    ("v1", "ResourceQuota"): _typed(k8s.core.v1.ResourceQuota, "spec"),
    ("v1", "LimitRange"): _typed(k8s.core.v1.LimitRange, "spec"),
    ("apps/v1", "Deployment"): _typed(k8s.apps.v1.Deployment, "spec"),
    ("batch/v1", "CronJob"): _typed(k8s.batch.v1.CronJob, "spec"),
    ("policy/v1", "PodDisruptionBudget"): _typed(k8s.policy.v1.PodDisruptionBudget, "spec"),
    ("networking.k8s.io/v1", "NetworkPolicy"): _typed(k8s.networking.v1.NetworkPolicy, "spec"),
    ("rbac.authorization.k8s.io/v1", "Role"): _typed(k8s.rbac.v1.Role, "rules"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _typed(
        k8s.rbac.v1.RoleBinding, "roleRef", "subjects"
    ),
}


def register(
    name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """Create the Pulumi resource for ``manifest`` (a builder's output) under ``opts``."""
    key = (manifest["apiVersion"], manifest["kind"])
    factory = _TYPED.get(key)
    if factory is not None:
        return factory(name, manifest, opts)
    extra = set(manifest) - {"apiVersion", "kind", "metadata", "spec"}
    if extra:
        raise ValueError(
            f"{manifest['kind']} {name}: custom resources carry only spec, got {extra}"
        )
    return k8s.apiextensions.CustomResource(
        name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest.get("spec"),
        opts=opts,
    )


def namespace_with_policies(
    name: str,
    namespace_manifest: Mapping[str, Any],
    policies: Iterable[Mapping[str, Any]],
    parent: pulumi.Resource,
) -> pulumi.CustomResource:
    """Register a platform namespace (``<name>-ns``), then its network policies
    (``<name>-netpol-<policy>``) after it; return the namespace."""
    ns = register(f"{name}-ns", namespace_manifest, pulumi.ResourceOptions(parent=parent))
    after_ns = pulumi.ResourceOptions(parent=parent, depends_on=[ns])
    for policy in policies:
        register(f"{name}-netpol-{policy['metadata']['name']}", policy, after_ns)
    return ns


def pinned_release(
    resource_name: str,
    release_name: str,
    pin: ChartPin,
    registry: Registry,
    namespace: str,
    opts: pulumi.ResourceOptions,
    *,
    values: Mapping[str, Any] | None = None,
    timeout: int | None = None,
) -> k8s.helm.v3.Release:
    """A Helm release of a pinned chart from the mirror: exact version, atomic, cleaned up
    on failure (a half-applied chart is rolled back rather than left behind)."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release_name,
        chart=registry.chart(pin),
        version=pin.version,
        namespace=namespace,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout,
        opts=opts,
    )


def resolve_placeholders(value: Any, outputs: Mapping[str, pulumi.Output[str]]) -> Any:
    """Replace placeholder strings anywhere in ``value`` by the Outputs they stand for.

    Pure builders take plain strings; a component passes placeholders for values only
    known at deploy time (an ARN, a queue URL) and resolves them here, so the builder's
    shape is exactly what is registered.
    """
    if isinstance(value, dict):
        return {k: resolve_placeholders(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_placeholders(v, outputs) for v in value]
    if isinstance(value, str) and any(p in value for p in outputs):
        used = [p for p in outputs if p in value]

        def fill(resolved: list[str], text: str = value, keys: list[str] = used) -> str:
            for key, real in zip(keys, resolved, strict=True):
                text = text.replace(key, real)
            return text

        return pulumi.Output.all(*(outputs[p] for p in used)).apply(fill)
    return value
