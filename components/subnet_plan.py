"""Subnet plan: deterministic subnet CIDRs per availability-zone id (pure data).

Zones are addressed by *zone id* (``mec1-az1``), never by name: names map to different
ids per account, and an operator who must drop a zone (mec1-az2 was lost in March 2026)
excludes it by id. Subnet CIDRs are derived from the zone id's number, not its position
in the list, so excluding one zone never renumbers (and so never replaces) the others.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_ZONE_SLOTS = 4
"""Zone-id numbers 1..4 each own a fixed slice of the VPC range."""

_ZONE_ID = re.compile(r"^[a-z0-9]+-az(\d+)$")


@dataclass(frozen=True)
class SubnetPlan:
    """CIDRs for one availability zone (pure data, computed by :func:`plan_subnets`)."""

    zone_id: str
    nodes: str
    data: str
    public: str


def zone_slot(zone_id: str) -> int:
    """The zero-based address slot of a zone id (``mec1-az3`` -> 2)."""
    match = _ZONE_ID.match(zone_id)
    if match is None:
        raise ValueError(
            f"zone id {zone_id!r} is not an availability-zone id (expected e.g. 'mec1-az1')"
        )
    number = int(match.group(1))
    if not 1 <= number <= MAX_ZONE_SLOTS:
        raise ValueError(f"zone id {zone_id!r}: only az1..az{MAX_ZONE_SLOTS} are supported")
    return number - 1


def effective_zone_ids(zone_ids: Sequence[str], excluded: Sequence[str]) -> list[str]:
    """The zone ids to use: listed, not excluded, deduplicated, in zone-id order."""
    chosen = sorted({z for z in zone_ids if z not in set(excluded)}, key=zone_slot)
    if not chosen:
        raise ValueError(
            f"no availability zone left: zone_ids={list(zone_ids)} excluded={list(excluded)}"
        )
    return chosen


def plan_subnets(cidr_block: str, zone_ids: Sequence[str]) -> list[SubnetPlan]:
    """Deterministic subnet CIDRs for each zone id.

    The VPC range is cut into eighths: eighths 0-3 are node subnets (one per zone slot,
    large because the VPC CNI gives every pod a VPC address), eighth 4 is cut into four
    data subnets, eighth 5 into sixteen tiny public subnets of which the first four are
    used (NAT only); eighths 6-7 are left for growth.
    """
    network = ipaddress.ip_network(cidr_block)
    if not isinstance(network, ipaddress.IPv4Network) or not 16 <= network.prefixlen <= 20:
        raise ValueError(f"cidr_block {cidr_block!r}: an IPv4 range from /16 to /20 is required")
    eighths = list(network.subnets(prefixlen_diff=3))
    data = list(eighths[4].subnets(prefixlen_diff=2))
    public = list(eighths[5].subnets(prefixlen_diff=4))
    plans = []
    for zone_id in zone_ids:
        slot = zone_slot(zone_id)
        plans.append(
            SubnetPlan(
                zone_id=zone_id,
                nodes=str(eighths[slot]),
                data=str(data[slot]),
                public=str(public[slot]),
            )
        )
    return plans


def nat_zone_ids(zone_ids: Sequence[str], per_zone: bool) -> list[str]:
    """Zones that get a NAT gateway: all of them, or the first one."""
    return list(zone_ids) if per_zone else [zone_ids[0]]
