"""Small object-store access for the loop's state: the tenant bucket, or a folder locally.

The loop keeps what must outlive a pod in the tenant's bucket: prediction-log segments,
drift reports next to each model, the model registry. :func:`open_store` takes
``s3://bucket/prefix/`` (boto3's default credential chain; ``AWS_ENDPOINT_URL_S3``
points it at an S3-compatible store or a local moto server) or ``file:///dir/`` and a
plain path (local runs and tests). Every S3 write carries SSE-KMS with the tenant key,
as :mod:`workloads.common.s3` does for model artifacts; without a key a write is refused
unless the pod runs against an in-country S3-compatible store in the explicit
``MLPLATFORM_OBJECT_STORE_SSE=store`` mode (:func:`workloads.common.s3.sse_arguments`).
"""

from __future__ import annotations

import os
import pathlib
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from workloads.common.s3 import S3Target, S3UploadError, sse_arguments


class ObjectStoreError(RuntimeError):
    """A read or write of the object store failed; the message is one line."""


class ObjectStore(Protocol):
    """Keys are ``/``-separated paths under the store's root."""

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Write the object (whole; readers never see half of it)."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        ...

    def describe(self, key: str) -> str:
        """A URI of ``key`` for messages and reports."""
        ...


@dataclass
class FileStore:
    """Objects as files under a folder (atomic replace on write)."""

    root: pathlib.Path

    def _path(self, key: str) -> pathlib.Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ObjectStoreError(f"key {key!r}: must be a relative path without '..'")
        return self.root / key

    def get(self, key: str) -> bytes | None:
        """The file's bytes, or None."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        """Write through a temporary file and rename it into place."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def list(self, prefix: str) -> list[str]:
        """Files whose relative path starts with ``prefix``."""
        if not self.root.is_dir():
            return []
        keys = (
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )
        return sorted(key for key in keys if key.startswith(prefix))

    def describe(self, key: str) -> str:
        """``file://`` URI of the key."""
        return self._path(key).resolve().as_uri()


class S3Store:
    """Objects in one bucket under a prefix, written with SSE-KMS when a key is given."""

    def __init__(self, bucket: str, prefix: str, kms_key_id: str | None, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.kms_key_id = kms_key_id
        self.client = client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _endpoint(self) -> str | None:
        """The client's endpoint when it is not AWS S3's (an S3-compatible store)."""
        url = getattr(getattr(self.client, "meta", None), "endpoint_url", None)
        if isinstance(url, str) and "amazonaws.com" not in url:
            return url
        return None

    def get(self, key: str) -> bytes | None:
        """``GetObject``; None on NoSuchKey."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(response["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise ObjectStoreError(f"{self.describe(key)}: read failed: {exc}") from None
        except BotoCoreError as exc:
            raise ObjectStoreError(f"{self.describe(key)}: read failed: {exc}") from None

    def put(self, key: str, data: bytes) -> None:
        """``PutObject`` with SSE-KMS and the tenant key (or the store's own encryption in
        the explicit on-prem mode); refused without either."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            extra = sse_arguments(self.kms_key_id, endpoint_url=self._endpoint())
        except S3UploadError as exc:
            raise ObjectStoreError(f"{self.describe(key)}: {exc}") from None
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError(f"{self.describe(key)}: write failed: {exc}") from None

    def list(self, prefix: str) -> list[str]:
        """``ListObjectsV2`` pages under the prefix; keys relative to the store's root."""
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        strip = f"{self.prefix}/" if self.prefix else ""
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                keys += [item["Key"].removeprefix(strip) for item in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError(f"{self.describe(prefix)}: list failed: {exc}") from None
        return sorted(keys)

    def describe(self, key: str) -> str:
        """``s3://`` URI of the key."""
        return f"s3://{self.bucket}/{self._key(key)}"


def open_store(uri: str, kms_key_id: str | None = None, client: Any = None) -> ObjectStore:
    """``s3://bucket[/prefix]``, ``file:///dir`` or a folder path."""
    if uri.startswith("s3://"):
        target = S3Target.parse(uri)
        if client is None:
            import boto3

            client = boto3.client("s3")
        return S3Store(target.bucket, target.prefix, kms_key_id, client)
    if uri.startswith("file://"):
        return FileStore(pathlib.Path(uri.removeprefix("file://")))
    if "://" in uri:
        raise ObjectStoreError(f"store {uri!r}: expected s3://bucket/prefix, file:///dir or a path")
    return FileStore(pathlib.Path(uri))
