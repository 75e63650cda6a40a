"""Aggregating sightings and observations into one summary per (swarm, peer address). Pure.

The rules, and why:

- ``tier`` is the highest tier any observation reached (``LISTED`` when the address was only sighted),
  except that ``VERIFIED`` needs at least one piece that verified *and never failed* from that address:
  data from a peer that once failed the hash check for piece *i* is never counted as verified for *i*
  (it may still be verified for other pieces). Without such a piece the tier is capped at
  ``HAS_PIECES`` and ``failure`` is ``hash_mismatch`` (interop rows on bad data; BEP 3 "pieces").
- ``first_seen_us`` / ``last_seen_us``: earliest sighting or probe start / latest sighting or probe end.
- "Latest" means the observation with the greatest ``ended_us``; ties go to the later one in input
  order (the store returns rows in insertion order).
- ``peer_id``: from the latest observation that has one (our own handshake); failing that, from the
  latest sighting that has one (a non-compact tracker reply, BEP 3) — the handshake is the stronger record.
  When the observations name more than one peer id, ``quirks`` says so (``peer id changed: N peer ids over
  M probes``): one address, several clients or restarts, which attribution must not hide.
- ``encrypted``: True when any observation of the address used MSE/PE.
- ``evidence``: the ledger state of the records summarised (:data:`EVIDENCE_ORDER`;
  :mod:`swarmscope.store.ledger.seal_state`): ``sealed`` (proven equal to its sealed record under a trusted
  key), ``unchecked`` (in a sealed batch, not proven: no trusted key given), ``unsealed``,
  ``quarantined``, ``altered`` (in a sealed batch, but not equal to its sealed record). Records of one
  address in different states are summarised apart, one summary per state, so a record that is not
  evidence never lends its tier to evidence; only ``sealed`` and ``unchecked`` summaries count in
  :class:`SwarmTotals`' tiers (:data:`JUDGED`).
- ``clock``: the clock at the address's hits, each judged by the caller under its run's sealed clock
  policy (:mod:`swarmscope.evidence.clock_policy`): the hits are its ``verified`` observations when the
  address is ``verified`` (what ``cases build`` counts), else all its observations. ``flagged`` when any
  hit started in a flag window, else ``unmeasured`` when any hit's run has no clock sample, else ``ok``;
  None when the address is only ``listed`` (a listing, or probes that never connected, prove nothing to
  judge: README "report") and for records that are not evidence (not :data:`JUDGED`).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from swarmscope.evidence.records import Failure, Observation, Sighting, Source, Tier

TOP_CLIENTS = 5  # how many client names swarm_totals keeps

_T = TypeVar("_T")
PeerKey = tuple[str, str, int]  # (infohash hex, ip literal, port)
ClockVerdict = Literal["flagged", "unmeasured", "ok"]
SEALED, UNSEALED, QUARANTINED = "sealed", "unsealed", "quarantined"  # ledger states of stored records
ALTERED = "altered"  # sealed in the ledger, but the row no longer equals its sealed record
UNCHECKED = "unchecked"  # sealed in the ledger; not proven (no trusted node key was given)
LATE = "late"  # in a batch crash recovery sealed late: not evidence (README "Crash safety")
EVIDENCE_ORDER = (SEALED, UNCHECKED, UNSEALED, QUARANTINED, LATE, ALTERED)  # evidence first
JUDGED = (SEALED, UNCHECKED)  # states whose tier is shown, counted and clock-judged


@dataclass(frozen=True, slots=True)
class PeerSummary:
    """Everything known about one peer address in one swarm, aggregated over all records.

    Args:
        infohash: swarm id hex. ip: normalised IP literal. port: TCP port.
        tier: see the module rules. first_seen_us, last_seen_us: UTC microseconds.
        sources: sorted distinct :class:`Source` values. peer_id: raw 20 bytes or None.
        client, client_version: from the latest observation that identified the client (BEP 20/10).
        completion: 0.0..1.0 from the latest observation that knew it, else None.
        verified_pieces: sorted piece indices verified and never failed. failed_pieces: sorted indices
            whose data from this address failed the hash check.
        verified_blocks: sorted ``(piece, begin)`` of 16 KiB blocks proven against the block hash table
            and never failed. failed_blocks: sorted ``(piece, begin)`` that did not match.
        bytes_received: piece payload bytes received, summed over observations (bytes).
        observations: number of observations. failure: why not ``VERIFIED`` (a :class:`Failure` value)
            or None. encrypted: any MSE/PE connection. yourip: latest BEP 10 ``yourip`` reported.
        quirks: sorted union of protocol deviations seen (interop ids).
        evidence: ledger state of the records (module rules). clock: see the module rules.
        port_seen: how ``port`` is known (:func:`port_seen`): ``dialled``, ``inbound``, ``claimed``,
            ``listed``. source_ports: sorted TCP source ports of the inbound connections summarised here.
    """

    infohash: str
    ip: str
    port: int
    tier: Tier
    first_seen_us: int
    last_seen_us: int
    sources: tuple[str, ...]
    peer_id: bytes | None
    client: str | None
    client_version: str | None
    completion: float | None
    verified_pieces: tuple[int, ...]
    failed_pieces: tuple[int, ...]
    verified_blocks: tuple[tuple[int, int], ...]
    failed_blocks: tuple[tuple[int, int], ...]
    bytes_received: int
    observations: int
    failure: str | None
    encrypted: bool
    yourip: str | None
    quirks: tuple[str, ...]
    evidence: str = SEALED
    clock: ClockVerdict | None = None
    port_seen: str = "listed"
    source_ports: tuple[int, ...] = ()

    @property
    def tier_label(self) -> str:
        """The tier, or the ledger state when the records are not sealed (they prove no tier)."""
        return self.tier.label if self.evidence in JUDGED else self.evidence

    @property
    def client_label(self) -> str | None:
        """``"name version"``, just the name, or None when the client is unknown."""
        if self.client is None:
            return None
        return f"{self.client} {self.client_version}" if self.client_version else self.client


@dataclass(frozen=True, slots=True)
class SwarmTotals:
    """Counts over the peer summaries of one swarm.

    Args:
        infohash: swarm id hex. peers: distinct addresses with sealed (or unchecked) records. listed,
            connected, has_pieces, verified: addresses whose such summary tier is exactly that tier.
            seeds: completion 1.0. leechers: completion known and below 1.0. bytes_received: sum over
            addresses (bytes). seeds, leechers, bytes and clients count those summaries only.
        top_clients: up to :data:`TOP_CLIENTS` ``(client label, addresses)`` pairs, most common first.
        unsealed, quarantined, altered: addresses with records in that ledger state (not evidence, not
            in the tier counts). clock_flagged: counted addresses whose clock is ``flagged``.
        unchecked: counted addresses whose sealed records were not proven (no trusted node key).
    """

    infohash: str
    peers: int
    listed: int
    connected: int
    has_pieces: int
    verified: int
    seeds: int
    leechers: int
    bytes_received: int
    top_clients: tuple[tuple[str, int], ...]
    unsealed: int = 0
    quarantined: int = 0
    clock_flagged: int = 0
    altered: int = 0
    unchecked: int = 0

    def at_least(self, tier: Tier) -> int:
        """Addresses that reached ``tier`` or higher."""
        counts = (self.listed, self.connected, self.has_pieces, self.verified)
        return sum(counts[tier:])


def _latest(observations: Sequence[Observation]) -> list[Observation]:
    """Observations oldest → newest by ``ended_us`` (stable: input order breaks ties)."""
    return sorted(observations, key=lambda o: o.ended_us)


def _pieces(observations: Iterable[Observation]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(verified minus ever-failed, failed) piece indices, both sorted."""
    verified: set[int] = set()
    failed: set[int] = set()
    for o in observations:
        verified.update(o.verified_pieces)
        failed.update(o.failed_pieces)
    return tuple(sorted(verified - failed)), tuple(sorted(failed))


