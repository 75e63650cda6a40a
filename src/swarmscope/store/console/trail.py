"""The evidence trail of one peer address of a swarm, a page at a time, each row proven as ``report``
proves it.

The observations and sightings of (swarm, ip, port), newest first, one page of at most ``limit`` of each
(keyset pagination: ``cursor`` ``"<observation id>:<sighting id>"`` names the rows before which the page
starts; :attr:`PeerTrail.next_cursor` is the next page's), each with its state: ``sealed`` only when
proven equal to its sealed record under a trusted node key
(:class:`swarmscope.store.ledger.row_proof.RowProof`), ``altered`` when it is not, ``unchecked`` with no
trusted key, ``unsealed``/``quarantined`` outside every sealed batch (:class:`SealMap`). Only ``sealed``
rows are evidence; the others are listed apart (:attr:`PeerTrail.not_evidence`). A proven observation
carries its sealed batch (seal time, recovered or not), its RFC 3161 time-stamp tokens (each verified
against the batch, with the TSA's genTime: :mod:`.stamps`) and the clock
verdict at its start (:func:`clock_verdicts`, as ``cases build`` judges a hit). The trail also names the
address's latest sealed attribution and the cases that accuse it: only the cases of the works the caller
names (``work_ids``, the reader's client scope), since one torrent may be linked to works of two rights
holders (a compilation, a film and its soundtrack) and one client must not learn another's case. The
attribution is the address's own (where it was, sealed), the same for every swarm and client: it names
no case, letter or identity.

The trail's best proven tier (:attr:`PeerTrail.proven_tier`) does not prove the whole trail: it proves
the peer's rows highest tier first, newest first, and stops at the first proven one (every row is proven
only when none is, e.g. with no trusted key; a peer watched for days has thousands of rows).

Cost: one index read of a page of the peer's rows, one covering-batch read per row and one chain check
per batch that holds one of them (a batch of a live monitor holds 0.5 s of records; batches kept by earlier
pages are not checked again), the sealed clock samples of the peer's runs; nothing read for the whole
store (:mod:`.row_state`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import InputError
from swarmscope.evidence.records import Attribution, Observation, Sighting, Tier
from swarmscope.evidence.seal import NOT_EVIDENCE
from swarmscope.evidence.summary import ALTERED, LATE, QUARANTINED, SEALED, UNCHECKED
from swarmscope.store.console.row_state import RowSeals, clock_verdict, clock_windows
from swarmscope.store.console.stamps import Stamp, batch_stamps
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.queries import attribution_from_row, observation_from_row, sighting_from_row
from swarmscope.store.ledger.row_proof import ProvenBatches, RowProof
from swarmscope.store.ledger.schema import (
    attribution,
    capture,
    observation,
    sighting,
)
from swarmscope.store.ledger.snapshot import read_snapshot
from swarmscope.store.legal.schema import legal_case
from swarmscope.store.metadata import MAX_ROW_ID

if TYPE_CHECKING:
    from swarmscope.store.database import Store


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """The sealed batch of a row: id, seal time (UTC µs), sealed late by recovery, its RFC 3161
    time-stamp tokens, each verified against the batch (:mod:`.stamps`)."""

    id: int
    sealed_at_us: int
    recovered: bool
    timestamps: tuple[Stamp, ...] = ()


@dataclass(frozen=True, slots=True)
class TrailObservation:
    """One observation of the peer: the record, its row id, state, why not proven (None when proven or
    not sealed), batch (None unless sealed), clock verdict (None unless proven evidence), capture hex."""

    row_id: int
    record: Observation
    state: str
    reason: str | None
    batch: BatchInfo | None
    clock: str | None
    capture_sha256: str | None


@dataclass(frozen=True, slots=True)
class TrailSighting:
    """One sighting of the peer (a discovery source named it): row id, record, state, reason."""

    row_id: int
    record: Sighting
    state: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class CaseRef:
    """A case accusing the peer: id, DOE name, status."""

    id: int
    doe: str
    status: str


@dataclass(slots=True)
class PeerTrail:
    """The trail: evidence (proven sealed rows) and the rows that are not evidence, apart."""

    infohash: str
    ip: str
    port: int
    observations: list[TrailObservation] = field(default_factory=list)
    sightings: list[TrailSighting] = field(default_factory=list)
    not_evidence: list[TrailObservation | TrailSighting] = field(default_factory=list)
    attribution: Attribution | None = None
    cases: list[CaseRef] = field(default_factory=list)
    proven_tier: str | None = None
    next_cursor: str | None = None


MAX_PAGE = 500


def parse_cursor(text: str | None) -> tuple[int, int] | None:
    """``"<observation id>:<sighting id>"`` (each 0 .. MAX_ROW_ID, the id columns' range on every back
    end) as a pair, None for no cursor.

    Raises:
        InputError: anything else (one line).
    """
    if text is None:
        return None
    first, sep, second = text.partition(":")
    try:
        pair = (int(first), int(second)) if sep and first.isdigit() and second.isdigit() else None
    except ValueError:
        pair = None
    if pair is None or max(pair) > MAX_ROW_ID:
        raise InputError(f"cursor {text[:40]!r}: not a trail page cursor")
    return pair


def _peer_rows(table: sa.Table, infohash: str, ip: str, port: int) -> sa.Select[Any]:
    c = table.c
    return sa.select(table).where(c.infohash == infohash, c.ip == ip, c.port == port)


def _rows(
    conn: sa.Connection, table: sa.Table, trail: PeerTrail, before: int | None, limit: int
) -> tuple[list[Any], bool]:
    """At most ``limit`` rows of the peer before row id ``before`` (None: from the newest), newest first,
    and whether older rows remain."""
    query = _peer_rows(table, trail.infohash, trail.ip, trail.port)
    if before is not None:
        query = query.where(table.c.id < before)
    rows = list(conn.execute(query.order_by(table.c.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def _state(seals: RowSeals, proof: RowProof | None, r: Any, reason: str | None) -> str:
    state = seals.state(r)
    if state != SEALED:
        return state
    if proof is None:
        return UNCHECKED
    if reason is not None and reason.startswith(NOT_EVIDENCE):
        return LATE
    return SEALED if reason is None else ALTERED


def _batch_info(conn: sa.Connection, batch: Any, stamps: dict[int, BatchInfo]) -> BatchInfo:
    """The batch (a :class:`RowSeals` batch row) with its verified time-stamp tokens (cached by id)."""
    if int(batch.id) not in stamps:
        found = batch_stamps(conn, int(batch.id))
        stamps[int(batch.id)] = BatchInfo(
            int(batch.id), int(batch.sealed_at_us), bool(batch.recovered), found
        )
    return stamps[int(batch.id)]


def peer_trail(
    store: Store,
    trust: EvidenceTrust | None,
    infohash: str,
    ip: str,
    port: int,
    *,
    kept: ProvenBatches | None = None,
    work_ids: set[int] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> PeerTrail:
    """A page of the evidence trail of (swarm ``infohash``, ``ip``, ``port``); empty lists when nothing
    names it (module docstring).

    ``kept``: batches proven by earlier trails of this process (:class:`ProvenBatches`), for readers that
    show one peer after another. ``work_ids``: list only the cases of these works (None: every case).
    ``cursor``: a :attr:`PeerTrail.next_cursor`; ``limit``: rows of each kind on the page (1..500).

    Raises:
        InputError: a malformed cursor or a limit outside 1..500.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit {limit}: must be 1..{MAX_PAGE}")
    before = parse_cursor(cursor)
    trail = PeerTrail(infohash, ip, port)
    with read_snapshot(store.engine) as conn:  # the rows and the batches proving them: one state
        proof = None if trust is None else RowProof(conn, trust, few_rows=True, kept=kept)
        next_obs = _observations(conn, proof, trail, None if before is None else before[0], limit)
        next_seen = _sightings(conn, proof, trail, None if before is None else before[1], limit)
        if next_obs or next_seen:
            trail.next_cursor = f"{next_obs}:{next_seen}"
        trail.proven_tier = _proven_tier(conn, proof, trail)
        trail.attribution = _attribution(conn, ip)
        trail.cases = _cases(conn, infohash, ip, port, work_ids)
    return trail


