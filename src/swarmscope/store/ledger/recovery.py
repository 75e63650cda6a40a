"""Crash recovery of a node's ledger, run by every writer when it opens the store.

Commits are atomic (:mod:`swarmscope.store.ledger.commit`): rows, chain entries and the seal share one
transaction, so a SIGKILL or power loss leaves the last batch wholly present or wholly absent. Recovery
still checks, because the evidence must not rest on that argument alone, and because a database may hold
rows written another way (before migration 0002, by an older version, or by hand). It detects:

1. **The sealed chain does not hold.** The WHOLE chain is checked, cheaply: every batch (its signed
   bytes decode and say what its columns say, its Ed25519 signature, the batches tile the chain from
   index 0 with no gap or overlap), and every sealed entry (its record hash is SHA-256 of its stored
   canonical bytes, its link hash, its link to the previous entry, each batch's last entry is its signed
   head). Not done here: rebuilding each evidence row from its columns (the expensive part; see
   :func:`swarmscope.store.ledger.verify.verify_ledger`, which the export runs). On any failure the
   ledger is damaged and nothing can honestly extend it, so recovery refuses (``StoreError`` naming the
   first bad chain index). No write happens.
2. **Chain entries past the last seal.** This node's writer never leaves any (rows, entries and seal
   commit in one transaction), so they were written another way: by an older version, by hand, or by
   someone who can write the database file but lacks the node key. Their hashes need no key, so they
   prove nothing, and the node key must not make them proof. If they chain correctly from the sealed
   head, they are sealed now only to keep the chain tiling (the next batch starts after them), in a batch
   flagged ``recovered`` (``recovered_detail`` says what was found and when) whose SIGNED ``clock`` holds
   :data:`swarmscope.evidence.seal.LATE_SEAL`: a batch that vouches for nothing. Every prover
   (:mod:`swarmscope.store.ledger.proven`, hence cases, exhibits, notices, letters, accounts and the
   workflow history) refuses a record of such a batch as "sealed late by recovery: not evidence";
   ``verify --db`` and the bundle verifier count them. A database writer cannot clear the flag (it is
   signed). The sealed workflow history and the accounts skip such records (listed as late) rather than
   freezing: an honest event sits in a batch sealed normally, so skipping them hides none.
   The unsigned ``recovered`` column alone decides nothing: it can be set on an honest batch (which must
   not refuse or freeze honest records) and cleared on a late one, so it cannot tell the two apart either
   way. A batch sealed late by an OLDER version (column set, no signed mark) is therefore judged by its
   signed bytes, as a normal batch; ``verify --db`` lists it ("recovered column") for the operator to
   check. The honest options were: honour the column (a writer freezes or voids any honest batch, and
   clearing it launders the old late batch anyway) or ignore it (the old late batch counts, as it would
   once the column is cleared); only the node key can tell them apart, and the old version did not sign
   it. If they do not chain, recovery refuses as in 1.
3. **Evidence rows without a ledger entry** (``ledger_index`` NULL), or pointing past this node's chain
   head: they are quarantined, i.e. listed in ``quarantined_row`` with the reason (rows are append-only,
   so they cannot be deleted); they are never sealed late, since no trustworthy canonical bytes for them
   were recorded at the time, and exports built on the ledger never include them.

Every action is reported in the :class:`RecoveryReport`; a clean open reports none.

Entries redacted by a retention purge (README "Retention", migration 0004: canonical bytes NULL) are
normal in a sealed batch: their hashes and links are checked as any other. The purge never redacts an
unsealed entry, so one found after the last seal is refused rather than sealed late. Whether a redaction
is a recorded purge (a proven purge record names it, :mod:`swarmscope.store.ledger.purge_records`) is decided
by ``verify_ledger`` and the workflow's prover, not here: appending to a chain hides nothing in it.

Source: README "Crash safety" (a half-written batch is detected and handled, not silently kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.chain import ChainEntry, ChainVerdict, verify_chain
from swarmscope.evidence.seal import LATE_SEAL, Batch, seal_batch, verify_seal
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.schema import (
    clock_sample,
    ledger_batch,
    ledger_entry,
    observation,
    quarantined_row,
    run_started,
    sighting,
)

RECORD_TABLES = (observation, sighting, clock_sample, run_started)
_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What recovery found and did for one node.

    Args:
        node: the node's fingerprint. head_index: last chain index after recovery (None: empty ledger).
        checked_entries: entries re-hashed (the whole sealed chain and anything after it).
        recovered_batch: (first, last) index of entries found unsealed and sealed now, else None.
        recovered_batch_id: its ``ledger_batch.id``. quarantined: table → rows newly quarantined.
        actions: one line per action taken (empty when the ledger was clean).
    """

    node: str
    head_index: int | None
    checked_entries: int
    recovered_batch: tuple[int, int] | None = None
    recovered_batch_id: int | None = None
    quarantined: dict[str, int] = field(default_factory=dict)
    actions: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """True when recovery found nothing to handle."""
        return not self.actions


