"""Tracker clients against real servers on loopback: Debian opentracker, a stdlib HTTP server, a UDP socket.

Covers HTTP and UDP announces from several 127.x source addresses (bind_ip), the non-whitelisted infohash
(HTTP failure reason, UDP truncated 8-byte reply), scrape, unreachable trackers, redirects, gzip, HTML
bodies (TRK-05), failure with interval (TRK-06), trailing bytes (TRK-03), TRK-14 error replies and the
TRK-15 connection-id lifetime.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, cast
from urllib.parse import unquote_to_bytes, urlsplit

import pytest

from swarmscope.net.tracker_client import AnnounceOutcome, TrackerClient
from swarmscope.net.udp_tracker_client import UdpTrackerClient
from swarmscope.wire.tracker import AnnounceRequest, AnnounceResponse
from swarmscope.wire.types import Endpoint
from tests.net.opentracker import OpentrackerHandle, free_port, opentracker_factory  # noqa: F401

IH_HTTP = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")
IH_UDP = bytes.fromhex("89abcdef0123456789abcdef0123456789abcdef")
IH_NOT_LISTED = b"\x11" * 20
TIMEOUT = 20.0  # generous: tests never assert speed


def client(n: int, bind_ip: str | None = None, **kw: Any) -> TrackerClient:
    peer_id = f"-SS0001-{n:012d}".encode()
    return TrackerClient(peer_id, bind_ip, TIMEOUT, random.Random(n), **kw)


@pytest.fixture
def tracker(opentracker_factory: Callable[[Iterable[str]], OpentrackerHandle]) -> OpentrackerHandle:  # noqa: F811
    return opentracker_factory([IH_HTTP.hex(), IH_UDP.hex()])


def endpoints(resp: AnnounceResponse | None) -> set[Endpoint]:
    assert resp is not None
    return {p.endpoint for p in resp.peers}


@pytest.mark.realclients
@pytest.mark.parametrize(
    ("scheme", "infohash", "net"), [("http", IH_HTTP, "127.0.2"), ("udp", IH_UDP, "127.0.3")]
)
async def test_announce_from_several_addresses_sees_each_other(
    tracker: OpentrackerHandle, scheme: str, infohash: bytes, net: str
) -> None:
    url = tracker.http_url if scheme == "http" else tracker.udp_url
    clients = [client(i, f"{net}.{i}") for i in range(1, 4)]
    everyone = {Endpoint(f"{net}.{i}", 7000 + i) for i in range(1, 4)}
    try:
        for i, c in enumerate(clients, 1):
            out = await c.announce(url, c.make_request(infohash, port=7000 + i, left=1000, event="started"))
            assert out.ok and out.error is None, out.error
            assert Endpoint(f"{net}.{i}", 7000 + i) in endpoints(out.response)  # itself: the caller filters
        for c in clients:
            out = await c.announce(url, c.make_request(infohash, port=7000 + clients.index(c) + 1, left=1000))
            assert out.ok and endpoints(out.response) == everyone
            assert out.response is not None and out.response.incomplete == 3
            assert out.response.interval >= 300 and out.response.interval_raw is not None
        scraped = await clients[0].scrape(url, [infohash])
        assert scraped.ok and scraped.response is not None
        counts = scraped.response.files[infohash]
        assert (counts.complete, counts.incomplete) == (0, 3)
    finally:
        for c in clients:
            await c.aclose()


async def _announce_not_listed(url: str, n: int) -> AnnounceOutcome:
    """``event=started`` for an infohash opentracker's whitelist lacks, from 127.0.0.``n``."""
    c = client(n, f"127.0.0.{n}")
    try:
        return await c.announce(url, c.make_request(IH_NOT_LISTED, port=1, left=0, event="started"))
    finally:
        await c.aclose()


@pytest.mark.realclients
async def test_not_whitelisted_http_is_failure_reason_value(tracker: OpentrackerHandle) -> None:
    out = await _announce_not_listed(tracker.http_url, 9)
    assert not out.ok and out.response is not None
    assert out.error == "failure reason: Requested download is not authorized for use with this tracker."
    assert out.response.peers == ()


