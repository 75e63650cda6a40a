"""Whether an evidence row is sealed evidence, and the peer records with that state (read-only).

An evidence row (observation, sighting, clock sample, run record) is evidence only when the sealed
ledger holds it (:mod:`swarmscope.store.ledger.commit`). Each row is in exactly one state:

- ``quarantined``: crash recovery (:mod:`swarmscope.store.ledger.recovery`, module docstring item 3) listed it
  in ``quarantined_row``: it has no ledger entry, or points past its node's chain head. Never sealed,
  never exported; the reason is recovery's.
- ``sealed``: its ``(ledger_node, ledger_index)`` lies inside a sealed batch of that node
  (``ledger_batch.first_index..last_index``; a batch sealed late by recovery, flagged ``recovered``,
  counts here, as a ledger state; its records are not evidence: the prover refuses them, so their rows
  never reach a case, :mod:`swarmscope.store.ledger.recovery`).
- ``unsealed``: anything else: no ledger entry and recovery has not looked at it yet (no writer opened
  the store since it was written: written before migration 0002, by an older version or by hand), or a
  ledger entry past the node's last seal (a half-written batch; the next writer seals it late).

Readers: ``report`` (:func:`proven_peer_records`, :func:`clock_verdicts`: only sealed clock samples judge
the clock) and ``export`` (:func:`rows_outside_ledger`: what it cannot hold, also attributions).
:func:`load_peer_records` reports the ledger state only. :func:`proven_peer_records` also proves each
sealed sighting and observation equal to its sealed record under a trusted node key
(:class:`swarmscope.store.ledger.row_proof.RowProof`): a row that is not is ``altered``; with no trusted
key, ``unchecked``. ``export`` runs the whole-ledger check
(:func:`swarmscope.store.ledger.verify.verify_ledger`) before anything leaves.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.bundle.settings import run_clock_policy
from swarmscope.evidence.clock_policy import flag_windows, flagged
from swarmscope.evidence.records import Attribution, ClockSample, Observation, Sighting
from swarmscope.evidence.seal import NOT_EVIDENCE
from swarmscope.evidence.summary import ALTERED, LATE, QUARANTINED, SEALED, UNCHECKED, UNSEALED, ClockVerdict
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.queries import (
    attribution_from_row,
    clock_sample_from_row,
    observation_from_row,
    run_rows,
    sighting_from_row,
)
from swarmscope.store.ledger.row_proof import RowProof
from swarmscope.store.ledger.schema import (
    attribution,
    clock_sample,
    ledger_batch,
    observation,
    quarantined_row,
    run_started,
    sighting,
)
from swarmscope.store.ledger.snapshot import Source, reading

if TYPE_CHECKING:
    from swarmscope.store.database import Store

_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class SealMap:
    """The sealed index ranges per node and the rows recovery quarantined.

    Args:
        firsts, lasts: node id → sorted first / last chain indices of its sealed batches.
        quarantined: (table name, row id) → recovery's reason.
    """

    firsts: dict[int, list[int]]
    lasts: dict[int, list[int]]
    quarantined: dict[tuple[str, int], str]

    def state(self, table: str, row_id: int, node: int | None, index: int | None) -> str:
        """``sealed``, ``unsealed`` or ``quarantined`` (module docstring) for one row."""
        if (table, row_id) in self.quarantined:
            return QUARANTINED
        if node is None or index is None or node not in self.firsts:
            return UNSEALED
        pos = bisect.bisect_right(self.firsts[node], index) - 1
        return SEALED if pos >= 0 and self.lasts[node][pos] >= index else UNSEALED


def seal_map(conn: sa.Connection) -> SealMap:
    """Read the batch ranges and the quarantine list (one pass over each table)."""
    firsts: dict[int, list[int]] = {}
    lasts: dict[int, list[int]] = {}
    b = ledger_batch.c
    for node, first, last in conn.execute(
        sa.select(b.node_id, b.first_index, b.last_index).order_by(b.first_index)
    ):
        firsts.setdefault(int(node), []).append(int(first))
        lasts.setdefault(int(node), []).append(int(last))
    q = quarantined_row.c
    quarantined = {(t, int(i)): r for t, i, r in conn.execute(sa.select(q.table_name, q.row_id, q.reason))}
    return SealMap(firsts, lasts, quarantined)


@dataclass(frozen=True, slots=True)
class StoredObservation:
    """An observation as stored: the record, its monitor run, its state (``sealed`` and so on)."""

    observation: Observation
    run_id: int
    state: str


@dataclass(frozen=True, slots=True)
class StoredSighting:
    """A sighting as stored: the record, its state (``sealed``, ``unsealed`` or ``quarantined``)."""

    sighting: Sighting
    state: str


def _rows(conn: sa.Connection, table: sa.Table, infohash: str | None) -> Iterator[sa.Row[Any]]:
    query = sa.select(table).order_by(table.c.id)
    if infohash is not None:
        query = query.where(table.c.infohash == infohash.lower())
    yield from conn.execute(query)


def load_peer_records(
    store: Store, *, infohash: str | None = None
) -> tuple[list[StoredSighting], list[StoredObservation]]:
    """Every sighting and observation (optionally of one swarm), in insertion order, with its state."""
    with store.engine.connect() as conn:
        seals = seal_map(conn)
        sightings = [
            StoredSighting(sighting_from_row(r), seals.state("sighting", r.id, r.ledger_node, r.ledger_index))
            for r in _rows(conn, sighting, infohash)
        ]
        observations = [
            StoredObservation(
                observation_from_row(r),
                int(r.run_id),
                seals.state("observation", r.id, r.ledger_node, r.ledger_index),
            )
            for r in _rows(conn, observation, infohash)
        ]
    return sightings, observations


@dataclass(frozen=True, slots=True)
class ProvenRecords:
    """:func:`proven_peer_records`: sightings and observations with their state (``sealed`` only when
    proven), and one line per row that is not evidence because it no longer equals its sealed record
    (``observation 12 (ledger index 40) 127.0.1.5:6881: reason``; rows that do not even rebuild into a
    record are named here and left out of the lists)."""

    sightings: list[StoredSighting]
    observations: list[StoredObservation]
    altered: list[str]


def _proven_state(state: str, proof: RowProof | None, reason: str | None) -> str:
    """The report state of a row in ledger state ``state`` once proven (``reason`` None) or not."""
    if state != SEALED:
        return state
    if proof is None:
        return UNCHECKED
    if reason is not None and reason.startswith(NOT_EVIDENCE):
        return LATE
    return SEALED if reason is None else ALTERED


def _decoded(decode: Callable[[Any], _R], r: Any, reason: str | None) -> _R | None:
    """The row's record; None when a row already found not proven does not rebuild (it is named instead)."""
    if reason is None:
        return decode(r)  # unproven rows decode as before: a row that cannot is a broken store (traceback)
    try:
        return decode(r)
    except (DecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _describe(table: str, r: Any, reason: str) -> str:
    where = "not sealed" if r.ledger_index is None else f"ledger index {r.ledger_index}"
    return f"{table} {r.id} ({where}) {r.ip}:{r.port}: {reason}"


def proven_peer_records(
    store: Store, trust: EvidenceTrust | None, *, infohash: str | None = None
) -> ProvenRecords:
    """Like :func:`load_peer_records`, but a row in a sealed batch is ``sealed`` only when it is proven equal
    to its sealed record under a trusted key (:class:`swarmscope.store.ledger.row_proof.RowProof`), else
    ``altered``; with no ``trust`` (no trusted key) such rows are ``unchecked``. Unsealed and quarantined
    rows keep that state. Cost: one canonical encoding and SHA-256 per sealed row, one seal and chain check
    per batch.
    """
    altered: list[str] = []
    sightings: list[StoredSighting] = []
    observations: list[StoredObservation] = []
    with store.engine.connect() as conn, store.engine.connect() as ledger:
        seals = seal_map(conn)
        proof = None if trust is None else RowProof(ledger, trust)
        for r in _rows(conn, sighting, infohash):
            state = seals.state("sighting", r.id, r.ledger_node, r.ledger_index)
            seen, reason = (None, None) if proof is None or state != SEALED else proof.sighting(r)
            seen = seen if seen is not None else _decoded(sighting_from_row, r, reason)
            if reason is not None:
                altered.append(_describe("sighting", r, reason))
            if seen is not None:
                sightings.append(StoredSighting(seen, _proven_state(state, proof, reason)))
        for r in _rows(conn, observation, infohash):
            state = seals.state("observation", r.id, r.ledger_node, r.ledger_index)
            record, reason = (None, None) if proof is None or state != SEALED else proof.observation(r)
            record = record if record is not None else _decoded(observation_from_row, r, reason)
            if reason is not None:
                altered.append(_describe("observation", r, reason))
            if record is not None:
                observations.append(
                    StoredObservation(record, int(r.run_id), _proven_state(state, proof, reason))
                )
    return ProvenRecords(sightings, observations, altered)


def sealed_clock_samples(store: Store) -> dict[int, list[ClockSample]]:
    """The SEALED clock samples per monitor run id, in insertion order (unsealed ones are not evidence)."""
    out: dict[int, list[ClockSample]] = {}
    with store.engine.connect() as conn:
        seals = seal_map(conn)
        for r in conn.execute(sa.select(clock_sample).order_by(clock_sample.c.id)):
            if seals.state("clock_sample", r.id, r.ledger_node, r.ledger_index) == SEALED:
                out.setdefault(int(r.run_id), []).append(clock_sample_from_row(r))
    return out


def clock_verdicts(store: Store, observations: list[StoredObservation]) -> list[ClockVerdict]:
    """The clock at each observation's start, as ``cases build`` judges a hit (one verdict each, in order).

    Each run's SEALED clock samples give its flag windows (:func:`clock_policy.flag_windows`) under the
    policy sealed in that run's settings (:func:`bundle.settings.run_clock_policy`: ``clock_threshold_ms``,
    default 100 ms, or the commercial-anchor preset). ``flagged``: the observation started in a window;
    ``unmeasured``: its run has no sealed clock sample (nothing verified the clock, nothing flagged);
    ``ok``: otherwise.
    """
    samples = sealed_clock_samples(store)
    settings = {run.id: run.settings if isinstance(run.settings, dict) else {} for run in run_rows(store)}
    windows = {
        run_id: flag_windows(run_samples, run_clock_policy(settings.get(run_id, {})))
        for run_id, run_samples in samples.items()
    }
    out: list[ClockVerdict] = []
    for stored in observations:
        if stored.run_id not in windows:
            out.append("unmeasured")
        elif flagged(stored.observation.started_us, windows[stored.run_id]) is not None:
            out.append("flagged")
        else:
            out.append("ok")
    return out


@dataclass(frozen=True, slots=True)
class OutsideLedger:
    """A row that has no ledger entry: its table, row id, record (observations, sightings and
    attributions; None for clock samples and run records), and recovery's quarantine reason (None: not
    yet checked by recovery)."""

    table: str
    row_id: int
    record: Observation | Sighting | Attribution | None
    quarantined: str | None


_DECODERS: dict[str, Callable[[sa.Row[Any]], Observation | Sighting | Attribution]] = {
    "observation": observation_from_row,
    "sighting": sighting_from_row,
    "attribution": attribution_from_row,
}


def rows_outside_ledger(store: Source) -> list[OutsideLedger]:
    """Every evidence row with no ledger entry (``ledger_index`` NULL), by table then row id (a store or
    a snapshot, :mod:`swarmscope.store.ledger.snapshot`).

    Such rows can never be exported: a bundle is built from the ledger's canonical bytes.
    """
    out: list[OutsideLedger] = []
    with reading(store) as conn:
        seals = seal_map(conn)
        for table in (observation, sighting, clock_sample, run_started, attribution):
            decode = _DECODERS.get(table.name)
            query = sa.select(table).where(table.c.ledger_index.is_(None)).order_by(table.c.id)
            for r in conn.execute(query):
                reason = seals.quarantined.get((table.name, int(r.id)))
                out.append(
                    OutsideLedger(table.name, int(r.id), None if decode is None else decode(r), reason)
                )
    return out
