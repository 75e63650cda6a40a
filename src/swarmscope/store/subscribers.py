"""Rows of ``subscriber`` (encrypted identities) and ``audit_log``: import, read, list (issue 5 item 6).

The store never sees a key or a plaintext identity: it is handed an :class:`IdentityCipher` (in practice
:class:`swarmscope.cases.identities.IdentityKey`) that seals an identity for one case row and opens it again.
Every import and every read writes an ``audit_log`` row in the same transaction as the subscriber access,
and BEFORE the ciphertext is decrypted, so a read with a wrong key is logged too. Audit rows name the case
(DOE number) and the key fingerprint, never a name, address or e-mail.

Matching a disclosure row to a case: same IP address, and the case's hit interval
``[first_hit_us, last_hit_us]`` overlaps the ISP's window ``[start, end]``. Only cases in status
``requested`` (a disclosure request was served naming them) can be identified; overlapping cases in any
other status, no overlapping case, two overlapping cases (ambiguous), two rows for one case, or a case
that already has an identity are reported as problems with the row's line number.

Source: issue 5 item 6.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import sqlalchemy as sa

from swarmscope.store import cases as case_store
from swarmscope.store.database import StoreError
from swarmscope.store.schema_cases import audit_log, legal_case, subscriber

if TYPE_CHECKING:
    from swarmscope.store.cases import CaseRow, CaseRule
    from swarmscope.store.database import Store

T = TypeVar("T")
IDENTIFIABLE = "requested"  # cases/workflow.py: requested --identify--> identified


class IdentityCipher(Protocol[T]):
    """Seals an identity for the subscriber row of one case and opens it again (AEAD; key kept elsewhere)."""

    @property
    def key_id(self) -> str: ...

    def seal(self, identity: T, case_id: int) -> bytes: ...

    def open(self, ciphertext: bytes, case_id: int) -> T: ...


@dataclass(frozen=True, slots=True)
class DisclosureRow(Generic[T]):
    """One row of an ISP disclosure: its line in the file, IP, window (UTC µs, inclusive), the identity."""

    line: int
    ip: str
    start_us: int
    end_us: int
    identity: T


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: imported (line, DOE) pairs, problems (line, message), the file's SHA-256."""

    imported: tuple[tuple[int, str], ...]
    problems: tuple[tuple[int, str], ...]
    source_sha256: str


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A ``subscriber`` row (ciphertext still encrypted) with its case's DOE number."""

    id: int
    case_id: int
    doe: str
    window_start_us: int
    window_end_us: int
    ciphertext: bytes
    key_id: str
    source_sha256: str
    imported_us: int


@dataclass(frozen=True, slots=True)
class AuditRow:
    """An ``audit_log`` row: when, who, what (import, read, purge), subject (``case:DOE-…``), detail."""

    id: int
    at_us: int
    actor: str
    action: str
    subject: str
    detail: str | None


def _match(
    row: DisclosureRow[T], cases: Sequence[CaseRow], identified: set[int]
) -> tuple[CaseRow | None, str]:
    """The one case this row identifies, or None and the reason."""
    overlapping = [
        c for c in cases if c.ip == row.ip and c.first_hit_us <= row.end_us and row.start_us <= c.last_hit_us
    ]
    ready = [c for c in overlapping if c.status == IDENTIFIABLE]
    if len(ready) > 1:
        return None, "ambiguous: matches " + ", ".join(c.doe for c in ready)
    if not ready:
        if overlapping:
            states = ", ".join(f"{c.doe} is {c.status}" for c in overlapping)
            return None, f"no case awaiting disclosure ({states})"
        return None, "no case for this IP address in this window"
    if ready[0].id in identified:
        return None, f"{ready[0].doe} already has an identity"
    return ready[0], ""


def _audit(conn: sa.Connection, at_us: int, actor: str, action: str, subject: str, detail: str) -> None:
    conn.execute(
        sa.insert(audit_log).values(at_us=at_us, actor=actor, action=action, subject=subject, detail=detail)
    )


