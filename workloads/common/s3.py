"""Upload of model artifacts to S3 with SSE-KMS (the tenant's customer managed key).

Every ``PutObject`` carries ``ServerSideEncryption=aws:kms`` and the key id explicitly,
so the objects are encrypted with the tenant key even if a bucket default changes, and
a bucket policy that denies puts without those headers accepts ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.names import DEFAULT_REGION


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


def upload_artifacts(
    directory: Path,
    names: list[str],
    uri: str,
    kms_key_id: str,
    *,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
    client: Any = None,
) -> list[str]:
    """Upload ``names`` from ``directory`` under ``uri`` with SSE-KMS; return the keys."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if not kms_key_id:
        raise S3UploadError("kms key id is required: artifacts are only stored with SSE-KMS")
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
                    ServerSideEncryption="aws:kms",
                    SSEKMSKeyId=kms_key_id,
                    BucketKeyEnabled=True,
                )
        except (BotoCoreError, ClientError) as exc:
            raise S3UploadError(f"s3://{target.bucket}/{key}: upload failed: {exc}") from None
        keys.append(key)
    return keys
