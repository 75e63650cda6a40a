"""A scripted HTTP tracker on loopback: each path answers with fixed bytes, the way a broken tracker would.

Used by the tracker rows of docs/tolerances.md. ``Reply.chunked`` sends the body with HTTP/1.1 chunked
transfer encoding (RFC 9112 section 7.1) instead of ``Content-Length``; ``Reply.location`` makes a
redirect. Every request's path and query is recorded in ``ScriptedTracker.asked``.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    """One scripted answer: HTTP status, body bytes and how to send them."""

    body: bytes = b""
    status: int = 200
    gzip: bool = False
    chunked: bool = False
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedTracker:
    """The running tracker: its base URL, the scripted routes (path → replies, last one repeats)."""

    base: str
    routes: dict[str, list[Reply]]
    asked: list[str] = field(default_factory=list)

    def next_reply(self, path: str) -> Reply:
        replies = self.routes.get(path)
        if not replies:
            return Reply(b"not found", status=404)
        return replies.pop(0) if len(replies) > 1 else replies[0]


def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    body = gzip.compress(reply.body) if reply.gzip else reply.body
    handler.send_response(reply.status)
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    if reply.location is not None:
        handler.send_header("Location", reply.location)
    if reply.gzip:
        handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Connection", "close")
    if reply.chunked:
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for i in range(0, len(body), 7):  # small chunks, so the body really arrives in pieces
            part = body[i : i + 7]
            handler.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")
        return
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def http_server(
    host: str, do_get: Callable[[BaseHTTPRequestHandler], None], protocol: str = "HTTP/1.0"
) -> Iterator[str]:
    """Answer every GET on ``host`` (a loopback address) with ``do_get(handler)`` in a thread; yields the
    base URL (``http://host:port``) and stops the server on exit. ``protocol``: HTTP/1.0 closes after each
    reply (a reply without Content-Length still ends); chunked transfer encoding needs HTTP/1.1."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = protocol

        def do_GET(self) -> None:  # http.server API name
            do_get(self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def scripted_tracker(routes: dict[str, list[Reply]], host: str = "127.0.0.1") -> Iterator[ScriptedTracker]:
    """Serve ``routes`` on ``host`` (a loopback address) in a thread; stops it on exit."""
    state = ScriptedTracker("", routes)

    def do_get(handler: BaseHTTPRequestHandler) -> None:
        state.asked.append(handler.path)
        _send(handler, state.next_reply(urlsplit(handler.path).path))

    with http_server(host, do_get, "HTTP/1.1") as base:
        state.base = base
        yield state
