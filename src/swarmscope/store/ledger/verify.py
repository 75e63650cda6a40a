"""Full check of the stored ledger: every entry, every link, every seal, the tiling, every record row.

Where :mod:`swarmscope.store.ledger.recovery` checks only the tail a writer is about to extend, this
re-derives everything, as an opposing expert would from the database alone: each entry's record hash from its
canonical bytes and its link hash; each batch's signature by the node's registered key over exactly the
stored signed bytes (and that the columns say what the bytes say); that the batches tile the chain from
index 0 with no gap, overlap or unsealed tail, each ending on its head hash; and that every evidence row
rebuilt from its columns has exactly the canonical bytes of its ledger entry (and that every entry has
its row).

An entry redacted by a retention purge (migration 0004: canonical bytes NULL) is not a problem when a
proven purge record covers it (:mod:`swarmscope.store.ledger.purge_records`: a sealed ``redaction`` record, in
a batch whose seal verifies under the key of any node of this store and whose chain holds, names its node
fingerprint, index, record hash and a redactable kind, and the ``kind`` / ``redacted_rule`` /
``redacted_us`` columns agree with it): its index, links and hashes are checked as any other, its row is
gone with it, and the verdict counts it per rule (``redacted``) and lists the purge records that cover
entries of the checked nodes (``purges``). Any other entry without bytes is a problem ("redacted without a
sealed purge record", "kind column altered"), purges made before purge records existed included.

A batch crash recovery sealed late (:func:`swarmscope.evidence.seal.late_seal`) tiles the chain and is
checked as any other, but vouches for nothing: the verdict lists it (``late``: its entries are "sealed late
by recovery: not evidence"). A batch whose unsigned ``recovered`` column is set while its signed bytes
carry no late mark (an older version's late batch, or a column someone set) is listed apart
(``column_only``): it is judged by its signed bytes, as a normal batch.
A batch sealed more than :data:`swarmscope.evidence.seal.CLOCK_STEP_TOLERANCE_US`
(2 s) earlier than a batch before it in the node's chain proves the evidence clock was set back (a node
seals in chain order): the verdict lists the step (``clock_steps``); the workflow refuses the hits in such
batches (:mod:`swarmscope.store.ledger.proven`, rule 6). So is a batch sealed while the clock was behind
that of a later batch of the same boot (``clock_behind``: the boot clock sealed beside both shows it,
:mod:`swarmscope.evidence.boot_clock`). Only batches whose signature verifies count, in the order of their
SIGNED first index (:mod:`swarmscope.store.ledger.seal_clock`).
An observation carrying the capture of an earlier one of its node is listed (``duplicates``: one hit sealed
twice, counted once, left out of exports: :mod:`swarmscope.evidence.duplicates`); the ledger still holds.

Source: README "Sealed ledger" and "Crash safety"; README "Retention" (purged entries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.chain import ChainEntry, verify_chain
from swarmscope.evidence.duplicates import CaptureIndex
from swarmscope.evidence.records import Redaction, WorkflowEvent
from swarmscope.evidence.seal import key_fingerprint, late_seal, verify_seal
from swarmscope.store.ledger import queries
from swarmscope.store.ledger.commit import columns_match
from swarmscope.store.ledger.entries import NodeKeyRow, load_ledger, node_keys, stored_batch
from swarmscope.store.ledger.proven import LedgerProver
from swarmscope.store.ledger.purge_records import (
    PurgeRecord,
    PurgeRecords,
    bytes_missing_query,
    load_purge_records,
)
from swarmscope.store.ledger.record_rows import READERS
from swarmscope.store.ledger.schema import (
    attribution,
    clock_sample,
    ledger_batch,
    ledger_entry,
    observation,
    redaction,
    run_started,
    sighting,
    workflow_event,
)
from swarmscope.store.ledger.seal_clock import ClockBehind, ClockStep, chain_clock_faults
from swarmscope.store.ledger.snapshot import Source, read_snapshot

if TYPE_CHECKING:
    pass

MAX_PROBLEMS = 100
_CHUNK = 10_000
_ROW_RECORDS: tuple[tuple[sa.Table, Callable[[Any], Any]], ...] = (
    (observation, queries.observation_from_row),
    (sighting, queries.sighting_from_row),
    (clock_sample, queries.clock_sample_from_row),
    (run_started, queries.run_started_from_row),
    (attribution, queries.attribution_from_row),
    (redaction, READERS[Redaction]),
    (workflow_event, READERS[WorkflowEvent]),
)


@dataclass(frozen=True, slots=True)
class LedgerProblem:
    """One thing that does not hold: node fingerprint, chain index (or None), what, detail."""

    node: str
    index: int | None
    what: str
    detail: str


@dataclass(frozen=True, slots=True)
class LedgerVerdict:
    """Outcome of :func:`verify_ledger`: ok only when ``problems`` is empty; counts of what was checked."""

    ok: bool
    nodes: int
    entries: int
    batches: int
    rows: int
    problems: tuple[LedgerProblem, ...]
    redacted: tuple[tuple[str, int], ...] = ()  # (purge rule, entries purged under it)
    # the purge records covering them: (sealing node fingerprint, chain index, rule, purged_at_us, entries)
    purges: tuple[tuple[str, int, str, int, int], ...] = ()
    heads: tuple[CheckedHead, ...] = ()  # per checked node that sealed: the head the snapshot ended on
    late: tuple[LateBatch, ...] = ()  # batches sealed late by crash recovery: their entries are not evidence
    clock_steps: tuple[ClockStep, ...] = ()  # batches sealed earlier than the batch before them
    column_only: tuple[LateBatch, ...] = ()  # ``recovered`` column set, no signed late mark: judged as sealed
    clock_behind: tuple[ClockBehind, ...] = ()  # batches sealed while the clock was behind (boot clock)
    duplicates: tuple[tuple[str, int, int], ...] = ()  # (node, chain index, index of its capture's first)


@dataclass(frozen=True, slots=True)
class LateBatch:
    """A batch crash recovery sealed late: node fingerprint, ``ledger_batch.id``, first and last index."""

    node: str
    batch: int
    first: int
    last: int

    @property
    def entries(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class CheckedHead:
    """The newest sealed batch of one node in the snapshot checked: node fingerprint (derived from its stored
    public key, as an anchor names it: :mod:`swarmscope.store.ledger.head_anchor`), its last chain
    index, its ``ledger_batch.id`` and head hash (32 bytes). A batch committed after the snapshot was
    taken is not covered by the verdict."""

    node: str
    index: int
    batch: int
    head_hash: bytes


_Item = tuple[ChainEntry, str, bytes | None]


def _chunks(items: Iterator[_Item]) -> Iterator[list[_Item]]:
    chunk: list[_Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_chain(
    conn: sa.Connection,
    node: NodeKeyRow,
    heads: dict[int, bytes],
    out: list[LedgerProblem],
    duplicates: list[tuple[str, int, int]],
) -> int:
    """Verify the node's chain; compare entry hashes at batch ends with ``heads``; collect the node's
    duplicate captures (node, index, first index) into ``duplicates``. Returns entry count."""
    anchor: ChainEntry | None = None
    count, captures = 0, CaptureIndex()
    for chunk in _chunks(load_ledger(conn, node=node.fingerprint)):
        entries = [e for e, _k, _c in chunk]
        verdict = verify_chain(entries, [c for _e, _k, c in chunk], anchor=anchor)
        if not verdict.ok:
            index = entries[verdict.position or 0].index
            out.append(LedgerProblem(node.fingerprint, index, f"chain: {verdict.problem}", verdict.detail))
            return count + (verdict.position or 0)
        for entry, kind, data in chunk:
            if entry.index in heads and heads.pop(entry.index) != entry.entry_hash:
                out.append(LedgerProblem(node.fingerprint, entry.index, "batch head", "head_hash differs"))
            first = captures.add_entry(entry.index, kind, data)
            if first is not None:
                duplicates.append((node.fingerprint, entry.index, first))
        anchor, count = entries[-1], count + len(entries)
    return count


@dataclass(slots=True)
class _Seen:
    """What the batch pass collects besides problems: newest heads, late batches, clock steps back."""

    last: list[CheckedHead]
    late: list[LateBatch]
    steps: list[ClockStep]
    column_only: list[LateBatch] = field(default_factory=list)
    behind: list[ClockBehind] = field(default_factory=list)
    signed: list[tuple[int, int, Any]] = field(default_factory=list)  # one node's (first, id, Batch)

    def batch(self, node: str, row_id: int, b: Any, column: bool, signed: bool) -> None:
        if late_seal(b) is not None:
            self.late.append(LateBatch(node, row_id, b.first_index, b.last_index))
        elif column:
            self.column_only.append(LateBatch(node, row_id, b.first_index, b.last_index))
        if signed:  # a seal time no key signed is no time of the node's clock
            self.signed.append((b.first_index, row_id, b))

    def node_done(self, node: str) -> None:
        """The clock faults among the node's signed batches, in SIGNED chain order (not the columns')."""
        steps, behind = chain_clock_faults(node, self.signed)
        self.steps += steps
        self.behind += behind
        self.signed = []


def _check_batches(
    conn: sa.Connection, node: NodeKeyRow, out: list[LedgerProblem], seen: _Seen
) -> tuple[dict[int, bytes], int, int]:
    """Check seals and tiling; returns (last index → head hash, number of batches, next expected index).
    The newest batch read is appended to ``seen.last``; late batches and clock steps back to ``seen``."""
    heads: dict[int, bytes] = {}
    expected = 0
    seen.signed = []
    query = (
        sa.select(ledger_batch).where(ledger_batch.c.node_id == node.id).order_by(ledger_batch.c.first_index)
    )
    rows = conn.execute(query).all()
    for row in rows:
        try:
            sealed = stored_batch(row, node.fingerprint).sealed
        except DecodeError as exc:
            out.append(
                LedgerProblem(node.fingerprint, row.first_index, "batch bytes", f"batch {row.id}: {exc}")
            )
            continue
        b = sealed.batch
        if not columns_match(sealed, row):
            out.append(LedgerProblem(node.fingerprint, b.first_index, "batch columns", f"batch {row.id}"))
        signed = verify_seal(sealed, node.public_key)
        if not signed:
            out.append(LedgerProblem(node.fingerprint, b.first_index, "signature", f"batch {row.id}"))
        if b.first_index != expected:
            what = "gap between batches" if b.first_index > expected else "batches overlap"
            out.append(LedgerProblem(node.fingerprint, b.first_index, what, f"expected {expected}"))
        heads[b.last_index] = b.head_hash
        expected = max(expected, b.last_index + 1)
        seen.batch(node.fingerprint, int(row.id), b, bool(row.recovered), signed)
    seen.node_done(node.fingerprint)
    if rows:
        new = rows[-1]
        own = key_fingerprint(bytes(node.public_key))  # never the fingerprint column: an edit could rename
        seen.last.append(CheckedHead(own, int(new.last_index), int(new.id), new.head_hash))
    return heads, len(rows), expected


def _check_rows(conn: sa.Connection, node: NodeKeyRow, out: list[LedgerProblem]) -> int:
    """Every row of this node rebuilds to its entry's canonical bytes; every entry has its row."""
    checked = 0
    e = ledger_entry
    for table, rebuild in _ROW_RECORDS:
        join = table.outerjoin(
            e, sa.and_(e.c.node_id == table.c.ledger_node, e.c.idx == table.c.ledger_index)
        )
        query = (
            sa.select(table, e.c.canonical, e.c.kind).select_from(join).where(table.c.ledger_node == node.id)
        )
        for row in conn.execute(query.order_by(table.c.id).execution_options(yield_per=_CHUNK)):
            checked += 1
            if row.kind == table.name and row.canonical is None:
                detail = f"{table.name} row {row.id}: its ledger entry was redacted but the row remains"
                out.append(LedgerProblem(node.fingerprint, row.ledger_index, "row of a purged entry", detail))
            elif row.canonical is None or row.kind != table.name:
                detail = f"{table.name} row {row.id}: no {table.name} entry at its index"
                out.append(LedgerProblem(node.fingerprint, row.ledger_index, "row without entry", detail))
            elif canonical_bytes(rebuild(row)) != row.canonical:
                detail = f"{table.name} row {row.id} differs from its sealed canonical bytes"
                out.append(LedgerProblem(node.fingerprint, row.ledger_index, "row altered", detail))
            if len(out) >= MAX_PROBLEMS:
                return checked
        entries = conn.execute(
            sa.select(sa.func.count()).where(
                e.c.node_id == node.id, e.c.kind == table.name, e.c.canonical.is_not(None)
            )
        ).scalar_one()
        rows = conn.execute(sa.select(sa.func.count()).where(table.c.ledger_node == node.id)).scalar_one()
        if entries != rows:
            detail = f"{entries} {table.name} entries, {rows} rows"
            out.append(LedgerProblem(node.fingerprint, None, "entries without rows", detail))
    return checked


