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
- no text at all may hold a lone surrogate (U+D800..U+DFFF, Unicode category Cs): JSON can escape one
  (``"\\ud800"``; RFC 8259 section 8.2 calls such strings unpredictable), Python's ``json`` decodes it to
  a ``str`` no UTF-8 encoder takes, and the store's drivers raise ``UnicodeEncodeError``. A JSON value is
  named by its key path (``summary``), so the one line says which field to fix.

The body is read here, up to :data:`MAX_BODY_BYTES` (the console takes no file uploads; a longer body is
413 before it is read further), and handed on unchanged to the route (an ASGI middleware replaying the
``http.request`` messages). The check must read the body as the route will, so a request whose decoding
could differ is refused (400) rather than guessed at: more than one ``Content-Type`` header (the guard
and the framework could each take another), a charset other than UTF-8 declared for a form or JSON body
or for a multipart part (``charset=utf-7`` would hide ``+AAA-``, a NUL, from a UTF-8 reading; RFC 7578
5.1.2 lets a part declare one, and a ``_charset_`` field names one for the whole form), and a JSON body
that is not UTF-8 (RFC 8259 8.1: JSON exchanged between systems is UTF-8).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import unquote, unquote_plus

from fastapi import HTTPException, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024  # the largest form the console takes (a dispute's text) is far below
ALWAYS = frozenset(chr(c) for c in (*range(0x20), 0x7F))  # C0 controls and DEL
CHARSET = re.compile(rb"charset\s*=\s*\"?([^\s\";]+)", re.IGNORECASE)
PART_TYPE = re.compile(rb"^content-type:[^\r\n]*", re.IGNORECASE | re.MULTILINE)  # a multipart part's header
SURROGATE = re.compile("[\ud800-\udfff]")  # Unicode category Cs: no UTF-8 encoder (or database) takes one
UTF8_NAMES = frozenset({b"utf-8", b"utf8", b"us-ascii"})
IN_TEXT = ALWAYS - {"\t", "\n", "\r"}  # what a form or JSON text value may not hold either
Answer = Callable[[Request, Exception], Awaitable[Response]]


def _first(text: str, refused: frozenset[str]) -> str | None:
    return next((ch for ch in text if ch in refused), None)


def _json_fields(value: Any, name: str = "") -> Iterator[tuple[str, str]]:
    """Every string of a decoded JSON document as ``(field, text)``: a value under its dotted key path
    (``summary``, ``items.0``), an object key as ``key of <path>``, named before anything under it (so a
    key is checked before it is shown in another field's name)."""
    where = name or "body"
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"key of {where}", key
            yield from _json_fields(item, f"{name}.{key}" if name else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_fields(item, f"{name}.{index}" if name else str(index))


def _body_text(content_type: str, body: bytes) -> Iterator[tuple[str, str]]:
    """The text values of a form or JSON body as ``(field, text)``, decoded as the route will; nothing for
    other bodies (or a JSON body that does not parse: the route refuses it)."""
    kind = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if kind == "application/x-www-form-urlencoded":
        yield "form value", unquote_plus(text, errors="replace")
    elif kind == "multipart/form-data":
        yield "form value", text
    elif kind == "application/json" or kind.endswith("+json"):
        try:  # the bytes, as the route parses them (RFC 8259 section 8.1: a BOM, UTF-16 and UTF-32 detected)
            value = json.loads(body)
        except ValueError:
            return
        yield from _json_fields(value)


def _decoding_refusal(headers: list[tuple[bytes, bytes]], body: bytes) -> str | None:
    """Why the route might decode this body otherwise than :func:`_body_text` (module docstring), or None."""
    types = [v for k, v in headers if k.lower() == b"content-type"]
    if len(types) > 1:
        return "more than one Content-Type header"
    kind = (types[0].split(b";")[0].strip().lower() if types else b"").decode("latin-1")
    if kind not in FORM_KINDS and kind != "application/json" and not kind.endswith("+json"):
        return None
    part_types = PART_TYPE.findall(body) if kind == "multipart/form-data" else []
    declared = [c for t in [types[0], *part_types] for c in CHARSET.findall(t)]
    if any(c.strip().lower() not in UTF8_NAMES for c in declared) or b'name="_charset_"' in body:
        return "charset: only UTF-8 is accepted"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "body: not UTF-8"
    return None


FORM_KINDS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def refusal(scope: Scope, body: bytes) -> str | None:
    """The one-line reason to refuse a request (``scope`` as ASGI gives it, ``body`` its bytes), or None."""
    raw_headers = list(scope.get("headers", []))
    decoding = _decoding_refusal(raw_headers, body)
    if decoding is not None:
        return decoding
    query = unquote(scope.get("query_string", b"").decode("latin-1"), errors="replace")
    where = [("path", scope.get("path", ""), ALWAYS), ("query", query, ALWAYS)]
    headers = {k.lower(): v for k, v in raw_headers}
    content_type = headers.get(b"content-type", b"").decode("latin-1")
    try:
        where.extend((field, text, IN_TEXT) for field, text in _body_text(content_type, body))
    except RecursionError:  # the route's parser would fail the same way: a 500 for anyone, before login
        return "body: JSON nested too deeply"
    for part, text, refused in where:
        found = _first(text, refused)
        if found is not None:
            return f"{part[:60]}: control character U+{ord(found):04X} not allowed"
        lone = SURROGATE.search(text)
        if lone is not None:
            return f"{part[:60]}: lone surrogate U+{ord(lone.group()):04X} not allowed (not Unicode text)"
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
        size = 0
        while size <= MAX_BODY_BYTES:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        if size > MAX_BODY_BYTES:
            too_long = HTTPException(413, f"request body over {MAX_BODY_BYTES} bytes: the console takes none")
            response = await self.answer(Request(scope), too_long)
            await response(scope, receive, send)
            return
        reason = refusal(scope, b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request"))
        if reason is not None:
            response = await self.answer(Request(scope), HTTPException(400, reason))
            await response(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
