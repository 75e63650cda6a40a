"""Folding sealed batches into the console's read models (:mod:`swarmscope.store.console.schema`).

:func:`fold_once` takes ``ledger_batch`` rows not yet in ``console_batch``, reads the observations,
sightings and attributions whose ``(ledger_node, ledger_index)`` lie in their index ranges (so only rows in
SEALED batches, ledger state as in :mod:`swarmscope.store.ledger.seal_state`, are counted: unsealed and
quarantined rows are never in a batch range) and adds them to ``console_peer``, ``console_place``,
``console_minute`` and the per-swarm totals (:mod:`.swarm_totals`) in one transaction
(:mod:`.fold_rows`). The transaction takes the write lock first (SQLite ``BEGIN IMMEDIATE``, a
PostgreSQL transaction advisory lock), so two folders never count one batch twice.

Who folds: never a read. ``swarmscope serve`` runs one background folder (:mod:`swarmscope.web.folding`)
that calls :func:`fold_once` with a bound on the ledger entries per transaction, so the SQLite write lock
is held a fraction of a second and the monitor's writer waits at most that long; ``swarmscope serve
--fold-only`` folds without serving. Readers show :func:`unfolded_batches` (how far behind the tables are).

Cost: one pass over the new rows, a part per row and a part per distinct peer a transaction touches
(:mod:`.fold_rows`; rates in bench/README.md); a live monitor's batches take milliseconds each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.store.console.fold_rows import Fold
from swarmscope.store.console.schema import console_batch
from swarmscope.store.ledger.schema import ledger_batch, ledger_entry

if TYPE_CHECKING:
    from swarmscope.store.database import Store

BATCHES_PER_TRANSACTION = 200
FOLDED_KINDS = ("observation", "sighting", "attribution")  # the ledger entry kinds the console counts
_LOCK_KEY = 0x5357_434F  # PostgreSQL advisory lock key of the fold ("SWCO")


def catch_up(store: Store, *, max_batches: int | None = None, max_entries: int | None = None) -> int:
    """Fold every sealed batch not folded yet; returns how many batches were folded.

    Args:
        store: an open store (any; the fold writes only the console tables).
        max_batches: stop after this many (None: all).
        max_entries: ledger entries per transaction (None: :data:`BATCHES_PER_TRANSACTION` batches).
    """
    done = 0
    while max_batches is None or done < max_batches:
        limit = (
            BATCHES_PER_TRANSACTION
            if max_batches is None
            else min(BATCHES_PER_TRANSACTION, max_batches - done)
        )
        folded = fold_once(store, max_batches=limit, max_entries=max_entries)
        done += folded
        if folded == 0:
            break
    return done


def fold_once(
    store: Store, *, max_batches: int = BATCHES_PER_TRANSACTION, max_entries: int | None = None
) -> int:
    """Fold, in one transaction, the oldest unfolded batches: at most ``max_batches``, and no more than
    ``max_entries`` ledger entries in all (the first batch whatever its size); returns how many."""
    with store.engine.connect() as conn:
        if not _pending(conn, 1):  # read without the lock first: nothing to do is the common case
            return 0
    with store.engine.connect().execution_options(swarmscope_immediate=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        batches = _within(_pending(conn, max_batches), max_entries)
        if batches:
            Fold(conn).run(batches)
        return len(batches)


def unfolded_batches(store: Store) -> int:
    """Sealed EVIDENCE batches not folded yet (what the console's pages do not show yet): batches holding
    an entry of a kind the console counts (:data:`FOLDED_KINDS`). A batch of account or workflow events
    only (a login seals its session) changes no number on the pages, so it is not counted, though the
    folder marks it folded too. Two counts over integer keys first (``ledger_batch`` less
    ``console_batch`` rows: every folded id is a batch's, batches are never deleted); only when they
    differ are the unfolded batches' entry kinds read, by the ``(node_id, idx)`` index."""
    count = sa.func.count()
    with store.engine.connect() as conn:
        sealed = conn.execute(sa.select(count).select_from(ledger_batch)).scalar_one()
        folded = conn.execute(sa.select(count).select_from(console_batch)).scalar_one()
        if int(sealed) <= int(folded):
            return 0
        return int(conn.execute(_unfolded_evidence()).scalar_one())


def _unfolded_evidence() -> sa.Select[Any]:
    b, e = ledger_batch.c, ledger_entry.c
    folded = sa.select(console_batch.c.batch_id).where(console_batch.c.batch_id == b.id)
    evidence = sa.select(e.id).where(
        e.node_id == b.node_id, e.idx.between(b.first_index, b.last_index), e.kind.in_(FOLDED_KINDS)
    )
    return sa.select(sa.func.count()).select_from(ledger_batch).where(~sa.exists(folded), sa.exists(evidence))


def _pending(conn: sa.Connection, limit: int) -> list[Any]:
    b = ledger_batch.c
    folded = sa.select(console_batch.c.batch_id).where(console_batch.c.batch_id == b.id)
    query = sa.select(b.id, b.node_id, b.first_index, b.last_index).where(~sa.exists(folded))
    return list(conn.execute(query.order_by(b.id).limit(limit)))


def _within(batches: list[Any], max_entries: int | None) -> list[Any]:
    """The first batches whose ledger entries add up to at most ``max_entries`` (at least one batch)."""
    if max_entries is None:
        return batches
    total = 0
    for n, batch in enumerate(batches):
        total += int(batch.last_index) - int(batch.first_index) + 1
        if total > max_entries and n > 0:
            return batches[:n]
    return batches
