"""Reading the sealed ledger back for export and verification: entries, batches, content, node keys.

Everything here is read-only and returns exactly what was stored (the signed ``batch_bytes``, the
canonical record bytes), so an exporter copies evidence without re-encoding it.

Source: README "Sealed ledger" and "Export and verify".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from swarmscope.evidence.chain import ChainEntry
from swarmscope.evidence.seal import SealedBatch
from swarmscope.store.database import StoreError
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger.schema import (
    batch_timestamp,
    blob,
    capture,
    ledger_batch,
    ledger_entry,
    node_key,
    reference_piece,
)
from swarmscope.store.ledger.snapshot import Source, reading

_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class NodeKeyRow:
    """A signing node: row id, hex fingerprint (SHA-256 of the raw key), raw 32-byte key, PEM, created."""

    id: int
    fingerprint: str
    public_key: bytes
    public_key_pem: str
    created_us: int


@dataclass(frozen=True, slots=True)
class TimestampRow:
    """An RFC 3161 token stored for a batch: authority URL, token DER, UTC microseconds stored."""

    tsa_url: str
    token: bytes
    added_us: int


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """A sealed batch as stored.

    Args:
        id: ``ledger_batch.id``. node: signer's fingerprint. sealed: batch (decoded from the stored signed
        bytes), signature, public key. batch_bytes: exactly the signed bytes. recovered: sealed late by
        recovery; recovered_detail: why. tokens: RFC 3161 tokens over this batch.
    """

    id: int
    node: str
    sealed: SealedBatch
    batch_bytes: bytes
    recovered: bool
    recovered_detail: str | None
    tokens: tuple[TimestampRow, ...]


def node_keys(store: Source) -> list[NodeKeyRow]:
    """Every node key that ever signed in this store (or a snapshot of it), oldest first."""
    with reading(store) as conn:
        rows = conn.execute(sa.select(node_key).order_by(node_key.c.id))
        return [NodeKeyRow(**r._asdict()) for r in rows]


def sealing_nodes(store: Source) -> dict[str, int]:
    """Fingerprint → number of sealed batches, for every node key that sealed at least one batch here."""
    query = (
        sa.select(node_key.c.fingerprint, sa.func.count(ledger_batch.c.id))
        .join(ledger_batch, ledger_batch.c.node_id == node_key.c.id)
        .group_by(node_key.c.fingerprint)
        .order_by(node_key.c.fingerprint)
    )
    with reading(store) as conn:
        return {str(fingerprint): int(count) for fingerprint, count in conn.execute(query)}


def export_signer(store: Source, node: str | None) -> str:
    """The fingerprint of the node whose evidence one export carries: ``node`` (lower-cased), else the one
    node key that sealed batches here (a key registered that never sealed, e.g. a node whose start the
    fleet refused, signed nothing), else the one key registered.

    Raises:
        StoreError: ``node`` is not a key of this store, or none was given and not exactly one key sealed.
    """
    keys = [k.fingerprint for k in node_keys(store)]
    if node is not None:
        if node.lower() not in keys:
            raise StoreError(f"no signing node {node} in this store")
        return node.lower()
    sealed = list(sealing_nodes(store)) or keys
    if len(sealed) != 1:
        raise StoreError(f"this store has {len(sealed)} signing nodes; choose one with --node")
    return sealed[0]


def _node_id(conn: sa.Connection, node: str | None) -> int | None:
    """``node_key.id`` of a fingerprint (None → None); an unknown fingerprint gives -1 (matches nothing)."""
    if node is None:
        return None
    value = conn.execute(sa.select(node_key.c.id).where(node_key.c.fingerprint == node.lower())).scalar()
    return -1 if value is None else int(value)


def load_ledger(
    store: Source, *, node: str | None = None, first: int | None = None, last: int | None = None
) -> Iterator[tuple[ChainEntry, str, bytes | None]]:
    """Stream chain entries in ledger order (by node, then index), read in chunks.

    Args:
        store: an open store, or a snapshot's connection (:mod:`swarmscope.store.ledger.snapshot`).
        node: a signer's fingerprint (hex), or None for every node.
        first, last: inclusive index range (None: unbounded).

    Yields:
        (entry, kind, canonical bytes); kind is observation, sighting, clock_sample, run_started or
        attribution; the bytes are None for an entry redacted by a retention purge (migration 0004).
    """
    e = ledger_entry
    with reading(store) as conn:
        node_id = _node_id(conn, node)
        query = sa.select(
            e.c.node_id, e.c.idx, e.c.kind, e.c.record_hash, e.c.prev_hash, e.c.entry_hash, e.c.canonical
        )
        if node_id is not None:
            query = query.where(e.c.node_id == node_id)
        if first is not None:
            query = query.where(e.c.idx >= first)
        if last is not None:
            query = query.where(e.c.idx <= last)
        result = conn.execute(query.order_by(e.c.node_id, e.c.idx).execution_options(yield_per=_CHUNK))
        for r in result:
            entry = ChainEntry(int(r.idx), _raw(r.record_hash), _raw(r.prev_hash), _raw(r.entry_hash))
            yield entry, r.kind, None if r.canonical is None else _raw(r.canonical)


def _raw(value: Any) -> bytes:
    """A stored byte string; a value SQLite returns as text (a tampered row) becomes its UTF-8 bytes."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")