@pytest.mark.realclients
async def test_not_whitelisted_udp_is_truncated_reply_error(tracker: OpentrackerHandle) -> None:
    out = await _announce_not_listed(tracker.udp_url, 10)
    assert not out.ok and out.response is None and out.error is not None
    assert "truncated, 8 bytes" in out.error


@pytest.mark.parametrize("scheme", ["http", "udp"])
async def test_unreachable_tracker_is_connection_refused(scheme: str) -> None:
    url = f"{scheme}://127.0.0.1:{free_port()}/announce"
    c = client(11, "127.0.0.11", udp_base_timeout=TIMEOUT / 4, udp_max_tries=3)
    try:
        out = await c.announce(url, c.make_request(IH_HTTP, port=1, left=0))
    finally:
        await c.aclose()
    assert (out.ok, out.error) == (False, "connection refused")
    assert out.elapsed < TIMEOUT / 4  # refused at once, before the first retransmission


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ws://127.0.0.1:1/announce", "unsupported tracker scheme: 'ws'"),
        ("dht://x", "unsupported tracker scheme: 'dht'"),
        ("*http://127.0.0.1/announce", "unusable tracker url"),  # TRK-18 uTorrent "disabled"
        (" udp://x:1", "unusable tracker url"),
        ("http://[bad/announce", "unusable tracker url"),
        ("http://", "tracker url needs a host"),
        ("http://127.0.0.1:99999/announce", "bad port in tracker url"),
        ("udp://127.0.0.1/announce", "tracker url needs a host and a port"),
        ("udp://127.0.0.1:0/announce", "port 0 in tracker url"),
    ],
)
async def test_unusable_url_is_error_value(url: str, error: str) -> None:
    c = client(12)
    try:
        out = await c.announce(url, c.make_request(IH_HTTP, port=1, left=0))
        scraped = await c.scrape(url, [IH_HTTP])
    finally:
        await c.aclose()
    assert not out.ok and out.error is not None and out.error.startswith(error)
    assert not scraped.ok and scraped.error == out.error


@pytest.mark.parametrize("scheme", ["http", "udp"])
async def test_unresolvable_host_is_error_value(netns: bool, scheme: str) -> None:
    """Only inside the private netns: the resolver finds no route, so no DNS query leaves the machine."""
    c = client(13)
    try:
        out = await c.announce(
            f"{scheme}://no-such-host.invalid:80/announce", c.make_request(IH_HTTP, port=1, left=0)
        )
    finally:
        await c.aclose()
    assert not out.ok and out.error is not None and out.error.startswith("cannot resolve")


# --- a tiny real HTTP tracker on loopback (stdlib http.server in a thread) ---

