"""Crash recovery of a node's ledger, run by every writer when it opens the store.

Commits are atomic (:mod:`swarmscope.store.ledger`): rows, chain entries and the seal share one
transaction, so a SIGKILL or power loss leaves the last batch wholly present or wholly absent. Recovery
still checks, because the evidence must not rest on that argument alone, and because a database may hold
rows written another way (before migration 0002, by an older version, or by hand). It detects:

1. **The last sealed batch does not hold** (signature, signed bytes vs. columns, its entries' hashes and
   links, its head): the ledger is damaged. Nothing can honestly extend it, so recovery refuses
   (``StoreError``); ``verify_ledger`` names the problem. No write happens.
2. **Chain entries past the last seal** (a half-written batch: entries without their seal). Their
   canonical bytes are in the entries themselves. If they chain correctly from the sealed head, they are
   sealed now in a batch flagged ``recovered`` whose ``recovered_detail`` says what was found and when it
   was sealed: the late seal is visible to anyone checking, the records are not silently kept as if
   sealed on time, and not thrown away either. If they do not chain, recovery refuses as in 1.
3. **Evidence rows without a ledger entry** (``ledger_index`` NULL), or pointing past this node's chain
   head: they are quarantined, i.e. listed in ``quarantined_row`` with the reason (rows are append-only,
   so they cannot be deleted); they are never sealed late, since no trustworthy canonical bytes for them
   were recorded at the time, and exports built on the ledger never include them.

Every action is reported in the :class:`RecoveryReport`; a clean open reports none.

Source: issue 4 item 6 (a half-written batch is detected and handled, not silently kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.chain import ChainEntry, verify_chain
from swarmscope.evidence.seal import Batch, seal_batch, verify_seal
from swarmscope.store import ledger, writer
from swarmscope.store.ledger_queries import stored_batch
from swarmscope.store.schema import (
    clock_sample,
    ledger_batch,
    ledger_entry,
    observation,
    quarantined_row,
    run_started,
    sighting,
)

RECORD_TABLES = (observation, sighting, clock_sample, run_started)


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What recovery found and did for one node.

    Args:
        node: the node's fingerprint. head_index: last chain index after recovery (None: empty ledger).
        checked_entries: entries re-hashed (the last sealed batch and anything after it).
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
) -> tuple[list[ChainEntry], list[bytes]]:
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


def _anchor(conn: sa.Connection, node: ledger.Node, index: int) -> ChainEntry | None:
    if index < 0:
        return None
    e = ledger_entry
    r = conn.execute(
        sa.select(e.c.idx, e.c.record_hash, e.c.prev_hash, e.c.entry_hash).where(
            e.c.node_id == node.id, e.c.idx == index
        )
    ).first()
    if r is None:
        raise ledger.LedgerStateError(f"ledger damaged: entry {index} is missing")
    return ChainEntry(int(r.idx), r.record_hash, r.prev_hash, r.entry_hash)


def _check_last_batch(conn: sa.Connection, node: ledger.Node) -> tuple[ChainEntry | None, int]:
    """Verify the last sealed batch; returns (its head entry or None, entries checked)."""
    row = conn.execute(
        sa.select(ledger_batch)
        .where(ledger_batch.c.node_id == node.id)
        .order_by(ledger_batch.c.last_index.desc())
        .limit(1)
    ).first()
    if row is None:
        return None, 0
    try:
        stored = stored_batch(row, node.fingerprint)
    except DecodeError as exc:
        raise ledger.LedgerStateError(f"ledger damaged: batch {row.id} bytes do not decode ({exc})") from exc
    b = stored.sealed.batch
    columns = (row.first_index, row.last_index, row.head_hash, row.sealed_at_us)
    if (b.first_index, b.last_index, b.head_hash, b.sealed_at_us) != columns:
        raise ledger.LedgerStateError(f"ledger damaged: batch {row.id} columns differ from its signed bytes")
    if not verify_seal(stored.sealed, node.public_key):
        raise ledger.LedgerStateError(f"ledger damaged: batch {row.id} signature does not verify")
    anchor = _anchor(conn, node, b.first_index - 1)
    entries, canonicals = _entries(conn, node, b.first_index, b.last_index)
    verdict = verify_chain(entries, canonicals, anchor=anchor, head=(b.last_index, b.head_hash))
    if not verdict.ok:
        where = b.first_index + (verdict.position or 0)
        raise ledger.LedgerStateError(
            f"ledger damaged: last sealed batch {row.id} at index {where}: "
            f"{verdict.problem} ({verdict.detail})"
        )
    return entries[-1], len(entries)  # verify_chain with head: entries is non-empty here


def _seal_orphans(
    conn: sa.Connection, node: ledger.Node, sealed_head: ChainEntry | None, now_us: int
) -> tuple[tuple[int, int], int, int] | None:
    """Seal chain entries found after the last seal (if they chain); returns ((first, last), batch id, n)."""
    first = 0 if sealed_head is None else sealed_head.index + 1
    entries, canonicals = _entries(conn, node, first)
    if not entries:
        return None
    verdict = verify_chain(entries, canonicals, anchor=sealed_head)
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
        f"when the store was opened; their hashes and links verified; sealed late at {now_us} us UTC"
    )
    sealed = seal_batch(Batch(span[0], span[1], entries[-1].entry_hash, now_us, None), node.private_key)
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
        ledger.LedgerStateError: the last sealed batch or the entries after it do not verify.

    Source: issue 4 item 6.
    """
    head = ledger.lock_head(conn, node)
    sealed_head, checked = _check_last_batch(conn, node)
    actions: list[str] = []
    orphans = _seal_orphans(conn, node, sealed_head, now_us)
    span, batch_id = None, None
    if orphans is not None:
        span, batch_id, count = orphans
        checked += count
        actions.append(f"sealed {count} unsealed entries {span[0]}..{span[1]} in recovered batch {batch_id}")
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
