"""RPO and RTO per tier, checked against the backup schedule the platform generates."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from components.settings import PROJECT, ConfigError, settings_from_config
from contracts.backup import (
    BACKUP_INTERVALS_MINUTES,
    backup_cron,
    copy_cron,
    schedule_gap_minutes,
    worst_case_loss_minutes,
)

PEM = (
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def _settings(tier: str, dr: dict[str, Any] | None = None) -> Any:
    tenant: dict[str, Any] = {"name": "acme", "tier": tier}
    if dr is not None:
        tenant["overrides"] = {"disaster_recovery": dr}
    config = {
        "aws:region": "me-central-1",
        f"{PROJECT}:environment": "dev",
        f"{PROJECT}:model_signing_public_key": PEM,
        f"{PROJECT}:tenants": [tenant],
    }
    return settings_from_config(config, project=PROJECT, stack="x", stack_file="f.yaml")


@pytest.mark.parametrize("interval", BACKUP_INTERVALS_MINUTES)
def test_generated_schedules_run_as_often_as_asked(interval: int) -> None:
    assert schedule_gap_minutes(backup_cron(interval)) == interval
    assert schedule_gap_minutes(copy_cron(interval)) == interval
    assert worst_case_loss_minutes(interval) == interval + 30


@pytest.mark.parametrize(("tier", "rpo", "rto"), [("smb", 1500, 1440), ("enterprise", 120, 240)])
def test_each_tier_has_an_rpo_its_schedule_meets(tier: str, rpo: int, rto: int) -> None:
    (tenant,) = _settings(tier).tenants
    dr = tenant.disaster_recovery
    assert (dr.rpo_minutes, dr.rto_minutes) == (rpo, rto)
    assert worst_case_loss_minutes(dr.backup_interval_minutes) <= dr.rpo_minutes


def test_a_schedule_that_cannot_meet_the_rpo_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError) as info:
        _settings("enterprise", {"backup_interval_minutes": 120})
    assert info.value.lines == [
        "f.yaml: sovereign-ml-platform:tenants[0].overrides.disaster_recovery."
        "backup_interval_minutes: every 120 min (cron(0 */2 * * ? *) + 30 min copy) can lose "
        "150 min, more than the enterprise tier's RPO of 120 min; allowed: 60"
    ]
    with pytest.raises(ConfigError) as info:
        _settings("smb", {"backup_interval_minutes": 90})
    assert "90 is not a schedulable interval; allowed: 60, 120" in info.value.lines[0]
    # A tighter schedule than the tier's is fine.
    (tenant,) = _settings("smb", {"backup_interval_minutes": 360}).tenants
    assert tenant.disaster_recovery.backup_interval_minutes == 360
