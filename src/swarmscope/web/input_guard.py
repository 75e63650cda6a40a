"""Control characters refused before any route: one check for every path, query and form value.

PostgreSQL text cannot hold NUL (U+0000; psycopg raises ``DataError: PostgreSQL text fields cannot contain
NUL (0x00) bytes``), and no field the console takes (user names, DOE numbers, addresses, client strings,
ISP names, statuses, notes) has a use for a C0 control character (U+0000..U+001F) or DEL (U+007F). So a
request carrying one is answered 400 in one line, as a page or as ``{"detail": ...}`` like every other
refusal, before any handler runs: nothing is read, stored, sealed or counted by the login throttle.

- the path and the query string (percent-decoded, keys and values): no control character at all;
- a form body (``application/x-www-form-urlencoded`` or ``multipart/form-data``, whose text fields are
  all the console takes) and a JSON body (every string, keys included): tab, line feed and carriage return
  are allowed (a textarea sends CR LF line breaks, RFC 7578 4.1 / HTML "constructing the form data set"),
  the others are not.

The body is read whole here and handed on unchanged to the route (an ASGI middleware replaying the
``http.request`` messages); the console takes no file uploads.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import unquote, unquote_plus

from fastapi import HTTPException, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = frozenset(chr(c) for c in (*range(0x20), 0x7F))  # C0 controls and DEL
IN_TEXT = ALWAYS - {"\t", "\n", "\r"}  # what a form or JSON text value may not hold either
Answer = Callable[[Request, Exception], Awaitable[Response]]


def _first(text: str, refused: frozenset[str]) -> str | None:
    return next((ch for ch in text if ch in refused), None)


def _strings(value: Any) -> Iterator[str]:
    """Every string of a decoded JSON document, object keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _body_text(content_type: str, body: bytes) -> Iterator[str]:
    """The text values of a form or JSON body, as the route will decode them; nothing for other bodies
    (or a JSON body that does not parse: the route refuses it)."""
    kind = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if kind == "application/x-www-form-urlencoded":
        yield unquote_plus(text, errors="replace")
    elif kind == "multipart/form-data":
        yield text
    elif kind == "application/json" or kind.endswith("+json"):
        try:
            yield from _strings(json.loads(text))
        except ValueError:
            return


def refusal(scope: Scope, body: bytes) -> str | None:
    """The one-line reason to refuse a request (``scope`` as ASGI gives it, ``body`` its bytes), or None."""
    query = unquote(scope.get("query_string", b"").decode("latin-1"), errors="replace")
    where = [("path", scope.get("path", ""), ALWAYS), ("query", query, ALWAYS)]
    headers = {k.lower(): v for k, v in scope.get("headers", [])}
    content_type = headers.get(b"content-type", b"").decode("latin-1")
    where.extend(("form value", text, IN_TEXT) for text in _body_text(content_type, body))
    for part, text, refused in where:
        found = _first(text, refused)
        if found is not None:
            return f"{part}: control character U+{ord(found):04X} not allowed"
    return None


class ControlCharacterGuard:
    """ASGI middleware: refuse (``answer``, status 400) a request whose path, query or form/JSON body
    holds a control character (:func:`refusal`); pass every other request on with its body intact."""

    def __init__(self, app: ASGIApp, answer: Answer) -> None:
        self.app, self.answer = app, answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        reason = refusal(scope, b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request"))
        if reason is not None:
            response = await self.answer(Request(scope), HTTPException(400, reason))
            await response(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
