"""Verified observations proven against the sealed ledger: the only evidence the legal workflow reads.

A row of the ``observation`` table is a copy; the ledger holds what was sealed. Someone who can write the
database file (drop the append-only triggers, UPDATE or INSERT rows, even register a ``node_key`` of their
own and sign with it) must not get an altered or invented row into a case, an exhibit, a notice or a
letter. So a verified-tier row is used only when every one of these holds:

1. it is sealed: ``ledger_node`` and ``ledger_index`` are set;
2. a batch of that node covering the index is sealed under a TRUSTED key: the batch's Ed25519 signature
   verifies over its stored signed bytes (:func:`swarmscope.evidence.seal.verify_seal`) and the key's
   fingerprint (hex SHA-256 of the raw 32-byte key) is one the caller trusts — never one merely because
   it sits in the ``node_key`` table, which the same writer could have filled; and crash recovery did not
   seal it late (its SIGNED bytes carry the mark, :func:`swarmscope.evidence.seal.late_seal`: such a batch
   only keeps the chain tiling; its records are "sealed late by recovery: not evidence",
   :mod:`swarmscope.store.ledger.recovery`). The unsigned ``recovered`` column is never read;
3. the chain entries of that batch link from their first ``prev_hash`` to the signed head hash
   (:func:`swarmscope.evidence.chain.verify_chain` with ``head``), so every record hash in it is signed;
4. the row, rebuilt into its record (:func:`swarmscope.store.ledger.queries.observation_from_row`), has
   canonical bytes (:func:`swarmscope.evidence.canonical.canonical_bytes`) whose SHA-256 is that entry's
   record hash, and the entry is of kind ``observation``;
5. no earlier proven row used the same entry, the same sealed record (equal record hash) or the same
   wire capture (``capture_sha256``): a capture hashes every event's UTC µs stamp and the probe's own
   secrets (:mod:`swarmscope.evidence.capture.recording`; one capture per probe run), so two honest
   observations never share one: a second one is a duplicate and counts once;
6. its start and end (UTC µs) are not after its batch's signed ``sealed_at_us`` (an observation is sealed
   after it ends, by the same evidence clock) and not after ``now_us`` of the caller's clock; its batch is
   not sealed over :data:`swarmscope.evidence.seal.CLOCK_STEP_TOLERANCE_US` before an EARLIER batch of the
   node (a node seals in chain order: the clock was set back, its times are not trusted; only batches
   whose signature verifies count, in signed order: :mod:`swarmscope.store.ledger.seal_clock`), nor while
   the clock was behind that of a later batch of the same boot, as the boot clock sealed beside both
   shows ("clock behind": it was corrected forward in between, :mod:`swarmscope.evidence.boot_clock`).

Every other verified-tier row is REFUSED and named (:class:`RefusedRow`). An inbound hit's port is the
observed or checked one (:mod:`.proven_ports`). Cost: one pass in chunks, one chain check per batch.

Source: the sealed ledger (SHA-256 chain, Ed25519 seals, RFC 8032); German courts' demand that a hit be
reproducible evidence, not a database row.
"""

from __future__ import annotations

import bisect
import hashlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import DecodeError, InputError
from swarmscope.evidence import seal as seals
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.chain import ChainEntry, verify_chain
from swarmscope.evidence.records import Observation, Source, Tier, us_to_iso
from swarmscope.evidence.seal import key_fingerprint, verify_seal
from swarmscope.store.ledger.entries import stored_batch
from swarmscope.store.ledger.proven_ports import wire_ports
from swarmscope.store.ledger.purge_records import PurgeRecords, bytes_missing_query, load_purge_records
from swarmscope.store.ledger.queries import observation_from_row
from swarmscope.store.ledger.schema import ledger_batch, ledger_entry, node_key, observation
from swarmscope.store.ledger.seal_clock import SealClock
from swarmscope.store.ledger.snapshot import read_snapshot

if TYPE_CHECKING:
    from swarmscope.store.database import Store

CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class ProvenHit:
    """A verified observation proven against the trusted ledger (times UTC µs)."""

    observation_id: int
    run_id: int
    infohash: str
    ip: str
    port: int  # the port it counts under: observed on the wire, or a claim we checked (proven_ports)
    started_us: int
    ended_us: int
    client: str | None
    client_version: str | None
    ledger_index: int
    verified_pieces: tuple[int, ...] = ()  # piece indices whose hash matched the torrent
    verified_blocks: tuple[tuple[int, int, int], ...] = ()  # (piece, begin, length) of proven blocks, bytes
    signer: str = ""  # hex fingerprint of the node key whose batch proves it: the vantage that saw it
    source_port: int | None = None  # inbound: the TCP source port observed
    claimed_port: int | None = None  # inbound: the BEP 10 listen port it claimed (p)
    peer_id: bytes | None = None  # the handshake's 20-byte peer id (BEP 3): whose claim a probe checked


