"""Rows of ``subscriber`` (encrypted identities) and ``audit_log``: import, read, list (README "Identities").

The store never sees a key or a plaintext identity: it is handed an :class:`IdentityCipher` (in practice
:class:`swarmscope.cases.identities.IdentityKey`) that seals an identity for one case row and opens it again.
Every import writes an ``audit_log`` row in the same transaction as the subscriber row. Every read attempt
writes one too, committed before the identity is handed back: action ``read`` when it decrypted, action
``read_failed`` (detail says why) when the key could not open it (wrong key, altered or moved row) or no
identity was stored. Audit rows name the case (DOE number) and the key fingerprint, never a name, address
or e-mail.

When a disclosure row identifies a case (all must hold, else the row is reported with its line number and
imported never — with ``partial`` only the rows that pass are imported):

1. **Address and time**: same IP address, and the case's hit interval ``[first_hit_us, last_hit_us]``
   overlaps the ISP's window ``[start, end]`` (both inclusive); exactly one such case awaits disclosure
   (status ``requested``), else "ambiguous" / "no case awaiting disclosure".
2. **Port**: when the row has a ``port``, it must equal the case's port (behind carrier-grade NAT one
   address serves several subscribers, told apart by port); a row with another port does not name the case.
3. **No conflict**: no other row of the file names the same case (same IP, window overlapping the case,
   port compatible). Two rows for one case are reported for BOTH lines and neither is imported — which
   subscriber it is is never settled by the order of the file.
4. **Every hit covered**: the window covers every counted hit, i.e. ``start <= first_hit_us`` and
   ``last_hit_us <= end``. A window that covers only some hits is reported ("window covers 1 of 3 hits")
   and not imported: the ISP must confirm the account for the whole interval the case rests on.
5. **Disclosure request**: when the case is named in a disclosure request, that request must be
   ``served``, ``complied`` or ``partially_complied``; ``drafted``, ``contested`` and ``quashed`` requests
   allow no intake (the reason names the request and its status). A case named in no request is judged
   by its status alone (``requested``).
6. The case has no identity yet.

Source: README "Identities" (a disclosure row identifies a case only when its window covers every hit and
the request was served; two rows naming one case are a conflict); carrier-grade NAT for the port.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import sqlalchemy as sa

from swarmscope.evidence.records import us_to_iso
from swarmscope.store.database import StoreError
from swarmscope.store.legal import cases as case_store
from swarmscope.store.legal.case_evidence import verified_observations
from swarmscope.store.legal.schema import audit_log, legal_case, subscriber

if TYPE_CHECKING:
    from swarmscope.store.database import Store
    from swarmscope.store.legal.cases import CaseRow, CaseRule

T = TypeVar("T")
IDENTIFIABLE = "requested"  # cases/workflow.py: requested --identify--> identified
INTAKE_REQUEST_STATUSES = frozenset({"served", "complied", "partially_complied"})  # workflow.RequestStatus


class IdentityCipher(Protocol[T]):
    """Seals an identity for the subscriber row of one case and opens it again (AEAD; key kept elsewhere)."""

    @property
    def key_id(self) -> str: ...

    def seal(self, identity: T, case_id: int) -> bytes: ...

    def open(self, ciphertext: bytes, case_id: int) -> T: ...


@dataclass(frozen=True, slots=True)
class DisclosureRow(Generic[T]):
    """One row of an ISP disclosure: its line, IP, window (UTC µs, inclusive), identity, port (None: any)."""

    line: int
    ip: str
    start_us: int
    end_us: int
    identity: T
    port: int | None = None


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
    """An ``audit_log`` row: when, who, what (import, read, read_failed, purge), subject (``case:DOE-…``)."""

    id: int
    at_us: int
    actor: str
    action: str
    subject: str
    detail: str | None


def _overlaps(row: DisclosureRow[T], case: CaseRow) -> bool:
    return case.ip == row.ip and case.first_hit_us <= row.end_us and row.start_us <= case.last_hit_us


def _names(row: DisclosureRow[T], case: CaseRow) -> bool:
    """The row names this case: same IP, overlapping window, compatible port."""
    return _overlaps(row, case) and (row.port is None or row.port == case.port)


def _claims(rows: Sequence[DisclosureRow[T]], cases: Sequence[CaseRow]) -> dict[int, list[int]]:
    """Case id → lines of the rows that name it (see :func:`_names`)."""
    out: dict[int, list[int]] = {}
    for row in rows:
        for case in cases:
            if _names(row, case):
                out.setdefault(case.id, []).append(row.line)
    return out


def _find_case(row: DisclosureRow[T], cases: Sequence[CaseRow]) -> tuple[CaseRow | None, str]:
    """The one case awaiting disclosure that this row names, or None and the reason."""
    overlapping = [c for c in cases if _overlaps(row, c)]
    if not overlapping:
        return None, "no case for this IP address in this window"
    named = [c for c in overlapping if _names(row, c)]
    if not named:
        ports = ", ".join(f"{c.doe} port {c.port}" for c in overlapping)
        return None, f"port {row.port} is not the port of the case(s) in this window ({ports})"
    ready = [c for c in named if c.status == IDENTIFIABLE]
    if len(ready) > 1:
        return None, "ambiguous: matches " + ", ".join(c.doe for c in ready)
    if not ready:
        states = ", ".join(f"{c.doe} is {c.status}" for c in named)
        return None, f"no case awaiting disclosure ({states})"
    return ready[0], ""


def _match(
    row: DisclosureRow[T], cases: Sequence[CaseRow], context: _MatchContext
) -> tuple[CaseRow | None, str]:
    """The one case this row identifies, or None and the reason (rules in the module docstring)."""
    case, reason = _find_case(row, cases)
    if case is None:
        return None, reason
    lines = context.claims.get(case.id, [])
    if len(lines) > 1:
        listed = ", ".join(str(n) for n in lines)
        return None, (
            f"conflict: lines {listed} all name {case.doe}; two subscribers for one case are never "
            "settled by file order (ask the ISP; neither row is imported)"
        )
    refused = context.request_refusal(case)
    if refused:
        return None, refused
    uncovered = context.coverage_problem(row, case)
    if uncovered:
        return None, uncovered
    if case.id in context.identified:
        return None, f"{case.doe} already has an identity"
    return case, ""


class _MatchContext:
    """What matching needs beyond the row: claims per case, request statuses, hit times (read lazily)."""

    def __init__(self, store: Store, claims: dict[int, list[int]], identified: set[int]) -> None:
        self.store, self.claims, self.identified = store, claims, identified
        self._requests: dict[int, str] = {}

    def request_refusal(self, case: CaseRow) -> str:
        """Empty when the case's disclosure request allows intake, else the reason."""
        if case.request_id is None:
            return ""
        if case.request_id not in self._requests:
            self._requests[case.request_id] = case_store.get_request(self.store, case.request_id).status
        status = self._requests[case.request_id]
        if status in INTAKE_REQUEST_STATUSES:
            return ""
        return (
            f"{case.doe}: disclosure request {case.request_id} is {status}; only a served, complied or "
            "partially complied request allows subscriber intake"
        )

    def coverage_problem(self, row: DisclosureRow[T], case: CaseRow) -> str:
        """Empty when the window covers every counted hit of the case, else how much it covers."""
        if row.start_us <= case.first_hit_us and case.last_hit_us <= row.end_us:
            return ""
        times = _hit_times(self.store, case)
        inside = sum(row.start_us <= t <= row.end_us for t in times)
        if times:
            covers = f"{inside} of {case.hits} hits"
        else:  # the hits cannot be recounted here: say which ends of the interval are covered
            covers = {
                (True, False): "the first hit but not the last",
                (False, True): "the last hit but not the first",
            }.get(
                (row.start_us <= case.first_hit_us, case.last_hit_us <= row.end_us),
                "neither the first nor the last hit",
            ) + f" ({case.hits} hits)"
        return (
            f"window covers {covers} of {case.doe} ({us_to_iso(case.first_hit_us)} .. "
            f"{us_to_iso(case.last_hit_us)}); a disclosure must cover every hit, not imported"
        )


