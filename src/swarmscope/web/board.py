"""The case pipeline as a board, and one case's page: its history, letters, payments and disputes.

Columns follow the workflow (:class:`swarmscope.cases.workflow.CaseStatus`) under the names the people
running a campaign use: ``identified`` is shown as *disclosed* (the ISP disclosed the account holder) and
``no_response`` as *expired* (the letter's deadline passed). A case page never shows personal data: the
identity is a separate, audited page for counsel and admin (:mod:`swarmscope.web.identities`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from swarmscope.cases.workflow import CaseStatus
from swarmscope.store.access import scoping
from swarmscope.store.database import Store
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.subscribers import audit_view, stored_identity
from swarmscope.web.accounts import WebUser
from swarmscope.web.casework import case_for
from swarmscope.web.deps import StoreDep, UserDep, now_us, require
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


def board_data(store: Store, user: WebUser) -> list[dict[str, Any]]:
    """The board: one column per stage, each with its cases (no personal data)."""
    cases = scoping.cases(store, client_filter(user))
    return [
        {"column": name, "statuses": [str(s) for s in statuses],
         "cases": [asdict(c) for c in cases if c.status in statuses]}
        for name, statuses in COLUMNS
    ]  # fmt: skip


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


def case_data(store: Store, user: WebUser, doe: str) -> dict[str, Any]:
    """One case: its row, history, letters, payments, disputes (:func:`_disputes`), and whether an
    identity is stored."""
    case = case_for(store, user, doe)
    return {
        "case": asdict(case),
        "events": [asdict(e) for e in case_status.case_events(store, case.id)],
        "letters": [asdict(r) for r in letter_store.list_letters(store, case_id=case.id)],
        "payments": [asdict(p) for p in letter_store.list_payments(store, case.id)],
        "disputes": _disputes(store, user, case),
        "identity_stored": stored_identity(store, case.id) is not None,
    }


@router.get("/api/cases", dependencies=VIEWER)
def api_board(store: StoreDep, user: UserDep) -> list[dict[str, Any]]:
    """The case board: columns candidate … escalated, each with its cases, in the user's scope."""
    return board_data(store, user)


@router.get("/api/cases/{doe}", dependencies=VIEWER)
def api_case(doe: str, store: StoreDep, user: UserDep) -> dict[str, Any]:
    """One case with its history, letters, payments and disputes (404 outside the user's scope)."""
    return case_data(store, user, doe)


@router.get("/cases", response_class=HTMLResponse, dependencies=VIEWER)
def board_page(request: Request, store: StoreDep, user: UserDep) -> HTMLResponse:
    """The case pipeline as a board."""
    return page(request, "board.html.j2", columns=board_data(store, user))


@router.get("/cases/{doe}", response_class=HTMLResponse, dependencies=VIEWER)
def case_page(request: Request, doe: str, store: StoreDep, user: UserDep) -> HTMLResponse:
    """One case: history, letters, payments, disputes; forms for counsel."""
    data = case_data(store, user, doe)
    return page(request, "case.html.j2", roles=Role, **data)