OK_BODY = b"d8:intervali1800e5:peers6:\x7f\x00\x00\x05\x1a\xe1e"
ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/ok/announce": (200, {}, OK_BODY),
    "/gzip/announce": (200, {"Content-Encoding": "gzip"}, gzip.compress(OK_BODY)),
    "/html/announce": (200, {"Content-Type": "text/html"}, b"<html><head><title>Just a moment...</title>"),
    "/fail/announce": (200, {}, b"d14:failure reason6:banned8:intervali3600e12:min intervali900ee"),
    "/trailing/announce": (200, {}, OK_BODY + b"\n"),
    "/bad/announce": (502, {}, b"Bad Gateway"),
    "/bad400/announce": (400, {}, b"d14:failure reason7:no porte"),
    "/badgzip/announce": (200, {"Content-Encoding": "gzip"}, b"not gzip at all"),
    "/ok/scrape": (200, {}, b"d5:filesd20:" + IH_HTTP + b"d8:completei4e10:downloadedi7e10:incompletei2eeee"),
}


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.seen.append((self.client_address[0], self.path))
        if path == "/slow/announce":
            time.sleep(2.0)
        if path.startswith("/loop/"):
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", "/ok/" + path.rsplit("/", 1)[1] + "?" + urlsplit(self.path).query)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, headers, body = ROUTES.get(path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the slow-tracker test hangs up on purpose: a broken pipe there is expected


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("_RecordingHandler", (_Handler,), {"seen": seen})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize(
    ("path", "ok", "error", "check"),
    [
        ("/ok/announce", True, None, lambda r: endpoints(r) == {Endpoint("127.0.0.5", 6881)}),
        ("/redirect/announce", True, None, lambda r: endpoints(r) == {Endpoint("127.0.0.5", 6881)}),
        ("/gzip/announce", True, None, lambda r: endpoints(r) == {Endpoint("127.0.0.5", 6881)}),
        ("/trailing/announce", True, None, lambda r: r.quirks == ("TRK-03 trailing bytes (1)",)),
        (
            "/fail/announce",
            False,
            "failure reason: banned",
            lambda r: (r.interval, r.min_interval) == (3600, 900),
        ),
        ("/html/announce", False, "not bencoded: b'<html><head><title>Just a moment...</title>'", None),
        ("/bad/announce", False, "HTTP 502", None),
        ("/bad400/announce", False, "HTTP 400: failure reason: no port", None),
        ("/missing/announce", False, "HTTP 404", None),
        ("/loop/announce", False, "more than 5 redirects", None),
        ("/badgzip/announce", False, "bad content encoding", None),
    ],
)
async def test_http_tracker_outcomes(
    http_server: tuple[str, list[tuple[str, str]]],
    path: str,
    ok: bool,
    error: str | None,
    check: Callable[[AnnounceResponse], bool] | None,
) -> None:
    base, seen = http_server
    c = client(20, "127.0.0.20")
    try:
        out = await c.announce(base + path + "?passkey=s3cret", c.make_request(IH_HTTP, port=6881, left=-1))
    finally:
        await c.aclose()
    assert out.ok is ok
    assert out.error == error or (error is not None and out.error is not None and out.error.startswith(error))
    if check is not None:
        assert check(out.response)  # type: ignore[arg-type]
    source, request_path = seen[0]
    assert source == "127.0.0.20"  # bind_ip reached the socket
    query = urlsplit(request_path).query
    assert query.startswith("passkey=s3cret&info_hash=")  # TRK-09
    assert unquote_to_bytes(query.split("&")[1].split("=")[1]) == IH_HTTP


async def test_http_slow_tracker_is_read_timeout(http_server: tuple[str, list[tuple[str, str]]]) -> None:
    base, _ = http_server
    c = TrackerClient(b"-SS0001-000000000022", "127.0.0.22", 0.5, random.Random(22))
    try:
        out = await c.announce(base + "/slow/announce", c.make_request(IH_HTTP, port=1, left=0))
    finally:
        await c.aclose()
    assert (out.ok, out.error) == (False, "read timeout after 0.5 s")


async def test_http_scrape_and_scrape_not_available(http_server: tuple[str, list[tuple[str, str]]]) -> None:
    base, _ = http_server
    c = client(21, "127.0.0.21")
    try:
        out = await c.scrape(base + "/ok/announce", [IH_HTTP])
        none = await c.scrape(base + "/ok/tracker", [IH_HTTP])
    finally:
        await c.aclose()
    assert out.ok and out.response is not None
    counts = out.response.files[IH_HTTP]
    assert (counts.complete, counts.incomplete, counts.downloaded) == (4, 2, 7)
    assert not none.ok and none.error is not None and none.error.startswith("scrape not available")


# --- a tiny real UDP tracker on loopback for TRK-14 / TRK-15 ---


class _UdpTracker(asyncio.DatagramProtocol):
    """Answers BEP 15 connects with ids 1, 2, …; errors the first ``errors`` announces (TRK-14)."""

    def __init__(
        self, errors: int = 0, silent: bool = False, peers: bytes = bytes((127, 0, 0, 9, 26, 225))
    ) -> None:
        self.connects = self.announces = 0
        self.errors, self.silent, self.peers = errors, silent, peers
        self.late_connect: float | None = None  # answer only the first connect, this many seconds late
        self.transport: asyncio.DatagramTransport | None = None
        self.connection_ids_used: list[int] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        assert self.transport is not None
        if self.silent:
            return
        cid, action, tid = struct.unpack_from(">QII", data)
        if action == 0:
            self.connects += 1
            reply = struct.pack(">IIQ", 0, tid, self.connects)
            if self.late_connect is None:
                self.transport.sendto(reply, addr)
            elif self.connects == 1:
                asyncio.get_running_loop().call_later(self.late_connect, self.transport.sendto, reply, addr)
        elif action == 1:
            self.announces += 1
            self.connection_ids_used.append(cid)
            if self.errors:
                self.errors -= 1
                self.transport.sendto(struct.pack(">II", 3, tid) + b"Connection ID missmatch.\0", addr)
            else:
                reply = struct.pack(">IIiii", 1, tid, 1800, 1, 0) + self.peers
                self.transport.sendto(reply, addr)


