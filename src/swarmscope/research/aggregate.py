"""The research tables from pseudonymised peer events (pure: no I/O, no clock, no address ever seen).

Input: :class:`PeerEvent` (one proven sighting or observation, its address already a keyed pseudonym:
:mod:`.pseudonym`) and :class:`Place` (the proven attribution of a pseudonym). Output: the
:class:`~.cells.Table` list, every small cell suppressed (:mod:`.cells`). Hours are UTC: an event counts
in the hour its sighting arrived or its probe started (``at_us``, UTC µs).

What is counted (docs/research.md): a *unit* is an address (or its /24 or /48 with truncation); a *peer*
is a unit with a port, seen in a window. Neither is a person: one subscriber may hold many addresses over
time, many people may share one (CGNAT, a household, a VPN exit).

Tables:

- ``swarm_size``: per swarm and hour, the units by the highest tier they reached in that hour (listed:
  only named by a source; connected; has_pieces; verified). A partition; ``(all)`` is the swarm size.
- ``hour_of_day``: per swarm, the units seen in each hour of the day 00..23 UTC over the whole study.
- ``country_share``, ``asn_share``, ``client_share``: per swarm, the connected units (our own handshake
  proved BitTorrent software for the swarm answered) by country, by AS, by client name (of the unit's
  latest connected probe that named one). A listed-only address is never counted here: a tracker can be
  made to list anything (README "Evidence tiers").
- ``seeds_leechers``: per swarm and hour, the connected units that held every piece in some probe that
  hour (seed) or not (leecher).
- ``discovery_sources``: per swarm and source (tracker, dht, pex, inbound, manual), the units that source
  named or that reached us that way, split by whether the unit was verified in the swarm at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from swarmscope.evidence.records import Source, Tier
from swarmscope.research.cells import Row, Table, Units, fixed_rows, partition_rows, scrub

UNKNOWN = "unknown"
HOURS = tuple(f"{h:02d}" for h in range(24))
TIERS = tuple(t.label for t in Tier)
SOURCES = tuple(s.value for s in Source)
VERIFIED_SPLIT = ("verified", "not_verified")
SEED_SPLIT = ("seed", "leecher")
_HOUR_US = 3_600_000_000


@dataclass(frozen=True, slots=True)
class PeerEvent:
    """One proven record of a peer, pseudonymised.

    Args:
        swarm: the swarm id (infohash hex). address, peer: pseudonyms of the unit and of unit+port.
        at_us: UTC µs (a sighting's arrival, a probe's start). source: a :class:`Source` value.
        tier: the tier reached (LISTED for a sighting). seed: the probe saw every piece held (None: no
        probe or nothing known). client: the client name a probe identified (BEP 20, BEP 10 ``v``).
    """

    swarm: str
    address: str
    peer: str
    at_us: int
    source: str
    tier: Tier
    seed: bool | None = None
    client: str | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """Where a unit's latest proven attribution puts it: ISO 3166-1 alpha-2 country, AS number and org."""

    country: str | None
    asn: int | None
    as_org: str | None

    def asn_label(self) -> str:
        if self.asn is None:
            return UNKNOWN
        return f"AS{self.asn} {scrub(self.as_org)}".strip() if self.as_org else f"AS{self.asn}"