def _hit_times(store: Store, case: CaseRow) -> list[int]:
    """Start times of the case's counted hits, recounted from the sealed verified observations.

    Hits of the case's address and swarm inside ``[first_hit_us, last_hit_us]``, on the case's port when
    that gives exactly ``case.hits`` (hits grouped per port), else on any port when that does; ``[]`` when
    neither recount matches the case (the caller then reports which end of the interval is uncovered).
    """
    found = [
        (o.started_us, o.port)
        for o in verified_observations(store, infohash=case.infohash)
        if o.ip == case.ip and case.first_hit_us <= o.started_us <= case.last_hit_us
    ]
    for times in ([t for t, port in found if port == case.port], [t for t, _ in found]):
        if len(times) == case.hits:
            return sorted(times)
    return []


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
    context = _MatchContext(store, _claims(rows, cases), set(_subscriber_case_ids(store)))
    chosen: list[tuple[DisclosureRow[T], CaseRow]] = []
    problems: list[tuple[int, str]] = []
    for row in rows:
        case, reason = _match(row, cases, context)
        if case is None:
            problems.append((row.line, reason))
        else:
            context.identified.add(case.id)
            chosen.append((row, case))
    if problems and not partial:
        return ImportReport((), tuple(problems), source_sha256, len(chosen))
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
    return ImportReport(
        tuple((r.line, c.doe) for r, c in chosen), tuple(problems), source_sha256, len(chosen)
    )


def _subscriber_case_ids(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(subscriber.c.case_id)).scalars())


def read_identity(store: Store, key: IdentityCipher[T], case_id: int | str, actor: str, now_us: int) -> T:
    """Decrypt the identity of a case, writing an ``audit_log`` row for every attempt.

    The row is committed before the identity is returned: action ``read`` when it decrypted,
    ``read_failed`` (detail: no identity stored / cannot decrypt, with the key fingerprint) otherwise.

    Args:
        store: open store. key: the identity cipher. case_id: case id or DOE number.
        actor: who reads (recorded). now_us: UTC µs.

    Returns:
        The identity ``key.open`` returns.

    Raises:
        StoreError: unknown case, or no identity stored for it (the attempt is logged too).
        Whatever ``key.open`` raises for a wrong key or an altered row (after the failure was logged).
    """
    case = case_store.get_case(store, case_id)
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(subscriber).where(subscriber.c.case_id == case.id)).first()
    subject = f"case:{case.doe}"
    if found is None:
        with store._write() as conn:
            _audit(conn, now_us, actor, "read_failed", subject, "no identity stored")
        raise StoreError(f"{case.doe} has no stored identity")
    try:
        identity = key.open(found.ciphertext, case.id)
    except Exception as exc:
        with store._write() as conn:
            detail = f"key {key.key_id}: cannot decrypt ({type(exc).__name__})"
            _audit(conn, now_us, actor, "read_failed", subject, detail)
        raise
    with store._write() as conn:
        _audit(conn, now_us, actor, "read", subject, f"key {key.key_id}")
    return identity


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
