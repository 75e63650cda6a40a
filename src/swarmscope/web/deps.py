"""The dependencies every route uses: the store, the signed-in user, role rules, CSRF.

Authentication is either the session cookie (:data:`SESSION_COOKIE`, set by the login form) or an API
token (``Authorization: Bearer TOKEN``, RFC 6750). A request with a token carries no ambient credential a
browser would send on its own, so CSRF checks apply to cookie sessions only.

A session or token counts only when its row and its user's row are the states last sealed for them in
the ledger under a key the console trusts (:mod:`swarmscope.store.access.account_events`: the keys of
``serve --node-key/--trust-key``, by default the key file beside the database, and the console's own node
key, as found when ``swarmscope.web.app.create_app`` made the app). The sealed view is kept per app and
read again only when the chain's head moved, after checking the chain-head witness beside the node key
file (a deleted tail could otherwise bring back an older state).

An API token also ends at its sealed expiry (:mod:`swarmscope.store.access.tokens`): it answers 401 as a
revoked one does, but its detail names the expiry, so the script's owner knows to ask for a new token. Only
a token that would otherwise be accepted says so; an unknown, revoked or tampered one gets the plain 401.

A session also ends once idle (``WebSettings.session_idle_seconds``, ``serve --session-idle``): each
request it authenticates counts as use (recorded to the minute, :mod:`swarmscope.store.access.sessions`)
except a live page's own polls, which carry :data:`POLL_HEADER` (``hx-headers`` on the polling element):
a wall screen left on the live page is an unattended browser like any other (OWASP Session Management
Cheat Sheet, "Automatic Session Expiration"). The header can only make a request count less, so a
client sending it where it does not belong harms nobody but its own session.

Every route declares its minimum role with ``dependencies=[Depends(require(Role.X))]``; the function
:func:`require` returns carries that role as ``min_role``, which the route-role table test reads.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from swarmscope.net.clock import Clock
from swarmscope.store.access import sessions as session_store
from swarmscope.store.access import tokens as token_store
from swarmscope.store.access import users as user_store
from swarmscope.store.access.account_events import SealedAccounts
from swarmscope.store.database import Store, StoreError
from swarmscope.store.ledger.head_witness import WitnessError
from swarmscope.store.ledger.witness_cover import require_heads
from swarmscope.web.accounts import WebUser, web_user
from swarmscope.web.passwords import secret_sha256
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings
from swarmscope.web.templating import utc

SESSION_COOKIE = "swarmscope_session"
CSRF_HEADER = "x-csrf-token"  # htmx requests send it (static/app.js); forms send the field below
CSRF_FIELD = "csrf_token"
POLL_HEADER = "x-swarmscope-poll"  # sent by the live pages' timed htmx polls: not use of the session


LOG_IN_FIRST = "log in first (session cookie or 'Authorization: Bearer TOKEN')"


class NotAuthenticated(HTTPException):
    """No valid session or token: API callers get 401, page requests are sent to the login page."""

    def __init__(self, detail: str = LOG_IN_FIRST) -> None:
        super().__init__(401, detail)


@dataclass(frozen=True, slots=True)
class Auth:
    """Who made the request; ``csrf`` is the session's CSRF token (None for an API token)."""

    user: WebUser
    csrf: str | None
    session_secret: str | None


def now_us() -> int:
    """The system clock, UTC microseconds (workflow times, sessions, audit rows)."""
    return Clock().now_us()


def get_store(request: Request) -> Store:
    """The app's open store."""
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings


