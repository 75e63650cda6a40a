"""Legal cases and disclosure requests: rows, status changes with their events, ISP cooperation.

Import these from here (every name is imported from the module that defines it). Status changes take the
pure workflow rule as ``rule=`` (``store/`` may not import ``cases/``); the rule is applied to the status
read inside the write transaction, and the new status and its event row are written in that same
transaction. Who decided (``actor``) is recorded for every change.

Source: README "Thresholds", "Cases" and "Letters"; the ISP request statuses of "The legal workflow".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.evidence.records import WorkflowEvent
from swarmscope.store.legal import case_rows as statuses
from swarmscope.store.legal.case_create import CasePlan, SealedBuilds, read_case, upsert_in
from swarmscope.store.legal.case_rows import (
    CandidateLike,
    CaseRow,
    CaseRule,
    CaseStoreError,
    EventRow,
    IspCooperation,
    RequestRow,
    RequestRule,
    new_id,
)
from swarmscope.store.legal.schema import case_event, disclosure_event, disclosure_request, isp, legal_case
from swarmscope.store.legal.workflow_seals import CASE_BUILT, built_content, content_sha256, seal_events

if TYPE_CHECKING:
    from swarmscope.store.database import Store


def get_case(store: Store, which: int | str) -> CaseRow:
    """A case by row id (int or digits) or DOE number (``DOE-000001``). Raises CaseStoreError if absent."""
    with store.engine.connect() as conn:
        return read_case(conn, which)


def upsert_case(
    store: Store,
    candidate: CandidateLike,
    work_id: int | None,
    isp_id: int | None,
    region: str | None,
    city: str | None,
    now_us: int,
    sealed: SealedBuilds | None = None,
) -> CaseRow:
    """:func:`upsert_cases` of one candidate (``now_us``: UTC µs; ``sealed``: as there); returns its row.

    Raises:
        CaseStoreError: ``sealed`` refuses the candidate (its refusal line).
    """
    done = upsert_cases(store, [CasePlan(candidate, work_id, isp_id, region, city)], now_us, sealed)[0]
    if isinstance(done, str):
        raise CaseStoreError(done)
    return done[0]


def upsert_cases(
    store: Store, plans: Sequence[CasePlan], now_us: int, sealed: SealedBuilds | None = None
) -> list[tuple[CaseRow, bool] | str]:
    """Create the case of each candidate, or refresh the existing one, in ONE transaction; returns the
    rows in the order of ``plans``, each with whether THIS transaction created it (two builds at once on
    PostgreSQL: the second finds the first's case, and says so), or the line refusing it.

    ``sealed``: the proven ``case_built`` events (:class:`swarmscope.store.legal.case_create.SealedBuilds`;
    None: no ledger check, for callers that create from rows they just proved themselves): a candidate whose
    identity one of them seals while no row holds its key is refused, not created again, and new DOE
    numbers come after every DOE number they name (:mod:`swarmscope.store.legal.case_create`).

    The key is (IP, infohash, first hit): the same evidence finds the same case and DOE number. A new
    case gets the next DOE number, status ``candidate`` and a ``case_event`` by ``swarmscope``. An
    existing case still at ``candidate`` takes the newer last hit and hit count and fills a missing
    work/ISP/region/city; once requested or later it is left as it is (what an ISP was shown stays). A
    key held by a case on ANOTHER port is left as it is and that case returned (the caller names it).
    A store holding the node's key seals, in the same transaction and one ledger batch, a ``case_built``
    event per new case (:func:`swarmscope.store.legal.workflow_seals.built_content`); a reader store seals
    none, and the documents refuse such a case (:mod:`swarmscope.cases.case_binding`).

    Args:
        plans: each a candidate (a :class:`swarmscope.cases.thresholds.Candidate` or anything with its
            fields), its work and ISP ids and advisory place. now_us: UTC microseconds.
    """
    with store._write(immediate=True) as conn:
        done = [upsert_in(conn, plan, now_us, sealed) for plan in plans]
        created = [made[0] for made in done if not isinstance(made, str) and made[1]]
        node = store.node
        if node is not None and node.private_key is not None:
            events = [
                WorkflowEvent(row.doe, CASE_BUILT, now_us, content_sha256(CASE_BUILT, built_content(
                    row.doe, row.infohash, row.ip, row.port, row.first_hit_us)))
                for row in created
            ]  # fmt: skip
            seal_events(conn, node, events)
        return done


def list_cases(
    store: Store, *, isp_id: int | None = None, status: str | None = None, request_id: int | None = None
) -> list[CaseRow]:
    """Cases in DOE order, optionally of one ISP, one status, one disclosure request."""
    query = sa.select(legal_case).order_by(legal_case.c.doe)
    if isp_id is not None:
        query = query.where(legal_case.c.isp_id == isp_id)
    if status is not None:
        query = query.where(legal_case.c.status == status)
    if request_id is not None:
        query = query.where(legal_case.c.request_id == request_id)
    with store.engine.connect() as conn:
        return [CaseRow(**r._asdict()) for r in conn.execute(query)]


def _actor(actor: str) -> str:
    if not actor or not actor.strip():
        raise CaseStoreError("a status change needs the actor who recorded it")
    return actor


@dataclass(frozen=True, slots=True)
class StatusMove:
    """A workflow event to apply to a case inside another write's transaction (:func:`apply_move`): the
    event (a :class:`swarmscope.cases.workflow.CaseEvent` value), who recorded it, a note, and the rule
    (``swarmscope.cases.workflow.next_case_status``)."""

    event: str
    actor: str
    note: str | None
    rule: CaseRule


def apply_move(conn: sa.Connection, case_id: int | str, move: StatusMove, now_us: int) -> CaseRow:
    """Apply ``move`` to the case in the caller's open write transaction (``conn``): the new status and a
    ``case_event``; the caller's rollback undoes both.

    Raises:
        WorkflowError: the rule refuses the move. CaseStoreError: unknown case, empty actor.
    """
    actor = _actor(move.actor)
    case = read_case(conn, case_id)
    status = str(move.rule(case.status, move.event, actor))
    values: dict[str, Any] = {"status": status, "status_us": now_us}
    if status in statuses.CLOSING_CASE_STATUSES and case.closed_us is None:
        values["closed_us"] = now_us
    conn.execute(sa.update(legal_case).where(legal_case.c.id == case.id).values(values))
    text = f"{move.event}: {move.note}" if move.note else str(move.event)
    row = {"case_id": case.id, "status": status, "at_us": now_us, "actor": actor, "note": text}
    conn.execute(sa.insert(case_event).values(row))
    return read_case(conn, case.id)


def set_case_status(
    store: Store, case_id: int | str, event: str, actor: str, note: str | None, now_us: int, *, rule: CaseRule
) -> CaseRow:
    """Apply a workflow event to a case; writes the new status and a ``case_event``; returns the row.

    Args:
        case_id: row id or DOE number. event: a :class:`swarmscope.cases.workflow.CaseEvent` value.
        actor: who decided or recorded it (required). note: free text (never personal data).
        now_us: UTC microseconds. rule: ``swarmscope.cases.workflow.next_case_status``.

    Raises:
        WorkflowError: the rule refuses the move (nothing is written).
        CaseStoreError: unknown case, empty actor.
    """
    _actor(actor)
    with store._write(immediate=True) as conn:
        return apply_move(conn, case_id, StatusMove(event, actor, note, rule), now_us)


def _events(store: Store, table: sa.Table, column: sa.Column[Any], subject: int) -> list[EventRow]:
    query = sa.select(table).where(column == subject).order_by(table.c.id)
    with store.engine.connect() as conn:
        return [EventRow(r.id, subject, r.status, r.at_us, r.actor, r.note) for r in conn.execute(query)]


def case_events(store: Store, case_id: int | str) -> list[EventRow]:
    """A case's history (status, when, who, note), oldest first. ``note`` starts with the event name."""
    return _events(store, case_event, case_event.c.case_id, get_case(store, case_id).id)


# --- disclosure requests ---------------------------------------------------------------------------------


def _request(conn: sa.Connection, request_id: int) -> RequestRow:
    row = conn.execute(sa.select(disclosure_request).where(disclosure_request.c.id == request_id)).first()
    if row is None:
        raise CaseStoreError(f"disclosure request {request_id}: not found")
    return RequestRow(**row._asdict())


def get_request(store: Store, request_id: int) -> RequestRow:
    """One disclosure request. Raises CaseStoreError when absent."""
    with store.engine.connect() as conn:
        return _request(conn, request_id)


def add_request(
    store: Store, isp_id: int, region: str | None, now_us: int, *, actor: str = statuses.SYSTEM_ACTOR
) -> int:
    """Start a disclosure request to an ISP (status ``drafted``, with its event); returns its id.

    Raises:
        CaseStoreError: unknown ISP.
    """
    with store._write() as conn:
        if conn.execute(sa.select(isp.c.id).where(isp.c.id == isp_id)).first() is None:
            raise CaseStoreError(f"isp {isp_id}: not in the directory")
        status = statuses.INITIAL_REQUEST_STATUS
        values = {"isp_id": isp_id, "region": region, "status": status}
        request_id = new_id(
            conn, sa.insert(disclosure_request).values(**values, created_us=now_us, status_us=now_us)
        )
        event = {"request_id": request_id, "status": status, "at_us": now_us, "actor": actor}
        conn.execute(sa.insert(disclosure_event).values(event))
        return request_id


def attach_cases(store: Store, request_id: int, case_ids: Iterable[int]) -> None:
    """Name cases in a disclosure request (sets ``legal_case.request_id``).

    Raises:
        CaseStoreError: unknown request or case, or a case of another ISP than the request's.
    """
    with store._write() as conn:
        request = _request(conn, request_id)
        for case_id in case_ids:
            case = read_case(conn, case_id)
            if case.isp_id != request.isp_id:
                raise CaseStoreError(f"case {case.doe}: its ISP is not the ISP of request {request_id}")
            conn.execute(
                sa.update(legal_case).where(legal_case.c.id == case.id).values(request_id=request_id)
            )


def set_request_exhibit(store: Store, request_id: int, exhibit_sha256: str) -> None:
    """Record the SHA-256 (hex) of the exhibit PDF sent with a request. Raises CaseStoreError if absent."""
    with store._write() as conn:
        _request(conn, request_id)
        where = disclosure_request.c.id == request_id
        conn.execute(sa.update(disclosure_request).where(where).values(exhibit_sha256=exhibit_sha256.lower()))


def set_request_status(
    store: Store,
    request_id: int,
    status: str,
    actor: str,
    note: str | None,
    now_us: int,
    *,
    rule: RequestRule,
    at_us: int | None = None,
) -> RequestRow:
    """Move a disclosure request to ``status``; writes a ``disclosure_event``; returns the row.

    Args:
        status: a :class:`swarmscope.cases.workflow.RequestStatus` value. actor: who recorded it.
        note: free text. now_us: UTC µs of recording. at_us: when it took effect (e.g. the service date;
            default ``now_us``) — stored as the event time and ``status_us``.
        rule: ``swarmscope.cases.workflow.next_request_status``.

    Raises:
        WorkflowError: the rule refuses the move. CaseStoreError: unknown request, empty actor.
    """
    actor = _actor(actor)
    when = now_us if at_us is None else at_us
    with store._write(immediate=True) as conn:
        request = _request(conn, request_id)
        target = str(rule(request.status, status))
        where = disclosure_request.c.id == request_id
        values: dict[str, Any] = {"status": target, "status_us": when}
        if note:
            values["note"] = note
        conn.execute(sa.update(disclosure_request).where(where).values(values))
        event = {"request_id": request_id, "status": target, "at_us": when, "actor": actor, "note": note}
        conn.execute(sa.insert(disclosure_event).values(event))
        return _request(conn, request_id)


def request_rows(store: Store, *, isp_id: int | None = None) -> list[RequestRow]:
    """Disclosure requests, oldest first (optionally of one ISP)."""
    query = sa.select(disclosure_request).order_by(disclosure_request.c.id)
    if isp_id is not None:
        query = query.where(disclosure_request.c.isp_id == isp_id)
    with store.engine.connect() as conn:
        return [RequestRow(**r._asdict()) for r in conn.execute(query)]


def request_events(store: Store, request_id: int) -> list[EventRow]:
    """A request's history (status, effective time, who, note), oldest first."""
    return _events(store, disclosure_event, disclosure_event.c.request_id, get_request(store, request_id).id)


def cooperation(store: Store) -> list[IspCooperation]:
    """Per ISP (by name): requests by status, answered count and cooperation rate (see IspCooperation)."""
    query = (
        sa.select(isp.c.id, isp.c.name, disclosure_request.c.status, sa.func.count(disclosure_request.c.id))
        .select_from(isp.outerjoin(disclosure_request, disclosure_request.c.isp_id == isp.c.id))
        .group_by(isp.c.id, isp.c.name, disclosure_request.c.status)
        .order_by(isp.c.name)
    )
    out: dict[int, IspCooperation] = {}
    with store.engine.connect() as conn:
        for isp_id, name, status, count in conn.execute(query):
            entry = out.setdefault(isp_id, IspCooperation(isp_id, name))
            if status is not None:
                entry.counts[status] = int(count)
    result = []
    for entry in out.values():
        answered = sum(entry.counts.get(s, 0) for s in statuses.ANSWERED)
        score = entry.counts.get("complied", 0) + 0.5 * entry.counts.get("partially_complied", 0)
        result.append(
            IspCooperation(
                entry.isp_id, entry.name, entry.counts, answered, score / answered if answered else None
            )
        )
    return result
