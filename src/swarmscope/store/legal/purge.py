"""Retention purges at the database: the inputs retention decides on, and the controlled deletes.

The decision is :mod:`swarmscope.cases.retention` (pure); this module reads its inputs and applies its
result. Every purge writes ONE ``purge_log`` row per kind (even when nothing was due: the log shows that
the schedule ran) naming the rule and the count, and at most DOE numbers — never an IP address, a name
or an address. Each deleted identity also gets an ``audit_log`` row (action ``purge``).

Identities (``subscriber``) are workflow rows, not append-only evidence, so deleting them needs no
trigger change.

Unresolved IP evidence (:func:`purge_ip_evidence`) is sealed in the ledger: each observation, sighting
and attribution row has a chain entry whose canonical bytes hold the IP address. The purge *redacts*
those entries (canonical bytes set to NULL, ``redacted_rule`` / ``redacted_us`` filled; index and all
hashes kept, so the chain, every seal and every bundle already exported still verify), then deletes the
rows, the captures only purged observations referenced and the blobs nothing kept references. It runs
in ONE write transaction holding the chain locks, which starts by inserting a ``purge_authorization``
row and ends by deleting it: only while it exists do the triggers of migration 0004 allow exactly these
changes (redact an observation/sighting/attribution entry; delete a row whose entry is redacted; delete a
capture no observation references; delete a blob). Outside a purge every UPDATE/DELETE on evidence,
audit and purge-log tables is still refused. The decision (which addresses are due) is taken inside that
transaction from its own reads, so a record committed meanwhile is either seen or not deleted.

The kind, rule and time columns of a redacted entry are not covered by the hash chain, so in the same
transaction, after the redaction, the purge SEALS one :class:`~swarmscope.evidence.records.Redaction`
record (:func:`swarmscope.store.ledger.commit`, in the chain of the store's writer node) naming each
entry it redacted: node fingerprint, index, the kind decoded from its canonical bytes before they went,
its record hash. Only a redaction such a proven record covers is a recorded purge
(:mod:`swarmscope.store.ledger.purge_records`); anything else is a problem for ``verify_ledger``, ``export``
and the workflow. So a purge with entries to redact needs the node's private key (refused, nothing changed,
without it); one with nothing to redact, and a dry run, do not. An entry whose bytes decode to a kind no
purge may redact (clock samples, run records, purge records) is refused. Purges made before purge records
existed (migration 0006) have none: their entries now show as problems, and re-sealing them is
deliberately impossible (it would launder a forged redaction; README "Retention").

Source: README "Retention".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.records import Redaction
from swarmscope.store.database import StoreError
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger.purge_records import redacted_entries
from swarmscope.store.ledger.schema import (
    attribution,
    blob,
    capture,
    ledger_batch,
    ledger_entry,
    node_key,
    observation,
    sighting,
)
from swarmscope.store.legal import case_status
from swarmscope.store.legal.schema import audit_log, legal_case, purge_authorization, purge_log, subscriber

if TYPE_CHECKING:
    from swarmscope.store.database import Store

IP_EVIDENCE_TABLES = (observation, sighting, attribution)
_CHUNK = 500  # addresses / ids per IN (...) list


@dataclass(frozen=True, slots=True)
class IdentityCase:
    """A case that has a stored identity: id, DOE number, status, closed_us (UTC µs or None)."""

    case_id: int
    doe: str
    status: str
    closed_us: int | None


def identity_cases(store: Store) -> list[IdentityCase]:
    """Every case with a stored identity (the input of ``retention.due_identities``), by case id."""
    with store.engine.connect() as conn:
        with_identity = set(conn.execute(sa.select(subscriber.c.case_id)).scalars())
    return [
        IdentityCase(c.id, c.doe, str(c.status), c.closed_us)
        for c in sorted(case_status.list_cases(store), key=lambda c: c.id)
        if c.id in with_identity
    ]


def _case_statuses(conn: sa.Connection) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ip, status in conn.execute(sa.select(legal_case.c.ip, legal_case.c.status).order_by(legal_case.c.id)):
        out.setdefault(ip, []).append(str(status))
    return out


def _last_seen(conn: sa.Connection) -> dict[str, int]:
    out: dict[str, int] = {}
    queries = (
        sa.select(observation.c.ip, sa.func.max(observation.c.ended_us)).group_by(observation.c.ip),
        sa.select(sighting.c.ip, sa.func.max(sighting.c.seen_at_us)).group_by(sighting.c.ip),
    )
    for query in queries:
        for ip, last in conn.execute(query):
            out[ip] = max(out.get(ip, last), last)
    return out


def ip_last_seen(store: Store) -> dict[str, int]:
    """IP address → UTC µs of its last observation end or sighting (the input of ``due_ip_addresses``)."""
    with store.engine.connect() as conn:
        return _last_seen(conn)


def ip_case_statuses(store: Store) -> dict[str, list[str]]:
    """IP address → statuses of its cases, oldest case first (the other input of ``due_ip_addresses``)."""
    with store.engine.connect() as conn:
        return _case_statuses(conn)


def ip_evidence_counts(store: Store, ips: Iterable[str]) -> dict[str, int]:
    """Table name → number of rows holding one of ``ips`` (what an IP-evidence purge would remove)."""
    wanted = sorted(set(ips))
    counts = {table.name: 0 for table in IP_EVIDENCE_TABLES}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            for table in IP_EVIDENCE_TABLES:
                query = sa.select(sa.func.count()).where(table.c.ip.in_(chunk))
                counts[table.name] += conn.execute(query).scalar_one()
    return counts


def purge_identities(
    store: Store, cases: Sequence[tuple[int, str]], *, rule: str, actor: str, now_us: int
) -> int:
    """Delete the identities of ``cases`` ((case id, DOE) pairs) and log it, in one transaction.

    Args:
        store: open store. cases: the due cases (from ``retention.due_identities``).
        rule: the schedule with its parameters (``purge_log.rule``). actor: who ran it. now_us: UTC µs.

    Returns:
        The number of subscriber rows deleted.

    Raises:
        StoreError: the database refused (nothing is deleted then).
    """
    purged: list[str] = []
    with store._write() as conn:
        for case_id, doe in cases:
            result = conn.execute(sa.delete(subscriber).where(subscriber.c.case_id == case_id))
            if result.rowcount:
                purged.append(doe)
                values = {"at_us": now_us, "actor": actor, "action": "purge", "subject": f"case:{doe}"}
                conn.execute(sa.insert(audit_log).values({**values, "detail": rule}))
        detail = "cases: " + ", ".join(purged) if purged else None
        values = {"at_us": now_us, "rule": rule, "kind": "identity", "count": len(purged), "detail": detail}
        conn.execute(sa.insert(purge_log).values(values))
    return len(purged)


@dataclass(frozen=True, slots=True)
class PurgeLogRow:
    """A ``purge_log`` row."""

    id: int
    at_us: int
    rule: str
    kind: str
    count: int
    detail: str | None


def purge_log_rows(store: Store) -> list[PurgeLogRow]:
    """The purge log in order."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(purge_log).order_by(purge_log.c.id))
        return [PurgeLogRow(r.id, r.at_us, r.rule, r.kind, r._mapping["count"], r.detail) for r in rows]


