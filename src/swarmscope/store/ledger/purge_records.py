"""Which redacted ledger entries are recorded retention purges: the one rule every reader of the ledger
applies (``verify_ledger`` and so ``export``, and the workflow's prover).

A retention purge (:mod:`swarmscope.store.legal.purge`) removes an entry's canonical bytes (they hold an IP
address) and keeps its index and hashes, so the chain and every seal still verify. The ``kind``,
``redacted_rule`` and ``redacted_us`` columns are NOT covered by the hash chain: someone who can write the
database file but lacks the node's Ed25519 key could remove the bytes of any sealed entry (a clock sample
of a skewed run, an attribution with a VPN flag), relabel its kind and fill in a rule, and so hide sealed
evidence. So the purge also seals a :class:`~swarmscope.evidence.records.Redaction` record naming each
entry it redacted, and an entry without canonical bytes is a recorded purge only when a PROVEN purge
record covers it:

1. the purge record's entry keeps its canonical bytes, they hash (SHA-256) to its record hash, and a sealed
   batch covers it whose Ed25519 signature verifies and whose chain holds (``sealed_entry``, the caller's
   prover: :func:`swarmscope.store.ledger.verify.verify_ledger` accepts any node of the store, as it does
   for every batch; the workflow only nodes whose key it trusts);
2. the record decodes as a ``redaction`` and names the entry: (node fingerprint, chain index) and the
   entry's record hash;
3. the kind it names (decoded from the bytes at purge time) is one a purge may redact
   (:data:`REDACTABLE`), the entry's ``kind`` column says the same ("kind column altered" otherwise),
   and ``redacted_rule`` / ``redacted_us`` equal the record's rule and time (UTC µs).

Anything else is "redacted without a sealed purge record". Purges made before purge records existed
(migration 0006) carry none, so their entries fail this rule too; nothing re-seals them, since a key
holder re-sealing a redaction nobody can prove would launder a forgery (README "Retention").

Source: README "Retention" and "Sealed ledger".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import decode_record, record_from_canonical, record_kind
from swarmscope.evidence.declarations import EVIDENCE_SPECS, REDACTION, latest_version
from swarmscope.evidence.records import RedactedEntry, Redaction
from swarmscope.evidence.seal import key_fingerprint
from swarmscope.store.database import StoreError
from swarmscope.store.ledger.schema import ledger_entry, node_key

REDACTABLE = frozenset({"observation", "sighting", "attribution"})  # kinds a retention purge may redact
NO_PURGE_RECORD = "redacted without a sealed purge record"
# (node_key.id, chain index) → (kind column, record hash, sealed_at_us) under a proven batch, or why not.
SealedEntry = Callable[[int, int], "tuple[str, bytes, int] | str"]


def typed(canonical: Any, kinds: tuple[str, ...]) -> Any:
    """SQL: the canonical bytes end with the envelope of one of ``kinds`` in any format version this
    software reads (the ``kind`` column is not chained, so a relabelled entry is still found by what it
    seals; canonical envelope: ``...4:type<kind>7:versioni<N>ee``)."""
    versions = {spec.kind: latest_version(spec) for spec in EVIDENCE_SPECS}
    conditions = []
    for kind in kinds:
        for version in range(1, versions[kind] + 1):
            tail = f"4:type{len(kind)}:{kind}7:versioni{version}ee".encode()
            start = sa.func.length(canonical) - len(tail) + 1
            literal = sa.literal(tail, sa.LargeBinary)
            conditions.append(sa.func.substr(canonical, start, len(tail)) == literal)
    return sa.or_(*conditions)


def bytes_missing_query(node_id: int) -> sa.Select[Any]:
    """SQL: the entries of node ``node_id`` (``node_key.id``) without canonical bytes, in chain order."""
    e = ledger_entry.c
    query = sa.select(e.idx, e.kind, e.record_hash, e.redacted_rule, e.redacted_us)
    return query.where(e.node_id == node_id, e.canonical.is_(None)).order_by(e.idx)


@dataclass(frozen=True, slots=True)
class PurgeRecord:
    """A proven purge record: the fingerprint of the node that sealed it, its chain index, the record."""

    node: str
    index: int
    record: Redaction


@dataclass(slots=True)
class PurgeRecords:
    """The proven purge records of a store, and what each covers.

    ``covers``: (node fingerprint, index) → (the entry as the purge record names it, the purge record).
    ``unproven``: (node fingerprint, index) → why a purge record that names it does not count.
    """

    proven: list[PurgeRecord] = field(default_factory=list)
    covers: dict[tuple[str, int], tuple[RedactedEntry, PurgeRecord]] = field(default_factory=dict)
    unproven: dict[tuple[str, int], str] = field(default_factory=dict)

    def problem(self, node: str, row: Any, record_hash: bytes) -> str | None:
        """Why an entry of :func:`bytes_missing_query` of node ``node`` (fingerprint hex) is not a recorded
        purge (None: it is one; module docstring). ``record_hash``: the entry's proven record hash."""
        found = self.covers.get((node, int(row.idx)))
        if found is None:
            why = self.unproven.get((node, int(row.idx)))
            return NO_PURGE_RECORD + (f" ({why})" if why else "")
        named, purge = found
        where = f"purge record at index {purge.index} of node {purge.node[:16]}"
        if named.record_hash != record_hash:
            return f"{NO_PURGE_RECORD} (the {where} names another record hash)"
        if named.kind not in REDACTABLE:
            return f"{NO_PURGE_RECORD} (the {where} names a {named.kind}, which no purge may redact)"
        if row.kind != named.kind:
            return f"kind column altered: it says {row.kind}, the {where} names a {named.kind}"
        if (row.redacted_rule, row.redacted_us) != (purge.record.rule, purge.record.purged_at_us):
            return f"purge columns altered: redacted_rule / redacted_us differ from the {where}"
        return None


