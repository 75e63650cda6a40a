"""The research page: run a research export of the proven evidence and download its tables and plots.

The same export as ``swarmscope research export`` (:func:`swarmscope.research.export.export_study`: the
same proof rules, pseudonyms and suppression), for analysts and above. A user bound to a client exports
only the swarms linked to that client's works; asking for another swarm answers 404, as everywhere. The
study key is always ephemeral here (a researcher's study key file stays with the researcher, never on the
server), so the console's exports link to no other export. Evidence is proven under the node keys the
server was started with (``serve --node-key/--trust-key``); with none, an export is refused (409).

An export is written to a private temporary directory of this server process (mode 0700) and kept for
its requester only: another user's export id answers 404. At most :data:`KEEP` exports are kept per
user (that user's oldest is deleted first, so one user's exports never evict another's); all of them go
when the process ends. An export runs in the request, one at a time per process (matplotlib's settings
are process-wide): the page says a big one is better made with ``swarmscope research export``.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from swarmscope.errors import InputError
from swarmscope.research.export import DEFAULT_K, StudyOptions, StudyResult, export_study
from swarmscope.research.writer import zip_study
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.queries import swarm_rows
from swarmscope.web.accounts import WebUser
from swarmscope.web.deps import SettingsDep, StoreDep, UserDep, csrf_protect, now_us, require
from swarmscope.web.roles import Role
from swarmscope.web.scope import visible_infohashes
from swarmscope.web.templating import page

router = APIRouter()
ANALYST = [Depends(require(Role.ANALYST))]
CHANGE = [Depends(require(Role.ANALYST)), Depends(csrf_protect)]
KEEP = 20
NO_TRUST = (
    "no trusted node key: start 'swarmscope serve' with --node-key (the monitor's key file) or --trust-key"
)
MEDIA = {
    ".csv": "text/csv; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".md": "text/markdown",
}
_LOCK = threading.Lock()  # matplotlib's rc_context is process-wide: one export at a time


@dataclass(frozen=True, slots=True)
class Run:
    """One export of this process: who asked for it (user id) and what it wrote."""

    owner: int
    result: StudyResult


class Runs:
    """The exports of one app: a private directory and each user's newest :data:`KEEP` runs, by id."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="swarmscope-research-"))
        self.runs: OrderedDict[str, Run] = OrderedDict()
        weakref.finalize(self, shutil.rmtree, self.root, True)

    def add(self, owner: int, result: StudyResult) -> str:
        export_id = result.out.name
        self.runs[export_id] = Run(owner, result)
        mine = [key for key, run in self.runs.items() if run.owner == owner]
        for old in mine[: max(0, len(mine) - KEEP)]:
            shutil.rmtree(self.runs.pop(old).result.out, ignore_errors=True)
        return export_id

    def get(self, export_id: str, user: WebUser) -> Run:
        """The user's own export ``export_id``; 404 for any other (unknown, expired, another user's)."""
        run = self.runs.get(export_id)
        if run is None or run.owner != user.id:
            raise HTTPException(404, "no such research export")
        return run


def runs_of(request: Request) -> Runs:
    """The app's exports (made on first use)."""
    state = request.app.state
    if not hasattr(state, "research_runs"):
        state.research_runs = Runs()
    found: Runs = state.research_runs
    return found