def hour_label(at_us: int) -> str:
    """The UTC hour an instant falls in, ISO 8601 (``2026-11-30T00:00Z``)."""
    start = datetime.fromtimestamp((at_us // _HOUR_US) * 3600, UTC)
    return start.strftime("%Y-%m-%dT%H:00Z")


def aggregate(events: Sequence[PeerEvent], places: Mapping[str, Place], k: int) -> list[Table]:
    """Every research table of ``events`` with cells of fewer than ``k`` units suppressed (k >= 2)."""
    if k < 2:
        raise ValueError("k must be at least 2")
    by_swarm: dict[str, list[PeerEvent]] = {}
    for event in events:
        by_swarm.setdefault(event.swarm, []).append(event)
    swarms = sorted(by_swarm)
    return [
        _swarm_size(by_swarm, swarms, k),
        _hour_of_day(by_swarm, swarms, k),
        _shares("country_share", "Connected addresses by country", "country", by_swarm, swarms, k,
                lambda a: (places.get(a) or Place(None, None, None)).country or UNKNOWN),
        _shares("asn_share", "Connected addresses by AS", "asn", by_swarm, swarms, k,
                lambda a: (places.get(a) or Place(None, None, None)).asn_label()),
        _clients(by_swarm, swarms, k),
        _seeds(by_swarm, swarms, k),
        _sources(by_swarm, swarms, k),
    ]  # fmt: skip


def _table(
    name: str,
    title: str,
    columns: tuple[str, ...],
    label: str,
    parts: Iterable[tuple[list[Row], int]],
    partition: bool = True,
) -> Table:
    rows: list[Row] = []
    suppressed = 0
    for part_rows, part_suppressed in parts:
        rows += part_rows
        suppressed += part_suppressed
    return Table(name, title, columns, label, tuple(rows), suppressed, partition)


def _swarm_size(by_swarm: dict[str, list[PeerEvent]], swarms: list[str], k: int) -> Table:
    parts = []
    for swarm in swarms:
        best: dict[str, dict[str, tuple[Tier, set[str]]]] = {}  # hour → unit → (highest tier, peers)
        for e in by_swarm[swarm]:
            units_of = best.setdefault(hour_label(e.at_us), {})
            tier, peers = units_of.get(e.address, (Tier.LISTED, set()))
            units_of[e.address] = (max(tier, e.tier), peers | {e.peer})
        for hour in sorted(best):
            cells: dict[str, Units] = {}
            for address, (tier, peers) in best[hour].items():
                units = cells.setdefault(tier.label, Units())
                units.addresses.add(address)
                units.peers |= peers
            parts.append(partition_rows((swarm, hour), cells, k, TIERS))
    title = "Swarm size by hour (UTC) and highest tier"
    return _table("swarm_size", title, ("swarm", "hour_utc"), "tier", parts)


def _hour_of_day(by_swarm: dict[str, list[PeerEvent]], swarms: list[str], k: int) -> Table:
    parts = []
    for swarm in swarms:
        cells: dict[str, Units] = {}
        for e in by_swarm[swarm]:
            cells.setdefault(hour_label(e.at_us)[11:13], Units()).add(e.address, e.peer)
        parts.append(fixed_rows((swarm,), cells, k, HOURS))
    title = "Daily pattern: addresses by hour of day (UTC)"
    return _table("hour_of_day", title, ("swarm",), "hour_of_day_utc", parts, partition=False)


def _connected(events: list[PeerEvent]) -> list[PeerEvent]:
    return [e for e in events if e.tier >= Tier.CONNECTED]


def _shares(
    name: str,
    title: str,
    label: str,
    by_swarm: dict[str, list[PeerEvent]],
    swarms: list[str],
    k: int,
    classify: Callable[[str], str],
) -> Table:
    parts = []
    for swarm in swarms:
        cells: dict[str, Units] = {}
        for e in _connected(by_swarm[swarm]):
            cells.setdefault(classify(e.address), Units()).add(e.address, e.peer)
        parts.append(partition_rows((swarm,), cells, k))
    return _table(name, title, ("swarm",), label, parts)


def _clients(by_swarm: dict[str, list[PeerEvent]], swarms: list[str], k: int) -> Table:
    parts = []
    for swarm in swarms:
        latest: dict[str, tuple[int, str]] = {}  # unit → (at_us, client) of its latest naming probe
        peers: dict[str, set[str]] = {}
        for e in _connected(by_swarm[swarm]):
            peers.setdefault(e.address, set()).add(e.peer)
            if e.client and (e.address not in latest or e.at_us >= latest[e.address][0]):
                latest[e.address] = (e.at_us, scrub(e.client))
        cells: dict[str, Units] = {}
        for address, unit_peers in peers.items():
            units = cells.setdefault(latest.get(address, (0, UNKNOWN))[1], Units())
            units.addresses.add(address)
            units.peers |= unit_peers
        parts.append(partition_rows((swarm,), cells, k))
    return _table("client_share", "Connected addresses by client", ("swarm",), "client", parts)


def _seeds(by_swarm: dict[str, list[PeerEvent]], swarms: list[str], k: int) -> Table:
    parts = []
    for swarm in swarms:
        hours: dict[str, dict[str, tuple[bool, set[str]]]] = {}  # hour → unit → (seed, peers)
        for e in _connected(by_swarm[swarm]):
            units_of = hours.setdefault(hour_label(e.at_us), {})
            seed, unit_peers = units_of.get(e.address, (False, set()))
            units_of[e.address] = (seed or bool(e.seed), unit_peers | {e.peer})
        for hour in sorted(hours):
            cells: dict[str, Units] = {}
            for address, (seed, unit_peers) in hours[hour].items():
                units = cells.setdefault(SEED_SPLIT[0] if seed else SEED_SPLIT[1], Units())
                units.addresses.add(address)
                units.peers |= unit_peers
            parts.append(partition_rows((swarm, hour), cells, k, SEED_SPLIT))
    return _table("seeds_leechers", "Seeds and leechers by hour (UTC)", ("swarm", "hour_utc"), "role", parts)


def _sources(by_swarm: dict[str, list[PeerEvent]], swarms: list[str], k: int) -> Table:
    parts = []
    for swarm in swarms:
        events = by_swarm[swarm]
        verified = {e.address for e in events if e.tier == Tier.VERIFIED}
        found: dict[str, Units] = {}
        for e in events:
            found.setdefault(e.source, Units()).add(e.address, e.peer)
        for source in [s for s in SOURCES if s in found] + sorted(set(found) - set(SOURCES)):
            cells = {label: Units() for label in VERIFIED_SPLIT}
            for e in (e for e in events if e.source == source):
                split = VERIFIED_SPLIT[0] if e.address in verified else VERIFIED_SPLIT[1]
                cells[split].add(e.address, e.peer)
            parts.append(partition_rows((swarm, scrub(source)), cells, k, VERIFIED_SPLIT))
    title = "Addresses found per discovery source, and verified"
    return _table("discovery_sources", title, ("swarm", "source"), "verified", parts)
