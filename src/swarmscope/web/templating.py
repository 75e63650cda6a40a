"""The Jinja2 environment of the console and the one way to render a page.

Autoescaping is on for every template (Jinja2's default only escapes ``.html``/``.xml`` names, and ours end
in ``.j2``): every string that came from a peer, tracker, torrent or import is escaped when shown. Templates
hold no inline script or style (the CSP forbids both, :mod:`swarmscope.web.security`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def utc(us: int | None) -> str:
    """UTC microseconds as ``2026-12-06 17:40:13 UTC`` (``-`` for None)."""
    if us is None:
        return "-"
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=StrictUndefined)
    env.filters["utc"] = utc
    return env


templates = Jinja2Templates(env=_environment())


def fragment_digest(name: str, context: dict[str, Any]) -> str:
    """The digest of the live fragment ``templates/<name>`` over ``context`` (which holds every name
    the fragment shows, ``user`` included), rendered without its time (``now_us``): 32 hex characters of
    SHA-256. Two polls with equal digests show the same thing, so the page's script leaves the table
    alone (static/app.js): no lost focus or selection when nothing changed."""
    body = templates.env.get_template(name).render({**context, "now_us": None, "digest": ""})
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/<name>`` with the signed-in user and the CSRF token (when there is a session)."""
    auth = getattr(request.state, "auth", None)
    context.setdefault("user", None if auth is None else auth.user)
    context.setdefault("csrf", None if auth is None else auth.csrf)
    return templates.TemplateResponse(request, name, context, status_code=status_code)
