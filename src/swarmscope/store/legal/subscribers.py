"""Rows of ``subscriber`` (encrypted identities) and ``audit_log``: import, read, list (README "Identities").

The store never sees a key or a plaintext identity: it is handed an :class:`IdentityCipher` (in practice
:class:`swarmscope.cases.identities.IdentityKey`) that seals an identity for one case row and opens it again.
Every import writes an ``audit_log`` row in the same transaction as the subscriber row. Every read attempt
writes one too, committed before the identity is handed back: action ``read`` when it decrypted, action
``read_failed`` (detail says why) when the key could not open it (wrong key, altered or moved row), no
identity was stored, or the stored one is unbound (below). Audit rows name the case (DOE number) and the
key fingerprint, never a name, address or e-mail.

Which case a disclosure row identifies: :mod:`swarmscope.store.legal.disclosure_match`.

**Binding.** A subscriber row keeps what the ISP disclosed: ``ip``, ``port`` (NULL: none named) and the
window ``window_start_us`` .. ``window_end_us`` (UTC µs) — a :class:`Disclosed`. The cipher seals the
identity for the case row AND that disclosure (AES-GCM associated data), so a row whose disclosed columns
were edited, or whose ciphertext came from another row, does not open. Whether the case as proven now
lies inside the disclosure is the workflow's check (:mod:`swarmscope.cases.disclosure_check`). A row
stored before identities were bound (``ip`` NULL, migration 0007) cannot be checked: every read refuses
it (:class:`UnboundIdentity`) until the disclosure is imported again, which re-binds it (the case keeps
its status; the audit row says "re-bound").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import sqlalchemy as sa

from swarmscope.store.database import StoreError
from swarmscope.store.legal import case_status
from swarmscope.store.legal.disclosure_match import (
    IDENTIFIABLE,
    Disclosed,
    DisclosureRow,
    MatchContext,
    claims,
    match_row,
)
from swarmscope.store.legal.schema import audit_log, legal_case, subscriber

if TYPE_CHECKING:
    from swarmscope.store.database import Store
    from swarmscope.store.legal.case_rows import CaseRow, CaseRule

T = TypeVar("T")


class IdentityCipher(Protocol[T]):
    """Seals an identity for the subscriber row of one case and the disclosure it came from, and opens it
    again (AEAD; key kept elsewhere)."""

    @property
    def key_id(self) -> str: ...

    def seal(self, identity: T, case_id: int, disclosed: Disclosed) -> bytes: ...

    def open(self, ciphertext: bytes, case_id: int, disclosed: Disclosed) -> T: ...


class UnboundIdentity(StoreError):
    """A stored identity bound to its case row only, not to what the ISP disclosed: it cannot be checked."""


def unbound_message(doe: str) -> str:
    """The one-line refusal of an unbound identity, telling the operator what to do."""
    return (
        f"{doe}: its identity was stored before identities were bound to the disclosed address, port and "
        "window, so it cannot be checked against the case; import the ISP's disclosure again "
        "(swarmscope subscribers import FILE) to bind it"
    )


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: imported (line, DOE) pairs, problems (line, message), the file's SHA-256.

    ``matched`` counts the rows that identify a case (imported, or held back by other rows' problems
    when the import was not ``partial``).
    """

    imported: tuple[tuple[int, str], ...]
    problems: tuple[tuple[int, str], ...]
    source_sha256: str
    matched: int = 0


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A ``subscriber`` row (ciphertext still encrypted) with its case's DOE number.

    ``ip``/``port``: the address and port the ISP disclosed (``ip`` None: stored before identities were
    bound to the disclosure; ``port`` None: the disclosure named no port).
    """

    id: int
    case_id: int
    doe: str
    window_start_us: int
    window_end_us: int
    ciphertext: bytes
    key_id: str
    source_sha256: str
    imported_us: int
    ip: str | None = None
    port: int | None = None

    @property
    def disclosed(self) -> Disclosed | None:
        """What the ISP disclosed this identity for (None: an unbound row)."""
        if self.ip is None:
            return None
        return Disclosed(self.ip, self.port, self.window_start_us, self.window_end_us)


@dataclass(frozen=True, slots=True)
class AuditRow:
    """An ``audit_log`` row: when, who, what (import, read, read_failed, purge), subject (``case:DOE-…``)."""

    id: int
    at_us: int
    actor: str
    action: str
    subject: str
    detail: str | None


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
    replaceable: frozenset[int] = frozenset(),
) -> ImportReport:
    """Match disclosure rows to cases, store each identity encrypted, move each case to ``identified``.

    A row that identifies a case whose stored identity is unbound (or ``replaceable``) replaces it (bound
    to this row's disclosure); the case's status moves on to ``identified`` as on a first import when it
    still awaits the disclosure (``requested``: an identity planted beside an untouched status), and is
    left as it is otherwise (an identity stored before the binding, of a case identified long ago).

    Args:
        store: open store. key: the identity cipher. rows: parsed disclosure rows.
        source_sha256: hex SHA-256 of the disclosure file. actor: who imports. now_us: UTC µs.
        rule: the case workflow (``swarmscope.cases.workflow.next_case_status``), applied to ``identify``.
        isp_id: only match cases of this ISP (the one that disclosed). partial: import the matched rows
            even when others have problems (default: any problem imports nothing).
        replaceable: ids of cases whose stored identity the caller found unproven (no sealed
            identification): re-bound like an unbound one.

    Returns:
        An :class:`ImportReport`; with problems and ``partial`` False, ``imported`` is empty.

    Raises:
        StoreError: the database refused a row (nothing of that transaction is written).
        WorkflowError: a case changed status between matching and the status move (its identity stays).
    """
    cases = case_status.list_cases(store, isp_id=isp_id)
    stored = subscriber_rows(store)
    unbound = {r.case_id for r in stored if r.disclosed is None or r.case_id in replaceable}
    context = MatchContext(store, claims(rows, cases), {r.case_id for r in stored}, unbound)
    chosen: list[tuple[DisclosureRow[T], CaseRow, bool]] = []
    problems: list[tuple[int, str]] = []
    for row in rows:
        case, reason = match_row(row, cases, context)
        if case is None:
            problems.append((row.line, reason))
        else:
            chosen.append((row, case, context.choose(case)))
    if problems and not partial:
        return ImportReport((), tuple(problems), source_sha256, len(chosen))
    with store._write() as conn:
        for row, case, rebind in chosen:
            _store_identity(conn, key, row, case.id, rebind, source_sha256, now_us)
            detail = f"file sha256 {source_sha256}, line {row.line}, key {key.key_id}"
            if rebind:
                detail += ", re-bound to the disclosed address, port and window"
            _audit(conn, now_us, actor, "import", f"case:{case.doe}", detail)
    for row, case, rebind in chosen:
        if not rebind or case.status == IDENTIFIABLE:
            note = f"identity imported from disclosure {source_sha256[:16]} line {row.line}"
            case_status.set_case_status(store, case.id, "identify", actor, note, now_us, rule=rule)
    return ImportReport(
        tuple((r.line, c.doe) for r, c, _ in chosen), tuple(problems), source_sha256, len(chosen)
    )


def _store_identity(
    conn: sa.Connection,
    key: IdentityCipher[T],
    row: DisclosureRow[T],
    case_id: int,
    rebind: bool,
    source_sha256: str,
    now_us: int,
) -> None:
    """Insert the case's subscriber row, or (``rebind``) replace its unbound one, sealed for ``row``."""
    disclosed = Disclosed.of(row)
    values = {
        "window_start_us": row.start_us,
        "window_end_us": row.end_us,
        "ip": row.ip,
        "port": row.port,
        "ciphertext": key.seal(row.identity, case_id, disclosed),
        "key_id": key.key_id,
        "source_sha256": source_sha256,
        "imported_us": now_us,
    }
    if rebind:
        conn.execute(sa.update(subscriber).where(subscriber.c.case_id == case_id).values(values))
    else:
        conn.execute(sa.insert(subscriber).values(case_id=case_id, **values))


def stored_identity(store: Store, case_id: int) -> SubscriberRow | None:
    """The subscriber row of case ``case_id`` (no decryption, no audit), or None."""
    rows = _rows(store, subscriber.c.case_id == case_id)
    return rows[0] if rows else None


def read_identity(store: Store, key: IdentityCipher[T], case_id: int | str, actor: str, now_us: int) -> T:
    """Decrypt the identity of a case, writing an ``audit_log`` row for every attempt.

    The row is committed before the identity is returned: action ``read`` when it decrypted,
    ``read_failed`` (detail: no identity stored / unbound / cannot decrypt, with the key fingerprint)
    otherwise. The ciphertext opens only with the disclosure stored beside it (see the module docstring).

    Args:
        store: open store. key: the identity cipher. case_id: case id or DOE number.
        actor: who reads (recorded). now_us: UTC µs.

    Returns:
        The identity ``key.open`` returns.

    Raises:
        StoreError: unknown case, or no identity stored for it (the attempt is logged too).
        UnboundIdentity: the identity is bound to no disclosure (logged; import the disclosure again).
        Whatever ``key.open`` raises for a wrong key or an altered row (after the failure was logged).
    """
    case = case_status.get_case(store, case_id)
    found = stored_identity(store, case.id)
    subject = f"case:{case.doe}"
    disclosed = None if found is None else found.disclosed
    if found is None or disclosed is None:
        why = "no identity stored" if found is None else "unbound: stored before the disclosure binding"
        with store._write() as conn:
            _audit(conn, now_us, actor, "read_failed", subject, why)
        if found is None:
            raise StoreError(f"{case.doe} has no stored identity")
        raise UnboundIdentity(unbound_message(case.doe))
    try:
        identity = key.open(found.ciphertext, case.id, disclosed)
    except Exception as exc:
        with store._write() as conn:
            detail = f"key {key.key_id}: cannot decrypt ({type(exc).__name__})"
            _audit(conn, now_us, actor, "read_failed", subject, detail)
        raise
    with store._write() as conn:
        _audit(conn, now_us, actor, "read", subject, f"key {key.key_id}")
    return identity


def _rows(store: Store, where: sa.ColumnElement[bool] | None = None) -> list[SubscriberRow]:
    query = (
        sa.select(subscriber, legal_case.c.doe)
        .join(legal_case, legal_case.c.id == subscriber.c.case_id)
        .order_by(subscriber.c.id)
    )
    if where is not None:
        query = query.where(where)
    with store.engine.connect() as conn:
        return [
            SubscriberRow(
                r.id, r.case_id, r.doe, r.window_start_us, r.window_end_us, r.ciphertext, r.key_id,
                r.source_sha256, r.imported_us, r.ip, r.port,
            )
            for r in conn.execute(query)
        ]  # fmt: skip


def subscriber_rows(store: Store) -> list[SubscriberRow]:
    """Every subscriber row with its DOE number (no decryption, no audit: ciphertext only)."""
    return _rows(store)


def audit_view(store: Store, actor: str, action: str, doe: str, detail: str, now_us: int) -> None:
    """Commit an ``audit_log`` row for a view of personal data other than the identity (a dispute's
    text, written by the subscriber), before the caller shows it: ``action`` e.g. ``read_dispute``,
    subject ``case:<doe>``."""
    with store.engine.begin() as conn:
        _audit(conn, now_us, actor, action, f"case:{doe}", detail)


def audit_rows(store: Store, *, subject: str | None = None) -> list[AuditRow]:
    """The audit log in order (optionally of one subject such as ``case:DOE-000001``)."""
    query = sa.select(audit_log).order_by(audit_log.c.id)
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
    with store.engine.connect() as conn:
        return [AuditRow(r.id, r.at_us, r.actor, r.action, r.subject, r.detail) for r in conn.execute(query)]