# ---- unresolved IP evidence -------------------------------------------------------------------------

DueIps = Callable[[Mapping[str, int], Mapping[str, Sequence[str]]], Sequence[str]]


@dataclass(frozen=True, slots=True)
class IpPurge:
    """What an IP-evidence purge removed (or, dry run, would remove); never the addresses themselves.

    Args:
        addresses: due IP addresses. rows: table → rows deleted (observation, sighting, attribution).
        entries: ledger entries redacted. captures, blobs: content rows deleted.
        purge_record: (node fingerprint, chain index) of the sealed purge record (None: nothing redacted,
            or a dry run).
    """

    addresses: int
    rows: dict[str, int]
    entries: int
    captures: int
    blobs: int
    purge_record: tuple[str, int] | None = field(default=None, compare=False)

    def detail(self) -> str:
        """The ``purge_log.detail`` text (counts only)."""
        rows = ", ".join(f"{table}: {n}" for table, n in self.rows.items())
        return (
            f"{rows}; ledger entries redacted: {self.entries}; captures: {self.captures}; blobs: {self.blobs}"
        )


@dataclass(slots=True)
class _Plan:
    """Row ids per table, ledger (node id, index) keys to redact, captures and blobs to delete."""

    ids: dict[str, list[int]]
    entries: list[tuple[int, int]]
    captures: set[bytes]
    blobs: set[bytes]


