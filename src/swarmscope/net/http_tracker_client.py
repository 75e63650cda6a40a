"""HTTP(S) tracker client: one GET per announce or scrape on ``httpx.AsyncClient``; outcomes are values.

Redirects are followed (bounded), the body size is capped, proxies from the environment are ignored
(``trust_env=False``), and an optional source address is bound. A ``gzip`` or ``deflate`` body (RFC 9110
section 8.4.1) is inflated here from the raw bytes, never more than the cap plus one byte at a time
(``zlib`` ``max_length``), so the cap holds for the decoded size: 500 KB of gzip that inflate to 512 MiB of
zeros cost the cap, not 64 MiB per network read.

``httpx`` is imported, and the pooled ``AsyncClient`` (with its TLS context: the CA bundle is read then) made,
at the first request: a process that never announces over HTTP (a probe process of the monitor, a UDP-only
run) pays neither (about 0.1 s of CPU at start-up; docs/performance.md "Step 7").

Sources: BEP 3 "Trackers", BEP 48 (scrape); interop TRK-05 (HTML body), TRK-06 (failure reason with 200).
"""

from __future__ import annotations

import socket
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from swarmscope.errors import DecodeError
from swarmscope.wire.http_tracker import (
    build_announce_url,
    build_scrape_url,
    parse_announce_response,
    parse_scrape_response,
    scrape_url,
)
from swarmscope.wire.tracker import AnnounceRequest, AnnounceResponse, ScrapeResult, TrackerFault

MAX_BODY = 4 * 1024 * 1024  # bytes; a tracker reply is a few KiB, anything larger is not a tracker
MAX_REDIRECTS = 5
USER_AGENT = "swarmscope/0.1"

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, slots=True)
class HttpReply:
    """Status, body (decompressed, ≤ ``MAX_BODY`` bytes) and final URL of one GET after redirects."""

    status: int
    body: bytes
    url: str


