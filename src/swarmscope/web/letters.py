"""Letters in the browser: the list, the preview with its approval digest, and the human approval.

The approval is :func:`swarmscope.cases.letter_flow.approve_letter`, the function behind ``swarmscope
letters approve``, with the digest the approver was shown (``--digest``): the same gates (proven evidence
under the trusted node keys, court-tested thresholds, no quashed or contested request, the disclosed
address), the same rows written. A letter approved here is in exactly the state of one approved on the
command line by a person of the same name. Approving needs the counsel role; previewing, analyst.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict

from swarmscope.cases.letter_flow import Preview, approve_letter, preview_letter
from swarmscope.cases.workflow import CaseStatus
from swarmscope.store.access import scoping
from swarmscope.store.database import Store
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.metadata import MAX_ROW_ID
from swarmscope.web.accounts import WebUser
from swarmscope.web.casework import case_for, refused_as_409, trust
from swarmscope.web.deps import SettingsDep, StoreDep, UserDep, csrf_protect, now_us, require
from swarmscope.web.query_params import one_of
from swarmscope.web.roles import Role
from swarmscope.web.scope import client_filter
from swarmscope.web.settings import WebSettings
from swarmscope.web.templating import page

router = APIRouter()
VIEWER = [Depends(require(Role.VIEWER))]
ANALYST = [Depends(require(Role.ANALYST))]
COUNSEL_CHANGE = [Depends(require(Role.COUNSEL)), Depends(csrf_protect)]


class Approval(BaseModel):
    """The digest (hex SHA-256) of the preview the approver read; an unknown field is refused (400 naming
    it: pydantic ``extra="forbid"``), so a misspelt one is never taken as an approval of nothing else."""

    model_config = ConfigDict(extra="forbid")
    digest: str


def _preview(store: Store, user: WebUser, settings: WebSettings, doe: str) -> Preview:
    case = case_for(store, user, doe)
    with refused_as_409(user):
        return preview_letter(store, case.doe, trust=trust(store, settings))


def _approve(store: Store, user: WebUser, settings: WebSettings, doe: str, digest: str) -> dict[str, Any]:
    case = case_for(store, user, doe)
    with refused_as_409(user):
        row = approve_letter(store, case.doe, user.name, now_us(), digest, trust(store, settings))
    return asdict(row)


@dataclass(frozen=True)
class LetterQuery:
    """The letter list's query parameters: ``before`` (a letter id: the page after it, older), ``limit``,
    and the filters ``work`` (work id) and ``status`` (the case's status; another value is 400 naming
    them)."""

    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None
    limit: Annotated[int, Query(ge=1, le=500)] = 50
    work: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None
    status: Annotated[str | None, Query(max_length=40)] = None

    def __post_init__(self) -> None:
        one_of("status", self.status, CaseStatus)

    def rows(self, store: Store, user: WebUser) -> list[tuple[str, letter_store.LetterRow]]:
        return scoping.letters(store, client_filter(user), before=self.before, limit=self.limit,
                               work_id=self.work, status=self.status or None)  # fmt: skip


LetterQueryDep = Annotated[LetterQuery, Depends()]


@router.get("/api/letters", dependencies=VIEWER)
def api_letters(q: LetterQueryDep, store: StoreDep, user: UserDep) -> list[dict[str, Any]]:
    """A page of the letters of the user's cases, newest first (``limit``, default 50; the next page:
    ``before`` = the last letter's id), filtered by ``work`` and case ``status``: kind, amount,
    reference, approval, sending."""
    return [{"doe": doe, **asdict(row)} for doe, row in q.rows(store, user)]


@router.get("/letters", response_class=HTMLResponse, dependencies=VIEWER)
def letters_page(request: Request, q: LetterQueryDep, store: StoreDep, user: UserDep) -> HTMLResponse:
    """A page of the letters of the user's cases, newest first, with a link to older ones."""
    rows = q.rows(store, user)
    older = rows[-1][1].id if len(rows) == q.limit else None
    kept = {"work": q.work, "status": q.status, "limit": q.limit, "before": older}
    older_query = urlencode({k: v for k, v in kept.items() if v}) if older else None
    return page(request, "letters.html.j2", letters=rows, older_query=older_query)


@router.get("/api/cases/{doe}/letter", dependencies=ANALYST)
def api_preview(doe: str, store: StoreDep, user: UserDep, settings: SettingsDep) -> dict[str, Any]:
    """The case's newest unsent letter as it will leave (placeholder addressee), with its approval digest."""
    shown = _preview(store, user, settings, doe)
    return {"doe": shown.doe, "letter": asdict(shown.letter), "text": shown.text, "digest": shown.digest}


@router.get("/cases/{doe}/letter", response_class=HTMLResponse, dependencies=ANALYST)
def preview_page(
    request: Request, doe: str, store: StoreDep, user: UserDep, settings: SettingsDep
) -> HTMLResponse:
    """The preview and, for counsel, the approval form bound to the digest shown."""
    shown = _preview(store, user, settings, doe)
    return page(request, "letter.html.j2", shown=shown, roles=Role)


@router.post("/api/cases/{doe}/letter/approve", dependencies=COUNSEL_CHANGE)
def api_approve(
    doe: str, body: Approval, store: StoreDep, user: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    """Approve the previewed letter (``{"digest": ...}``); refused (409) if its content changed since."""
    return _approve(store, user, settings, doe, body.digest)


@router.post("/cases/{doe}/letter/approve", dependencies=COUNSEL_CHANGE)
def approve_form(
    doe: str, digest: Annotated[str, Form()], store: StoreDep, user: UserDep, settings: SettingsDep
) -> RedirectResponse:
    """The approval form: approve, then back to the case."""
    row = _approve(store, user, settings, doe, digest)
    return RedirectResponse(f"/cases/{case_for(store, user, doe).doe}?approved={row['id']}", status_code=303)