def _block_shas(verified_blocks: object) -> set[bytes]:
    """SHA-256s of an observation's stored block proofs (JSON ``[[piece, begin, length, "hex"], ...]``)."""
    items = verified_blocks if isinstance(verified_blocks, list) else []
    return {bytes.fromhex(item[3]) for item in items}


def _capture_blobs(conn: sa.Connection, shas: Iterable[bytes]) -> set[bytes]:
    """Blob SHA-256s the given stored captures reference."""
    out: set[bytes] = set()
    for sha in shas:
        data = conn.execute(sa.select(capture.c.data).where(capture.c.sha256 == sha)).scalar()
        if data is None:
            continue
        try:
            out |= {seg[0] for seg in decode_capture(bytes(data)).received if isinstance(seg, tuple)}
        except DecodeError as exc:
            raise StoreError(f"purge refused: stored capture {sha.hex()} does not decode ({exc})") from exc
    return out


def _plan(conn: sa.Connection, ips: Sequence[str]) -> _Plan:
    """Everything the purge of ``ips`` removes; content still referenced by kept evidence stays."""
    ids: dict[str, list[int]] = {t.name: [] for t in IP_EVIDENCE_TABLES}
    entries: list[tuple[int, int]] = []
    for start in range(0, len(ips), _CHUNK):
        chunk = list(ips[start : start + _CHUNK])
        for table in IP_EVIDENCE_TABLES:
            query = sa.select(table.c.id, table.c.ledger_node, table.c.ledger_index).where(
                table.c.ip.in_(chunk)
            )
            for row_id, node, index in conn.execute(query.order_by(table.c.id)):
                ids[table.name].append(int(row_id))
                if node is not None and index is not None:
                    entries.append((int(node), int(index)))
    captures, blobs = _content(conn, set(ids["observation"]))
    return _Plan(ids, sorted(entries), captures, blobs)


def _content(conn: sa.Connection, purged: set[int]) -> tuple[set[bytes], set[bytes]]:
    """Captures only purged observations reference; blobs that neither kept observations' block proofs
    nor any kept capture reference (a capture no observation names is kept, with its blobs)."""
    gone_captures: set[bytes] = set()
    used_captures: set[bytes] = set()
    gone_blobs: set[bytes] = set()
    kept_blobs: set[bytes] = set()
    o = observation
    for row in conn.execute(sa.select(o.c.id, o.c.capture_sha256, o.c.verified_blocks)):
        gone = row.id in purged
        (gone_blobs if gone else kept_blobs).update(_block_shas(row.verified_blocks))
        if row.capture_sha256 is not None:
            (gone_captures if gone else used_captures).add(bytes(row.capture_sha256))
    stored_captures = {bytes(sha) for sha in conn.execute(sa.select(capture.c.sha256)).scalars()}
    gone_captures = (gone_captures - used_captures) & stored_captures
    gone_blobs |= _capture_blobs(conn, gone_captures)
    if gone_blobs:
        kept_blobs |= _capture_blobs(conn, stored_captures - gone_captures)
    stored_blobs = {bytes(sha) for sha in conn.execute(sa.select(blob.c.sha256)).scalars()}
    return gone_captures, (gone_blobs - kept_blobs) & stored_blobs


def _check_sealed(conn: sa.Connection, entries: Sequence[tuple[int, int]]) -> None:
    """Refuse to redact an entry no seal covers yet (recovery must seal it first)."""
    sealed = dict(
        conn.execute(
            sa.select(ledger_batch.c.node_id, sa.func.max(ledger_batch.c.last_index)).group_by(
                ledger_batch.c.node_id
            )
        ).all()
    )
    for node, index in entries:
        if sealed.get(node) is None or index > sealed[node]:
            raise StoreError(
                f"purge refused: ledger entry {index} is not sealed yet "
                "(open the store as its writer to recover)"
            )