def _check_redactions(
    conn: sa.Connection,
    node: NodeKeyRow,
    purges: PurgeRecords,
    out: list[LedgerProblem],
    used: set[PurgeRecord],
) -> dict[str, int]:
    """Entries without canonical bytes: purge rule → count; one no proven purge record covers is a problem
    (:mod:`swarmscope.store.ledger.purge_records`). The purge records used are added to ``used``."""
    counts: dict[str, int] = {}
    fingerprint = key_fingerprint(node.public_key)
    for r in conn.execute(bytes_missing_query(node.id)):
        detail = purges.problem(fingerprint, r, bytes(r.record_hash))
        if detail is not None:
            out.append(LedgerProblem(node.fingerprint, int(r.idx), "record bytes missing", detail))
            continue
        _named, purge = purges.covers[(fingerprint, int(r.idx))]
        used.add(purge)
        counts[purge.record.rule] = counts.get(purge.record.rule, 0) + 1
    return counts


def _summary(purge: PurgeRecord) -> tuple[str, int, str, int, int]:
    """(sealing node fingerprint, chain index, rule, purged_at_us, entries) of a purge record."""
    return purge.node, purge.index, purge.record.rule, purge.record.purged_at_us, len(purge.record.entries)


def _purge_records(conn: sa.Connection, every: list[NodeKeyRow], checked: list[NodeKeyRow]) -> PurgeRecords:
    """The purge records sealed by any node of the store (``every``; no trust anchor here: the verdict
    lists them); none are looked for (a scan of every entry's bytes) while no entry of the ``checked``
    nodes lacks its bytes."""
    fingerprints = {n.id: key_fingerprint(n.public_key) for n in every}
    e = ledger_entry.c
    wanted = [n.id for n in checked]
    missing = sa.select(e.id).where(e.node_id.in_(wanted), e.canonical.is_(None)).limit(1)
    if conn.execute(missing).first() is None:
        return PurgeRecords()
    prover = LedgerProver(conn, frozenset(fingerprints.values()), 0)
    return load_purge_records(conn, prover.sealed_entry, fingerprints)


