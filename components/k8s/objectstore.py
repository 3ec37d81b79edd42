"""How a tenant's pods reach the in-country S3-compatible store (the hybrid site): pure.

On AWS a pod reaches S3 through its workload identity (IRSA) and every write is SSE-KMS
with the tenant key; nothing here applies. On the in-country site there is no IRSA and
no KMS, so a pod that reads or writes the tenant bucket gets (names in
:mod:`contracts.objectstore`):

- ``AWS_ENDPOINT_URL_S3`` (boto3) and ``FEAST_S3_ENDPOINT_URL`` (Feast's registry): the
  store's https endpoint;
- ``AWS_SHARED_CREDENTIALS_FILE``: the tenant's credentials, from the Secret the operator
  provides in the namespace, mounted read-only as a file (never environment variables,
  which leak into ``kubectl describe`` and crash dumps);
- ``AWS_CA_BUNDLE``: the store's CA, from the ConfigMap the operator provides;
- ``MLPLATFORM_OBJECT_STORE_SSE=store``: the explicit statement that the store encrypts
  at rest itself, the only case in which the loop's writers accept no KMS key.
"""

from __future__ import annotations

from typing import TypedDict

from components.k8s.podspec import Manifest
from contracts.objectstore import (
    CA_BUNDLE_ENV,
    CA_CONFIG_MAP,
    CA_DIR,
    CA_KEY,
    CREDENTIALS_DIR,
    CREDENTIALS_FILE_ENV,
    CREDENTIALS_KEY,
    CREDENTIALS_SECRET,
    ENDPOINT_ENV,
    FEAST_ENDPOINT_ENV,
    SSE_ENV,
    SSE_STORE,
)


class ObjectStoreClient(TypedDict):
    """What a pod needs to use the in-country store: environment, volumes, mounts."""

    env: list[Manifest]
    volumes: list[Manifest]
    volume_mounts: list[Manifest]


def object_store_client(endpoint: str) -> ObjectStoreClient:
    """Endpoint, credentials file, CA and the store-encryption mode (pure)."""
    if not endpoint.startswith("https://"):
        raise ValueError(f"object store endpoint must be https://, got {endpoint!r}")
    return {
        "env": [
            {"name": ENDPOINT_ENV, "value": endpoint},
            {"name": FEAST_ENDPOINT_ENV, "value": endpoint},
            {"name": CREDENTIALS_FILE_ENV, "value": f"{CREDENTIALS_DIR}/{CREDENTIALS_KEY}"},
            {"name": CA_BUNDLE_ENV, "value": f"{CA_DIR}/{CA_KEY}"},
            {"name": SSE_ENV, "value": SSE_STORE},
        ],
        "volumes": [
            {
                "name": "object-store-credentials",
                "secret": {
                    "secretName": CREDENTIALS_SECRET,
                    "items": [{"key": CREDENTIALS_KEY, "path": CREDENTIALS_KEY}],
                    "defaultMode": 0o400,
                },
            },
            {
                "name": "object-store-ca",
                "configMap": {"name": CA_CONFIG_MAP, "items": [{"key": CA_KEY, "path": CA_KEY}]},
            },
        ],
        "volume_mounts": [
            {"name": "object-store-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True},
            {"name": "object-store-ca", "mountPath": CA_DIR, "readOnly": True},
        ],
    }


def add_object_store_client(manifest: Manifest, client: ObjectStoreClient) -> None:
    """Give every container of a Deployment's, CronJob's or Job's pod the store client
    (an ``AWS_ENDPOINT_URL_S3`` already set is replaced, not duplicated)."""
    spec_root = manifest["spec"]
    template = spec_root.get("template") or spec_root["jobTemplate"]["spec"]["template"]
    spec = template["spec"]
    spec["volumes"] = [*spec.get("volumes", []), *client["volumes"]]
    names = {e["name"] for e in client["env"]}
    for c in spec["containers"]:
        c["env"] = [*(e for e in c.get("env", []) if e["name"] not in names), *client["env"]]
        c["volumeMounts"] = [*c.get("volumeMounts", []), *client["volume_mounts"]]
