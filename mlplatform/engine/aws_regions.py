"""What every AWS region offers, as the offline engine answers it: zones, instance types, partition.

The data ships beside this module (``aws_regions.json``) and is generated from the pinned
``moto`` (its per-region ``DescribeInstanceTypeOfferings`` refresh, by zone name and by zone
id, and its zone table) and ``botocore`` (the partitions and their DNS suffixes):

    python -m mlplatform.engine.aws_regions    # rewrites aws_regions.json

A zone *name* maps to a different zone *id* in each account; names are paired with the ids
whose offerings match theirs in moto's data (the account that recorded it), else as moto's
zone table pairs them. The UAE region keeps its own dated, sourced file
(``contracts/data/me-central-1.json``), which is the authority wherever it has data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from contracts import regions as authority

DATA_FILE = "aws_regions.json"


@dataclass(frozen=True)
class Partition:
    """An AWS partition: ``aws``, ``aws-cn``, ``aws-us-gov``..."""

    name: str
    dns_suffix: str

    @property
    def reverse_dns_prefix(self) -> str:
        """``com.amazonaws`` for ``amazonaws.com``."""
        return ".".join(reversed(self.dns_suffix.split(".")))


@dataclass(frozen=True)
class Region:
    """One region: its partition, zones (name, id) and, where known, its instance offerings."""

    name: str
    partition: Partition
    zones: tuple[tuple[str, str], ...]
    offerings: dict[str, tuple[str, ...]] | None
    """Instance type -> the zone ids offering it; None where no offering data ships."""
    source: str


@cache
def _data() -> dict[str, Any]:
    text = resources.files("mlplatform.engine").joinpath(DATA_FILE).read_text()
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def partition_of(region: str) -> Partition:
    """The partition of ``region`` (by botocore's region lists, else by its prefix)."""
    data = _data()
    name = data["regions"].get(region, {}).get("partition")
    if name is None:
        name = next(
            (
                partition
                for partition, prefix in (
                    ("aws-cn", "cn-"),
                    ("aws-us-gov", "us-gov-"),
                    ("aws-iso-b", "us-isob-"),
                    ("aws-iso-f", "us-isof-"),
                    ("aws-iso", "us-iso-"),
                )
                if region.startswith(prefix)
            ),
            "aws",
        )
    return Partition(name, data["partitions"][name])


@cache
def load(region: str) -> Region | None:
    """Zones and offerings of ``region``; None when nothing is known of it offline."""
    uae = authority.load(region)
    if uae is not None:
        offered = {name: kind.az_ids for name, kind in uae.instance_types.items()}
        return Region(
            region,
            partition_of(region),
            tuple((zone.name, zone.zone_id) for zone in uae.zones),
            offered,
            f"contracts/data/{region}.json ({uae.data_date})",
        )
    raw = _data()["regions"].get(region)
    if raw is None or not raw.get("zones"):
        return None
    zones = tuple((name, zone_id) for name, zone_id in raw["zones"])
    offerings = None
    if raw.get("offerings"):
        masks = raw["offerings"]
        offerings = {}
        for index, instance_type in enumerate(_data()["instanceTypes"]):
            mask = int(masks[2 * index : 2 * index + 2], 16)
            if mask:
                offerings[instance_type] = tuple(
                    zone_id for bit, (_, zone_id) in enumerate(zones) if mask >> bit & 1
                )
    return Region(region, partition_of(region), zones, offerings, _data()["source"])


def known_regions() -> list[str]:
    """Every region whose zones are known offline."""
    return sorted(region for region, raw in _data()["regions"].items() if raw.get("zones"))


# --- regenerating the data from the pinned moto and botocore --------------------------------


def build() -> dict[str, Any]:  # pragma: no cover - run by hand when moto is upgraded
    """The data file's content, from the installed ``moto`` and ``botocore``."""
    import gzip
    from collections import defaultdict
    from importlib.metadata import version

    import botocore.loaders
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    offering_files = resources.files("moto.ec2.resources.instance_type_offerings")

    def offerings(kind: str, region: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        path = offering_files / kind / f"{region}.json.gz"
        if path.is_file():
            for row in json.loads(gzip.decompress(path.read_bytes())):
                found[row["Location"]].add(row["InstanceType"])
        return found

    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    partitions = {p["partition"]: p["dnsSuffix"] for p in endpoints["partitions"]}
    region_partition = {
        region: p["partition"] for p in endpoints["partitions"] for region in p["regions"]
    }
    table = {
        region: {zone.name: zone.zone_id for zone in zones}
        for region, zones in RegionsAndZonesBackend.zones.items()
    }
    by_region: dict[str, tuple[list[list[str]], dict[str, set[str]]]] = {}
    all_types: set[str] = set()
    for region in sorted(region_partition):
        by_name, by_id = (
            offerings("availability-zone", region),
            offerings("availability-zone-id", region),
        )
        pairs = dict(table.get(region, {}))
        for zone_name, offered in by_name.items():
            matching = [zone_id for zone_id, types in by_id.items() if types == offered]
            if len(matching) == 1:
                pairs[zone_name] = matching[0]
        zones = [[name, pairs[name]] for name in sorted(pairs)]
        by_region[region] = (zones, by_id)
        all_types.update(*by_id.values())
    instance_types = sorted(all_types)
    regions: dict[str, Any] = {}
    for region, (zones, by_id) in by_region.items():
        entry: dict[str, Any] = {"partition": region_partition[region], "zones": zones}
        if by_id:
            masks = []
            for instance_type in instance_types:
                mask = sum(
                    1 << bit
                    for bit, (_, zone_id) in enumerate(zones)
                    if instance_type in by_id.get(zone_id, set())
                )
                masks.append(f"{mask:02x}")
            entry["offerings"] = "".join(masks)
        regions[region] = entry
    return {
        "source": f"moto {version('moto')} instance type offerings and zone table; "
        f"botocore {version('botocore')} partitions",
        "format": "offerings: two hex digits per instanceTypes entry, a bit per zone (zones order)",
        "partitions": partitions,
        "instanceTypes": instance_types,
        "regions": regions,
    }


if __name__ == "__main__":  # pragma: no cover
    target = Path(__file__).with_name(DATA_FILE)
    target.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {target}")