class ExportRequest(BaseModel):
    """A research export: k (2..1,000,000), counting /24 and /48 networks, and the swarms (infohash hex;
    none: every swarm the user may see). An unknown field is refused (400), never ignored: a misspelt
    ``infohashes`` would otherwise export every swarm the user may see."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(DEFAULT_K, ge=2, le=1_000_000)
    truncate: bool = False
    infohashes: list[str] | None = None


def _swarms(store: Store, user: WebUser, asked: list[str] | None) -> frozenset[str]:
    """The swarms to export: those asked for (each must be visible: 404 otherwise) or every visible one."""
    visible = visible_infohashes(store, user)
    known = {s.infohash for s in swarm_rows(store)}
    allowed = known if visible is None else known & visible
    if not asked:
        return frozenset(allowed)
    wanted = {h.strip().lower() for h in asked}
    if not wanted <= allowed:
        raise HTTPException(404, "no such swarm")
    return frozenset(wanted)


def _run(request: Request, store: Store, user: WebUser, trusted: frozenset[str], body: ExportRequest) -> str:
    if not trusted:
        raise HTTPException(409, NO_TRUST)
    options = StudyOptions(k=body.k, truncate=body.truncate, swarms=_swarms(store, user, body.infohashes))
    runs = runs_of(request)
    out = runs.root / secrets.token_hex(16)
    try:
        with _LOCK:
            result = export_study(store, EvidenceTrust(trusted, now_us()), options, out, now_us())
    except InputError as exc:
        raise HTTPException(400, " ".join(str(exc).split())) from None
    return runs.add(user.id, result)


def _summary(export_id: str, run: Run) -> dict[str, Any]:
    facts = run.result.facts
    return {
        "id": export_id,
        "study_id": facts.study_id,
        "k": facts.k,
        "truncate": facts.truncate,
        "swarms": facts.swarms,
        "sightings": facts.sightings,
        "observations": facts.observations,
        "left_out": dict(facts.left_out),
        "tables": [
            {"name": t.name, "title": t.title, "rows": len(t.rows), "suppressed_cells": t.suppressed_cells}
            for t in run.result.tables
        ],
        "files": [f"/research/exports/{export_id}/files/{p.name}" for p in run.result.files],
        "zip": f"/research/exports/{export_id}/zip",
    }


@router.get("/research", response_class=HTMLResponse, dependencies=ANALYST)
def research_page(request: Request, store: StoreDep, user: UserDep) -> HTMLResponse:
    """The export form: k, truncation and the swarms the user may see."""
    visible = _swarms(store, user, None)
    swarms = [s for s in swarm_rows(store) if s.infohash in visible]
    return page(request, "research.html.j2", swarms=swarms, k=DEFAULT_K, error=None)


@router.post("/research/exports", dependencies=CHANGE, response_model=None)
def research_form(
    request: Request,
    store: StoreDep,
    user: UserDep,
    settings: SettingsDep,
    k: Annotated[str, Form()] = str(DEFAULT_K),
    truncate: Annotated[str | None, Form()] = None,
    infohash: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Run an export from the form and show it (303 to its page); a bad k is shown on the form (400)."""
    try:
        body = ExportRequest(k=int(k.strip()), truncate=truncate is not None, infohashes=infohash)
    except ValueError:
        visible = _swarms(store, user, None)
        swarms = [s for s in swarm_rows(store) if s.infohash in visible]
        error = f"k {k[:20]!r}: must be a whole number, at least 2, at most 1000000"
        return page(request, "research.html.j2", 400, swarms=swarms, k=DEFAULT_K, error=error)
    export_id = _run(request, store, user, settings.trusted_keys, body)
    return RedirectResponse(f"/research/exports/{export_id}", status_code=303)


@router.get("/research/exports/{export_id}", response_class=HTMLResponse, dependencies=ANALYST)
def research_export_page(request: Request, export_id: str, user: UserDep) -> HTMLResponse:
    """One export: its counts, plots (PNG), README and the files to download."""
    run = runs_of(request).get(export_id, user)
    readme = (run.result.out / "README.md").read_text(encoding="utf-8")
    plots = [p.name for p in run.result.files if p.suffix == ".png"]
    return page(
        request, "research_export.html.j2", summary=_summary(export_id, run), readme=readme, plots=plots
    )


@router.get("/research/exports/{export_id}/files/{name}", dependencies=ANALYST)
def research_file(request: Request, export_id: str, name: str, user: UserDep) -> FileResponse:
    """One file of the export (PNG shown inline; CSV, SVG and README downloaded)."""
    run = runs_of(request).get(export_id, user)
    files = {p.name: p for p in run.result.files}
    if name not in files:
        raise HTTPException(404, "no such file in this export")
    path = files[name]
    inline = path.suffix == ".png"
    return FileResponse(
        path, media_type=MEDIA.get(path.suffix, "application/octet-stream"),
        filename=name, content_disposition_type="inline" if inline else "attachment",
    )  # fmt: skip


@router.get("/research/exports/{export_id}/zip", dependencies=ANALYST)
def research_zip(request: Request, export_id: str, user: UserDep) -> Response:
    """The whole export as one ZIP archive."""
    run = runs_of(request).get(export_id, user)
    headers = {"Content-Disposition": f'attachment; filename="research-{export_id[:8]}.zip"'}
    return Response(zip_study(run.result.out), media_type="application/zip", headers=headers)


@router.post("/api/research/exports", dependencies=CHANGE)
def api_research_export(
    request: Request, body: ExportRequest, store: StoreDep, user: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    """Run a research export; returns its summary and the URLs of its files and ZIP."""
    export_id = _run(request, store, user, settings.trusted_keys, body)
    return _summary(export_id, runs_of(request).get(export_id, user))


@router.get("/api/research/exports/{export_id}", dependencies=ANALYST)
def api_research_summary(request: Request, export_id: str, user: UserDep) -> dict[str, Any]:
    """The summary of one of the user's exports."""
    return _summary(export_id, runs_of(request).get(export_id, user))
