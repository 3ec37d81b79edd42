"""How much of the public internet a set of CIDR blocks admits, IPv4 and IPv6 apart.

The blocks are unioned first, so the internet written as several blocks (``0.0.0.0/1``
plus ``128.0.0.0/1``) counts as what it is; then the union is intersected with public
address space: IPv4 without the special-purpose ranges of RFC 6890 (private, loopback,
link-local, shared CGNAT, documentation, benchmarking, multicast, reserved), IPv6 global
unicast (``2000::/3``). A rule compares the count with the size of the largest public
range it accepts (by default one ``/16`` of IPv4 and one ``/48`` of IPv6).

Blocks are handled as integer intervals: a rule checks every security group and network
policy of a stack, so this stays a few list operations per block.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

Interval = tuple[int, int]
"""First and last address of a block, as integers."""

_NOT_PUBLIC_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",
)
"""IPv4 ranges that are not reachable from the internet (224/3: multicast and reserved)."""

_PUBLIC_V6 = ((0x2000 << 112, (0x4000 << 112) - 1),)
"""IPv6 global unicast, 2000::/3."""


def _interval(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Interval:
    return int(network.network_address), int(network.broadcast_address)


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, merged intervals."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _subtract(intervals: list[Interval], holes: list[Interval]) -> list[Interval]:
    """``intervals`` minus ``holes`` (both sorted and merged)."""
    result: list[Interval] = []
    for start, end in intervals:
        current = start
        for hole_start, hole_end in holes:
            if hole_end < current or hole_start > end:
                continue
            if hole_start > current:
                result.append((current, hole_start - 1))
            current = max(current, hole_end + 1)
            if current > end:
                break
        if current <= end:
            result.append((current, end))
    return result


def _size(intervals: Iterable[Interval]) -> int:
    return sum(end - start + 1 for start, end in intervals)


_PUBLIC_V4 = _subtract(
    [(0, 2**32 - 1)], _union(_interval(ipaddress.IPv4Network(block)) for block in _NOT_PUBLIC_V4)
)
PUBLIC_V4_SIZE = _size(_PUBLIC_V4)
WORLD = frozenset({"0.0.0.0/0", "::/0"})


@dataclass(frozen=True)
class Exposure:
    """Public addresses a set of blocks admits."""

    ipv4: int
    ipv6: int
    unparsable: tuple[str, ...] = ()


@lru_cache(maxsize=4096)
def _parse(cidr: str) -> tuple[int, Interval] | None:
    """(IP version, interval) of a CIDR block; None when it is not one."""
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None
    return network.version, _interval(network)


def _public(blocks: list[Interval], holes: list[Interval], public: list[Interval]) -> int:
    """Public addresses in the union of ``blocks`` minus the union of ``holes``."""
    admitted = _subtract(_union(blocks), _union(holes))
    return _size(admitted) - _size(_subtract(admitted, public))


def exposure(cidrs: Iterable[str], excluded: Iterable[str] = ()) -> Exposure:
    """Public IPv4 and IPv6 addresses in the union of ``cidrs`` minus ``excluded`` blocks."""
    blocks: dict[int, list[Interval]] = {4: [], 6: []}
    holes: dict[int, list[Interval]] = {4: [], 6: []}
    bad: list[str] = []
    for cidr in cidrs:
        parsed = _parse(cidr)
        if parsed is None:
            bad.append(cidr)
        else:
            blocks[parsed[0]].append(parsed[1])
    for cidr in excluded:
        parsed = _parse(cidr)
        if parsed is not None:
            holes[parsed[0]].append(parsed[1])
    return Exposure(
        _public(blocks[4], holes[4], _PUBLIC_V4) if blocks[4] else 0,
        _public(blocks[6], holes[6], list(_PUBLIC_V6)) if blocks[6] else 0,
        tuple(bad),
    )


def too_public(found: Exposure, ipv4_prefix: int, ipv6_prefix: int) -> list[str]:
    """A phrase per address family whose public share exceeds one ``/prefix`` block."""
    problems = []
    if found.ipv4 > 2 ** (32 - ipv4_prefix):
        share = found.ipv4 / PUBLIC_V4_SIZE
        problems.append(
            f"{found.ipv4:,} public IPv4 addresses ({share:.1%} of the public internet; more "
            f"than one /{ipv4_prefix})"
        )
    if found.ipv6 > 2 ** (128 - ipv6_prefix):
        problems.append(
            f"2^{found.ipv6.bit_length() - 1}+ public IPv6 addresses (more than one /{ipv6_prefix})"
        )
    return problems
