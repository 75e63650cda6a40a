"""The attacker of the tamper tests: write access to the database, the append-only triggers out of the way,
but no node key; and the stores and trust those tests share (SQLite, or PostgreSQL with
SWARMSCOPE_TEST_PG_URL: :mod:`tests.pg_server`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.chain import ChainEntry, append
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.schema import ledger_entry
from tests.pg_server import backend_url, drop_schema


def tamper(store: Store, tables: Sequence[str], *statements: str) -> None:
    """Run SQL ``statements`` in one transaction with the append-only triggers out of the way: on
    PostgreSQL the user triggers of ``tables`` disabled (for good), on SQLite every trigger dropped."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for table in tables:
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars()
            for name in list(names):
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        for statement in statements:
            conn.exec_driver_sql(statement)


def tamper_file(db: Store | str | Path, *statements: str) -> None:
    """Drop every trigger of the SQLite file ``db`` (a store's, or a path) and run ``statements`` through a
    connection of its own (``sqlite3``, not a store's engine)."""
    path = db.engine.url.database if isinstance(db, Store) else str(db)
    assert path is not None
    with sqlite3.connect(path) as raw:
        for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            raw.execute(f'DROP TRIGGER "{name}"')
        for statement in statements:
            raw.execute(statement)
    raw.close()


def key_trust(key: Ed25519PrivateKey, now_us: int) -> EvidenceTrust:
    """The workflow's trust in ``key`` alone, at ``now_us`` (UTC µs)."""
    return EvidenceTrust(frozenset({key_fingerprint(public_key_raw(key))}), now_us)


def node_trust(store: Store, now_us: int) -> EvidenceTrust:
    """The workflow's trust in the store's own node key, at ``now_us`` (UTC µs)."""
    assert store.node is not None
    return EvidenceTrust(frozenset({store.node.fingerprint}), now_us)


@contextmanager
def backend_store(backend: str, tmp_path: Path, key: Ed25519PrivateKey, now_us: int) -> Iterator[Store]:
    """A new store on ``backend`` ("sqlite" or "postgresql") sealing with ``key``; closed afterwards, and
    its PostgreSQL schema dropped."""
    url = backend_url(backend, tmp_path)
    store = open_store(url, node_key=key, now_us=now_us)
    try:
        yield store
    finally:
        store.close()
        if backend == "postgresql":
            drop_schema(url)


def truncate_last_payment(db: Store | str | Path, case_id: int) -> None:
    """What someone who can write the database file but lacks the node key does to hide the newest
    payment: delete its row, its batch, its chain entry, its sealed event and case event, and set the case
    back to ``sent``. The shorter chain's seals all hold; only the chain-head witness shows the loss."""
    tamper_file(
        db,
        "DELETE FROM payment WHERE id = (SELECT max(id) FROM payment)",
        "DELETE FROM ledger_batch WHERE last_index = (SELECT max(idx) FROM ledger_entry)",
        "DELETE FROM ledger_entry WHERE idx = (SELECT max(idx) FROM ledger_entry)",
        "DELETE FROM workflow_event WHERE id = (SELECT max(id) FROM workflow_event)",
        "DELETE FROM case_event WHERE id = (SELECT max(id) FROM case_event)",
        f"UPDATE legal_case SET status = 'sent' WHERE id = {int(case_id)}",
    )


def append_unsealed(store: Store, run_id: int, records: Sequence[object]) -> tuple[int, int]:
    """What someone who can write the database file but lacks the node key appends: chain entries of
    invented ``records`` linked from the node's newest entry (hashes need no key) and their rows, with no
    seal. Returns the (first, last) chain index written."""
    assert store.node is not None
    node = store.node
    e = ledger_entry
    with store.engine.begin() as conn:
        newest = conn.execute(sa.select(e).where(e.c.node_id == node.id).order_by(e.c.idx.desc())).first()
        prev = None
        if newest is not None:
            prev = ChainEntry(newest.idx, newest.record_hash, newest.prev_hash, newest.entry_hash)
        rows: list[tuple[object, ...]] = []
        links: list[tuple[int, int]] = []
        for record in records:
            prev = append(prev, canonical_bytes(record))
            kind = writer.ROW_BUILDERS[type(record)][0].name  # the entry kind is its table's name
            rows.append((node.id, prev.index, kind, prev.record_hash, prev.prev_hash, prev.entry_hash,
                         canonical_bytes(record), None, None, None))  # fmt: skip
            links.append((node.id, prev.index))
        writer.insert_many(conn, ledger_entry, rows)
        writer.insert_records(conn, run_id, list(records), links)
    return links[0][1], links[-1][1]