def request_accounts(request: Request) -> SealedAccounts:
    """The app's sealed account view, brought up to the chain's head (module docstring). The witness is
    checked when the chain moved and whenever the witness file changed (another process sealed): a tail
    deleted back to the head the view last read leaves the chain as it was, but not the witness.

    Raises:
        HTTPException: 409 naming the witness when the database lacks the chain head witnessed beside the
            node key file (as every accusing action answers it), or naming the entry when the chain that
            seals the accounts is damaged: no account is accepted then.
    """
    state, store = request.app.state, get_store(request)
    view: SealedAccounts = state.sealed_accounts  # made by create_app (swarmscope.web.app)
    witness = state.settings.witness
    try:
        if witness is None or not view.trusted:  # no trusted key: no account is proven, nothing to guard
            return view.refresh(store)
        seen, trusted = _file_state(witness), view.trusted

        def guard() -> None:  # the witness must be a trusted node's own (store.ledger.witness_cover)
            require_heads(store, (witness, *state.settings.other_witnesses), trusted, trusted)

        if seen != getattr(state, "account_witness", None):
            guard()
            state.account_witness = seen
        return view.refresh(store, guard)
    except WitnessError as exc:
        raise HTTPException(409, f"no account is accepted: {exc}") from None
    except StoreError as exc:  # a trusted chain that is damaged (account_events.SealedAccounts)
        raise HTTPException(409, str(exc)) from None


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime in ns) of ``path``, None when it does not exist."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


def _bearer(store: Store, header: str, sealed: SealedAccounts) -> Auth:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated()
    try:
        found = user_store.user_by_token(store, secret_sha256(token.strip()), now_us(), sealed)
    except token_store.TokenExpired as exc:
        raise NotAuthenticated(
            f"this API token expired at {utc(exc.expires_us)}; an admin issues a new one with "
            "'swarmscope users token NAME'"
        ) from None
    if found is None:
        raise NotAuthenticated()
    return Auth(web_user(found), None, None)


def _session(request: Request, store: Store, secret: str, sealed: SealedAccounts) -> Auth:
    """The session with cookie ``secret`` if live and not idle; its use is recorded unless a poll."""
    now, idle_s = now_us(), get_settings(request).session_idle_seconds
    found = session_store.find_session(store, secret_sha256(secret), now, sealed, round(idle_s * 1_000_000))
    if found is None:
        raise NotAuthenticated()
    if request.headers.get(POLL_HEADER) != "1":
        session_store.record_seen(store, found, now)
    return Auth(web_user(found.user), found.csrf, secret)


def authenticate(request: Request, store: Annotated[Store, Depends(get_store)]) -> Auth:
    """The request's :class:`Auth` (also kept on ``request.state.auth`` for the templates).

    Raises:
        NotAuthenticated: no credential, an unknown/revoked/expired one, an idle session, a disabled user,
            or a row that is not the state last sealed for it.
    """
    header = request.headers.get("authorization")
    secret = request.cookies.get(SESSION_COOKIE)
    if header is None and not secret:
        raise NotAuthenticated()
    sealed = request_accounts(request)
    if header is not None:
        auth = _bearer(store, header, sealed)
    else:
        auth = _session(request, store, secret or "", sealed)
    request.state.auth = auth
    return auth


def current_user(auth: Annotated[Auth, Depends(authenticate)]) -> WebUser:
    """The signed-in user."""
    return auth.user


StoreDep = Annotated[Store, Depends(get_store)]  # route parameters: ``store: StoreDep``
SettingsDep = Annotated[WebSettings, Depends(get_settings)]
AuthDep = Annotated[Auth, Depends(authenticate)]
UserDep = Annotated[WebUser, Depends(current_user)]


def require(role: Role) -> Callable[[WebUser], WebUser]:
    """A dependency refusing (403) users below ``role``; its ``min_role`` attribute names the role."""

    def dependency(user: Annotated[WebUser, Depends(current_user)]) -> WebUser:
        if user.role < role:
            raise HTTPException(403, f"needs the {role.label} role or higher")
        return user

    dependency.min_role = role  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{role.label}"
    return dependency


async def csrf_protect(request: Request, auth: Annotated[Auth, Depends(authenticate)]) -> None:
    """Refuse (403) a cookie-authenticated state change without the session's CSRF token.

    The token comes in the ``X-CSRF-Token`` header (htmx, scripts) or the ``csrf_token`` form field. The
    synchroniser-token pattern (OWASP CSRF Prevention Cheat Sheet), on top of ``SameSite=Strict``.
    """
    if auth.csrf is None:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), auth.csrf.encode()):
        raise HTTPException(403, "CSRF token missing or wrong; reload the page")
