"""Atomic evidence commits: record rows, hash-chain entries, content and the Ed25519 seal in one transaction.

Every evidence record a node writes gets the next entry of that node's chain
(:mod:`swarmscope.evidence.chain`) over its canonical bytes (:mod:`swarmscope.evidence.canonical`),
stored next to the row (``ledger_entry.canonical``), and the batch of entries a commit adds is sealed
(:mod:`swarmscope.evidence.seal`) and stored in the same transaction. So after any crash a batch is either
wholly present (rows, entries, captures, blobs, seal) or absent; there is no unsealed evidence to lose
or to trust by accident.

Concurrency: the chain head is read and extended under a lock held to the commit: on SQLite the
transaction starts with ``BEGIN IMMEDIATE`` (the database write lock, so two writers serialise); on
PostgreSQL the node's ``node_key`` row is locked ``FOR UPDATE``.

Source: README "Sealed ledger" and "Crash safety".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.canonical import canonical_bytes, record_kind
from swarmscope.evidence.chain import ChainEntry, append
from swarmscope.evidence.seal import (
    Batch,
    SealedBatch,
    batch_from_bytes,
    key_fingerprint,
    public_key_pem,
    public_key_raw,
    seal_batch,
)
from swarmscope.store.ledger import head_witness, writer
from swarmscope.store.ledger.schema import (
    blob,
    capture,
    ledger_batch,
    ledger_entry,
    node_key,
    reference_piece,
)


class LedgerStateError(Exception):
    """The node's ledger is not in a state a commit may extend (raised inside the write transaction)."""


@dataclass(frozen=True, slots=True)
class Node:
    """A signing node as registered in ``node_key``.

    Args:
        id: ``node_key.id``. fingerprint: hex SHA-256 of the raw public key. public_key: 32 raw bytes.
        private_key: the node's Ed25519 key (None for a reader).
    """

    id: int
    fingerprint: str
    public_key: bytes
    private_key: Ed25519PrivateKey | None


def register_node(conn: sa.Connection, key: Ed25519PrivateKey, created_us: int) -> Node:
    """Find or insert the ``node_key`` row of ``key``; returns the :class:`Node`."""
    raw = public_key_raw(key)
    fingerprint = key_fingerprint(raw)
    query = sa.select(node_key.c.id).where(node_key.c.fingerprint == fingerprint)
    node_id = conn.execute(query).scalar()
    if node_id is None:
        row = {
            "fingerprint": fingerprint,
            "public_key": raw,
            "public_key_pem": public_key_pem(key).decode("ascii"),
            "created_us": created_us,
        }
        writer.insert_many(conn, node_key, [tuple(row.values())], _insert_absent(conn, node_key))
        node_id = conn.execute(query).scalar_one()
    return Node(int(node_id), fingerprint, raw, key)


def lock_head(conn: sa.Connection, node: Node) -> ChainEntry | None:
    """Lock the node's chain (PostgreSQL ``FOR UPDATE``; SQLite holds the write lock) and read its head."""
    conn.execute(sa.select(node_key.c.id).where(node_key.c.id == node.id).with_for_update()).scalar_one()
    row = conn.execute(
        sa.select(
            ledger_entry.c.idx,
            ledger_entry.c.record_hash,
            ledger_entry.c.prev_hash,
            ledger_entry.c.entry_hash,
        )
        .where(ledger_entry.c.node_id == node.id)
        .order_by(ledger_entry.c.idx.desc())
        .limit(1)
    ).first()
    return None if row is None else ChainEntry(int(row.idx), row.record_hash, row.prev_hash, row.entry_hash)


