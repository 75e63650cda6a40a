"""Security headers on every response (OWASP Secure Headers Project; CSP Level 3).

- ``Content-Security-Policy``: scripts and styles from our own origin only (no inline script or style
  anywhere in the templates, so an injected ``<script>`` or ``onerror=`` from a peer's client string cannot
  run even if escaping failed), no framing (clickjacking), no plugins, forms post to us only.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (URLs hold case numbers),
  ``X-Frame-Options: DENY`` for browsers without CSP 2, ``Cross-Origin-Opener-Policy: same-origin``.
- ``Cache-Control: no-store`` on everything but ``/static/``: pages and API answers may hold personal data
  (identities, addresses) and must not stay in a shared or browser cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

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
    """HTTP middleware: add :data:`HEADERS` and the cache rule to every response."""
    response = await call_next(request)
    response.headers.update(HEADERS)
    static = request.url.path.startswith("/static/")
    response.headers["Cache-Control"] = "public, max-age=3600" if static else "no-store"
    return response