@dataclass(frozen=True, slots=True)
class RefusedRow:
    """A verified-tier row the workflow does not use, and why."""

    observation_id: int
    ledger_index: int | None
    infohash: str
    ip: str
    port: int
    started_us: int  # as the row claims it (UTC µs): unproven
    reason: str
    duplicate: bool = False  # a second copy of a proven record or capture (the first one still counts)

    def describe(self) -> str:
        """``observation 12 (ledger index 40) 127.0.1.5:6881: reason``."""
        where = "not sealed" if self.ledger_index is None else f"ledger index {self.ledger_index}"
        return f"observation {self.observation_id} ({where}) {self.ip}:{self.port}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ProvenEvidence:
    """The outcome: proven hits and refused rows, each in observation id order."""

    hits: tuple[ProvenHit, ...]
    refused: tuple[RefusedRow, ...]


@dataclass(slots=True)
class _Batch:
    """A batch verdict: None when sealed under a trusted key and its chain holds, else why not."""

    problem: str | None
    sealed_at_us: int = 0
    first: int = 0
    last: int = -1
    entries: dict[int, tuple[str, bytes]] = field(default_factory=dict)  # index → (kind, record hash)
    signer: str = ""  # hex fingerprint of the trusted key that sealed it
    void: bool = False  # sealed late by recovery: it tiles the chain and proves none of its records
    clock_problem: str | None = None  # "clock set back/behind: ..." (store/ledger/seal_clock.py)


