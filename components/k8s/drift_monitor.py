"""A drift monitor per served model: a CronJob running ``python -m workloads.monitoring``.

Each run reads the window of prediction logs the model servers shipped to the tenant's
bucket (``predictions/<model>/<hour>/``), compares it with the champion's reference
statistics (the registry names the champion; the stack's version until the loop has
registered one), writes its report next to the model (``models/<model>/<version>/
drift/latest.json``, SSE-KMS with the tenant key) and, when drift fires, sends a
retraining trigger to the tenant's queue.

Schedule and window come from the tier (:data:`DRIFT_SCHEDULES`): enterprise models are
checked every 15 minutes over the last hour, SMB models hourly over the last six hours
(fewer requests need a longer window to reach the minimum row count).

Its metrics: a CronJob pod is gone before Prometheus would scrape it, so the report is
the hand-over: the tenant's retraining controller re-exports each model's latest report
as the ``mlplatform_drift_*`` gauges that ``ModelInputDrift`` and the dashboard read.
No push gateway (one more stateful service that keeps dead jobs' series forever).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.k8s.catalog import Registry
from components.k8s.podspec import Manifest, Resources, container, object_meta, pod_spec
from contracts.messaging import trigger_queue_spec
from contracts.names import (
    Tier,
    drift_monitor_name,
    drift_monitor_service_account,
    labels,
    models_uri,
    prediction_log_uri,
    registry_uri,
)

COMPONENT = "drift-monitor"
"""``app.kubernetes.io/component`` of the drift monitor's pods."""


@dataclass(frozen=True)
class DriftSchedule:
    """How often a tier's models are checked, and over how much traffic."""

    cron: str
    """CronJob schedule (UTC)."""
    window_seconds: int
    """The window each check reads (the last N seconds)."""
    min_rows: int
    """Rows a window needs before drift can fire."""


DRIFT_SCHEDULES: dict[Tier, DriftSchedule] = {
    Tier.ENTERPRISE: DriftSchedule("*/15 * * * *", 3600, 1000),
    Tier.SMB: DriftSchedule("7 * * * *", 6 * 3600, 500),
}
"""The tier's drift schedule: ``ModelInputDrift`` waits 15 minutes, so enterprise checks
every 15 minutes; SMB traffic is thinner and its budget smaller."""


def drift_monitor_cronjob(
    tenant: str,
    namespace: str,
    tier: Tier,
    registry: Registry,
    image_tag: str,
    *,
    model: str,
    version: str,
    bucket: str,
    kms_key_arn: str | None,
    queue_url: str,
    psi_threshold: float = 0.2,
) -> Manifest:
    """The CronJob checking one model's drift on the tier's schedule (pure).

    ``queue_url``: an SQS URL or a NATS spec (:func:`contracts.messaging.trigger_queue_spec`);
    ``kms_key_arn`` None: the site's store encrypts at rest (on-prem; its pods then carry
    the store client, :mod:`components.k8s.objectstore`)."""
    schedule = DRIFT_SCHEDULES[tier]
    name = drift_monitor_name(model)
    obj_labels = labels(tenant, COMPONENT, name=name)
    monitor = container(
        "drift-monitor",
        registry.own_image("loop", image_tag),
        Resources("250m", "512Mi", cpu_limit="1", memory_limit="2Gi"),
        command=["python", "-m", "workloads.monitoring"],
        args=[
            f"--model_name={model}",
            f"--log_uri={prediction_log_uri(bucket)}",
            f"--models_uri={models_uri(bucket)}",
            f"--registry={registry_uri(bucket)}",
            f"--default_version={version}",
            f"--since={schedule.window_seconds}",
            f"--min_rows={schedule.min_rows}",
            f"--psi_threshold={psi_threshold}",
            f"--queue={trigger_queue_spec(queue_url)}",
            *([f"--kms_key={kms_key_arn}"] if kms_key_arn else []),
        ],
        env=[{"name": "HOME", "value": "/tmp"}],  # noqa: S108 (the pod's emptyDir)
    )
    spec = pod_spec(
        [monitor],
        service_account=drift_monitor_service_account(tenant),
        restart_policy="Never",
    )
    # The window is fetched into /tmp: room for the bounded download plus the report.
    spec["volumes"][0]["emptyDir"]["sizeLimit"] = "1Gi"
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(name, namespace, obj_labels),
        "spec": {
            "schedule": schedule.cron,
            "timeZone": "Etc/UTC",
            # A slow check is never doubled up; a missed one is skipped, not queued.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": dict(obj_labels)},
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": 900,
                    "ttlSecondsAfterFinished": 86400,
                    "template": {"metadata": {"labels": dict(obj_labels)}, "spec": spec},
                },
            },
        },
    }


def drift_monitor_service_account_manifest(
    tenant: str, namespace: str, role_arn: str | None
) -> Manifest:
    """The monitors' account: the automation role (queue, bucket, key) through IRSA."""
    from components.k8s.podspec import service_account

    return service_account(
        drift_monitor_service_account(tenant), namespace, labels(tenant, COMPONENT), role_arn
    )


def drift_monitor_manifests(
    tenant: str,
    namespace: str,
    tier: Tier,
    registry: Registry,
    image_tag: str,
    *,
    models: Sequence[tuple[str, str]],
    bucket: str,
    kms_key_arn: str | None,
    queue_url: str,
    role_arn: str | None,
) -> list[Manifest]:
    """The service account and one CronJob per ``(model, deployed version)``."""
    return [
        drift_monitor_service_account_manifest(tenant, namespace, role_arn),
        *(
            drift_monitor_cronjob(
                tenant,
                namespace,
                tier,
                registry,
                image_tag,
                model=model,
                version=version,
                bucket=bucket,
                kms_key_arn=kms_key_arn,
                queue_url=queue_url,
            )
            for model, version in models
        ),
    ]