def verify_ledger(store: Source, node: str | None = None) -> LedgerVerdict:
    """Check the whole ledger of one node (fingerprint hex) or of every node (see module docstring), in one
    read snapshot (:mod:`swarmscope.store.ledger.snapshot`): a batch a live writer commits meanwhile is
    neither seen in part nor a problem; the verdict covers the chain up to ``heads``.

    Args:
        store: an open store (read-only use), or the connection of a snapshot the caller reads more in.
        node: a fingerprint, or None for all nodes.

    Returns:
        A :class:`LedgerVerdict`; at most :data:`MAX_PROBLEMS` problems are listed.

    Source: README "Sealed ledger", "Crash safety" and "Export and verify".
    """
    if isinstance(store, sa.Connection):
        return _verify(store, node)
    with read_snapshot(store.engine) as conn:
        return _verify(conn, node)


def _verify(conn: sa.Connection, node: str | None) -> LedgerVerdict:
    """:func:`verify_ledger` inside its snapshot."""
    problems: list[LedgerProblem] = []
    every = node_keys(conn)
    nodes = [n for n in every if node is None or n.fingerprint == node.lower()]
    purges = _purge_records(conn, every, nodes)
    used: set[PurgeRecord] = set()
    entries = batches = rows = 0
    redacted: dict[str, int] = {}
    seen = _Seen([], [], [])
    duplicates: list[tuple[str, int, int]] = []
    for n in nodes:
        for rule, count_ in _check_redactions(conn, n, purges, problems, used).items():
            redacted[rule] = redacted.get(rule, 0) + count_
        heads, count, sealed_to = _check_batches(conn, n, problems, seen)
        chain_length = _check_chain(conn, n, heads, problems, duplicates)
        if not problems and chain_length != sealed_to:
            what = "unsealed entries" if chain_length > sealed_to else "batches beyond the chain"
            detail = f"{chain_length} entries, sealed to {sealed_to}"
            problems.append(LedgerProblem(n.fingerprint, min(chain_length, sealed_to), what, detail))
        rows += _check_rows(conn, n, problems)
        entries, batches = entries + chain_length, batches + count
    return LedgerVerdict(
        not problems,
        len(nodes),
        entries,
        batches,
        rows,
        tuple(problems[:MAX_PROBLEMS]),
        tuple(sorted(redacted.items())),
        tuple(sorted(_summary(p) for p in used)),
        tuple(seen.last),
        tuple(seen.late),
        tuple(seen.steps),
        tuple(seen.column_only),
        tuple(seen.behind),
        tuple(duplicates),
    )
