"""What the backup copy, the restore drill, Velero and the stack settings agree on.

The region can be lost as a whole (me-central-1 is the only AWS region in the UAE), so
everything that must survive it is copied to the in-country site's S3-compatible store:

- from a tenant's data bucket: its signed models, its model registry, its feature
  store's registry file and its offline store (the partitioned parquet every feature
  view reads, seed history and ingested events): :data:`DATA_PREFIXES`;
- from its audit bucket: the object-locked audit records and checkpoints
  (:data:`AUDIT_PREFIXES`), copied with their lock mode and retain-until date;
- Kubernetes objects and volumes: Velero, into :data:`VELERO_PREFIX` of the site's
  backup bucket.

Copies land in the tenant's backup bucket on the in-country store
(:func:`dr_bucket`), each run writing a manifest (key, size, SHA-256) under
:data:`MANIFEST_PREFIX`, which the restore drill and a restore check against.
"""

from __future__ import annotations

import re

from contracts.ingestion import OFFLINE_PREFIX

DATA_PREFIXES: tuple[str, ...] = ("models", "registry", "feast", OFFLINE_PREFIX)
"""Folders of the tenant data bucket the copy job takes: signed model artifacts, the
registry (which version serves), the feature store's registry, and the offline store
(what training reads). Erasure does not reach these copies: a restore must re-apply the
erasure receipts recorded since the copy (the audit log lists them)."""
AUDIT_PREFIXES: tuple[str, ...] = ("alerts",)
"""Folders of the tenant audit bucket: the alert receiver's shipped audit log."""
MANIFEST_PREFIX = "dr-manifests"
"""Where each copy run writes ``<UTC time>.json`` (every object's key, size, SHA-256)."""
DATA_FOLDER = "data"
"""Folder of the backup bucket holding the data bucket's copy."""
AUDIT_FOLDER = "audit"
"""Folder of the backup bucket holding the audit bucket's copy (object-locked)."""
VELERO_PREFIX = "velero"
"""Prefix of the site's backup bucket Velero writes its backups under."""
VELERO_NAMESPACE = "velero"
"""Namespace Velero runs in."""
DR_COPY_COMPONENT = "dr-copy"
"""``app.kubernetes.io/component`` of the scheduled copy's pods."""

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")


def dr_bucket(tenant: str, template: str = "mlp-dr-{tenant}") -> str:
    """The tenant's backup bucket on the in-country store (``template`` from the settings)."""
    if not _NAME.match(tenant):
        raise ValueError(f"tenant {tenant!r}: must be a DNS-1123 label of 42 characters at most")
    return template.replace("{tenant}", tenant)


def dr_copy_job_name(tenant: str) -> str:
    """CronJob of a tenant's scheduled copy to the in-country store."""
    return f"{tenant}-dr-copy"


DEST_CREDENTIALS_MOUNT = "/var/run/secrets/mlplatform/dr-store"
"""Where the copy job mounts :data:`DEST_CREDENTIALS_SECRET` (read-only files
``access_key_id`` and ``secret_access_key``; secrets reach pods as files, never as
environment variables)."""
DEST_ACCESS_KEY_FILE_ENV = "DR_DEST_ACCESS_KEY_ID_FILE"
"""Environment variable with the path of the file holding the in-country store's access
key of the copy job (the source side uses the pod's IRSA role)."""
DEST_SECRET_KEY_FILE_ENV = "DR_DEST_SECRET_ACCESS_KEY_FILE"  # noqa: S105 (an env var name)
"""Environment variable with the path of the file holding the matching secret key."""
DEST_ACCESS_KEY_ENV = "DR_DEST_ACCESS_KEY_ID"
"""The access key itself, read only when :data:`DEST_ACCESS_KEY_FILE_ENV` is unset (local
runs and tests; the cluster's pods get the file)."""
DEST_SECRET_KEY_ENV = "DR_DEST_SECRET_ACCESS_KEY"  # noqa: S105 (an environment variable name)
"""The secret key itself, read only when :data:`DEST_SECRET_KEY_FILE_ENV` is unset."""
DEST_CREDENTIALS_SECRET = "mlplatform-dr-store-credentials"  # noqa: S105 (a Secret's name)
"""Secret (keys ``access_key_id``, ``secret_access_key``) in each tenant namespace holding
the in-country store credentials of the copy job, provisioned by the operator."""

# --- schedules: what the settings check a tier's RPO against ------------------------------

BACKUP_INTERVALS_MINUTES: tuple[int, ...] = (60, 120, 180, 240, 360, 480, 720, 1440)
"""Backup intervals a stack may choose: whole hours that divide a day (AWS Backup's
shortest schedule is hourly), so every day has the same runs at the same times."""
COPY_ALLOWANCE_MINUTES = 30
"""Time a run may take to reach the in-country store (the copy job's deadline): the
worst-case data loss is one interval plus this."""


def backup_cron(interval_minutes: int) -> str:
    """AWS Backup schedule of a backup every ``interval_minutes`` (UTC)."""
    if interval_minutes not in BACKUP_INTERVALS_MINUTES:
        raise ValueError(
            f"backup interval {interval_minutes} min: allowed {list(BACKUP_INTERVALS_MINUTES)}"
        )
    hours = interval_minutes // 60
    if hours == 24:
        return "cron(0 1 * * ? *)"
    return "cron(0 * * * ? *)" if hours == 1 else f"cron(0 */{hours} * * ? *)"


def copy_cron(interval_minutes: int) -> str:
    """Kubernetes CronJob schedule of the in-country copy, 20 minutes after each backup."""
    backup_cron(interval_minutes)  # the same allowed intervals
    hours = interval_minutes // 60
    if hours == 24:
        return "20 1 * * *"
    return "20 * * * *" if hours == 1 else f"20 */{hours} * * *"


def schedule_gap_minutes(expression: str) -> int:
    """The longest time between two runs of a schedule this module generates: the hours
    field of ``cron(M H * * ? *)`` or ``M H * * *`` (``*``, ``*/N`` or one hour)."""
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    if len(fields) not in (5, 6) or not fields[0].isdigit():
        raise ValueError(f"schedule {expression!r}: not one this module generates")
    hours = fields[1]
    if hours == "*":
        return 60
    if hours.startswith("*/") and hours[2:].isdigit() and 24 % int(hours[2:]) == 0:
        return int(hours[2:]) * 60
    if hours.isdigit():
        return 1440
    raise ValueError(f"schedule {expression!r}: hours field {hours!r} is not *, */N or H")


def worst_case_loss_minutes(interval_minutes: int) -> int:
    """Data a loss can take with this interval: the generated schedule's longest gap plus
    the copy allowance (what the tier's RPO is checked against)."""
    return schedule_gap_minutes(backup_cron(interval_minutes)) + COPY_ALLOWANCE_MINUTES