def _entries(
    conn: sa.Connection, node: ledger.Node, first: int, last: int | None = None
) -> tuple[list[ChainEntry], list[bytes | None]]:
    e = ledger_entry
    query = (
        sa.select(e.c.idx, e.c.record_hash, e.c.prev_hash, e.c.entry_hash, e.c.canonical)
        .where(e.c.node_id == node.id, e.c.idx >= first)
        .order_by(e.c.idx)
    )
    if last is not None:
        query = query.where(e.c.idx <= last)
    rows = conn.execute(query).all()
    return [ChainEntry(int(r.idx), r.record_hash, r.prev_hash, r.entry_hash) for r in rows], [
        r.canonical for r in rows
    ]


def _check_seals(conn: sa.Connection, node: ledger.Node) -> dict[int, bytes]:
    """Every batch: signed bytes decode and match the columns, signature, tiling from 0; last → head."""
    rows = conn.execute(
        sa.select(ledger_batch).where(ledger_batch.c.node_id == node.id).order_by(ledger_batch.c.first_index)
    ).all()
    heads: dict[int, bytes] = {}
    expected = 0
    for row in rows:
        where = f"ledger damaged at index {row.first_index}: batch {row.id}"
        try:
            sealed = ledger.sealed_batch(row)
        except DecodeError as exc:
            raise ledger.LedgerStateError(f"{where} bytes do not decode ({exc})") from exc
        b = sealed.batch
        if not ledger.columns_match(sealed, row):
            raise ledger.LedgerStateError(f"{where} columns differ from its signed bytes")
        if not verify_seal(sealed, node.public_key):
            raise ledger.LedgerStateError(f"{where} signature does not verify")
        if b.first_index != expected:
            what = "leaves a gap" if b.first_index > expected else "overlaps the previous batch"
            raise ledger.LedgerStateError(f"{where} {what} (expected first index {expected})")
        heads[b.last_index] = b.head_hash
        expected = b.last_index + 1
    return heads


def _check_sealed_chain(conn: sa.Connection, node: ledger.Node) -> tuple[ChainEntry | None, int]:
    """Check the WHOLE sealed chain (module docstring, 1); returns (last sealed entry or None, entries)."""
    heads = _check_seals(conn, node)
    if not heads:
        return None, 0
    sealed_to = max(heads)
    e = ledger_entry
    query = (
        sa.select(e.c.idx, e.c.record_hash, e.c.prev_hash, e.c.entry_hash, e.c.canonical)
        .where(e.c.node_id == node.id, e.c.idx <= sealed_to)
        .order_by(e.c.idx)
    )
    anchor: ChainEntry | None = None
    count = 0
    # yield_per on this one statement only: set on the connection it would turn the write transaction's
    # later INSERTs into server-side cursors on PostgreSQL ("DECLARE CURSOR FOR INSERT")
    for chunk in conn.execute(query, execution_options={"yield_per": _CHUNK}).partitions():
        entries = [ChainEntry(int(r.idx), r.record_hash, r.prev_hash, r.entry_hash) for r in chunk]
        verdict = verify_chain(entries, [r.canonical for r in chunk], anchor=anchor)
        if not verdict.ok:
            where = entries[verdict.position or 0].index if entries else count
            raise ledger.LedgerStateError(
                f"ledger damaged at index {where}: {verdict.problem} ({verdict.detail})"
            )
        for entry in entries:
            head = heads.get(entry.index)
            if head is not None and head != entry.entry_hash:
                raise ledger.LedgerStateError(
                    f"ledger damaged at index {entry.index}: not the head its batch signed"
                )
        anchor, count = entries[-1], count + len(entries)
    if anchor is None or anchor.index != sealed_to:
        at = 0 if anchor is None else anchor.index + 1
        raise ledger.LedgerStateError(f"ledger damaged at index {at}: sealed entries are missing")
    return anchor, count