def last_sealed_index(conn: sa.Connection, node: Node) -> int | None:
    """The highest chain index covered by a sealed batch of ``node`` (None before the first batch)."""
    query = sa.select(sa.func.max(ledger_batch.c.last_index)).where(ledger_batch.c.node_id == node.id)
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def _insert_absent(conn: sa.Connection, table: sa.Table) -> sa.Insert:
    """INSERT that skips rows whose unique key exists (SQLite and PostgreSQL ``ON CONFLICT DO NOTHING``)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    raise LedgerStateError(f"content de-duplication is not implemented for {conn.dialect.name}")


def _content_rows(kind: str, items: Mapping[bytes, bytes]) -> list[tuple[Any, ...]]:
    """(sha256, data) rows, each key checked against the SHA-256 of its data."""
    rows = []
    for digest, data in items.items():
        if hashlib.sha256(data).digest() != digest:
            raise LedgerStateError(f"{kind} {digest.hex()}: key is not the SHA-256 of its data")
        rows.append((digest, data))
    return rows


def clock_json(clock: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The batch clock record as JSON (bytes values as hex); the signed form is ``batch_bytes``."""
    if clock is None:
        return None
    return {k: v.hex() if isinstance(v, bytes) else v for k, v in clock.items()}


def insert_batch(conn: sa.Connection, node: Node, sealed: SealedBatch, recovered: str | None) -> int:
    """Insert a sealed batch row; ``recovered`` is the reason when recovery sealed it late. Returns its id."""
    from swarmscope.evidence.seal import batch_bytes

    b = sealed.batch
    values = {
        "node_id": node.id,
        "first_index": b.first_index,
        "last_index": b.last_index,
        "head_hash": b.head_hash,
        "sealed_at_us": b.sealed_at_us,
        "batch_bytes": batch_bytes(b),
        "signature": sealed.signature,
        "public_key": sealed.public_key_bytes,
        "clock": clock_json(b.clock),
        "recovered": recovered is not None,
        "recovered_detail": recovered,
    }
    key = conn.execute(sa.insert(ledger_batch).values(values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def sealed_batch(row: sa.Row[Any]) -> SealedBatch:
    """The sealed batch of a ``ledger_batch`` row, decoded from its signed bytes (the inverse of
    :func:`insert_batch`).

    Raises:
        DecodeError: the stored batch bytes are not a canonical batch.
    """
    return SealedBatch(batch_from_bytes(row.batch_bytes), row.signature, row.public_key)


def columns_match(sealed: SealedBatch, row: sa.Row[Any]) -> bool:
    """True when a ``ledger_batch`` row's unsigned columns (first and last index, head hash, seal time in
    UTC µs) say what its signed batch bytes say; a difference means the row was edited after sealing."""
    b = sealed.batch
    signed = (b.first_index, b.last_index, b.head_hash, b.sealed_at_us)
    return signed == (row.first_index, row.last_index, row.head_hash, row.sealed_at_us)


def find_batch(conn: sa.Connection, sealed: SealedBatch) -> int | None:
    """``ledger_batch.id`` of a sealed batch (same signer, last index and head hash), or None."""
    query = (
        sa.select(ledger_batch.c.id)
        .join(node_key, node_key.c.id == ledger_batch.c.node_id)
        .where(
            node_key.c.public_key == sealed.public_key_bytes,
            ledger_batch.c.last_index == sealed.batch.last_index,
            ledger_batch.c.head_hash == sealed.batch.head_hash,
        )
    )
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def find_commit(
    conn: sa.Connection, node: Node, records: Sequence[Any], sealed_at_us: int
) -> SealedBatch | None:
    """The batch a commit of exactly ``records`` sealed at ``sealed_at_us`` stored, or None.

    Answers an in-doubt commit: the COMMIT may have reached the database although the caller got an error
    (the connection was cut before the answer came back; PostgreSQL documents that the outcome is then
    unknown to the client). The batch matches when it is this node's, sealed at that microsecond, holds
    as many entries as ``records``, and its first and last entries' record hashes are those of the first
    and last record's canonical bytes.
    """
    if not records:
        return None
    rows = conn.execute(
        sa.select(ledger_batch).where(
            ledger_batch.c.node_id == node.id,
            ledger_batch.c.sealed_at_us == sealed_at_us,
            ledger_batch.c.last_index - ledger_batch.c.first_index == len(records) - 1,
        )
    ).all()
    wanted = [hashlib.sha256(canonical_bytes(r)).digest() for r in (records[0], records[-1])]
    for row in rows:
        found = (
            conn.execute(
                sa.select(ledger_entry.c.record_hash)
                .where(
                    ledger_entry.c.node_id == node.id,
                    ledger_entry.c.idx.in_([row.first_index, row.last_index]),
                )
                .order_by(ledger_entry.c.idx)
            )
            .scalars()
            .all()
        )
        if list(found) == wanted[: len(found)] and len(found) == len({row.first_index, row.last_index}):
            return sealed_batch(row)
    return None


def store_content(conn: sa.Connection, extra: Commit) -> None:
    """Insert captures, blobs and reference pieces that are not stored yet (content-addressed, no seal)."""
    writer.insert_many(conn, capture, _content_rows("capture", extra.captures), _insert_absent(conn, capture))
    writer.insert_many(conn, blob, _content_rows("blob", extra.blobs), _insert_absent(conn, blob))
    pieces = [(infohash.lower(), piece, data) for infohash, piece, data in extra.reference_pieces]
    writer.insert_many(conn, reference_piece, pieces, _insert_absent(conn, reference_piece))


@dataclass(frozen=True, slots=True)
class Commit:
    """What one commit stores besides its records (all keyed by SHA-256 where content-addressed)."""

    captures: Mapping[bytes, bytes]
    blobs: Mapping[bytes, bytes]
    reference_pieces: Sequence[tuple[str, int, bytes]]
    sealed_at_us: int
    clock: dict[str, Any] | None
    # Each record's canonical bytes when the caller holds them proven (the evidence writer process: the
    # strict decoder re-encoded each record it decoded and compared, ``record_from_canonical``); None:
    # encoded here. Chained, sealed and stored as given, so they must be exactly ``canonical_bytes(r)``.
    canonical: Sequence[bytes] | None = None


def _canonicals(records: Sequence[Any], given: Sequence[bytes] | None) -> Sequence[bytes]:
    """The canonical bytes of ``records``: ``given`` (one per record), or encoded now."""
    if given is None:
        return [canonical_bytes(r) for r in records]
    if len(given) != len(records):
        raise LedgerStateError(f"{len(given)} canonical encodings for {len(records)} records")
    return given


def commit(
    conn: sa.Connection, node: Node, run_id: int, records: Sequence[Any], extra: Commit
) -> tuple[SealedBatch, int]:
    """Append and seal ``records`` (non-empty) inside the caller's write transaction.

    Returns:
        The sealed batch and its ``ledger_batch.id``.

    Raises:
        LedgerStateError: no private key, entries past the last seal (recovery must run first), a
            capture/blob key that is not its data's SHA-256. TypeError/ValueError: a record the canonical
            form refuses. SQLAlchemy errors: the database refused a row (the caller rolls back).

    The new head is noted on ``conn`` for the chain-head witness, written once the caller's transaction
    has committed (:func:`swarmscope.store.ledger.head_witness.after_commit`); a writer that keeps one
    says so in the batch's signed clock (:func:`swarmscope.store.ledger.head_witness.marked_clock`).
    """
    if node.private_key is None:
        raise LedgerStateError("evidence writes need the node's signing key")
    head = lock_head(conn, node)
    sealed_to = last_sealed_index(conn, node)
    if (head.index if head else None) != sealed_to:
        raise LedgerStateError(f"ledger entries after the last sealed index {sealed_to}: run recovery first")
    canonicals = _canonicals(records, extra.canonical)
    entries = []
    prev = head
    for data in canonicals:
        prev = append(prev, data)
        entries.append(prev)
    first, last = entries[0], entries[-1]
    clock = head_witness.marked_clock(conn, extra.clock)
    batch = Batch(first.index, last.index, last.entry_hash, extra.sealed_at_us, clock)
    sealed = seal_batch(batch, node.private_key)
    batch_id = insert_batch(conn, node, sealed, None)
    entry_rows = [
        # the last two: redacted_rule, redacted_us (set only by a retention purge, store/legal/purge.py)
        (node.id, e.index, record_kind(r), e.record_hash, e.prev_hash, e.entry_hash, c, batch_id, None, None)
        for e, r, c in zip(entries, records, canonicals, strict=True)
    ]
    writer.insert_many(conn, ledger_entry, entry_rows)
    writer.insert_records(conn, run_id, records, [(node.id, e.index) for e in entries])
    store_content(conn, extra)
    conn.info[head_witness.SEALED_HEAD] = (node.fingerprint, last.index, last.entry_hash)
    return sealed, batch_id
