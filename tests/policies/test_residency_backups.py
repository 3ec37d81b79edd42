"""backup-destination-in-country: Velero locations and workload S3 endpoints stay in the UAE."""

from __future__ import annotations

from typing import Any

from policy_helpers import UNKNOWN, validate

from policies.rules import residency as r

BSL = "kubernetes:velero.io/v1:BackupStorageLocation"
VSL = "kubernetes:velero.io/v1:VolumeSnapshotLocation"
CRONJOB = "kubernetes:batch/v1:CronJob"
ONPREM = {"approvedObjectStores": ["s3.dc1.onprem.example.ae"]}


def _bsl(config: dict[str, Any], provider: str = "aws") -> dict[str, Any]:
    return {
        "spec": {
            "provider": provider,
            "objectStorage": {"bucket": "mlp-dr-velero", "prefix": "velero"},
            "config": config,
        }
    }


def _cronjob(env: list[dict[str, Any]]) -> dict[str, Any]:
    container = {"name": "copy", "image": "registry.onprem.example.ae/loop:1", "env": env}
    return {
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [container]}}}},
        }
    }


def test_velero_to_the_in_country_store_passes() -> None:
    props = _bsl({"region": "uae-dc1", "s3Url": "https://s3.dc1.onprem.example.ae"})
    assert validate(r.backup_destination_in_country, BSL, props, config=ONPREM) == []


def test_velero_to_s3_in_the_uae_region_passes() -> None:
    assert validate(r.backup_destination_in_country, BSL, _bsl({"region": "me-central-1"})) == []
    url = {"region": "me-central-1", "s3Url": "https://s3.me-central-1.amazonaws.com"}
    assert validate(r.backup_destination_in_country, BSL, _bsl(url)) == []


def test_velero_abroad_is_a_violation() -> None:
    (message,) = validate(r.backup_destination_in_country, BSL, _bsl({"region": "eu-west-1"}))
    assert "'eu-west-1', outside the allowed regions ['me-central-1']" in message
    url = {"region": "me-central-1", "s3Url": "https://s3.eu-central-1.amazonaws.com"}
    (message,) = validate(r.backup_destination_in_country, BSL, _bsl(url))
    assert "s3Url (s3.eu-central-1.amazonaws.com) region is 'eu-central-1'" in message


def test_velero_to_an_unapproved_store_or_other_cloud_is_a_violation() -> None:
    # Without the on-prem configuration, the same host is not approved.
    props = _bsl({"region": "uae-dc1", "s3Url": "https://s3.dc1.onprem.example.ae"})
    (message,) = validate(r.backup_destination_in_country, BSL, props)
    assert "approvedObjectStores" in message
    lookalike = _bsl({"region": "x", "s3Url": "https://s3.dc1.onprem.example.ae.evil.example"})
    assert validate(r.backup_destination_in_country, BSL, lookalike, config=ONPREM)
    (message,) = validate(r.backup_destination_in_country, VSL, _bsl({}, provider="velero.io/gcp"))
    assert "outside the allowed regions" in message


def test_velero_missing_location_is_a_violation_unknown_is_undecided() -> None:
    (message,) = validate(r.backup_destination_in_country, BSL, _bsl({}))
    assert "cannot be proven" in message
    # An endpoint unknown at preview is undecidable: never by itself a mandatory violation.
    assert validate(r.backup_destination_in_country, BSL, _bsl({"s3Url": UNKNOWN})) == []


def test_copy_job_destination_is_judged_from_its_environment() -> None:
    good = [
        {"name": "AWS_REGION", "value": "me-central-1"},
        {"name": "AWS_ENDPOINT_URL_S3", "value": "https://s3.dc1.onprem.example.ae"},
        {"name": "DR_DEST_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "s"}}},
    ]
    assert validate(r.backup_destination_in_country, CRONJOB, _cronjob(good), config=ONPREM) == []
    abroad = [
        {"name": "AWS_ENDPOINT_URL_S3", "value": "https://backup.example.de"},
        {"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"},
    ]
    messages = validate(r.backup_destination_in_country, CRONJOB, _cronjob(abroad), config=ONPREM)
    assert len(messages) == 2
    assert "'https://backup.example.de' is neither S3 in an allowed region" in messages[0]
    assert "AWS_DEFAULT_REGION is 'eu-west-1'" in messages[1]


def test_velero_chart_values_are_judged_like_its_locations() -> None:
    release = "kubernetes:helm.sh/v3:Release"

    def chart(config: dict[str, Any]) -> dict[str, Any]:
        location = {"name": "default", "provider": "aws", "bucket": "b", "config": config}
        return {
            "chart": "oci://registry.onprem.example.ae/charts/velero",
            "version": "12.1.0",
            "values": {"configuration": {"backupStorageLocation": [location]}},
        }

    good = chart({"region": "uae", "s3Url": "https://s3.dc1.onprem.example.ae"})
    assert validate(r.backup_destination_in_country, release, good, config=ONPREM) == []
    (message,) = validate(r.backup_destination_in_country, release, chart({"region": "eu-west-1"}))
    assert message.startswith("values.configuration.backupStorageLocation[0] region is 'eu-west-1'")
    other = {"chart": "oci://registry.onprem.example.ae/charts/nats", "values": {}}
    assert validate(r.backup_destination_in_country, release, other) == []
