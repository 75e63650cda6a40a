"""Retention purges at the database: the inputs retention decides on, and the controlled deletes (issue 5 #8).

The decision is :mod:`swarmscope.cases.retention` (pure); this module reads its inputs and applies its
result. Every purge writes ONE ``purge_log`` row per kind (even when nothing was due: the log shows that
the schedule ran) naming the rule and the count, and at most DOE numbers — never an IP address, a name
or an address. Each deleted identity also gets an ``audit_log`` row (action ``purge``).

Identities (``subscriber``) are workflow rows, not append-only evidence, so deleting them needs no
trigger change: the append-only triggers of migrations 0001–0003 stay exactly as they are and still
refuse every DELETE on evidence, audit and purge-log tables.

Unresolved IP evidence is only *measured* here (:func:`ip_evidence_counts`): its rows are sealed in the
ledger (``ledger_entry.canonical`` holds the IP address), and removing them needs a redaction mode in
``ledger_verify`` and the bundle verifier first (see the issue-5 J1 report). Nothing here deletes evidence.

Source: issue 5 item 8.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.store import cases as case_store
from swarmscope.store.schema import observation, sighting
from swarmscope.store.schema_cases import attribution, audit_log, purge_log, subscriber

if TYPE_CHECKING:
    from swarmscope.store.database import Store

IP_EVIDENCE_TABLES = (observation, sighting, attribution)


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
        for c in sorted(case_store.list_cases(store), key=lambda c: c.id)
        if c.id in with_identity
    ]


def ip_last_seen(store: Store) -> dict[str, int]:
    """IP address → UTC µs of its last observation end or sighting (the input of ``due_ip_addresses``)."""
    out: dict[str, int] = {}
    queries = (
        sa.select(observation.c.ip, sa.func.max(observation.c.ended_us)).group_by(observation.c.ip),
        sa.select(sighting.c.ip, sa.func.max(sighting.c.seen_at_us)).group_by(sighting.c.ip),
    )
    with store.engine.connect() as conn:
        for query in queries:
            for ip, last in conn.execute(query):
                out[ip] = max(out.get(ip, last), last)
    return out


def ip_case_statuses(store: Store) -> dict[str, list[str]]:
    """IP address → statuses of its cases."""
    out: dict[str, list[str]] = {}
    for case in case_store.list_cases(store):
        out.setdefault(case.ip, []).append(str(case.status))
    return out


def ip_evidence_counts(store: Store, ips: Iterable[str]) -> dict[str, int]:
    """Table name → number of rows holding one of ``ips`` (what an IP-evidence purge would remove)."""
    wanted = sorted(set(ips))
    counts = {table.name: 0 for table in IP_EVIDENCE_TABLES}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
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
