"""The case pipeline as a board, and one case's page: its history, letters, payments and disputes.

Columns follow the workflow (:class:`swarmscope.cases.workflow.CaseStatus`) under the names the people
running a campaign use: ``identified`` is shown as *disclosed* (the ISP disclosed the account holder) and
``no_response`` as *expired* (the letter's deadline passed). A case page never shows personal data: the
identity is a separate, audited page for counsel and admin (:mod:`swarmscope.web.identities`).

The board scales to a campaign's tens of thousands of cases: each column shows its count and the first
``limit`` cases (default 50) in DOE order, with a link to the column's next page (keyset ``cursor``: the
last DOE shown; :mod:`swarmscope.store.access.case_pages`). Filters: ``status`` (one column's name) and
``work`` (a work id), in the page's form and in ``/api/cases``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from swarmscope.cases.case_views import unproven_cases
from swarmscope.cases.received import RECEIVED_RULE
from swarmscope.cases.workflow import CaseStatus
from swarmscope.errors import InputError
from swarmscope.store.access import case_pages, scoping
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.subscribers import audit_view, stored_identity
from swarmscope.store.metadata import MAX_ROW_ID
from swarmscope.web.accounts import WebUser
from swarmscope.web.casework import case_for
from swarmscope.web.deps import StoreDep, UserDep, now_us, require
from swarmscope.web.evidence_trust import request_trust
from swarmscope.web.roles import Role
from swarmscope.web.scope import client_filter
from swarmscope.web.templating import page

router = APIRouter()
VIEWER = [Depends(require(Role.VIEWER))]
S = CaseStatus
COLUMNS: list[tuple[str, tuple[CaseStatus, ...]]] = [
    ("candidate", (S.CANDIDATE,)),
    ("requested", (S.REQUESTED,)),
    ("disclosed", (S.IDENTIFIED,)),
    ("drafted", (S.DRAFTED,)),
    ("approved", (S.APPROVED,)),
    ("sent", (S.SENT,)),
    ("paid", (S.PAID,)),
    ("disputed", (S.DISPUTED,)),
    ("expired", (S.NO_RESPONSE,)),
    ("escalated", (S.ESCALATED,)),
    ("closed", (S.WITHDRAWN, S.CLOSED)),
]


@dataclass(frozen=True)
class BoardQuery:
    """The board's query parameters (all optional): a column, a work, the column's cursor, page size."""

    status: str | None = None
    work: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None
    cursor: Annotated[str | None, Query(max_length=40)] = None
    limit: Annotated[int, Query(ge=1, le=500)] = 50

    def columns(self) -> list[tuple[str, tuple[CaseStatus, ...]]]:
        """The columns shown: all, or the one ``status`` names (400 for an unknown name)."""
        if not self.status:
            return COLUMNS
        chosen = [c for c in COLUMNS if c[0] == self.status]
        if not chosen:
            raise HTTPException(
                400, f"status {self.status[:40]!r}: not one of {', '.join(c for c, _ in COLUMNS)}"
            )
        return chosen


BoardDep = Annotated[BoardQuery, Depends()]


def _column(
    store: Store,
    scope: int | None,
    q: BoardQuery,
    statuses: tuple[CaseStatus, ...],
    first: dict[str, case_pages.CasePage] | None,
) -> case_pages.CasePage:
    """A column's page: from ``first`` (the board's first pages) when it holds one status's, else read."""
    if first is not None and len(statuses) == 1:
        return first.get(str(statuses[0]), case_pages.CasePage([], None))
    return case_pages.case_page(
        store, scope, statuses, work_id=q.work, cursor=q.cursor or None, limit=q.limit
    )


def _shown(case: case_rows.CaseRow, unproven: dict[str, str]) -> dict[str, Any]:
    """A case row for a view, with ``proven`` (the sealed ledger carries its hits) and ``unproven`` (why
    not, None when proven): :mod:`swarmscope.cases.case_views`."""
    why = unproven.get(case.doe)
    return {**asdict(case), "proven": why is None, "unproven": why}


