"""What a region really offers: EC2 instance types per availability-zone id, zone health.

The data ships with the package (``contracts/data/<region>.json``) and is dated: the
instance-type offerings are moto's refresh of ``DescribeInstanceTypeOfferings`` for
2026-03-16, prices come from a public pricing catalogue, and zone health from press
reports on the March 2026 strikes (see the file's ``sources`` list for each fact).
Node-pool choices and zone selections are validated against it before any resource
is registered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

GPU_FAMILIES_NOTE = (
    "GPU pools: g5 (A10G), g6 (L4), g6e (L40S); p5en.48xlarge with a capacity reservation"
)


@dataclass(frozen=True)
class InstanceType:
    """One EC2 instance type as offered in the region."""

    name: str
    az_ids: tuple[str, ...]
    vcpu: int | None
    memory_gib: float | None
    gpus: int
    gpu_model: str | None
    on_demand_usd_hour: float | None

    @property
    def is_gpu(self) -> bool:
        """True when the type carries NVIDIA GPUs."""
        return self.gpus > 0


@dataclass(frozen=True)
class Zone:
    """An availability zone: its stable id, its account-specific name and its 2026 status."""

    zone_id: str
    name: str
    status: str


@dataclass(frozen=True)
class ZoneImpairment:
    """What the shipped data says about a zone's damage, and since when."""

    zone_id: str
    state: str
    """``lost`` (nothing may be placed there) or ``degraded`` (usable at the operator's
    judgement)."""
    since: str
    """ISO date the impairment began (or was first reported, as ``note`` says)."""
    note: str


IMPAIRMENT_STATES = ("lost", "degraded")


@dataclass(frozen=True)
class RegionOfferings:
    """Instance types and zones of one region, as of ``data_date``."""

    region: str
    data_date: str
    zones: tuple[Zone, ...]
    instance_types: dict[str, InstanceType]
    impaired_zone_ids: dict[str, str]
    impairments: dict[str, ZoneImpairment] = field(default_factory=dict)
    """Zone id -> its impairment (2026: mec1-az2 lost, the others degraded)."""

    def lost_zone_ids(self) -> list[str]:
        """Zones the data says are lost: no stack may use them."""
        return sorted(z for z, i in self.impairments.items() if i.state == "lost")

    @property
    def zone_ids(self) -> tuple[str, ...]:
        """Every zone id of the region, sorted."""
        return tuple(z.zone_id for z in self.zones)

    def zone_name(self, zone_id: str) -> str:
        """The zone name the offering data pairs with ``zone_id``."""
        for zone in self.zones:
            if zone.zone_id == zone_id:
                return zone.name
        raise KeyError(zone_id)

    def offered(self, name: str) -> InstanceType | None:
        """The offering for ``name``, or None when the region lacks it."""
        return self.instance_types.get(name)

    def gpu_types(self) -> list[str]:
        """Names of every GPU instance type offered, sorted."""
        return sorted(n for n, t in self.instance_types.items() if t.is_gpu)

    def families(self, names: list[str]) -> str:
        """A short human list of the families of ``names`` (``g5.*, g6.*``)."""
        fams: dict[str, list[str]] = {}
        for n in names:
            fams.setdefault(n.split(".")[0], []).append(n)
        return ", ".join(
            f"{f}.*" if len(members) > 1 else members[0] for f, members in sorted(fams.items())
        )


def _parse(raw: dict[str, Any]) -> RegionOfferings:
    region = raw["region"]["code"]
    details: dict[str, Any] = raw["instance_types"]
    all_offered: list[str] = raw["all_offered_instance_types_2026_03_16"]
    zone_ids = [z["zone_id"] for z in raw["availability_zones"]]
    types: dict[str, InstanceType] = {}
    for name in all_offered:
        d = details.get(name)
        if d is not None and not d.get("offered", True):
            continue
        types[name] = InstanceType(
            name=name,
            # Types listed without per-zone detail are offered, but we cannot say where:
            # treat them as offered in every zone (the API listed them region-wide).
            az_ids=tuple(d["offered_az_ids"]) if d else tuple(zone_ids),
            vcpu=d.get("vcpu") if d else None,
            memory_gib=d.get("memory_gib") if d else None,
            gpus=int(d.get("gpus") or 0) if d else 0,
            gpu_model=d.get("gpu_model") if d else None,
            on_demand_usd_hour=d.get("on_demand_usd_hour") if d else None,
        )
    zones = tuple(
        Zone(zone_id=z["zone_id"], name=z["name"], status=z.get("status_2026", ""))
        for z in raw["availability_zones"]
    )
    status = raw["region"].get("availability_status_2026", {})
    impaired = status.get("impaired_az_ids", {})
    impairments = {}
    for zone_id, item in status.get("impairments", {}).items():
        if item["state"] not in IMPAIRMENT_STATES:
            raise ValueError(f"{region} data: zone {zone_id}: unknown state {item['state']!r}")
        impairments[zone_id] = ZoneImpairment(zone_id, item["state"], item["since"], item["note"])
    return RegionOfferings(
        region=region,
        data_date="2026-03-16",
        zones=zones,
        instance_types=types,
        impaired_zone_ids=dict(impaired),
        impairments=impairments,
    )


@cache
def load(region: str) -> RegionOfferings | None:
    """Offerings for ``region``, or None when no data ships for it."""
    try:
        text = resources.files("contracts.data").joinpath(f"{region}.json").read_text()
    except (FileNotFoundError, ModuleNotFoundError):
        return None
    return _parse(json.loads(text))


def regions_with_data() -> list[str]:
    """Regions for which offering data ships."""
    return sorted(
        p.name.removesuffix(".json")
        for p in resources.files("contracts.data").iterdir()
        if p.name.endswith(".json")
    )
