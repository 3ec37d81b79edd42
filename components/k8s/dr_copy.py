"""The scheduled in-country copy of a tenant's data: a CronJob in its namespace (AWS).

On the tier's schedule (:func:`contracts.backup.copy_cron`, twenty minutes after each
AWS Backup run) the pod runs ``python -m workloads.dr copy`` (image ``mlplatform/loop``)
twice, one container each: the data bucket's signed models, registry and feature data,
and (when the tenant has one) the audit bucket's records with their object-lock
retention, into the tenant's backup bucket on the second site's object store.

- Source: the tenant's buckets through its own IRSA role (read-only on exactly those
  folders, the key through S3 only).
- Destination: the in-country store, named by ``AWS_ENDPOINT_URL_S3`` (so the residency
  pack's ``backup-destination-in-country`` judges it), with the access key the operator
  provisions in :data:`contracts.backup.DEST_CREDENTIALS_SECRET`, mounted read-only as
  files (:data:`contracts.backup.DEST_CREDENTIALS_MOUNT`).
- Network: HTTPS to the store's address ranges only, besides the namespace's AWS
  endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.k8s.catalog import Registry
from components.k8s.netpol import egress_to, ip_block_peers
from components.k8s.podspec import (
    Manifest,
    Resources,
    container,
    object_meta,
    pod_spec,
    service_account,
)
from contracts.backup import (
    AUDIT_FOLDER,
    AUDIT_PREFIXES,
    DATA_FOLDER,
    DATA_PREFIXES,
    DEST_ACCESS_KEY_FILE_ENV,
    DEST_CREDENTIALS_MOUNT,
    DEST_CREDENTIALS_SECRET,
    DEST_SECRET_KEY_FILE_ENV,
    DR_COPY_COMPONENT,
    copy_cron,
    dr_copy_job_name,
)
from contracts.names import labels

CREDENTIALS_VOLUME = "dr-store-credentials"
"""Volume of the pod holding :data:`contracts.backup.DEST_CREDENTIALS_SECRET`."""


def dr_copy_service_account(tenant: str) -> str:
    """Service account of the tenant's copy job (its IRSA role reads the buckets)."""
    return dr_copy_job_name(tenant)


def _copy_container(
    name: str,
    image: str,
    source: str,
    dest: str,
    prefixes: Sequence[str],
    *,
    endpoint: str,
    region: str,
) -> Manifest:
    return container(
        name,
        image,
        Resources("100m", "256Mi", cpu_limit="1", memory_limit="1Gi"),
        command=["python", "-m", "workloads.dr", "copy"],
        args=[
            f"--source={source}",
            f"--dest={dest}",
            f"--region={region}",
            *(f"--prefix={p}" for p in prefixes),
        ],
        env=[
            {"name": "HOME", "value": "/tmp"},  # noqa: S108 (the pod's emptyDir)
            {"name": "AWS_REGION", "value": region},
            # The destination: boto3 reads it for the store client (the source client is
            # given AWS S3's regional endpoint explicitly).
            {"name": "AWS_ENDPOINT_URL_S3", "value": endpoint},
            # The store's key pair: files of the mounted Secret, never environment values.
            {"name": DEST_ACCESS_KEY_FILE_ENV, "value": f"{DEST_CREDENTIALS_MOUNT}/access_key_id"},
            {
                "name": DEST_SECRET_KEY_FILE_ENV,
                "value": f"{DEST_CREDENTIALS_MOUNT}/secret_access_key",
            },
        ],
        volume_mounts=[
            {"name": CREDENTIALS_VOLUME, "mountPath": DEST_CREDENTIALS_MOUNT, "readOnly": True}
        ],
    )


def _credentials_volume() -> Manifest:
    return {
        "name": CREDENTIALS_VOLUME,
        "secret": {
            "secretName": DEST_CREDENTIALS_SECRET,
            "items": [
                {"key": "access_key_id", "path": "access_key_id"},
                {"key": "secret_access_key", "path": "secret_access_key"},
            ],
            # Owner-read; the pod's fsGroup makes it group-readable for its user.
            "defaultMode": 0o400,
        },
    }


def dr_copy_manifests(
    tenant: str,
    namespace: str,
    registry: Registry,
    image_tag: str,
    *,
    data_bucket: str,
    audit_bucket: str | None,
    dr_bucket: str,
    endpoint: str,
    store_cidrs: Sequence[str],
    interval_minutes: int,
    region: str,
    role_arn: str,
) -> list[Manifest]:
    """ServiceAccount, CronJob and egress NetworkPolicy of the tenant's copy (pure)."""
    name = dr_copy_job_name(tenant)
    obj_labels = labels(tenant, DR_COPY_COMPONENT, name=name)
    image = registry.own_image("loop", image_tag)
    containers = [
        _copy_container("copy-data", image, f"s3://{data_bucket}",
                        f"s3://{dr_bucket}/{DATA_FOLDER}", DATA_PREFIXES,
                        endpoint=endpoint, region=region),
    ]  # fmt: skip
    if audit_bucket is not None:
        containers.append(
            _copy_container("copy-audit", image, f"s3://{audit_bucket}",
                            f"s3://{dr_bucket}/{AUDIT_FOLDER}", AUDIT_PREFIXES,
                            endpoint=endpoint, region=region)
        )  # fmt: skip
    spec = pod_spec(
        containers,
        service_account=dr_copy_service_account(tenant),
        restart_policy="Never",
        volumes=[_credentials_volume()],
    )
    cronjob: Manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(name, namespace, obj_labels),
        "spec": {
            "schedule": copy_cron(interval_minutes),
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": dict(obj_labels)},
                "spec": {
                    "backoffLimit": 2,
                    # The copy allowance the RPO check counts on (contracts.backup).
                    "activeDeadlineSeconds": 30 * 60,
                    "template": {"metadata": {"labels": dict(obj_labels)}, "spec": spec},
                },
            },
        },
    }
    egress = egress_to(
        "allow-egress-dr-store", namespace, obj_labels, ip_block_peers(store_cidrs), [443]
    )
    return [
        service_account(dr_copy_service_account(tenant), namespace, obj_labels, role_arn),
        cronjob,
        egress,
    ]