def _seal_orphans(
    conn: sa.Connection, node: ledger.Node, sealed_head: ChainEntry | None, now_us: int
) -> tuple[tuple[int, int], int, int] | None:
    """Seal chain entries found after the last seal (if they chain) in a batch that vouches for nothing
    (module docstring, 2); returns ((first, last), batch id, n)."""
    first = 0 if sealed_head is None else sealed_head.index + 1
    entries, canonicals = _entries(conn, node, first)
    if not entries:
        return None
    verdict = verify_chain(entries, canonicals, anchor=sealed_head)
    if verdict.ok and None in canonicals:  # a purge redacts sealed entries only: these bytes are lost
        verdict = ChainVerdict(False, canonicals.index(None), detail="record bytes missing (redacted)")
    if not verdict.ok:
        where = first + (verdict.position or 0)
        raise ledger.LedgerStateError(
            f"ledger damaged: unsealed entries after index {first - 1} do not chain at index {where}: "
            f"{verdict.problem} ({verdict.detail}); refusing to seal or extend them"
        )
    assert node.private_key is not None
    span = (entries[0].index, entries[-1].index)
    detail = (
        f"recovered: {len(entries)} chain entries (index {span[0]}..{span[1]}) were found without a seal "
        f"when the store was opened; their hashes and links verified; sealed late at {now_us} us UTC "
        "to keep the chain tiling: not evidence"
    )
    clock = {LATE_SEAL: detail}
    sealed = seal_batch(Batch(span[0], span[1], entries[-1].entry_hash, now_us, clock), node.private_key)
    return span, ledger.insert_batch(conn, node, sealed, detail), len(entries)


def _quarantine(conn: sa.Connection, node: ledger.Node, head_index: int, now_us: int) -> dict[str, int]:
    """Quarantine evidence rows without a (valid) ledger link; returns table → rows newly quarantined."""
    done = sa.select(quarantined_row.c.row_id).where(quarantined_row.c.table_name == sa.bindparam("t"))
    counts: dict[str, int] = {}
    for table in RECORD_TABLES:
        known = done.params(t=table.name)
        reasons = (
            (
                table.c.ledger_index.is_(None),
                "no ledger entry: written unsealed (before 0002 or half-written)",
            ),
            (
                sa.and_(table.c.ledger_node == node.id, table.c.ledger_index > head_index),
                "points past this node's chain head: its ledger entry is missing",
            ),
        )
        for condition, reason in reasons:
            query = sa.select(table.c.id).where(condition, table.c.id.not_in(known)).order_by(table.c.id)
            ids = conn.execute(query).scalars().all()
            rows = [(table.name, int(i), reason, now_us) for i in ids]
            writer.insert_many(conn, quarantined_row, rows)
            if rows:
                counts[table.name] = counts.get(table.name, 0) + len(rows)
    return counts


def recover(conn: sa.Connection, node: ledger.Node, now_us: int) -> RecoveryReport:
    """Check and repair ``node``'s ledger inside the caller's write transaction (see module docstring).

    Args:
        conn: a write transaction holding the chain lock. node: the writer (with its private key).
        now_us: UTC microseconds for a recovery seal and quarantine rows.

    Returns:
        The :class:`RecoveryReport`.

    Raises:
        ledger.LedgerStateError: a batch, a sealed entry or the entries after the last seal do not verify
            (the message names the first bad chain index).

    Source: README "Crash safety".
    """
    head = ledger.lock_head(conn, node)
    sealed_head, checked = _check_sealed_chain(conn, node)
    actions: list[str] = []
    orphans = _seal_orphans(conn, node, sealed_head, now_us)
    span, batch_id = None, None
    if orphans is not None:
        span, batch_id, count = orphans
        checked += count
        actions.append(
            f"sealed {count} unsealed entries {span[0]}..{span[1]} in recovered batch {batch_id} "
            "(sealed late by recovery: not evidence)"
        )
    head_index = -1 if head is None else head.index
    quarantined = _quarantine(conn, node, head_index, now_us)
    actions.extend(f"quarantined {n} {table} rows without a ledger entry" for table, n in quarantined.items())
    return RecoveryReport(
        node.fingerprint,
        None if head is None else head.index,
        checked,
        span,
        batch_id,
        quarantined,
        tuple(actions),
    )