def _sightings(
    conn: sa.Connection, proof: RowProof | None, trail: PeerTrail, before: int | None, limit: int
) -> int:
    """A page of the peer's sightings, proven; the next page's bound (0: none left)."""
    if before == 0:
        return 0
    rows, more = _rows(conn, sighting, trail, before, limit)
    seals = RowSeals(conn, "sighting", (int(r.id) for r in rows))
    for r in rows:
        seen, reason = proof.sighting(r) if proof is not None else (None, None)
        seen = seen or sighting_from_row(r)
        state = _state(seals, proof, r, reason)
        item = TrailSighting(int(r.id), seen, state, reason)
        (trail.sightings if state == SEALED else trail.not_evidence).append(item)
    return int(rows[-1].id) if more else 0


def _proven(conn: sa.Connection, proof: RowProof, table: sa.Table, query: sa.Select[Any]) -> bool:
    """Whether any row ``query`` yields (newest first, read 50 at a time) is proven sealed."""
    check = proof.observation if table is observation else proof.sighting
    before = None
    while True:
        page = query if before is None else query.where(table.c.id < before)
        rows = list(conn.execute(page.order_by(table.c.id.desc()).limit(50)))
        seals = RowSeals(conn, table.name, (int(r.id) for r in rows))
        if any(_state(seals, proof, r, check(r)[1]) == SEALED for r in rows):
            return True
        if len(rows) < 50:
            return False
        before = int(rows[-1].id)


