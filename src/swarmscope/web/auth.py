"""Log in and log out: the session cookie and its server-side row.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` and, when the console is served to
other hosts (behind a TLS proxy, ``serve --allow-remote``), ``Secure``. Strict rather than Lax: nothing
links into the console from other sites that must arrive logged in, and Strict also keeps the cookie off
top-level cross-site navigations, so even a state-changing GET (there is none) could not be forged; the
cost is a second login when following a link from a mail client, which is acceptable for a tool that
shows personal data. The login form itself carries a double-submit token (a pre-session cookie and a
form field): a forged login into an attacker's account is refused (OWASP CSRF Cheat Sheet, "Login CSRF").
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from swarmscope.store.access import sessions as session_store
from swarmscope.store.database import Store
from swarmscope.web import login_throttle, user_names
from swarmscope.web.accounts import LoginRefused, log_in
from swarmscope.web.deps import (
    SESSION_COOKIE,
    AuthDep,
    SettingsDep,
    StoreDep,
    csrf_protect,
    now_us,
    request_accounts,
)
from swarmscope.web.deps import require as require_role
from swarmscope.web.passwords import new_secret, secret_sha256
from swarmscope.web.roles import Role
from swarmscope.web.templating import page

router = APIRouter()
LOGIN_COOKIE = "swarmscope_login"  # the login form's double-submit token (no session yet)
PUBLIC_PATHS = {"/login", "/health"}  # with /static: the only routes without a role rule


def safe_next(target: str | None) -> str:
    """A local path to go to after login (``/...`` but not ``//host``); anything else is ``/``."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _login_page(request: Request, nxt: str, error: str | None, status: int) -> HTMLResponse:
    token = new_secret()
    response = page(request, "login.html.j2", status, login_token=token, next=nxt, error=error)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    """The login form (public)."""
    return _login_page(request, safe_next(next), None, 200)


@router.post("/login", response_model=None)
def login(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    store: StoreDep,
    settings: SettingsDep,
    login_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password (throttled) and open a session; the form again with one line on failure."""
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), login_token.encode()):
        return _login_page(request, safe_next(next), "the login form expired; try again", 403)
    address = request.client.host if request.client else "unknown"
    try:
        sealed = request_accounts(request)
        device = request.cookies.get(login_throttle.DEVICE_COOKIE)
        seconds = settings.session_seconds
        secret, _csrf = log_in(store, name, password, address, now_us(), seconds, sealed, device)
    except LoginRefused as exc:
        refused = _login_page(request, safe_next(next), str(exc), 401 if exc.retry_after is None else 429)
        if exc.retry_after is not None:
            refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=settings.session_seconds, httponly=True, samesite="strict",
        secure=settings.remote, path="/",
    )  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    _set_device_cookie(response, store, name, settings.remote)
    return response


def _set_device_cookie(response: Response, store: Store, name: str, remote: bool) -> None:
    """Mark this browser as known for ``name`` (OWASP device cookie, :mod:`.login_throttle`)."""
    if store.node is None or store.node.private_key is None:
        return
    login_name = user_names.login_name(store, name)
    cookie = login_throttle.device_cookie(store.node.private_key, login_name, now_us())
    response.set_cookie(
        login_throttle.DEVICE_COOKIE, cookie, max_age=login_throttle.DEVICE_SECONDS, httponly=True,
        samesite="strict", secure=remote, path="/login",
    )  # fmt: skip


@router.post("/logout", dependencies=[Depends(require_role(Role.VIEWER)), Depends(csrf_protect)])
def logout(auth: AuthDep, store: StoreDep) -> RedirectResponse:
    """End the session (its row is revoked: the cookie is worthless even if copied)."""
    if auth.session_secret is not None:
        session_store.revoke_session(store, secret_sha256(auth.session_secret), now_us())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