def import_disclosure(
    store: Store,
    key: IdentityCipher[T],
    rows: Sequence[DisclosureRow[T]],
    *,
    source_sha256: str,
    actor: str,
    now_us: int,
    rule: CaseRule,
    isp_id: int | None = None,
    partial: bool = False,
) -> ImportReport:
    """Match disclosure rows to cases, store each identity encrypted, move each case to ``identified``.

    Args:
        store: open store. key: the identity cipher. rows: parsed disclosure rows.
        source_sha256: hex SHA-256 of the disclosure file. actor: who imports. now_us: UTC µs.
        rule: the case workflow (``swarmscope.cases.workflow.next_case_status``), applied to ``identify``.
        isp_id: only match cases of this ISP (the one that disclosed). partial: import the matched rows
            even when others have problems (default: any problem imports nothing).

    Returns:
        An :class:`ImportReport`; with problems and ``partial`` False, ``imported`` is empty.

    Raises:
        StoreError: the database refused a row (nothing of that transaction is written).
        WorkflowError: a case changed status between matching and the status move (its identity stays).
    """
    cases = case_store.list_cases(store, isp_id=isp_id)
    identified = set(_subscriber_case_ids(store))
    chosen: list[tuple[DisclosureRow[T], CaseRow]] = []
    problems: list[tuple[int, str]] = []
    for row in rows:
        case, reason = _match(row, cases, identified)
        if case is None:
            problems.append((row.line, reason))
        else:
            identified.add(case.id)
            chosen.append((row, case))
    if problems and not partial:
        return ImportReport((), tuple(problems), source_sha256)
    with store._write() as conn:
        for row, case in chosen:
            values = {
                "case_id": case.id,
                "window_start_us": row.start_us,
                "window_end_us": row.end_us,
                "ciphertext": key.seal(row.identity, case.id),
                "key_id": key.key_id,
                "source_sha256": source_sha256,
                "imported_us": now_us,
            }
            conn.execute(sa.insert(subscriber).values(values))
            detail = f"file sha256 {source_sha256}, line {row.line}, key {key.key_id}"
            _audit(conn, now_us, actor, "import", f"case:{case.doe}", detail)
    for row, case in chosen:
        note = f"identity imported from disclosure {source_sha256[:16]} line {row.line}"
        case_store.set_case_status(store, case.id, "identify", actor, note, now_us, rule=rule)
    return ImportReport(tuple((r.line, c.doe) for r, c in chosen), tuple(problems), source_sha256)


def _subscriber_case_ids(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(subscriber.c.case_id)).scalars())


def read_identity(store: Store, key: IdentityCipher[T], case_id: int | str, actor: str, now_us: int) -> T:
    """Decrypt the identity of a case, writing an ``audit_log`` read row first (every call, even failing).

    Args:
        store: open store. key: the identity cipher. case_id: case id or DOE number.
        actor: who reads (recorded). now_us: UTC µs.

    Returns:
        The identity ``key.open`` returns.

    Raises:
        StoreError: unknown case, or no identity stored for it (the attempt is logged too).
        Whatever ``key.open`` raises for a wrong key or an altered row (after the read was logged).
    """
    case = case_store.get_case(store, case_id)
    with store._write() as conn:
        found = conn.execute(sa.select(subscriber).where(subscriber.c.case_id == case.id)).first()
        outcome = f"key {key.key_id}" if found is not None else "no identity stored"
        _audit(conn, now_us, actor, "read", f"case:{case.doe}", outcome)
    if found is None:
        raise StoreError(f"{case.doe} has no stored identity")
    return key.open(found.ciphertext, case.id)


def subscriber_rows(store: Store) -> list[SubscriberRow]:
    """Every subscriber row with its DOE number (no decryption, no audit: ciphertext only)."""
    query = (
        sa.select(subscriber, legal_case.c.doe)
        .join(legal_case, legal_case.c.id == subscriber.c.case_id)
        .order_by(subscriber.c.id)
    )
    with store.engine.connect() as conn:
        return [
            SubscriberRow(
                r.id,
                r.case_id,
                r.doe,
                r.window_start_us,
                r.window_end_us,
                r.ciphertext,
                r.key_id,
                r.source_sha256,
                r.imported_us,
            )
            for r in conn.execute(query)
        ]


def audit_rows(store: Store, *, subject: str | None = None) -> list[AuditRow]:
    """The audit log in order (optionally of one subject such as ``case:DOE-000001``)."""
    query = sa.select(audit_log).order_by(audit_log.c.id)
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
    with store.engine.connect() as conn:
        return [AuditRow(r.id, r.at_us, r.actor, r.action, r.subject, r.detail) for r in conn.execute(query)]
