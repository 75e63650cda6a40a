"""ISP disclosure requests and their status (drafted → served → complied | partially_complied | contested
| quashed), each with its history and the cases it names (in the user's scope).

Paged for a campaign's scale: 50 requests a page (``limit`` 1..500; the next page: ``after`` = the last
request's id), filtered by ``status`` (a request status; another value is 400 naming them); each request
lists its first :data:`CASES_SHOWN` cases in DOE order and says whether it names more (``more_cases``;
the case board filters the rest)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from swarmscope.cases.workflow import RequestStatus
from swarmscope.store.access import scoping
from swarmscope.store.database import Store
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as case_store
from swarmscope.store.metadata import MAX_ROW_ID
from swarmscope.web.accounts import WebUser
from swarmscope.web.deps import StoreDep, UserDep, require
from swarmscope.web.query_params import one_of
from swarmscope.web.roles import Role
from swarmscope.web.scope import client_filter
from swarmscope.web.templating import page

router = APIRouter()
VIEWER = [Depends(require(Role.VIEWER))]


CASES_SHOWN = 100


@dataclass(frozen=True)
class RequestQuery:
    """The request list's query parameters: ``after`` (a request id), ``limit``, ``status``."""

    after: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None
    limit: Annotated[int, Query(ge=1, le=500)] = 50
    status: Annotated[str | None, Query(max_length=40)] = None

    def __post_init__(self) -> None:
        one_of("status", self.status, RequestStatus)


RequestQueryDep = Annotated[RequestQuery, Depends()]


def requests_data(store: Store, user: WebUser, q: RequestQuery) -> list[dict[str, Any]]:
    """A page of the requests naming the user's cases: row, ISP name, history, the user's first
    :data:`CASES_SHOWN` cases in it and ``more_cases``."""
    cid = client_filter(user)
    isps = {row.id: row.name for row in case_store.list_isps(store)}
    out = []
    for row in scoping.requests(store, cid, after=q.after, limit=q.limit, status=q.status or None):
        named = [c.doe for c in scoping.cases(store, cid, request_id=row.id, limit=CASES_SHOWN + 1)]
        out.append({
            **asdict(row),
            "isp": isps.get(row.isp_id, "?"),
            "events": [asdict(e) for e in case_status.request_events(store, row.id)],
            "cases": named[:CASES_SHOWN], "more_cases": len(named) > CASES_SHOWN,
        })  # fmt: skip
    return out


@router.get("/api/requests", dependencies=VIEWER)
def api_requests(q: RequestQueryDep, store: StoreDep, user: UserDep) -> list[dict[str, Any]]:
    """A page of disclosure requests with status, ISP, history and cases (the user's only; module
    docstring)."""
    return requests_data(store, user, q)


@router.get("/requests", response_class=HTMLResponse, dependencies=VIEWER)
def requests_page(request: Request, q: RequestQueryDep, store: StoreDep, user: UserDep) -> HTMLResponse:
    """A page of ISP disclosure requests and their status, with a link to the next."""
    rows = requests_data(store, user, q)
    kept = {"status": q.status, "limit": q.limit, "after": rows[-1]["id"] if rows else None}
    more = urlencode({k: v for k, v in kept.items() if v}) if len(rows) == q.limit else None
    return page(request, "requests.html.j2", requests=rows, more_query=more)
