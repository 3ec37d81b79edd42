"""A tenant's in-cluster online feature store on the in-country site: Valkey.

The hybrid site has no ElastiCache or DynamoDB, so each tenant's Feast online store is a
Valkey server in the tenant's own namespace (its own password, its own volume, reachable
only by the namespace's pods), from the pinned ``valkey`` chart of ``valkey-io/valkey-helm``.

Why Valkey and this chart: Valkey is the Linux Foundation's BSD-licensed continuation of
Redis 7.2, wire-compatible with the Redis client Feast uses (``redis-py``); the chart is
the Valkey project's own. Bitnami's Redis/Valkey charts are not an option: in 2025
Bitnami moved its free images to a ``bitnamilegacy`` repository that receives no updates,
so a pin there would never get a security fix.

What the values set (keys from the chart's values.yaml, tested against the vendored copy):

- TLS only: ``tls.enabled`` with the operator-provided Secret :func:`tls_secret_name`
  (``server.crt``, ``server.key``, ``ca.crt`` from the operator's PKI, like the broker's);
  the chart then listens with ``port 0`` (no plaintext port) and ``tls-port 6379``.
- AUTH: ACLs on, the ``default`` user's password from the Secret the feature store
  component writes (the generated password, key ``auth-token``); no inline password.
- Persistence: a PVC on the site's StorageClass, append-only file on (``appendfsync
  everysec``), kept on uninstall. A lost volume loses only what materialisation rewrites
  from the offline store on its next run.
- Pod Security restricted: non-root, read-only root, no capabilities, seccomp
  RuntimeDefault, no service-account token.
"""

from __future__ import annotations

from typing import Any

from components.k8s.catalog import CHARTS, IMAGES, Registry
from components.k8s.podspec import container_security_context, pod_security_context
from contracts.telemetry import REDIS_PORT

CHART = "valkey"
"""Key of the pinned chart in :data:`~components.k8s.catalog.CHARTS`."""
VALKEY_UID = 1000
"""The chart's (and the image's) non-root user."""
AUTH_KEY = "auth-token"
"""Key of the password in the tenant's online-store Secret (the feature server's too)."""
DEFAULT_STORAGE_GIB = 10
TLS_CA_KEY = "ca.crt"
TLS_CERT_KEY = "server.crt"
TLS_KEY_KEY = "server.key"


def release_name(tenant: str) -> str:
    """Helm release (and, as it contains the chart's name, Service) of the tenant's store."""
    return f"{tenant}-valkey"


def tls_secret_name(tenant: str) -> str:
    """Secret the operator's PKI provides in the tenant namespace (server cert, key, CA)."""
    return f"{tenant}-valkey-tls"


def service_host(tenant: str, namespace: str) -> str:
    """In-cluster DNS name of the store (the TLS certificate's name)."""
    return f"{release_name(tenant)}.{namespace}.svc.cluster.local"


def valkey_values(
    registry: Registry,
    *,
    auth_secret: str,
    tls_secret: str,
    storage_class: str,
    storage_gib: int = DEFAULT_STORAGE_GIB,
) -> dict[str, Any]:
    """Values for the ``valkey`` chart 0.11 (keys from its values.yaml)."""
    if storage_gib < 1:
        raise ValueError(f"valkey storage_gib: must be at least 1, got {storage_gib}")
    pin = IMAGES["valkey"]
    hardened = container_security_context(VALKEY_UID)
    return {
        "image": {
            "registry": registry.host,
            "repository": registry.repository_path(pin),
            "tag": pin.tag,
            "pullPolicy": "IfNotPresent",
        },
        "serviceAccount": {"create": True, "automount": False},
        "podSecurityContext": pod_security_context(VALKEY_UID),
        "securityContext": hardened,
        "service": {"type": "ClusterIP", "port": REDIS_PORT},
        "resources": {
            "requests": {"cpu": "250m", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "2Gi"},
        },
        "initResources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi"},
        },
        # One writer on a ReadWriteOnce volume: replace, never run two side by side.
        "deploymentStrategy": "Recreate",
        "dataStorage": {
            "enabled": True,
            "requestedSize": f"{storage_gib}Gi",
            "className": storage_class,
            "accessModes": ["ReadWriteOnce"],
            "keepPvc": True,
        },
        "valkeyConfig": "appendonly yes\nappendfsync everysec\n",
        "auth": {
            "enabled": True,
            "usersExistingSecret": auth_secret,
            "aclUsers": {"default": {"permissions": "~* &* +@all", "passwordKey": AUTH_KEY}},
        },
        "tls": {
            "enabled": True,
            "existingSecret": tls_secret,
            "serverPublicKey": TLS_CERT_KEY,
            "serverKey": TLS_KEY_KEY,
            "caPublicKey": TLS_CA_KEY,
            "requireClientCertificate": False,
        },
        # TCP checks: the chart's exec probe (valkey-cli ping) has no password.
        "startupProbe": {
            "enabled": True,
            "customProbe": {
                "tcpSocket": {"port": "tcp"},
                "periodSeconds": 5,
                "failureThreshold": 60,
            },
        },
        "livenessProbe": {
            "enabled": True,
            "customProbe": {"tcpSocket": {"port": "tcp"}, "periodSeconds": 10},
        },
        "readinessProbe": {
            "enabled": True,
            "customProbe": {"tcpSocket": {"port": "tcp"}, "periodSeconds": 10},
        },
        "metrics": {"enabled": False},
        "replica": {"enabled": False},
    }


def chart_version() -> str:
    """The pinned chart's version (the release's)."""
    return CHARTS[CHART].version
