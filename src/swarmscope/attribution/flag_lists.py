"""Flag list files: hosting/datacenter ranges, known VPN endpoints, Tor exits.

A list file is UTF-8 text, one IPv4/IPv6 network (CIDR) or address per line; ``#`` starts a comment
(whole line or trailing); blank lines are ignored. Host bits set in a CIDR (``10.0.0.1/8``) are refused:
they usually mean a typo, and a flag that silently covers more or fewer addresses than intended would
exclude (or fail to exclude) peers from cases.

Lookup merges every range into disjoint ``[first, last]`` integer intervals per address family and
answers with :func:`bisect.bisect_right` (O(log n) per address).
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from swarmscope.errors import InputError

FLAG_KINDS: tuple[str, ...] = ("hosting", "vpn", "tor")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_LINE_ERRORS = 10  # how many bad lines one error message names


def parse_flag_list(text: str, source: str) -> list[IPNetwork]:
    """Parse a flag list file's text into networks.

    Args:
        text: the file's content. source: its name, used in error messages.

    Returns:
        The networks in file order (a bare address is a /32 or /128).

    Raises:
        InputError: one or more bad lines; the message names ``source`` and each line number (up to
            :data:`MAX_LINE_ERRORS`) with the offending text.
    """
    networks: list[IPNetwork] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError as exc:
            problems.append(f"line {number}: {entry[:80]!r}: {exc}")
    if problems:
        shown = "; ".join(problems[:MAX_LINE_ERRORS])
        more = f" (and {len(problems) - MAX_LINE_ERRORS} more)" if len(problems) > MAX_LINE_ERRORS else ""
        raise InputError(f"{source}: {len(problems)} bad line(s): {shown}{more}")
    return networks


def _merged(intervals: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Sort and merge overlapping or adjacent ``(first, last)`` intervals; returns (firsts, lasts)."""
    firsts: list[int] = []
    lasts: list[int] = []
    for first, last in sorted(intervals):
        if lasts and first <= lasts[-1] + 1:
            lasts[-1] = max(lasts[-1], last)
        else:
            firsts.append(first)
            lasts.append(last)
    return firsts, lasts


@dataclass(frozen=True, slots=True)
class RangeSet:
    """Disjoint sorted address intervals of one family, answering membership by bisection.

    Args:
        firsts, lasts: interval bounds as integers, sorted, disjoint, non-adjacent.
    """

    firsts: tuple[int, ...]
    lasts: tuple[int, ...]

    @classmethod
    def of(cls, networks: Iterable[IPNetwork]) -> RangeSet:
        """Build from networks of one address family."""
        intervals = [(int(n.network_address), int(n.broadcast_address)) for n in networks]
        firsts, lasts = _merged(intervals)
        return cls(tuple(firsts), tuple(lasts))

    def __contains__(self, value: int) -> bool:
        at = bisect.bisect_right(self.firsts, value) - 1
        return at >= 0 and value <= self.lasts[at]

    def __len__(self) -> int:
        return len(self.firsts)


@dataclass(frozen=True, slots=True)
class FlagList:
    """The ranges of one flag (``hosting``, ``vpn`` or ``tor``), IPv4 and IPv6 kept apart.

    Args:
        flag: one of :data:`FLAG_KINDS`. v4, v6: the ranges per family.
    """

    flag: str
    v4: RangeSet
    v6: RangeSet

    @classmethod
    def of(cls, flag: str, networks: Iterable[IPNetwork]) -> FlagList:
        """Build from networks of both families.

        Raises:
            InputError: ``flag`` is not one of :data:`FLAG_KINDS`.
        """
        if flag not in FLAG_KINDS:
            raise InputError(f"unknown flag {flag!r}; expected one of {', '.join(FLAG_KINDS)}")
        nets = list(networks)
        v4 = RangeSet.of(n for n in nets if n.version == 4)
        v6 = RangeSet.of(n for n in nets if n.version == 6)
        return cls(flag, v4, v6)

    def __contains__(self, address: IPAddress) -> bool:
        return int(address) in (self.v4 if address.version == 4 else self.v6)