def _proven_tier(conn: sa.Connection, proof: RowProof | None, trail: PeerTrail) -> str | None:
    """The best tier of the peer's proven evidence, whatever page is shown: the highest tier with a
    proven observation, ``listed`` for proven sightings only, None when nothing is proven. The rows of
    the page already proven answer first; then each tier's rows, highest first, until one is proven."""
    if proof is None:
        return None
    seen = [o.record.tier for o in trail.observations]
    best = max(seen) if seen else None
    for tier in sorted(Tier, reverse=True):
        if best is not None and tier <= best:
            return best.label
        query = _peer_rows(observation, trail.infohash, trail.ip, trail.port)
        if _proven(conn, proof, observation, query.where(observation.c.tier == tier.label)):
            return tier.label
    sightings = _peer_rows(sighting, trail.infohash, trail.ip, trail.port)
    if trail.sightings or _proven(conn, proof, sighting, sightings):
        return Tier.LISTED.label
    return None


def _observations(
    conn: sa.Connection, proof: RowProof | None, trail: PeerTrail, before: int | None, limit: int
) -> int:
    """A page of the peer's observations, proven, with its batch and, when proven, its clock verdict;
    the next page's bound (0: none left)."""
    if before == 0:
        return 0
    rows, more = _rows(conn, observation, trail, before, limit)
    seals = RowSeals(conn, "observation", (int(r.id) for r in rows))
    windows = clock_windows(conn, {int(r.run_id) for r in rows})
    stamps: dict[int, BatchInfo] = {}
    for r in rows:
        record, reason = proof.observation(r) if proof is not None else (None, None)
        record = record or observation_from_row(r)
        state = _state(seals, proof, r, reason)
        found = seals.batch(r.ledger_node, r.ledger_index) if state != QUARANTINED else None
        batch = None if found is None else _batch_info(conn, found, stamps)
        clock = clock_verdict(windows, int(r.run_id), record.started_us) if state == SEALED else None
        capture_hex = None if r.capture_sha256 is None else bytes(r.capture_sha256).hex()
        item = TrailObservation(int(r.id), record, state, reason, batch, clock, capture_hex)
        (trail.observations if state == SEALED else trail.not_evidence).append(item)
    return int(rows[-1].id) if more else 0


def _attribution(conn: sa.Connection, ip: str) -> Attribution | None:
    """The latest SEALED attribution of the address (by the time it applies to), or None."""
    a = attribution.c
    query = sa.select(attribution).where(a.ip == ip).order_by(a.observed_at_us.desc(), a.id.desc())
    rows = list(conn.execute(query))
    seals = RowSeals(conn, "attribution", (int(r.id) for r in rows))
    for r in rows:
        if seals.state(r) == SEALED:
            found: Attribution = attribution_from_row(r)
            return found
    return None


def _cases(
    conn: sa.Connection, infohash: str, ip: str, port: int, work_ids: set[int] | None
) -> list[CaseRef]:
    c = legal_case.c
    query = sa.select(c.id, c.doe, c.status).where(c.ip == ip, c.port == port, c.infohash == infohash)
    if work_ids is not None:
        query = query.where(c.work_id.in_(sorted(work_ids)))
    return [CaseRef(int(r.id), r.doe, r.status) for r in conn.execute(query.order_by(c.id))]


def capture_of_peer(store: Store, infohash: str, ip: str, port: int, sha256_hex: str) -> bytes | None:
    """The wire capture ``sha256_hex`` (64 hex digits) when an observation of this peer of swarm
    ``infohash`` names it, else None: a capture is found only through a peer the reader may see."""
    try:
        digest = bytes.fromhex(sha256_hex)
    except ValueError:
        return None
    if len(digest) != 32:
        return None
    o = observation.c
    named = sa.select(o.id).where(
        o.infohash == infohash, o.ip == ip, o.port == port, o.capture_sha256 == digest
    )
    with store.engine.connect() as conn:
        if conn.execute(named.limit(1)).first() is None:
            return None
        data = conn.execute(sa.select(capture.c.data).where(capture.c.sha256 == digest)).scalar()
    return None if data is None else bytes(data)