class _Prover:
    """Checks rows against batches of the ledger, caching each batch's verdict (see module docstring)."""

    def __init__(self, conn: sa.Connection, trusted: frozenset[str], now_us: int) -> None:
        self.conn, self.trusted, self.now_us = conn, trusted, now_us
        self.batches: dict[int, tuple[list[int], list[Any]]] = {}  # node id → (first indices, batch rows)
        self.verdicts: dict[int, _Batch] = {}  # ledger_batch.id → verdict
        self.seal_clock = SealClock(conn, trusted)  # signed seal times of the trusted keys' batches
        self.entries: dict[tuple[int, int], int] = {}  # (node, index) → first observation using it
        self.records: dict[bytes, int] = {}  # record hash → first observation
        self.captures: dict[bytes, int] = {}  # capture sha256 → first observation
        self.record: Observation | None = None  # the record last rebuilt by :meth:`check`
        self.signer = ""  # fingerprint of the key whose batch proved the row last checked

    def _node_batches(self, node: int) -> tuple[list[int], list[Any]]:
        if node not in self.batches:
            query = sa.select(ledger_batch).where(ledger_batch.c.node_id == node)
            rows = list(self.conn.execute(query.order_by(ledger_batch.c.first_index)))
            self.batches[node] = ([int(r.first_index) for r in rows], rows)
        return self.batches[node]

    def _verdict(self, row: Any) -> _Batch:
        if row.id not in self.verdicts:
            self.verdicts[row.id] = self._check_batch(row)
        return self.verdicts[row.id]

    def _check_batch(self, row: Any) -> _Batch:
        try:
            sealed = stored_batch(row, "").sealed
        except DecodeError as exc:
            return _Batch(f"its batch {row.id} does not decode ({exc})")
        if key_fingerprint(sealed.public_key_bytes) not in self.trusted:
            return _Batch(f"its batch {row.id} is sealed by an untrusted key")
        if not verify_seal(sealed, sealed.public_key_bytes):
            return _Batch(f"the signature of its batch {row.id} does not verify")
        b = sealed.batch
        e = ledger_entry.c
        query = (
            sa.select(e.idx, e.kind, e.record_hash, e.prev_hash, e.entry_hash)
            .where(e.node_id == row.node_id, e.idx >= b.first_index, e.idx <= b.last_index)
            .order_by(e.idx)
        )
        found = list(self.conn.execute(query))
        entries = [
            ChainEntry(int(r.idx), _raw(r.record_hash), _raw(r.prev_hash), _raw(r.entry_hash)) for r in found
        ]
        anchor = None
        if b.first_index > 0 and entries:
            anchor = ChainEntry(b.first_index - 1, b"", b"", entries[0].prev_hash)
        verdict = verify_chain(
            entries, [None] * len(entries), anchor=anchor, head=(b.last_index, b.head_hash)
        )
        if not entries or entries[0].index != b.first_index or not verdict.ok:
            detail = verdict.detail or "no entries"
            return _Batch(f"the chain of its batch {row.id} does not hold ({detail})")
        kinds = {en.index: (str(r.kind), en.record_hash) for en, r in zip(entries, found, strict=True)}
        signer = key_fingerprint(sealed.public_key_bytes)
        if seals.late_seal(b) is not None:  # the signed mark only: the column is anyone's
            problem = f"{seals.NOT_EVIDENCE} (batch {row.id})"
            return _Batch(problem, b.sealed_at_us, b.first_index, b.last_index, kinds, signer, void=True)
        step = self.seal_clock.step_back(sealed) or self.seal_clock.behind(sealed)
        return _Batch(None, b.sealed_at_us, b.first_index, b.last_index, kinds, signer, clock_problem=step)

    def _batch_for(self, node: int, index: int) -> _Batch | str:
        """The trusted batch holding ``index`` (any one that proves it), or why none does."""
        firsts, rows = self._node_batches(node)
        position = bisect.bisect_right(firsts, index)
        problem = "no sealed batch covers its ledger index"
        for row in reversed(rows[:position]):
            if row.last_index < index:
                continue
            verdict = self._verdict(row)
            if verdict.problem is None and verdict.first <= index <= verdict.last:
                return verdict
            problem = verdict.problem or problem
        return problem

    def check(self, row: Any) -> str | tuple[str, bool] | None:
        """None when ``row`` is proven; else the reason (with True for a duplicate)."""
        if row.ledger_node is None or row.ledger_index is None:
            return "not sealed in the ledger"
        node, index = int(row.ledger_node), int(row.ledger_index)
        batch = self._batch_for(node, index)
        if isinstance(batch, str):
            return batch
        kind, record_hash = batch.entries[index]
        self.signer = batch.signer
        if kind != "observation":
            return f"its ledger entry is a {kind}, not an observation"
        try:
            self.record = observation_from_row(row)
            rebuilt = canonical_bytes(self.record)
        except (
            DecodeError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
        ) as exc:  # columns of a wrong type
            return f"row altered: it no longer rebuilds into a record ({type(exc).__name__})"
        if hashlib.sha256(rebuilt).digest() != record_hash:
            return "row altered: it differs from its sealed record"
        if max(row.started_us, row.ended_us) > batch.sealed_at_us:
            return f"dated after its seal ({us_to_iso(batch.sealed_at_us)})"
        if max(row.started_us, row.ended_us) > self.now_us:
            return f"dated in the future (now {us_to_iso(self.now_us)})"
        if batch.clock_problem is not None:
            return batch.clock_problem
        return self._duplicate(row, node, index, record_hash)

    def _duplicate(self, row: Any, node: int, index: int, record_hash: bytes) -> tuple[str, bool] | None:
        capture = None if row.capture_sha256 is None else _raw(row.capture_sha256)
        seen = [
            ("ledger entry", self.entries.get((node, index))),
            ("sealed record", self.records.get(record_hash)),
            ("wire capture", None if capture is None else self.captures.get(capture)),
        ]
        for what, first in seen:
            if first is not None:
                return f"duplicate: the same {what} as observation {first} (counted once)", True
        self.entries[(node, index)] = self.records[record_hash] = row.id
        if capture is not None:
            self.captures[capture] = row.id
        return None