async def start_udp_tracker(
    proto: _UdpTracker, host: str = "127.0.0.1"
) -> tuple[asyncio.DatagramTransport, str]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: proto, local_addr=(host, 0))
    name = f"[{host}]" if ":" in host else host
    return transport, f"udp://{name}:{transport.get_extra_info('sockname')[1]}/announce"


REQ = AnnounceRequest(infohash=IH_UDP, peer_id=b"-SS0001-000000000031", port=6881, left=0, key=1)


async def test_trk15_connection_id_cached_for_60_s() -> None:
    proto = _UdpTracker()
    transport, url = await start_udp_tracker(proto)
    now = [1000.0]
    udp = UdpTrackerClient(bind_ip="127.0.0.31", base_timeout=2.0, max_tries=3, clock=lambda: now[0])
    try:
        for _ in range(2):
            resp = await udp.announce(url, REQ)
            assert isinstance(resp, AnnounceResponse) and endpoints(resp) == {Endpoint("127.0.0.9", 6881)}
        now[0] += 61.0
        await udp.announce(url, REQ)
    finally:
        transport.close()
    assert (proto.connects, proto.announces, proto.connection_ids_used) == (2, 3, [1, 1, 2])


async def test_trk14_error_reply_resets_connection_id() -> None:
    proto = _UdpTracker()
    transport, url = await start_udp_tracker(proto)
    udp = UdpTrackerClient(bind_ip="127.0.0.32", base_timeout=2.0, max_tries=3)
    try:
        assert isinstance(await udp.announce(url, REQ), AnnounceResponse)
        proto.errors = 1  # the cached id is now refused once: the client reconnects and retries
        retried = await udp.announce(url, REQ)
        assert isinstance(retried, AnnounceResponse) and retried.failure_reason is None
        proto.errors = 2  # error on the fresh id too: the text becomes a failure reason value
        failed = await udp.announce(url, REQ)
    finally:
        transport.close()
    assert isinstance(failed, AnnounceResponse) and failed.failure_reason == "Connection ID missmatch."
    assert proto.connection_ids_used == [1, 1, 2, 2, 3]


async def test_udp_late_reply_to_an_earlier_retransmission_is_accepted() -> None:
    """BEP 15 retransmission: the reply to try 1 arriving during try 2's wait still counts."""
    proto = _UdpTracker()
    proto.late_connect = 0.6  # first wait 0.4 s, second 0.8 s: the reply lands in the second
    transport, url = await start_udp_tracker(proto)
    udp = UdpTrackerClient(bind_ip="127.0.0.35", base_timeout=0.4, max_tries=3)
    try:
        resp = await udp.announce(url, REQ)
    finally:
        transport.close()
    assert isinstance(resp, AnnounceResponse) and endpoints(resp) == {Endpoint("127.0.0.9", 6881)}
    assert proto.connects == 2 and proto.connection_ids_used == [1]


async def test_udp_silent_tracker_times_out_after_bounded_tries() -> None:
    proto = _UdpTracker(silent=True)
    transport, url = await start_udp_tracker(proto)
    c = client(33, "127.0.0.33", udp_base_timeout=0.05, udp_max_tries=3)
    try:
        out = await c.announce(url, c.make_request(IH_UDP, port=1, left=0))
    finally:
        transport.close()
        await c.aclose()
    assert (out.ok, out.error, out.response) == (False, "timeout after 3 tries", None)


async def test_trk17_udp_over_ipv6_uses_18_byte_stride() -> None:
    v6_peer = bytes.fromhex("20010db8000000000000000000000001") + b"\x1a\xe1"
    proto = _UdpTracker(peers=v6_peer)
    try:
        transport, url = await start_udp_tracker(proto, "::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    c = client(34, "::1", udp_base_timeout=2.0, udp_max_tries=3)
    try:
        out = await c.announce(url, c.make_request(IH_UDP, port=1, left=0))
    finally:
        transport.close()
        await c.aclose()
    assert out.ok and endpoints(out.response) == {Endpoint("2001:db8::1", 6881)}
