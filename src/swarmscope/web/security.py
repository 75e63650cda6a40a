"""Security headers on every response (OWASP Secure Headers Project; CSP Level 3).

- ``Content-Security-Policy``: scripts and styles from our own origin only (no inline script or style
  anywhere in the templates, so an injected ``<script>`` or ``onerror=`` from a peer's client string cannot
  run even if escaping failed), no framing (clickjacking), no plugins, forms post to us only.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (URLs hold case numbers),
  ``X-Frame-Options: DENY`` for browsers without CSP 2, ``Cross-Origin-Opener-Policy: same-origin``.
- ``Cache-Control: no-store`` on everything but ``/static/``: pages and API answers may hold personal data
  (identities, addresses) and must not stay in a shared or browser cache.

An unexpected error in a route is logged (with its traceback, for the operator) and answered here with a
plain 500 carrying these headers too, instead of Starlette's bare 500 that also drops the connection.

And a Host check against DNS rebinding (:func:`trusted_hosts`): a page on ``rebind.example`` whose name
is re-pointed at 127.0.0.1 becomes same-origin with a loopback console in the operator's own browser and
could read the login form and post logins; a request whose ``Host`` is not a name the console serves is
refused with 400 before any route runs (nothing read, no login counted). Starlette's
``TrustedHostMiddleware`` does the same but cuts ``Host`` at the first colon, refusing ``[::1]:8080``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse

LOG = logging.getLogger(__name__)
HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.:")  # DNS names, IPv4 and IPv6
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
Middleware = Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """HTTP middleware: add :data:`HEADERS` and the cache rule to every response, a 500 included."""
    try:
        response = await call_next(request)
    except Exception:
        LOG.exception("%s %s failed", request.method, request.url.path)
        response = PlainTextResponse("internal error: the console's log has the details\n", 500)
    response.headers.update(HEADERS)
    static = request.url.path.startswith("/static/")
    response.headers["Cache-Control"] = "public, max-age=3600" if static else "no-store"
    return response


def host_name(header: str) -> str | None:
    """The host of a ``Host`` header (RFC 9110 7.2: ``host[:port]``, an IPv6 address in brackets), lower
    case, or None when it is empty or malformed."""
    try:
        split = urlsplit("//" + header)
        split.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError:
        return None
    if not header or split.netloc != header or split.username is not None or not split.hostname:
        return None
    name = split.hostname.lower()
    return name if set(name) <= HOST_CHARACTERS else None


def trusted_hosts(allowed: Iterable[str]) -> Middleware:
    """HTTP middleware refusing (400, one line) a request whose ``Host`` names none of ``allowed``
    (host names or addresses, matched without the port, case-insensitive)."""
    names = frozenset(a.lower().strip("[]") for a in allowed)

    async def check(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if host_name(request.headers.get("host", "")) not in names:
            return PlainTextResponse("invalid Host header: not a name this console serves\n", 400)
        return await call_next(request)

    return check