def _raw(value: Any) -> bytes:
    """Stored bytes (a value SQLite returns as text after tampering becomes its UTF-8 bytes)."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")


def _rows(conn: sa.Connection, infohash: str | None, ips: Iterable[str] | None) -> Iterator[Any]:
    query = sa.select(observation).where(observation.c.tier == Tier.VERIFIED.label)
    if infohash is not None:
        query = query.where(observation.c.infohash == infohash.lower())
    if ips is not None:
        query = query.where(observation.c.ip.in_(sorted(set(ips))))
    yield from conn.execute(query.order_by(observation.c.id).execution_options(yield_per=CHUNK))


def proven_observations(
    store: Store,
    trusted: Iterable[str],
    now_us: int,
    *,
    infohash: str | None = None,
    ips: Iterable[str] | None = None,
) -> ProvenEvidence:
    """Every verified-tier observation row, proven against the ledger or refused (module docstring).

    Args:
        store: an open store (read only). trusted: hex fingerprints of the node keys whose seals count
            (an empty set proves nothing). now_us: the caller's clock, UTC µs.
        infohash: one swarm only. ips: only these addresses.

    Returns:
        A :class:`ProvenEvidence`; rows are read in chunks of :data:`CHUNK`.
    """
    hits: list[ProvenHit] = []
    refused: list[RefusedRow] = []
    with read_snapshot(store.engine) as conn:  # the rows and the batches proving them: one state
        prover = _Prover(conn, frozenset(f.lower() for f in trusted), now_us)
        for row in _rows(conn, infohash, ips):
            problem = prover.check(row)
            if problem is None:
                record = prover.record  # the proven record itself: its fields are the sealed ones
                assert record is not None
                blocks = tuple((b.piece, b.begin, b.length) for b in record.verified_blocks)
                hits.append(
                    ProvenHit(
                        row.id, row.run_id, row.infohash, row.ip, row.port, row.started_us, row.ended_us,
                        row.client, row.client_version, int(row.ledger_index), tuple(record.verified_pieces),
                        blocks, prover.signer, record.source_port,
                        record.port if record.source == Source.INBOUND.value else None, record.peer_id,
                    )
                )  # fmt: skip
                continue
            reason, duplicate = problem if isinstance(problem, tuple) else (problem, False)
            index = None if row.ledger_index is None else int(row.ledger_index)
            refused.append(
                RefusedRow(row.id, index, row.infohash, row.ip, row.port, row.started_us, reason, duplicate)
            )
    return wire_ports(ProvenEvidence(tuple(hits), tuple(refused)), RefusedRow)


@dataclass(frozen=True, slots=True)
class EvidenceTrust:
    """What the workflow trusts: node key fingerprints (hex SHA-256 of raw keys) and its clock (UTC µs)."""

    fingerprints: frozenset[str]
    now_us: int


def store_trust(store: Store, trust: EvidenceTrust | None) -> EvidenceTrust:
    """``trust``, or else the key the store was opened with (a writer trusts its own node key) and the
    system clock (UTC µs) as "now".

    Raises:
        InputError: no ``trust`` and the store has no node key: nothing could be proven.
    """
    if trust is not None:
        return trust
    if store.node is None:
        raise InputError("no trusted node key: pass the node's key file (--node-key) or --trust-key")
    return EvidenceTrust(frozenset({store.node.fingerprint}), time.time_ns() // 1000)


class LedgerProver:
    """The same prover for any sealed record type: what a trusted seal says of one ledger entry.

    ``sealed_entry(node, index)`` gives ``(kind, record hash, sealed_at_us)`` of the entry when a batch
    sealed under a trusted key covers it and its chain holds (rules 2 and 3 of the module docstring), or
    the reason none does. ``node_problem(node)`` says why the node's ledger as stored is not wholly
    proven (a batch that fails, indices no batch covers, or an entry without canonical bytes that no purge
    record sealed under a trusted key covers: export's whole-ledger rule, :mod:`swarmscope.store.
    purge_records`), or None. Batch verdicts and the purge records are cached.
    """

    def __init__(self, conn: sa.Connection, trusted: frozenset[str], now_us: int) -> None:
        self._prover = _Prover(conn, trusted, now_us)
        self._purges: PurgeRecords | None = None

    def sealed_entry(self, node: int, index: int) -> tuple[str, bytes, int] | str:
        batch = self._prover._batch_for(node, index)
        if isinstance(batch, str):
            return batch
        kind, record_hash = batch.entries[index]
        return kind, record_hash, batch.sealed_at_us

    def node_problem(self, node: int) -> str | None:
        _firsts, rows = self._prover._node_batches(node)
        expected = 0
        for row in rows:
            verdict = self._prover._verdict(row)
            if verdict.problem is not None and not verdict.void:  # a void batch tiles, proving nothing
                return verdict.problem
            if verdict.first > expected:
                return f"ledger indices {expected}..{verdict.first - 1} are covered by no sealed batch"
            expected = max(expected, verdict.last + 1)
        return self._bytes_problem(node) if rows else "no sealed batch"

    def _purge_records(self) -> PurgeRecords:
        """Purge records sealed under a trusted key (the prover's own batches prove them)."""
        if self._purges is None:
            conn = self._prover.conn
            keys = conn.execute(sa.select(node_key.c.id, node_key.c.public_key))
            fingerprints = {int(i): key_fingerprint(_raw(k)) for i, k in keys}
            self._purges = load_purge_records(conn, self.sealed_entry, fingerprints)
        return self._purges

    def _bytes_problem(self, node: int) -> str | None:
        """Export's rule: every entry keeps its canonical bytes unless a purge record proven under a trusted
        key covers it (:mod:`swarmscope.store.ledger.purge_records`; every batch of the node is proven
        here)."""
        for row in list(self._prover.conn.execute(bytes_missing_query(node))):
            batch = self._prover._batch_for(node, int(row.idx))
            if isinstance(batch, str):
                return f"ledger index {row.idx}: {batch}"
            detail = self._purge_records().problem(batch.signer, row, batch.entries[int(row.idx)][1])
            if detail is not None:
                return f"ledger index {row.idx}: record bytes missing ({detail})"
        return None
