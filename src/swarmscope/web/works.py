"""Works and campaigns per rights holder: each work with the torrents linked to it and their check."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from swarmscope.store.access import case_pages, scoping
from swarmscope.store.database import Store
from swarmscope.web.accounts import WebUser
from swarmscope.web.deps import StoreDep, UserDep, require
from swarmscope.web.roles import Role
from swarmscope.web.scope import client_filter
from swarmscope.web.templating import page

router = APIRouter()
VIEWER = [Depends(require(Role.VIEWER))]


def works_data(store: Store, user: WebUser) -> list[dict[str, Any]]:
    """Works of the user's scope, each with ``torrents`` (infohash, status, pieces checked/matched)."""
    cid = client_filter(user)
    links: dict[int, list[dict[str, Any]]] = {}
    for row in scoping.torrents(store, cid):
        links.setdefault(row.work_id, []).append(asdict(row))
    cases = case_pages.cases_per_work(store, cid)
    out = []
    for work in scoping.works(store, cid):
        item = asdict(work)
        item.pop("reference_path")  # a path on the server: not the client's business
        item.pop("reference_sha256")  # what fleet nodes check their copies against: the same
        item["torrents"] = links.get(work.id, [])
        item["cases"] = cases.get(work.id, 0)
        out.append(item)
    return out


@router.get("/api/works", dependencies=VIEWER)
def api_works(store: StoreDep, user: UserDep) -> list[dict[str, Any]]:
    """Works and their linked torrents (campaigns), per rights holder, in the user's scope."""
    return works_data(store, user)


@router.get("/works", response_class=HTMLResponse, dependencies=VIEWER)
def works_page(request: Request, store: StoreDep, user: UserDep) -> HTMLResponse:
    """Works and campaigns, grouped by rights holder."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in works_data(store, user):
        grouped.setdefault(item["client"], []).append(item)
    return page(request, "works.html.j2", clients=grouped)
