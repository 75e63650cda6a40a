"""Subscriber identities in the browser: counsel and admin only, every view audited.

The identity is decrypted by :func:`swarmscope.store.legal.subscribers.read_identity`, the function behind
``swarmscope subscribers show``, which commits an ``audit_log`` row (who, when, which case, the key's
fingerprint) before the identity is returned, and a ``read_failed`` row when it cannot be read. The key
comes from ``serve --identity-key FILE`` and is held in the server's memory only; without it the page says
that identities are not available on this server and nothing is read (nor audited: nothing was seen).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from swarmscope.cases.identities import Identity, IdentityKey
from swarmscope.store.database import Store
from swarmscope.store.legal import subscribers as subscriber_store
from swarmscope.web.accounts import WebUser
from swarmscope.web.casework import case_for, refused_as_409
from swarmscope.web.deps import StoreDep, UserDep, now_us, require
from swarmscope.web.roles import Role
from swarmscope.web.templating import page

router = APIRouter()
COUNSEL = [Depends(require(Role.COUNSEL))]
NO_KEY = "identities are not available on this server: it was started without --identity-key"


def _read(request: Request, store: Store, user: WebUser, doe: str) -> tuple[str, Identity | None]:
    """(DOE, identity) — identity None when the server has no key (nothing read, nothing audited)."""
    case = case_for(store, user, doe)
    key: IdentityKey | None = request.app.state.identity_key
    if key is None:
        return case.doe, None
    with refused_as_409(user):
        return case.doe, subscriber_store.read_identity(store, key, case.doe, user.name, now_us())


@router.get("/api/cases/{doe}/identity", dependencies=COUNSEL)
def api_identity(request: Request, doe: str, store: StoreDep, user: UserDep) -> dict[str, Any]:
    """The case's subscriber identity (name, postal address, e-mail); each call is audited."""
    shown, identity = _read(request, store, user, doe)
    if identity is None:
        raise HTTPException(409, NO_KEY)
    return {"doe": shown, **asdict(identity)}


@router.get("/cases/{doe}/identity", response_class=HTMLResponse, dependencies=COUNSEL)
def identity_page(request: Request, doe: str, store: StoreDep, user: UserDep) -> HTMLResponse:
    """The identity, with a note that this view was recorded."""
    shown, identity = _read(request, store, user, doe)
    return page(request, "identity.html.j2", doe=shown, identity=identity, no_key=NO_KEY)