def _blocks(
    observations: Iterable[Observation],
) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """(proven minus ever-failed, failed) ``(piece, begin)`` of block proofs, both sorted."""
    verified: set[tuple[int, int]] = set()
    failed: set[tuple[int, int]] = set()
    for o in observations:
        verified.update((b.piece, b.begin) for b in o.verified_blocks)
        failed.update((b.piece, b.begin) for b in o.failed_blocks)
    return tuple(sorted(verified - failed)), tuple(sorted(failed))


def _tier_and_failure(by_time: list[Observation], verified: bool) -> tuple[Tier, str | None]:
    """The address's tier: VERIFIED needs a piece or a block proven and never failed at that position."""
    if not by_time:
        return Tier.LISTED, None
    tier = max(o.tier for o in by_time)
    if tier == Tier.VERIFIED and verified:
        return tier, None
    if tier == Tier.VERIFIED:
        return Tier.HAS_PIECES, Failure.HASH_MISMATCH.value
    return tier, by_time[-1].failure


def _last_known(values: Iterable[_T | None]) -> _T | None:
    found: _T | None = None
    for value in values:
        if value is not None:
            found = value
    return found


def _clock(tier: Tier, probes: list[tuple[Observation, ClockVerdict]], evidence: str) -> ClockVerdict | None:
    """The address's clock verdict over its hits (module rules); None for a listing or records that are
    not evidence."""
    if tier == Tier.LISTED or evidence not in JUDGED:
        return None
    hits = (
        [v for o, v in probes if o.tier == Tier.VERIFIED] if tier == Tier.VERIFIED else [v for _, v in probes]
    )
    for verdict in ("flagged", "unmeasured", "ok"):
        if verdict in hits:
            return verdict
    return None