def require_signer(store: Store, due: int) -> ledger.Node | None:
    """The node that seals the purge record of ``due`` redactions (the store's writer; None when ``due``
    is 0), or a refusal naming the missing key.

    Raises:
        StoreError: ``due`` entries and a store opened without the node's private key.
    """
    if not due:
        return None
    node = store.node
    if node is None or node.private_key is None:
        raise StoreError(
            f"purge refused: {due} sealed ledger entries are due for redaction, and the purge record that "
            "proves it must be sealed with the node's signing key"
        )
    return node


def _apply(conn: sa.Connection, plan: _Plan, rule: str, now_us: int) -> int:
    """Redact, then delete (the triggers allow it only under the authorization row); returns entries."""
    insert = sa.insert(purge_authorization).values(rule=rule, at_us=now_us)
    auth = conn.execute(insert.returning(purge_authorization.c.id)).scalar_one()
    e = ledger_entry
    redacted = 0
    for node in sorted({n for n, _i in plan.entries}):
        indices = [i for n, i in plan.entries if n == node]
        for start in range(0, len(indices), _CHUNK):
            update = (
                sa.update(e)
                .where(
                    e.c.node_id == node,
                    e.c.idx.in_(indices[start : start + _CHUNK]),
                    e.c.canonical.is_not(None),
                )
                .values(canonical=None, redacted_rule=rule, redacted_us=now_us)
            )
            redacted += conn.execute(update).rowcount
    for table in IP_EVIDENCE_TABLES:
        ids = plan.ids[table.name]
        for start in range(0, len(ids), _CHUNK):
            conn.execute(sa.delete(table).where(table.c.id.in_(ids[start : start + _CHUNK])))
    for table, shas in ((capture, plan.captures), (blob, plan.blobs)):
        ordered = sorted(shas)
        for start in range(0, len(ordered), _CHUNK):
            conn.execute(sa.delete(table).where(table.c.sha256.in_(ordered[start : start + _CHUNK])))
    conn.execute(sa.delete(purge_authorization).where(purge_authorization.c.id == auth))
    return redacted


def purge_ip_evidence(store: Store, due: DueIps, *, rule: str, now_us: int, dry_run: bool = False) -> IpPurge:
    """Purge the evidence of every IP address ``due`` selects, in one transaction (module docstring).

    Args:
        store: open store. due: the pure decision, called inside the transaction with (IP → last seen UTC
            µs, IP → case statuses), returning the due addresses (``retention.due_ip_addresses``).
        rule: the schedule with its parameters (``purge_log.rule``, ``ledger_entry.redacted_rule``).
        now_us: UTC µs. dry_run: only count (nothing written, not even the log).

    Returns:
        The counts (:class:`IpPurge`); one ``purge_log`` row (kind ``ip_evidence``) records them.

    Raises:
        StoreError: an entry to redact is not sealed yet, a capture does not decode, or the database
            refused (nothing is changed then).
    """
    with store._write(immediate=True) as conn:
        conn.execute(sa.select(node_key.c.id).order_by(node_key.c.id).with_for_update()).all()  # chain locks
        ips = sorted(set(due(_last_seen(conn), _case_statuses(conn))))
        plan = _plan(conn, ips)
        _check_sealed(conn, plan.entries)
        counts = {name: len(ids) for name, ids in plan.ids.items()}
        outcome = IpPurge(len(ips), counts, len(plan.entries), len(plan.captures), len(plan.blobs))
        if dry_run:
            return outcome
        record = Redaction(rule, now_us, redacted_entries(conn, plan.entries))
        signer = require_signer(store, len(record.entries))
        redacted = _apply(conn, plan, rule, now_us)
        if signer is not None:  # sealed after the redaction, in its transaction (chain locks held)
            sealed, _batch = ledger.commit(conn, signer, 0, [record], ledger.Commit({}, {}, (), now_us, None))
            outcome = replace(outcome, purge_record=(signer.fingerprint, sealed.batch.last_index))
        if redacted != len(plan.entries):
            raise StoreError(
                f"purge refused: {len(plan.entries) - redacted} ledger entries were already redacted"
            )
        values = {"at_us": now_us, "rule": rule, "kind": "ip_evidence", "count": len(ips)}
        conn.execute(sa.insert(purge_log).values({**values, "detail": outcome.detail()}))
    return outcome