class HttpTrackerClient:
    """Announce and scrape over HTTP(S); never raises for network outcomes.

    Args:
        bind_ip: source IP literal to bind (e.g. ``"127.0.0.2"``), or None for the default route.
        timeout: seconds for each of connect, read, write and pool acquisition.
        max_body: body size cap in bytes.
    """

    def __init__(
        self, *, bind_ip: str | None = None, timeout: float = 30.0, max_body: int = MAX_BODY
    ) -> None:
        self._bind_ip = bind_ip
        self._timeout = timeout
        self._max_body = max_body
        self._client: httpx.AsyncClient | None = None  # made by the first request (module docstring)

    def _pool(self) -> httpx.AsyncClient:
        """The pooled client, made on first use: retries off, redirects bounded, no proxies from the
        environment, ``bind_ip`` as every connection's source address."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(local_address=self._bind_ip, retries=0),
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                timeout=httpx.Timeout(self._timeout),
                trust_env=False,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"},
            )
        return self._client

    async def aclose(self) -> None:
        """Close pooled connections (none when no request was made)."""
        if self._client is not None:
            await self._client.aclose()

    async def announce(self, url: str, req: AnnounceRequest) -> AnnounceResponse | TrackerFault:
        """Announce to an HTTP tracker.

        Args:
            url: the tracker's announce URL (query string kept first, TRK-09). req: the announce.

        Returns:
            The decoded reply (a ``failure reason`` is a reply with ``failure_reason`` set), or a fault.
        """
        reply = await self.get(build_announce_url(url, req))
        if isinstance(reply, TrackerFault):
            return reply
        if reply.status != 200:
            return _status_fault(reply)
        try:
            return parse_announce_response(reply.body)
        except DecodeError as exc:
            return TrackerFault(_strip_context(str(exc)))

    async def scrape(self, url: str, infohashes: Sequence[bytes]) -> ScrapeResult | TrackerFault:
        """Scrape an HTTP tracker for some infohashes.

        Args:
            url: the announce URL (the scrape URL is derived, BEP 48). infohashes: raw 20-byte infohashes.

        Returns:
            The decoded reply, or a fault (``"scrape not available"`` when the URL has no ``announce``).
        """
        target = scrape_url(url)
        if target is None:
            return TrackerFault("scrape not available: the announce URL has no 'announce' path segment")
        reply = await self.get(build_scrape_url(target, infohashes))
        if isinstance(reply, TrackerFault):
            return reply
        if reply.status != 200:
            return _status_fault(reply)
        try:
            return parse_scrape_response(reply.body, infohashes)
        except DecodeError as exc:
            return TrackerFault(_strip_context(str(exc)))

    async def get(self, url: str) -> HttpReply | TrackerFault:
        """GET a URL, following redirects, reading at most ``max_body`` bytes of the decoded body."""
        client = self._pool()
        import httpx  # loaded by _pool: a dictionary look-up

        try:
            async with client.stream("GET", url) as response:
                inflater = Inflater(response.headers.get("content-encoding", ""), self._max_body)
                body = bytearray()
                async for raw in response.aiter_raw():
                    for part in inflater.feed(raw):
                        body += part
                        if len(body) > self._max_body:
                            return TrackerFault(f"body larger than {self._max_body} bytes")
                inflater.finish()
                return HttpReply(response.status_code, bytes(body), str(response.url))
        except ContentEncodingError as exc:
            return TrackerFault(f"bad content encoding: {exc}")
        except httpx.HTTPError as exc:
            return TrackerFault(_describe(exc, self._timeout))
        except (httpx.InvalidURL, ValueError, OverflowError) as exc:
            return TrackerFault(f"bad URL: {exc}")
        except OSError as exc:
            return TrackerFault(f"socket error: {exc.strerror or exc}")


GZIP_MAGIC = b"\x1f\x8b"  # RFC 1952 section 2.3.1: ID1, ID2
MAX_GZIP_MEMBERS = 64  # members of one body; a tracker sends one


class ContentEncodingError(Exception):
    """A body whose ``Content-Encoding`` we do not know or whose bytes do not inflate."""


class Inflater:
    """Decodes one body's ``Content-Encoding`` incrementally, bounded.

    Args:
        encoding: the header's value: ``""``/``identity``, ``gzip``/``x-gzip`` or ``deflate`` (zlib-wrapped,
            or raw as some servers send it; RFC 9110 section 8.4.1.2).
        max_out: output bound in bytes; :meth:`feed` yields pieces of at most ``max_out + 1`` bytes, so a
            caller that stops past ``max_out`` never holds more than that (a gzip bomb inflates ~1000:1).

    A gzip body may hold several members one after another (RFC 1952 section 2.2; ``gunzip`` reads them all),
    up to :data:`MAX_GZIP_MEMBERS`; each member's CRC-32 and length are checked by zlib, so a body cut
    before a member's trailer is refused by :meth:`finish`.

    Raises (from :meth:`feed` and :meth:`finish`):
        ContentEncodingError: an unknown coding, bytes that are not of the coding, bytes after the end of
            the coded stream (zlib would keep them all in ``unused_data``, uncounted by ``max_out``), or a
            stream that ends before its end (:meth:`finish`).
    """

    def __init__(self, encoding: str, max_out: int) -> None:
        codings = [
            c.strip().lower() for c in encoding.split(",") if c.strip().lower() not in ("", "identity")
        ]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise ContentEncodingError(f"unsupported Content-Encoding {encoding!r}")
        self._coding = codings[0] if codings else ""
        self._gzip = self._coding in ("gzip", "x-gzip")
        self._max_out = max_out
        wbits = zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits) if self._coding else None
        self._started = False  # True once zlib read the 2-byte header (RFC 1950 section 2.2) or fell back
        self._head = b""  # the bytes zlib took before that, replayed into the raw-deflate fallback
        self._members = 1
        self._carry = b""  # the first byte of a next gzip member's magic, split across reads

    def feed(self, raw: bytes) -> Iterator[bytes]:
        """Decoded bytes of the next raw piece, in pieces of at most ``max_out + 1`` bytes."""
        if self._zlib is None:
            yield raw
            return
        pending, self._carry = self._carry + raw, b""
        while pending:
            # RFC 9110 section 8.4.1: the coding covers the whole body, nothing after it but another member
            if self._zlib.eof and not self._next_member(pending):
                self._carry = pending  # one byte: the magic's second byte comes with the next read
                return
            try:
                out = self._zlib.decompress(pending, self._max_out + 1)
            except zlib.error as exc:
                if self._coding == "deflate" and not self._started:  # a raw deflate stream, no zlib header
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._started, pending, self._head = True, self._head + pending, b""
                    continue
                raise ContentEncodingError(str(exc)) from None
            if not self._started:  # a 1-byte first read cannot fail the header check yet
                self._head += pending
                self._started, self._head = len(self._head) >= 2, self._head[:1]
            pending = self._zlib.unconsumed_tail or self._zlib.unused_data
            if out:
                yield out

    def _next_member(self, pending: bytes) -> bool:
        """After a member ended: True once a next gzip member starts at ``pending`` (a new decompressor
        takes it), False for a lone first magic byte (wait for more).

        Raises:
            ContentEncodingError: anything else after the end (not gzip, or past the member bound).
        """
        magic = pending[:2]
        if self._gzip and magic == GZIP_MAGIC[: len(magic)] and self._members < MAX_GZIP_MEMBERS:
            if len(magic) < len(GZIP_MAGIC):
                return False
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
            self._members += 1
            return True
        raise ContentEncodingError(f"{len(pending)} bytes after the end of the {self._coding} stream")

    def finish(self) -> None:
        """The body ended: its coded stream must have ended too (a gzip member's CRC-32 and length trailer
        read, RFC 1952 section 2.2; a zlib stream's Adler-32, RFC 1950). An empty body passes (it says
        nothing; the reply's parser judges it).

        Raises:
            ContentEncodingError: the body stopped inside the coded stream.
        """
        begun = self._started or bool(self._head)  # one byte read: a stream begun, cut short
        if self._zlib is not None and begun and (not self._zlib.eof or self._carry):
            raise ContentEncodingError(f"the {self._coding} stream is cut short: the body ended inside it")


def _status_fault(reply: HttpReply) -> TrackerFault:
    """``HTTP 502``, plus the tracker's ``failure reason`` when the body carries one."""
    try:
        failure = parse_announce_response(reply.body).failure_reason
    except DecodeError:
        failure = None
    return TrackerFault(f"HTTP {reply.status}" + (f": failure reason: {failure}" if failure else ""))


def _strip_context(message: str) -> str:
    """``"announce reply: not bencoded: …"`` → ``"not bencoded: …"`` (the outcome already names the call)."""
    for prefix in ("announce reply: ", "scrape reply: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """True when ``kind`` appears in the exception's cause/context chain (bounded walk)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(exc: httpx.HTTPError, timeout: float) -> str:
    """A precise text for an httpx failure (connection refused, timeouts, redirects, encodings)."""
    import httpx  # ``exc`` is one of its errors: the module is loaded

    if isinstance(exc, httpx.ConnectError):
        if _caused_by(exc, ConnectionRefusedError) or "refused" in str(exc).lower():
            return "connection refused"
        if _caused_by(exc, socket.gaierror):
            return f"cannot resolve host: {exc}"
        return f"connect error: {exc or type(exc).__name__}"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timeout after {timeout:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"{type(exc).__name__.removesuffix('Timeout').lower()} timeout after {timeout:g} s"
    if isinstance(exc, httpx.TooManyRedirects):
        return f"more than {MAX_REDIRECTS} redirects"
    if isinstance(exc, httpx.DecodingError):
        return f"bad content encoding: {exc}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"unsupported URL: {exc}"
    return f"{type(exc).__name__}: {exc}"
