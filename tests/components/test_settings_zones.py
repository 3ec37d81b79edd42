"""Zone reality: the shipped impairments, declared impaired zones, two healthy zones."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from components.settings import PROJECT, ConfigError, settings_from_config
from contracts import regions

PEM = (
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def _settings(network: dict[str, Any] | None) -> Any:
    config: dict[str, Any] = {
        "aws:region": "me-central-1",
        f"{PROJECT}:environment": "dev",
        f"{PROJECT}:model_signing_public_key": PEM,
        f"{PROJECT}:tenants": [{"name": "acme", "tier": "smb"}],
    }
    if network is not None:
        config[f"{PROJECT}:network"] = network
    return settings_from_config(config, project=PROJECT, stack="x", stack_file="f.yaml")


def test_shipped_data_says_which_zones_are_impaired_and_since_when() -> None:
    data = regions.load("me-central-1")
    assert data is not None
    assert data.lost_zone_ids() == ["mec1-az2"]
    assert {z: i.state for z, i in data.impairments.items()} == {
        "mec1-az1": "degraded",
        "mec1-az2": "lost",
        "mec1-az3": "degraded",
    }
    assert data.impairments["mec1-az2"].since == "2026-03-01"


def test_the_default_zones_leave_out_the_lost_one() -> None:
    assert _settings(None).zone_ids == ["mec1-az1", "mec1-az3"]


def test_a_lost_zone_named_explicitly_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        _settings({"zone_ids": ["mec1-az1", "mec1-az2", "mec1-az3"]})
    (line,) = info.value.lines
    assert line.startswith(
        "f.yaml: sovereign-ml-platform:network.zone_ids: 'mec1-az2' is lost since 2026-03-01"
    )
    assert line.endswith("add it to network.excluded_zone_ids or network.impaired_zones")


def test_declared_impaired_zones_are_left_out_and_two_healthy_zones_are_required() -> None:
    impaired = [{"zone_id": "mec1-az3", "reason": "AWS Health: power loss, 2026-12-01"}]
    with pytest.raises(ConfigError) as info:
        _settings({"impaired_zones": impaired})
    assert info.value.lines == [
        "f.yaml: sovereign-ml-platform:network: 1 usable zone(s) (mec1-az1); stateful data "
        "must span at least two healthy zones"
    ]
    with pytest.raises(ConfigError) as info:
        _settings({"impaired_zones": [{"zone_id": "me-central-1c", "reason": "outage"}]})
    assert "network.impaired_zones: 'me-central-1c' is not a zone id" in info.value.lines[0]
    with pytest.raises(ConfigError) as info:
        _settings({"impaired_zones": [{"zone_id": "mec1-az3"}]})
    assert "reason" in info.value.lines[0]
