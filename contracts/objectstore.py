"""How a tenant's pods reach its bucket, and how their writes are encrypted, on each site.

- AWS: S3 through the pod's workload identity (IRSA); every write is SSE-KMS with the
  tenant key, and a writer without a key refuses to write (:data:`SSE_KMS`, the default).
- The in-country site (``hybrid``): the S3-compatible store at ``AWS_ENDPOINT_URL_S3``,
  with credentials from a Secret the operator provides in each tenant namespace, mounted
  as a file (``AWS_SHARED_CREDENTIALS_FILE``, never environment variables), and the
  store's CA (``AWS_CA_BUNDLE``). The store encrypts at rest with its own keys; the pods
  say so explicitly (:data:`SSE_ENV` = :data:`SSE_STORE`), and a writer accepts "no KMS
  key" only in that mode and only with an S3-compatible endpoint set, so a missing key
  on AWS is still an error, never a silent plaintext write.
"""

from __future__ import annotations

from typing import Final, Literal

SSE_ENV: Final = "MLPLATFORM_OBJECT_STORE_SSE"
"""Environment variable naming how S3 writes are encrypted (unset means :data:`SSE_KMS`)."""
SSE_KMS: Final = "aws:kms"
"""Every write carries SSE-KMS with the key the workload is given (AWS)."""
SSE_STORE: Final = "store"
"""The S3-compatible store encrypts at rest itself; writes carry no KMS key (on-prem)."""
SseMode = Literal["aws:kms", "store"]
SSE_MODES: tuple[str, ...] = (SSE_KMS, SSE_STORE)

ENDPOINT_ENV: Final = "AWS_ENDPOINT_URL_S3"
"""boto3's S3 endpoint override: the in-country store."""
FEAST_ENDPOINT_ENV: Final = "FEAST_S3_ENDPOINT_URL"
"""Feast's S3 registry store reads its endpoint from this variable, not boto3's."""
CREDENTIALS_FILE_ENV: Final = "AWS_SHARED_CREDENTIALS_FILE"
CA_BUNDLE_ENV: Final = "AWS_CA_BUNDLE"

CREDENTIALS_SECRET: Final = "object-store-credentials"  # noqa: S105 (a Secret's name)
"""Secret the operator provides in each tenant namespace (on-prem): key
:data:`CREDENTIALS_KEY` holds an AWS shared-credentials file (``[default]`` with
``aws_access_key_id`` and ``aws_secret_access_key``) for the tenant's bucket only."""
CREDENTIALS_KEY: Final = "credentials"
CREDENTIALS_DIR: Final = "/etc/mlplatform/object-store"
CA_CONFIG_MAP: Final = "object-store-ca"
"""ConfigMap the operator provides in each tenant namespace: the store's CA (key
:data:`CA_KEY`)."""
CA_KEY: Final = "ca.crt"
CA_DIR: Final = "/etc/mlplatform/object-store-ca"


def sse_mode(value: str | None) -> SseMode:
    """The mode from :data:`SSE_ENV`'s value (unset or empty: :data:`SSE_KMS`)."""
    if not value or value == SSE_KMS:
        return "aws:kms"
    if value == SSE_STORE:
        return "store"
    raise ValueError(f"{SSE_ENV}={value!r}: allowed are {', '.join(SSE_MODES)}")