def _tokens(conn: sa.Connection) -> dict[int, list[TimestampRow]]:
    out: dict[int, list[TimestampRow]] = {}
    query = sa.select(batch_timestamp).order_by(batch_timestamp.c.id)
    for r in conn.execute(query):
        out.setdefault(int(r.batch_id), []).append(TimestampRow(r.tsa_url, r.token, r.added_us))
    return out


def stored_batch(r: sa.Row[Any], fingerprint: str, tokens: tuple[TimestampRow, ...] = ()) -> StoredBatch:
    """Build a :class:`StoredBatch` from a ``ledger_batch`` row (the batch decoded from its signed bytes).

    Raises:
        DecodeError: the stored batch bytes are not a canonical batch.
    """
    sealed = ledger.sealed_batch(r)
    return StoredBatch(
        int(r.id), fingerprint, sealed, r.batch_bytes, bool(r.recovered), r.recovered_detail, tokens
    )


def load_batches(store: Source, node: str | None = None) -> list[StoredBatch]:
    """Every sealed batch (optionally of one node), by node then chain position.

    Raises:
        DecodeError: a stored batch's bytes do not decode (tampering; :func:`recovery.verify_ledger`
            reports it without raising).
    """
    with reading(store) as conn:
        node_id = _node_id(conn, node)
        fingerprints = {int(i): f for i, f in conn.execute(sa.select(node_key.c.id, node_key.c.fingerprint))}
        query = sa.select(ledger_batch).order_by(ledger_batch.c.node_id, ledger_batch.c.first_index)
        if node_id is not None:
            query = query.where(ledger_batch.c.node_id == node_id)
        tokens = _tokens(conn)
        return [
            stored_batch(r, fingerprints[r.node_id], tuple(tokens.get(int(r.id), ())))
            for r in conn.execute(query)
        ]


def _content(store: Source, table: sa.Table, sha256: bytes) -> bytes | None:
    with reading(store) as conn:
        value = conn.execute(sa.select(table.c.data).where(table.c.sha256 == sha256)).scalar()
        return None if value is None else bytes(value)


def load_capture(store: Source, sha256: bytes) -> bytes | None:
    """The encoded wire capture with this SHA-256 (32 raw bytes), or None when not stored."""
    return _content(store, capture, sha256)


def load_blob(store: Source, sha256: bytes) -> bytes | None:
    """The stored block/content with this SHA-256 (32 raw bytes), or None when not stored."""
    return _content(store, blob, sha256)


def load_reference_pieces(store: Source, infohash: str) -> dict[int, bytes]:
    """Reference pieces of a swarm (infohash hex), piece index → bytes."""
    query = (
        sa.select(reference_piece.c.piece, reference_piece.c.data)
        .where(reference_piece.c.infohash == infohash.lower())
        .order_by(reference_piece.c.piece)
    )
    with reading(store) as conn:
        return {int(piece): bytes(data) for piece, data in conn.execute(query)}