def board_data(
    store: Store, user: WebUser, q: BoardQuery, trust: EvidenceTrust | None
) -> list[dict[str, Any]]:
    """The board: per column its name, statuses, ``count`` (cases in the filters), one page of ``cases``
    (no personal data; each with ``proven``/``unproven``, proven once for the whole board against
    ``trust``, None: no trusted key, none proven) and ``next_cursor`` (pass back as ``cursor`` with
    ``status``)."""
    scope = client_filter(user)
    counts = case_pages.status_counts(store, scope, q.work)
    try:  # the whole board: every column's first page in one query
        first = (
            None
            if q.status or q.cursor
            else case_pages.first_pages(store, scope, work_id=q.work, limit=q.limit)
        )
        pages = [
            (name, statuses, _column(store, scope, q, statuses, first)) for name, statuses in q.columns()
        ]
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None
    unproven = unproven_cases(store, trust, [c for _, _, found in pages for c in found.cases])
    out = []
    for name, statuses, found in pages:
        count = sum(counts.get(str(s), 0) for s in statuses)
        cases = [_shown(c, unproven) for c in found.cases]
        out.append({"column": name, "statuses": [str(s) for s in statuses], "count": count,
                    "cases": cases, "next_cursor": found.next_cursor})  # fmt: skip
    return out


def _disputes(store: Store, user: WebUser, case: case_rows.CaseRow) -> list[dict[str, Any]]:
    """The case's disputes. Their text is what the subscriber wrote (personal data: names,
    circumstances), so as for identities only counsel and admin read it, each view audited
    (``read_dispute``, committed before it is shown); other roles see that a dispute was received, when,
    and the case's status, with ``summary`` None."""
    disputes = letter_store.list_disputes(store, case.id)
    if user.role < Role.COUNSEL:
        return [{**asdict(d), "summary": None} for d in disputes]
    if disputes:
        detail = f"{len(disputes)} dispute text(s) shown in the console"
        audit_view(store, user.name, "read_dispute", case.doe, detail, now_us())
    return [asdict(d) for d in disputes]


def case_data(store: Store, user: WebUser, doe: str, trust: EvidenceTrust | None) -> dict[str, Any]:
    """One case: its row (with ``proven``/``unproven`` against ``trust``: :func:`_shown`), history,
    letters, payments, disputes (:func:`_disputes`), and whether an identity is stored."""
    case = case_for(store, user, doe)
    return {
        "case": _shown(case, unproven_cases(store, trust, [case])),
        "events": [asdict(e) for e in case_status.case_events(store, case.id)],
        "letters": [asdict(r) for r in letter_store.list_letters(store, case_id=case.id)],
        "payments": [asdict(p) for p in letter_store.list_payments(store, case.id)],
        "disputes": _disputes(store, user, case),
        "identity_stored": stored_identity(store, case.id) is not None,
    }


@router.get("/api/cases", dependencies=VIEWER)
def api_board(request: Request, q: BoardDep, store: StoreDep, user: UserDep) -> list[dict[str, Any]]:
    """The case board: columns candidate … closed, each with its count and a page of its cases, in the
    user's scope; ``status``, ``work``, ``cursor``, ``limit`` (module docstring)."""
    return board_data(store, user, q, request_trust(request)[0])


@router.get("/api/cases/{doe}", dependencies=VIEWER)
def api_case(request: Request, doe: str, store: StoreDep, user: UserDep) -> dict[str, Any]:
    """One case with its history, letters, payments and disputes (404 outside the user's scope)."""
    return case_data(store, user, doe, request_trust(request)[0])


@router.get("/cases", response_class=HTMLResponse, dependencies=VIEWER)
def board_page(request: Request, q: BoardDep, store: StoreDep, user: UserDep) -> HTMLResponse:
    """The case pipeline as a board, with its filters."""
    works = scoping.works(store, client_filter(user))
    columns = board_data(store, user, q, request_trust(request)[0])
    return page(request, "board.html.j2", columns=columns, q=q, works=works,
                names=[c for c, _ in COLUMNS])  # fmt: skip


@router.get("/cases/{doe}", response_class=HTMLResponse, dependencies=VIEWER)
def case_page(request: Request, doe: str, store: StoreDep, user: UserDep) -> HTMLResponse:
    """One case: history, letters, payments, disputes; forms for counsel."""
    data = case_data(store, user, doe, request_trust(request)[0])
    return page(request, "case.html.j2", roles=Role, received_rule=RECEIVED_RULE, **data)
