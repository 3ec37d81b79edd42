"""Render ``feature_store.yaml`` for the platform's stores (the Kubernetes layer's ConfigMap).

:func:`render_platform_feature_store_yaml` takes typed settings and returns the YAML
text. The registry is a file in S3 written with SSE-KMS (the tenant key); the offline
store is Feast's file (dask) store reading parquet from S3, whose location lives in the
data sources (``definitions.build_objects(offline_uri=settings.offline_data_uri)``: one
partitioned folder per view under it, ``contracts.ingestion.OFFLINE_PREFIX`` of the tenant
bucket, which the ingestion worker writes too), not in this file; the online store is
DynamoDB (SMB tier) or ElastiCache Redis with TLS and AUTH (enterprise tier), or, on the
in-country site, the tenant's in-cluster Valkey (Redis protocol, TLS with the site's CA,
AUTH). The Redis password is never written out:
the file references an environment variable, which Feast expands when it loads the file.

On the in-country site there is no KMS: the registry and offline data live on the
S3-compatible store (``s3_endpoint``; Feast's pods get it as ``FEAST_S3_ENDPOINT_URL``
and ``AWS_ENDPOINT_URL_S3``), which encrypts at rest itself. A settings object without a
KMS key is therefore valid only with that endpoint: AWS always gets SSE-KMS.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.names import DEFAULT_REGION
from contracts.telemetry import REDIS_PORT

PROFILE_VIEW = "customer_profile"
"""Feature view of customer profiles (``workloads/features/definitions.py`` defines it)."""
ACTIVITY_VIEW = "customer_activity"
"""Feature view of weekly customer activity snapshots."""
FEATURE_VIEWS: tuple[str, ...] = (PROFILE_VIEW, ACTIVITY_VIEW)
"""Every feature view the tenants' jobs define: the online store's tables (and the IAM
policies scoped to them) are created per view before any job runs."""

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
_PATH = re.compile(r"^/[A-Za-z0-9._/-]+$")


class DynamoDBOnlineStore(BaseModel):
    """Online store on DynamoDB (on-demand tables, encrypted with the tenant key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["dynamodb"] = Field(default="dynamodb", description="Store selector.")
    region: str = Field(default=DEFAULT_REGION, description="AWS region of the tables.")
    table_name_template: str = Field(
        default="{project}.{table_name}",
        description="Feast's table naming; prefix it per tenant to scope IAM policies.",
    )


class RedisOnlineStore(BaseModel):
    """Online store on ElastiCache Redis, TLS and AUTH always on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["redis"] = Field(default="redis", description="Store selector.")
    host: str = Field(description="Primary (or configuration) endpoint host name.")
    port: int = Field(default=REDIS_PORT, ge=1, le=65535, description="Redis port.")
    cluster: bool = Field(default=False, description="True for cluster-mode ElastiCache.")
    password_env: str = Field(
        default="FEAST_REDIS_PASSWORD",
        description="Environment variable holding the AUTH token (from a Kubernetes Secret).",
    )
    key_ttl_seconds: int | None = Field(
        default=None, ge=1, description="Expire an entity's key this long after its last write."
    )
    ca_file: str | None = Field(
        default=None,
        description="CA bundle the client verifies the server with (an in-cluster store "
        "signed by the site's PKI); None: the system's CAs (ElastiCache).",
    )

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is not None and not _PATH.match(value):
            raise ValueError(f"must be an absolute path of letters, digits, '._/-', got {value!r}")
        return value

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(
                f"must be an environment variable name like FEAST_REDIS_PASSWORD, got {value!r}"
            )
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value or any(c in value for c in ",:/ "):
            raise ValueError(f"must be a bare host name, got {value!r}")
        return value


class PlatformFeatureStoreSettings(BaseModel):
    """Everything the platform's ``feature_store.yaml`` depends on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    project: str = Field(description="Feast project (tenant-scoped), letters, digits, '_'.")
    registry_uri: str = Field(description="s3:// URI of the registry file.")
    offline_data_uri: str = Field(description="s3:// prefix holding the sources' parquet.")
    kms_key_id: str | None = Field(
        default=None,
        description="KMS key (ARN or id) for SSE-KMS registry writes; None only with "
        "s3_endpoint (an in-country store that encrypts at rest itself).",
    )
    s3_endpoint: str | None = Field(
        default=None,
        description="https URL of the S3-compatible store holding registry and offline data "
        "(in-country site); None: AWS S3.",
    )
    online: Annotated[DynamoDBOnlineStore | RedisOnlineStore, Field(discriminator="type")] = Field(
        description="Online store: DynamoDB (SMB) or Redis (enterprise)."
    )
    registry_cache_ttl_seconds: int = Field(
        default=60, ge=0, description="How long servers cache the registry."
    )

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not _PROJECT.match(value):
            raise ValueError(
                f"must be letters, digits and '_' not starting with '_', got {value!r}"
            )
        return value

    @field_validator("s3_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError(f"must be an https:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _encrypted(self) -> PlatformFeatureStoreSettings:
        if self.kms_key_id is None and self.s3_endpoint is None:
            raise ValueError(
                "kms_key_id is required on AWS S3 (registry writes are SSE-KMS); only an "
                "in-country store (s3_endpoint) may go without"
            )
        return self

    @field_validator("registry_uri", "offline_data_uri")
    @classmethod
    def _s3(cls, value: str) -> str:
        if not value.startswith("s3://") or len(value) <= len("s3://"):
            raise ValueError(f"must be an s3:// URI, got {value!r}")
        return value


def render_platform_config(settings: PlatformFeatureStoreSettings) -> dict[str, object]:
    """Return the ``feature_store.yaml`` content as a plain mapping."""
    online: dict[str, object]
    if isinstance(settings.online, DynamoDBOnlineStore):
        online = {
            "type": "dynamodb",
            "region": settings.online.region,
            "table_name_template": settings.online.table_name_template,
        }
    else:
        # Feast parses "host:port,key=value"; ${VAR} is expanded from the pod's env.
        connection = (
            f"{settings.online.host}:{settings.online.port},ssl=true,"
            f"password=${{{settings.online.password_env}}}"
        )
        if settings.online.ca_file is not None:
            # Passed to redis-py as is: verify the server against the site's CA.
            connection += f",ssl_ca_certs={settings.online.ca_file}"
        online = {
            "type": "redis",
            "redis_type": "redis_cluster" if settings.online.cluster else "redis",
            "connection_string": connection,
        }
        if settings.online.key_ttl_seconds is not None:
            online["key_ttl_seconds"] = settings.online.key_ttl_seconds
    registry: dict[str, object] = {
        "registry_type": "file",
        "path": settings.registry_uri,
        "cache_ttl_seconds": settings.registry_cache_ttl_seconds,
    }
    if settings.kms_key_id is not None:
        registry["s3_additional_kwargs"] = {
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": settings.kms_key_id,
        }
    return {
        "project": settings.project,
        "provider": "aws",
        "registry": registry,
        "offline_store": {"type": "file"},
        "online_store": online,
        "entity_key_serialization_version": 3,
    }


def render_platform_feature_store_yaml(settings: PlatformFeatureStoreSettings) -> str:
    """Return ``feature_store.yaml`` text for the platform (see the module docstring)."""
    header = (
        "# Rendered by contracts.feature_store; offline parquet lives under "
        f"{settings.offline_data_uri}\n"
    )
    if settings.s3_endpoint is not None:
        header += (
            f"# on the S3-compatible store {settings.s3_endpoint} (FEAST_S3_ENDPOINT_URL), "
            "encrypted at rest by the store\n"
        )
    return header + yaml.safe_dump(render_platform_config(settings), sort_keys=False)


def dynamodb_table_name(project: str, feature_view: str) -> str:
    """Table Feast uses for a feature view (its default ``{project}.{table_name}``)."""
    return DynamoDBOnlineStore().table_name_template.format(
        project=project, table_name=feature_view
    )


MATERIALIZE_COMMAND = ["python", "-m", "workloads.features"]
"""Container command of the per-tenant materialisation CronJob (the loop image): the
online store is loaded by the platform's writer, whose rows expire (Feast's upstream
``feast materialize-incremental`` writes DynamoDB items without ``expires_at``)."""


def materialize_args(repo_dir: str, online_ttl_days: int | None) -> list[str]:
    """Arguments of :data:`MATERIALIZE_COMMAND`: ``materialize`` up to now from the repo at
    ``repo_dir``, rows expiring after ``online_ttl_days`` (the tenant's online retention;
    required by a DynamoDB store, ``key_ttl_seconds`` for Redis)."""
    if online_ttl_days is not None and online_ttl_days < 1:
        raise ValueError(f"online_ttl_days must be >= 1, got {online_ttl_days}")
    args = ["materialize", f"--repo={repo_dir}"]
    if online_ttl_days is not None:
        args.append(f"--online-ttl-days={online_ttl_days}")
    return args
