"""Velero: the cluster's Kubernetes objects, backed up to the in-country site's store.

:class:`VeleroInstall` installs the pinned ``velero`` chart (12.1.0, Velero 1.18.1) with
the AWS object-store plugin (1.14.x, the line paired with Velero 1.18) from the mirror
into a ``restricted`` namespace. Its one backup location is the second site's
S3-compatible store (``s3Url``; the residency pack's ``backup-destination-in-country``
refuses anything else), under :data:`contracts.backup.VELERO_PREFIX` of the site's
bucket; one schedule backs up every namespace's objects at the platform's tightest
backup interval (:func:`contracts.backup.copy_cron`) and keeps them for the longest
retention.

Deliberate limits, written down:

- **Objects, not volumes.** No volume snapshot location (EBS snapshots stay in the
  region) and no node agent (file-system backup needs host paths, which Pod Security
  ``restricted`` forbids). Tenant data lives in the buckets, which the copy job takes
  in-country; Prometheus history is not carried over.
- **Cluster-wide read and restore.** Backing up and restoring every kind in every
  namespace is what Velero is for; it runs with the chart's cluster-admin binding in its
  own namespace, with no ingress and egress only to the API server and the store.
- **Credentials** for the store come from a Secret the operator provides
  (:data:`VELERO_CREDENTIALS_SECRET`, key ``cloud``, an AWS credentials file), never
  from stack state. CRDs come from the chart's ``crds/`` on install (no kubectl job).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired

import pulumi

from components.k8s._resources import namespace_with_policies, pinned_release
from components.k8s.catalog import CHARTS, IMAGES, Registry, RegistryArgs, registry_of
from components.k8s.netpol import baseline_policies, egress_to, ip_block_peers
from components.k8s.podspec import container_security_context, namespace, pod_security_context
from contracts.backup import VELERO_NAMESPACE, VELERO_PREFIX, copy_cron

VELERO_CREDENTIALS_SECRET = "velero-store-credentials"  # noqa: S105 (a Secret's name)
"""Secret (key ``cloud``) with the in-country store's access key, provided by the operator."""
LOCATION = "in-country"
"""Name of the one backup location."""
VELERO_UID = 65532


def velero_values(
    registry: Registry,
    *,
    endpoint: str,
    bucket: str,
    interval_minutes: int,
    retention_days: int,
    system_selector: Mapping[str, str],
) -> dict[str, Any]:
    """Values for the ``velero`` chart 12.1 (keys from its values.yaml)."""
    velero, plugin = IMAGES["velero"], IMAGES["velero-plugin-for-aws"]
    hardened = container_security_context(VELERO_UID)
    return {
        "image": {"repository": registry.repository(velero), "tag": velero.tag},
        "initContainers": [
            {
                "name": "velero-plugin-for-aws",
                "image": registry.image(plugin),
                "imagePullPolicy": "IfNotPresent",
                "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
                "securityContext": hardened,
            }
        ],
        "podSecurityContext": pod_security_context(VELERO_UID),
        "containerSecurityContext": hardened,
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "nodeSelector": dict(system_selector),
        "upgradeCRDs": False,
        "deployNodeAgent": False,
        "snapshotsEnabled": False,
        "backupsEnabled": True,
        "credentials": {"useSecret": True, "existingSecret": VELERO_CREDENTIALS_SECRET},
        "configuration": {
            "backupStorageLocation": [
                {
                    "name": LOCATION,
                    "provider": "aws",
                    "bucket": bucket,
                    "prefix": VELERO_PREFIX,
                    "default": True,
                    "config": {
                        # S3-compatible stores take any region name; the endpoint decides.
                        "region": "uae-in-country",
                        "s3Url": endpoint,
                        "s3ForcePathStyle": "true",
                    },
                }
            ],
            "volumeSnapshotLocation": [],
        },
        "schedules": {
            "platform": {
                "disabled": False,
                "schedule": copy_cron(interval_minutes),
                "useOwnerReferencesInBackup": False,
                "template": {
                    "ttl": f"{retention_days * 24}h",
                    "storageLocation": LOCATION,
                    "includedNamespaces": ["*"],
                    "snapshotVolumes": False,
                },
            }
        },
        "metrics": {"enabled": True},
    }


class VeleroInstallArgs(RegistryArgs):
    """Inputs of :class:`VeleroInstall`."""

    endpoint: str
    """HTTPS endpoint of the in-country store."""
    store_cidrs: Sequence[str]
    """Its address ranges (Velero's only egress besides the API server)."""
    bucket: str
    """Bucket on the store (backups under ``velero/``)."""
    interval_minutes: int
    """The platform's tightest backup interval."""
    retention_days: int
    """The longest backup retention."""
    cluster_cidrs: Sequence[str]
    system_selector: NotRequired[Mapping[str, str]]


class VeleroInstall(pulumi.ComponentResource):
    """The ``velero`` namespace, its network policies and the pinned release."""

    release: pulumi.Resource

    def __init__(
        self, name: str, args: VeleroInstallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:backup:VeleroInstall", name, None, opts)
        registry = registry_of(args)
        part_of = {
            "app.kubernetes.io/part-of": "mlplatform",
            "app.kubernetes.io/component": "backup",
        }
        policies = [
            *baseline_policies(VELERO_NAMESPACE, part_of, args["cluster_cidrs"]),
            egress_to(
                "allow-egress-dr-store",
                VELERO_NAMESPACE,
                part_of,
                ip_block_peers(args["store_cidrs"]),
                [443],
            ),
        ]
        ns = namespace_with_policies(
            name, namespace(VELERO_NAMESPACE, "restricted", part_of), policies, self
        )
        self.release = pinned_release(
            f"{name}-release",
            "velero",
            CHARTS["velero"],
            registry,
            VELERO_NAMESPACE,
            pulumi.ResourceOptions(parent=self, depends_on=[ns]),
            values=velero_values(
                registry,
                endpoint=args["endpoint"],
                bucket=args["bucket"],
                interval_minutes=args["interval_minutes"],
                retention_days=args["retention_days"],
                system_selector=args.get("system_selector", {}),
            ),
        )
        self.register_outputs({})
