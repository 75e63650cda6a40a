"""The console application: ``create_app(settings)`` builds the FastAPI app over one open store.

Each feature is a module with a module-level ``router``; :data:`ROUTERS` lists them (one line each). An
unauthenticated page request goes to the login page; an API request gets 401 with
``WWW-Authenticate: Bearer``. A live page's htmx poll (``HX-Request: true``) that finds its session ended
(expired, logged out, password changed, user disabled) gets 401 with ``HX-Redirect: /login?next=<the
page>``: htmx follows that header whatever the status (htmx docs, "Response Headers"), so a wall screen
goes to the login page instead of freezing on its last numbers. Other errors are a small HTML page for
pages and ``{"detail": ...}`` for ``/api/``, the routing's own included: a path no route serves (404) or a
method a route does not take (405) raise Starlette's ``HTTPException``, not FastAPI's subclass, and are
answered by the same handler, so a browser never gets a bare JSON error. A path or query parameter
FastAPI cannot take (a port outside 0..65535, a row id beyond ``store.metadata.MAX_ROW_ID``, the 32-bit
range of the id columns on PostgreSQL) is 400 with one line naming it, not FastAPI's 422 list. A control
character (NUL included) in a path, query or form value is 400 too, before any route
(:mod:`swarmscope.web.input_guard`). A query parameter given twice is 422 with one line naming it
(:mod:`swarmscope.web.query_params`), on every route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as RoutingError

from swarmscope.cases.identities import IdentityKey
from swarmscope.store.access.account_events import SealedAccounts
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.ledger.head_witness import WitnessError
from swarmscope.store.ledger.witness_cover import require_heads
from swarmscope.web import (
    auth,
    board,
    disclosures,
    documents,
    entries,
    identities,
    letters,
    metrics,
    monitoring,
    peer_pages,
    research,
    system,
    works,
)
from swarmscope.web.deps import NotAuthenticated
from swarmscope.web.evidence_trust import trusted_fingerprints
from swarmscope.web.folding import BackgroundFolder
from swarmscope.web.input_guard import ControlCharacterGuard
from swarmscope.web.query_params import single_values
from swarmscope.web.security import LOOPBACK_NAMES, security_headers, trusted_hosts
from swarmscope.web.settings import WebSettings
from swarmscope.web.templating import STATIC_DIR, page

ROUTERS = [
    auth.router,
    system.router,
    works.router,
    board.router,
    disclosures.router,
    documents.router,
    letters.router,
    identities.router,
    entries.router,
    monitoring.router,
    peer_pages.router,
    metrics.router,
    research.router,
]


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return (
        path.startswith("/api/")
        or path == "/openapi.json"
        or "text/html" not in request.headers.get("accept", "")
    )


def _login_after(request: Request) -> str:
    """The login page, back to the page an htmx request came from (``HX-Current-URL``, this origin's
    path only: :func:`swarmscope.web.auth.safe_next`)."""
    current = urlsplit(request.headers.get("hx-current-url", ""))
    same = current.netloc in ("", request.url.netloc)
    target = auth.safe_next(current.path + (f"?{current.query}" if current.query else "")) if same else "/"
    return f"/login?next={quote(target, safe='/')}"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RoutingError)  # FastAPI's HTTPException is a subclass
    if isinstance(exc, NotAuthenticated) and request.headers.get("hx-request") == "true":
        ended = {"WWW-Authenticate": "Bearer", "HX-Redirect": _login_after(request)}
        return JSONResponse({"detail": exc.detail}, 401, headers=ended)
    if isinstance(exc, NotAuthenticated) and not _wants_json(request):
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/")
        return RedirectResponse(f"/login?next={target}", status_code=303)
    headers = dict(exc.headers or {})  # a 405's Allow
    if _wants_json(request):
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=headers)
    answer = page(request, "error.html.j2", exc.status_code, status=exc.status_code, detail=exc.detail)
    answer.headers.update(headers)
    return answer


async def _bad_parameter(request: Request, exc: Exception) -> Response:
    """A parameter that does not validate: 400, one line (``<name>: <why>``), as page or JSON."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    name = str(first.get("loc", ("request",))[-1])
    return await _http_error(request, HTTPException(400, f"{name}: {first.get('msg', 'not valid')}"))


def _bind_witness(store: Store, settings: WebSettings) -> None:
    """Refuse a store whose chain lacks the witnessed head; let the console's seals move the witness on
    (:mod:`swarmscope.store.ledger.head_witness`).

    Raises:
        StoreError: the head is missing or rewritten, or the witness is unusable.
    """
    if settings.witness is None:
        return
    trusted = trusted_fingerprints(settings)
    if not trusted and settings.node_key is None:
        return  # nothing is proven without a trusted key (the notes say so): the witness guards nothing
    try:
        require_heads(store, (settings.witness, *settings.other_witnesses), trusted, trusted or None)
    except WitnessError as exc:
        raise StoreError(str(exc)) from None
    if settings.node_key is not None:
        store.witness = settings.witness


def account_view(store: Store, settings: WebSettings) -> SealedAccounts:
    """The sealed account view the console keeps (:mod:`swarmscope.web.deps`): it trusts the keys its
    evidence pages trust (found now: a key file made later is not looked for) and its own node key."""
    own = frozenset() if store.node is None else frozenset({store.node.fingerprint})
    return SealedAccounts(trusted_fingerprints(settings) | own)


def create_app(settings: WebSettings, store: Store | None = None) -> FastAPI:
    """The console over ``store`` (default: open ``settings.db``, which must exist; closed at shutdown).

    While the app runs (its lifespan), a :class:`~swarmscope.web.folding.BackgroundFolder` folds new sealed
    batches into the read models when ``settings.fold``; requests only read them.

    Raises:
        StoreError: the database is missing or not a swarmscope store, or it lacks the chain head
            witnessed at ``settings.witness`` (a truncated or rewritten tail).
        IdentityError: ``settings.identity_key`` cannot be loaded.
    """
    key = None if settings.identity_key is None else IdentityKey.load(settings.identity_key)
    owned = store is None
    opened = open_store(settings.db, create=False, node_key=settings.node_key) if store is None else store
    try:
        _bind_witness(opened, settings)
    except StoreError:
        if owned:
            opened.close()
        raise

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        folder = BackgroundFolder(opened) if settings.fold else None
        if folder is not None:
            folder.start()
        try:
            yield
        finally:
            if folder is not None:
                folder.stop()
            if owned:
                opened.close()

    app = FastAPI(
        title="swarmscope console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
        dependencies=[Depends(single_values)],
    )  # fmt: skip
    app.state.store, app.state.settings, app.state.identity_key = opened, settings, key
    app.state.sealed_accounts = account_view(opened, settings)
    hosts = LOOPBACK_NAMES | {settings.host} | settings.allowed_hosts
    app.middleware("http")(trusted_hosts(hosts))
    app.add_middleware(ControlCharacterGuard, answer=_http_error)  # before any route: input_guard.py
    app.middleware("http")(security_headers)  # added last: outermost, so refusals carry the headers too
    app.add_exception_handler(RoutingError, _http_error)  # FastAPI's HTTPException and the routing's
    app.add_exception_handler(RequestValidationError, _bad_parameter)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