def _summarize_one(
    key: PeerKey, sightings: list[Sighting], probes: list[tuple[Observation, ClockVerdict]], evidence: str
) -> PeerSummary:
    by_time = _latest([o for o, _ in probes])
    verified, failed = _pieces(by_time)
    verified_blocks, failed_blocks = _blocks(by_time)
    tier, failure = _tier_and_failure(by_time, bool(verified or verified_blocks))
    client_obs = _last_known(o if o.client is not None else None for o in by_time)
    seen = [s.seen_at_us for s in sightings]
    peer_id = _last_known(o.peer_id for o in by_time)
    if peer_id is None:
        peer_id = _last_known(s.peer_id for s in sorted(sightings, key=lambda s: s.seen_at_us))
    return PeerSummary(
        infohash=key[0],
        ip=key[1],
        port=key[2],
        tier=tier,
        first_seen_us=min(seen + [o.started_us for o in by_time]),
        last_seen_us=max(seen + [o.ended_us for o in by_time]),
        sources=tuple(sorted({s.source for s in sightings} | {o.source for o in by_time})),
        peer_id=peer_id,
        client=client_obs.client if client_obs else None,
        client_version=client_obs.client_version if client_obs else None,
        completion=_last_known(o.completion for o in by_time),
        verified_pieces=verified,
        failed_pieces=failed,
        verified_blocks=verified_blocks,
        failed_blocks=failed_blocks,
        bytes_received=sum(o.bytes_received for o in by_time),
        observations=len(by_time),
        failure=failure,
        encrypted=any(o.encrypted for o in by_time),
        yourip=_last_known(o.extension.yourip if o.extension else None for o in by_time),
        quirks=tuple(sorted({q for o in by_time for q in o.quirks} | _peer_id_changes(by_time))),
        evidence=evidence,
        clock=_clock(tier, probes, evidence),
        port_seen=port_seen(key[2], by_time),
        source_ports=tuple(sorted({o.source_port for o in by_time if o.source_port is not None})),
    )


def port_seen(port: int, observations: Sequence[Observation]) -> str:
    """How an address's ``port`` is known: ``dialled`` (a probe of ours connected to it), ``inbound`` (a
    peer's connection to us came from it), ``claimed`` (only inbound peers' BEP 10 listen port ``p``
    names it: nothing observed it on the wire, the peer may name any port), ``listed`` (only named by a
    tracker, the DHT or PEX, never reached). Source: BEP 10 (``p`` is the peer's claim); RFC 6302."""
    inbound = [o for o in observations if o.source == Source.INBOUND.value]
    if any(o.source != Source.INBOUND.value and o.tier > Tier.LISTED for o in observations):
        return "dialled"
    if any(o.source_port == port for o in inbound):
        return "inbound"
    return "claimed" if inbound else "listed"


def _peer_id_changes(by_time: Sequence[Observation]) -> set[str]:
    """A quirk when the address's handshakes named more than one peer id: a restarted client, or
    another machine behind one NAT port; the report's ``peer_id`` is only the latest (BEP 3 handshake)."""
    ids = {o.peer_id for o in by_time if o.peer_id is not None}
    return {f"peer id changed: {len(ids)} peer ids over {len(by_time)} probes"} if len(ids) > 1 else set()