def _purge_entries() -> sa.Select[Any]:
    e = ledger_entry.c
    query = sa.select(e.node_id, e.idx, e.canonical)
    return query.where(sa.or_(e.kind == REDACTION.kind, typed(e.canonical, (REDACTION.kind,))))


def _proven(sealed_entry: SealedEntry, node: int, index: int, data: bytes) -> str | None:
    """Why the purge record at (node, index) with canonical ``data`` is not proven (None: it is)."""
    sealed = sealed_entry(node, index)
    if isinstance(sealed, str):
        return sealed
    if hashlib.sha256(data).digest() != sealed[1]:
        return "its bytes differ from the sealed record hash"
    return None


def load_purge_records(
    conn: sa.Connection, sealed_entry: SealedEntry, fingerprints: Mapping[int, str]
) -> PurgeRecords:
    """Every purge record of the store, proven with ``sealed_entry`` (module docstring, rule 1).

    Args:
        conn: a connection (read only). sealed_entry: the caller's prover. fingerprints: node_key.id →
            hex fingerprint of the nodes whose records may count (others are skipped).
    """
    out = PurgeRecords()
    for row in conn.execute(_purge_entries().order_by(ledger_entry.c.node_id, ledger_entry.c.idx)):
        node = fingerprints.get(int(row.node_id))
        if node is None or row.canonical is None:
            continue
        data = row.canonical if isinstance(row.canonical, bytes) else bytes(row.canonical)
        try:
            record = decode_record(REDACTION, data)
        except DecodeError:
            continue  # names nothing that could count
        why = _proven(sealed_entry, int(row.node_id), int(row.idx), data)
        purge = PurgeRecord(node, int(row.idx), record)
        for entry in record.entries:
            key = (entry.node, entry.index)
            if why is not None:
                out.unproven.setdefault(key, f"the purge record at index {purge.index} is not proven: {why}")
            elif key not in out.covers:
                out.covers[key] = (entry, purge)
        if why is None:
            out.proven.append(purge)
    return out


def redacted_entries(conn: sa.Connection, entries: Sequence[tuple[int, int]]) -> tuple[RedactedEntry, ...]:
    """What a purge record names for each (node_key.id, index) a purge is about to redact: node
    fingerprint, index, the kind decoded from its canonical bytes (never the unchained ``kind`` column)
    and its record hash (:mod:`swarmscope.store.legal.purge`, inside its transaction).

    Raises:
        StoreError: an entry already redacted, whose bytes do not decode, or of a kind no purge may redact.
    """
    stored = conn.execute(sa.select(node_key.c.id, node_key.c.public_key))
    keys = {int(i): key_fingerprint(bytes(k)) for i, k in stored}
    e = ledger_entry.c
    out = []
    for node, index in entries:
        row = conn.execute(
            sa.select(e.canonical, e.record_hash).where(e.node_id == node, e.idx == index)
        ).one()
        if row.canonical is None:
            raise StoreError(f"purge refused: ledger entry {index} was already redacted")
        try:
            kind = record_kind(record_from_canonical(bytes(row.canonical)))
        except DecodeError as exc:
            raise StoreError(f"purge refused: ledger entry {index} does not decode ({exc})") from exc
        if kind not in REDACTABLE:
            raise StoreError(f"purge refused: ledger entry {index} holds a {kind}, which no purge may redact")
        out.append(RedactedEntry(keys[node], index, kind, bytes(row.record_hash)))
    return tuple(out)
