"""Upload of model artifacts to S3 with SSE-KMS (the tenant's customer managed key).

Every ``PutObject`` carries ``ServerSideEncryption=aws:kms`` and the key id explicitly,
so the objects are encrypted with the tenant key even if a bucket default changes, and
a bucket policy that denies puts without those headers accepts ours.

On the in-country site the S3-compatible store encrypts at rest with its own keys and
there is no KMS: the pod says so with ``MLPLATFORM_OBJECT_STORE_SSE=store``
(:mod:`contracts.objectstore`), and only then, and only with an S3-compatible endpoint
(``AWS_ENDPOINT_URL_S3`` or an explicit ``endpoint_url``), is a write without a key
accepted. Without that mode a missing key is an error, as it always was on AWS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.names import DEFAULT_REGION
from contracts.objectstore import ENDPOINT_ENV, SSE_ENV, SSE_STORE, sse_mode


class S3UploadError(RuntimeError):
    """An upload failed or its target is malformed; the message is one line."""


@dataclass(frozen=True)
class S3Target:
    """A parsed ``s3://bucket/prefix`` URI."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Target:
        """Parse ``s3://bucket[/prefix]``; raise :class:`S3UploadError` otherwise."""
        if not uri.startswith("s3://"):
            raise S3UploadError(f"upload target must be s3://bucket/prefix, got {uri!r}")
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise S3UploadError(f"upload target has no bucket: {uri!r}")
        return cls(bucket=bucket, prefix=prefix.strip("/"))

    def key(self, name: str) -> str:
        """Object key of an artifact name under the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name


def sse_arguments(
    kms_key_id: str | None,
    *,
    endpoint_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The encryption arguments of every ``PutObject`` (and copy) of the loop's writers.

    A key: SSE-KMS with it. No key: accepted only when the pod runs against an
    S3-compatible store that encrypts at rest itself (``MLPLATFORM_OBJECT_STORE_SSE=store``
    and an endpoint), where the result is no SSE argument; otherwise
    :class:`S3UploadError` (never a silent unencrypted write on AWS).
    """
    if kms_key_id:
        return {
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": kms_key_id,
            "BucketKeyEnabled": True,
        }
    env = os.environ if environ is None else environ
    try:
        mode = sse_mode(env.get(SSE_ENV))
    except ValueError as exc:
        raise S3UploadError(str(exc)) from None
    if mode != SSE_STORE:
        raise S3UploadError(
            "kms key id is required: objects on AWS S3 are only stored with SSE-KMS "
            f"(set {SSE_ENV}={SSE_STORE} only on an in-country S3-compatible store)"
        )
    if not (endpoint_url or env.get(ENDPOINT_ENV)):
        raise S3UploadError(
            f"{SSE_ENV}={SSE_STORE} needs an S3-compatible endpoint ({ENDPOINT_ENV}); "
            "AWS S3 requires a kms key id"
        )
    return {}


def upload_artifacts(
    directory: Path,
    names: list[str],
    uri: str,
    kms_key_id: str | None,
    *,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
    client: Any = None,
) -> list[str]:
    """Upload ``names`` from ``directory`` under ``uri`` with SSE-KMS (or, on an in-country
    store in ``store`` mode, its own encryption: :func:`sse_arguments`); return the keys."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    sse = sse_arguments(kms_key_id, endpoint_url=endpoint_url)
    target = S3Target.parse(uri)
    s3 = client or boto3.client("s3", region_name=region, endpoint_url=endpoint_url)
    keys = []
    for name in names:
        key = target.key(name)
        try:
            with (directory / name).open("rb") as body:
                s3.put_object(
                    Bucket=target.bucket,
                    Key=key,
                    Body=body,
                    **sse,
                )
        except (BotoCoreError, ClientError) as exc:
            raise S3UploadError(f"s3://{target.bucket}/{key}: upload failed: {exc}") from None
        keys.append(key)
    return keys
