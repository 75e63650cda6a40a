"""ISP disclosure requests and their status (drafted → served → complied | partially_complied | contested
| quashed), each with its history and the cases it names (in the user's scope)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from swarmscope.store.access import scoping
from swarmscope.store.database import Store
from swarmscope.store.legal import cases as case_store
from swarmscope.web.accounts import WebUser
from swarmscope.web.deps import StoreDep, UserDep, require
from swarmscope.web.roles import Role
from swarmscope.web.scope import client_filter
from swarmscope.web.templating import page

router = APIRouter()
VIEWER = [Depends(require(Role.VIEWER))]


def requests_data(store: Store, user: WebUser) -> list[dict[str, Any]]:
    """Requests naming the user's cases: row, ISP name, history, the user's cases in it."""
    cid = client_filter(user)
    isps = {row.id: row.name for row in case_store.list_isps(store)}
    out = []
    for row in scoping.requests(store, cid):
        out.append({
            **asdict(row),
            "isp": isps.get(row.isp_id, "?"),
            "events": [asdict(e) for e in case_store.request_events(store, row.id)],
            "cases": [c.doe for c in scoping.cases(store, cid, request_id=row.id)],
        })  # fmt: skip
    return out


@router.get("/api/requests", dependencies=VIEWER)
def api_requests(store: StoreDep, user: UserDep) -> list[dict[str, Any]]:
    """Disclosure requests with status, ISP, history and cases (the user's only)."""
    return requests_data(store, user)


@router.get("/requests", response_class=HTMLResponse, dependencies=VIEWER)
def requests_page(request: Request, store: StoreDep, user: UserDep) -> HTMLResponse:
    """ISP disclosure requests and their status."""
    return page(request, "requests.html.j2", requests=requests_data(store, user))
