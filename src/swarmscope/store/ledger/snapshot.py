"""One consistent read of the store: every query of a multi-query check sees the same committed state.

A reader that proves the ledger over several queries (the batches, then the chain, then the rows) must not
see a batch a live writer (a monitor, a fleet node) commits between two of them: the batches would end
before the chain, or the rows outnumber their entries, and an honest ledger would look broken. Inside
:func:`read_snapshot` all queries run in ONE read transaction:

- SQLite in WAL mode (:mod:`swarmscope.store.database`): the driver's implicit transactions are off and
  ``BEGIN`` (deferred) is emitted by SQLAlchemy; the first SELECT takes a read mark on the WAL and every
  later read of that transaction sees the database as of that mark (SQLite "Isolation In SQLite": "a
  read transaction ... sees a snapshot of the database as it existed at the start of the read
  transaction"; SQLAlchemy docs, pysqlite "Serializable isolation / Savepoints / Transactional DDL").
  A writer is never blocked by it (WAL), only the checkpoint waits for the reader to finish.
- PostgreSQL: ``REPEATABLE READ`` and ``READ ONLY`` (PostgreSQL docs 13.2.2: "a query in a repeatable
  read transaction sees a snapshot as of the start of the first non-transaction-control statement").

Nothing is written; the transaction is rolled back at the end. The connection never leaves ``store/``.

Source: README "Export and verify"; the SQLite and PostgreSQL manuals cited above.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[sa.Connection]:
    """A connection inside one read-only transaction over one snapshot (see module docstring)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


class _HasEngine(Protocol):
    @property
    def engine(self) -> Engine: ...


Source = _HasEngine | sa.Connection  # a store (each read its own transaction) or a snapshot's connection


@contextmanager
def reading(source: Source) -> Iterator[sa.Connection]:
    """The connection to read through: the snapshot's own when ``source`` is one (left open), else a new
    connection of the store's engine (closed afterwards)."""
    if isinstance(source, sa.Connection):
        yield source
        return
    with source.engine.connect() as conn:
        yield conn