def _address_order(summary: PeerSummary) -> tuple[str, int, int, int, bytes, str, int]:
    """Sort key: swarm, sealed evidence first, highest tier first, IPv4 before IPv6 numerically, port."""
    version, packed = 9, b""
    try:
        address = ipaddress.ip_address(summary.ip)
        version, packed = int(address.version), address.packed
    except ValueError:
        pass
    rank = (
        EVIDENCE_ORDER.index(summary.evidence) if summary.evidence in EVIDENCE_ORDER else len(EVIDENCE_ORDER)
    )
    return (summary.infohash, rank, -summary.tier, version, packed, summary.ip, summary.port)


def summarize(
    sightings: Iterable[Sighting],
    observations: Iterable[Observation],
    *,
    evidence: str = SEALED,
    clock: Iterable[ClockVerdict] | None = None,
) -> list[PeerSummary]:
    """One :class:`PeerSummary` per (infohash, ip, port) seen in either input.

    Args:
        sightings: discovery records (any order). observations: probe records (any order; equal
            ``ended_us`` values keep input order when picking the latest). evidence: the ledger state
            of all these records (:data:`EVIDENCE_ORDER`). clock: one verdict per observation, in the
            same order (None: every observation ``unmeasured``).

    Returns:
        Summaries sorted by infohash, then tier (highest first), then address (IPv4 numeric, IPv6, port).

    Raises:
        ValueError: ``clock`` does not have one verdict per observation.
    """
    seen: dict[PeerKey, list[Sighting]] = {}
    probed: dict[PeerKey, list[tuple[Observation, ClockVerdict]]] = {}
    for s in sightings:
        seen.setdefault((s.infohash, s.ip, s.port), []).append(s)
    obs = list(observations)
    verdicts: list[ClockVerdict] = ["unmeasured"] * len(obs) if clock is None else list(clock)
    for o, verdict in zip(obs, verdicts, strict=True):
        probed.setdefault((o.infohash, o.ip, o.port), []).append((o, verdict))
    keys = seen.keys() | probed.keys()
    summaries = [_summarize_one(k, seen.get(k, []), probed.get(k, []), evidence) for k in keys]
    return sorted(summaries, key=_address_order)


def sort_summaries(summaries: Iterable[PeerSummary]) -> list[PeerSummary]:
    """Summaries of several :func:`summarize` calls in report order: swarm, sealed first, tier, address."""
    return sorted(summaries, key=_address_order)


def _swarm_totals(infohash: str, every: list[PeerSummary]) -> SwarmTotals:
    peers = [p for p in every if p.evidence in JUDGED]
    tiers = Counter(p.tier for p in peers)
    clients = Counter(p.client_label for p in peers if p.client_label is not None)
    top = sorted(clients.items(), key=lambda item: (-item[1], item[0]))[:TOP_CLIENTS]
    return SwarmTotals(
        infohash=infohash,
        peers=len(peers),
        listed=tiers[Tier.LISTED],
        connected=tiers[Tier.CONNECTED],
        has_pieces=tiers[Tier.HAS_PIECES],
        verified=tiers[Tier.VERIFIED],
        seeds=sum(1 for p in peers if p.completion is not None and p.completion >= 1.0),
        leechers=sum(1 for p in peers if p.completion is not None and p.completion < 1.0),
        bytes_received=sum(p.bytes_received for p in peers),
        top_clients=tuple(top),
        unsealed=sum(1 for p in every if p.evidence == UNSEALED),
        quarantined=sum(1 for p in every if p.evidence == QUARANTINED),
        altered=sum(1 for p in every if p.evidence in (ALTERED, LATE)),  # both: not evidence
        unchecked=sum(1 for p in peers if p.evidence == UNCHECKED),
        clock_flagged=sum(1 for p in peers if p.clock == "flagged"),
    )


def swarm_totals(summaries: Iterable[PeerSummary]) -> dict[str, SwarmTotals]:
    """Per-swarm counts over peer summaries, keyed by infohash (sorted).

    Args:
        summaries: output of :func:`summarize` (any order; may span several swarms).

    Returns:
        ``{infohash: SwarmTotals}`` in infohash order.
    """
    by_swarm: dict[str, list[PeerSummary]] = {}
    for summary in summaries:
        by_swarm.setdefault(summary.infohash, []).append(summary)
    return {h: _swarm_totals(h, by_swarm[h]) for h in sorted(by_swarm)}
