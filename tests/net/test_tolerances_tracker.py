"""Tracker rows of docs/tolerances.md: a scripted HTTP tracker on loopback sends what broken real trackers
send, and our tracker client reads it as libtorrent and Transmission do (or as the row says we chose).

Each test names its row id (T-nn). The monitor-side rows (re-announce timing, ``tracker id`` echo, which
listed peers are dialled) are in tests/monitor/test_monitor_tolerances.py.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from typing import cast

import pytest

from swarmscope.net.tracker_client import AnnounceOutcome, TrackerClient
from swarmscope.wire import bencode
from swarmscope.wire.tracker import INTERVAL_DEFAULT
from swarmscope.wire.types import Endpoint
from tests.net.scripted_tracker import Reply, scripted_tracker

IH = bytes.fromhex("00112233445566778899aabbccddeeff00112233")


def v4(ip: str, port: int) -> bytes:
    return socket.inet_aton(ip) + struct.pack(">H", port)


def v6(ip: str, port: int) -> bytes:
    return socket.inet_pton(socket.AF_INET6, ip) + struct.pack(">H", port)


async def announce(*replies: Reply, path: str = "/announce") -> AnnounceOutcome:
    with scripted_tracker({path: list(replies)}) as tracker:
        c = TrackerClient(b"-SS0100-tolerancetst", "127.0.0.1", 10.0, random.Random(1))
        try:
            return await c.announce(tracker.base + "/announce", c.make_request(IH, port=6881, left=-1))
        finally:
            await c.aclose()


def peers_of(out: AnnounceOutcome) -> list[Endpoint]:
    assert out.response is not None, out.error
    return [p.endpoint for p in out.response.peers]


async def test_t01_peers_as_a_list_of_dicts_despite_compact() -> None:
    """T-01: qBittorrent's embedded tracker answers ``compact=1`` with dicts (``id``, mapped IPv6 text)."""
    body = bencode.encode({
        b"interval": 1800,
        b"peers": [
            {b"id": b"-qB4650-abcdefghijkl", b"ip": b"::ffff:127.0.0.7", b"port": 6881},
            {b"peer id": b"-LT2110-abcdefghijkl", b"ip": b"127.0.0.8", b"port": 6882},
            {b"ip": b"tracker.example", b"port": 6883},  # a hostname: dropped, as Transmission does
            b"not a dict",
            {b"ip": b"127.0.0.9", b"port": 70000},
        ],
    })  # fmt: skip
    out = await announce(Reply(body))
    assert out.ok and peers_of(out) == [Endpoint("127.0.0.7", 6881), Endpoint("127.0.0.8", 6882)]
    assert out.response is not None and out.response.peers[1].peer_id == b"-LT2110-abcdefghijkl"


async def test_t02_interval_missing_defaults_to_1800_s() -> None:
    """T-02: libtorrent and Transmission both default a missing ``interval`` to 30 minutes."""
    out = await announce(Reply(b"d5:peers6:" + v4("127.0.0.7", 6881) + b"e"))
    assert out.ok and out.response is not None
    assert (out.response.interval, out.response.interval_raw) == (INTERVAL_DEFAULT, None)
    assert out.response.min_interval is None and "TRK-07 interval missing" in out.response.quirks


async def test_t02_interval_of_the_wrong_type_is_ignored() -> None:
    """T-02: ``interval`` as a string reads as missing (libtorrent ``dict_find_int_value`` default)."""
    out = await announce(Reply(b"d8:interval4:18005:peers0:e"))
    assert out.ok and out.response is not None and out.response.interval == INTERVAL_DEFAULT
    assert "interval is not an integer" in out.response.quirks


async def test_t04_failure_reason_with_200_keeps_its_interval() -> None:
    """T-04: a ``failure reason`` with HTTP 200 is a refusal; its intervals still set the retry."""
    body = (
        b"d14:failure reason12:unregistered8:intervali3600e12:min intervali900e5:peers6:"
        + v4("127.0.0.7", 1)
        + b"e"
    )
    out = await announce(Reply(body))
    assert not out.ok and out.error == "failure reason: unregistered"
    assert out.response is not None and out.response.peers == ()  # a refusal names no peers
    assert (out.response.interval, out.response.min_interval) == (3600, 900)


async def test_t05_warning_message_keeps_the_peers() -> None:
    """T-05: ``warning message`` is not a failure (Transmission issue 8844)."""
    body = b"d8:intervali1800e5:peers6:" + v4("127.0.0.7", 6881) + b"15:warning message9:slow downe"
    out = await announce(Reply(body))
    assert out.ok and peers_of(out) == [Endpoint("127.0.0.7", 6881)]
    assert out.response is not None and out.response.warning_message == "slow down"


@pytest.mark.parametrize(("gzip", "chunked"), [(True, False), (False, True), (True, True)])
async def test_t06_t07_gzip_and_chunked_bodies(gzip: bool, chunked: bool) -> None:
    """T-06/T-07: ``Content-Encoding: gzip`` and ``Transfer-Encoding: chunked`` (both are HTTP/1.1)."""
    body = b"d8:intervali1800e5:peers12:" + v4("127.0.0.7", 6881) + v4("127.0.0.8", 6882) + b"e"
    out = await announce(Reply(body, gzip=gzip, chunked=chunked))
    assert out.ok and peers_of(out) == [Endpoint("127.0.0.7", 6881), Endpoint("127.0.0.8", 6882)]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_t08_redirects_are_followed(status: int) -> None:
    """T-08: any 30x with a ``Location`` (relative here) is followed, at most 5 times."""
    ok = Reply(b"d8:intervali1800e5:peers6:" + v4("127.0.0.7", 6881) + b"e")
    with scripted_tracker({"/announce": [Reply(status=status, location="/moved")], "/moved": [ok]}) as t:
        c = TrackerClient(b"-SS0100-tolerancetst", "127.0.0.1", 10.0, random.Random(1))
        try:
            out = await c.announce(t.base + "/announce?passkey=k", c.make_request(IH, port=6881, left=-1))
        finally:
            await c.aclose()
    assert out.ok and peers_of(out) == [Endpoint("127.0.0.7", 6881)]


async def test_t08_redirect_chain_longer_than_the_limit_is_a_fault() -> None:
    """T-08: six hops exceed our limit of 5 (libtorrent passes 5 for trackers; Transmission: curl, 10)."""
    routes = {f"/r{i}": [Reply(status=302, location=f"/r{i + 1}")] for i in range(7)}
    routes["/announce"] = [Reply(status=302, location="/r0")]
    with scripted_tracker(routes) as t:
        c = TrackerClient(b"-SS0100-tolerancetst", "127.0.0.1", 10.0, random.Random(1))
        try:
            out = await c.announce(t.base + "/announce", c.make_request(IH, port=6881, left=-1))
        finally:
            await c.aclose()
    assert not out.ok and out.error == "more than 5 redirects"
    assert len(t.asked) == 6


async def test_t09_peers6_beside_peers() -> None:
    """T-09: BEP 7 ``peers6`` (18-byte entries) read beside ``peers``."""
    body = b"d8:intervali1800e5:peers6:" + v4("127.0.0.7", 6881) + b"6:peers618:" + v6("::1", 6882) + b"e"
    out = await announce(Reply(body))
    assert out.ok and peers_of(out) == [Endpoint("127.0.0.7", 6881), Endpoint("::1", 6882)]


async def test_t10_trailing_garbage_after_the_dict() -> None:
    """T-10: bytes after the closing ``e`` (a newline, an extra ``peers6``) are ignored and named."""
    tail = b"6:peers618:" + v6("::1", 1)
    out = await announce(Reply(b"d8:intervali1800e5:peers6:" + v4("127.0.0.7", 6881) + b"e" + tail))
    assert out.ok and peers_of(out) == [Endpoint("127.0.0.7", 6881)]
    assert out.response is not None and f"TRK-03 trailing bytes ({len(tail)})" in out.response.quirks


async def test_t12_duplicate_peers_are_listed_once() -> None:
    """T-12: one address listed twice (compact, dict and ``peers6`` mapped form) is one listed peer."""
    body = bencode.encode({
        b"interval": 1800,
        b"peers": [
            {b"ip": b"127.0.0.7", b"port": 6881, b"peer id": b"-LT2110-abcdefghijkl"},
            {b"ip": b"::ffff:127.0.0.7", b"port": 6881},
            {b"ip": b"127.0.0.8", b"port": 6881},
            {b"ip": b"127.0.0.7", b"port": 6882},
        ],
    })  # fmt: skip
    out = await announce(Reply(body))
    expected = [Endpoint("127.0.0.7", 6881), Endpoint("127.0.0.8", 6881), Endpoint("127.0.0.7", 6882)]
    assert out.ok and peers_of(out) == expected
    assert out.response is not None and out.response.peers[0].peer_id == b"-LT2110-abcdefghijkl"
    assert "duplicate peers (1)" in out.response.quirks
    compact = b"d8:intervali1800e5:peers18:" + v4("127.0.0.7", 1) * 2 + v4("127.0.0.8", 1) + b"e"
    out = await announce(Reply(compact))
    assert out.ok and peers_of(out) == [Endpoint("127.0.0.7", 1), Endpoint("127.0.0.8", 1)]


async def test_t13_tracker_id_is_read() -> None:
    """T-13: ``tracker id`` is kept, raw bytes (the echo is tested in tests/monitor)."""
    out = await announce(Reply(b"d8:intervali1800e5:peers0:10:tracker id4:\x00ab\xffe"))
    assert out.ok and out.response is not None and out.response.tracker_id == b"\x00ab\xff"


async def test_t15_swarm_counters_missing_or_of_the_wrong_type() -> None:
    """T-15: ``complete``/``incomplete`` absent → unknown (libtorrent -1, Transmission unset), not 0."""
    out = await announce(Reply(b"d8:intervali1800e5:peers0:10:incomplete3:lote"))
    assert out.ok and out.response is not None
    assert (out.response.complete, out.response.incomplete, out.response.downloaded) == (None, None, None)


async def test_t16_html_with_200_is_a_fault_naming_the_first_bytes() -> None:
    """T-16: a Cloudflare page with 200 is a tracker error, never "0 peers" (both clients: bdecode error)."""
    out = await announce(Reply(b"<!DOCTYPE html><title>Just a moment...</title>"))
    assert not out.ok and out.response is None
    assert out.error is not None and out.error.startswith("not bencoded: b'<!DOCTYPE html>")


async def test_t17_http_error_status_with_a_bencoded_failure_reason() -> None:
    """T-17: 4xx/5xx is a fault; a ``failure reason`` in that body is shown (libtorrent does the same)."""
    out = await announce(Reply(b"d14:failure reason12:invalid porte", status=400))
    assert not out.ok and out.error == "HTTP 400: failure reason: invalid port"


async def test_t19_compact_peers_not_a_multiple_of_6() -> None:
    """T-19: Transmission keeps the whole entries; libtorrent refuses the reply. We keep them (named)."""
    out = await announce(Reply(b"d8:intervali1800e5:peers8:" + v4("127.0.0.7", 6881) + b"\x01\x02e"))
    assert out.ok and peers_of(out) == [Endpoint("127.0.0.7", 6881)]
    assert out.response is not None and "peers length 8 not a multiple of 6" in out.response.quirks


async def test_t20_peers_missing_altogether_is_zero_peers() -> None:
    """T-20: a reply without ``peers`` (libtorrent commented its refusal out) is a success with none."""
    out = await announce(Reply(b"d8:intervali900ee"))
    assert out.ok and peers_of(out) == [] and out.response is not None and out.response.interval == 900


async def test_t26_peers_of_a_wrong_type_does_not_lose_peers6() -> None:
    """T-26: ``peers`` as an integer is read as absent (libtorrent clears it, Transmission has no handler
    for it); ``peers6`` and ``interval`` of the same reply still count."""
    out = await announce(Reply(b"d8:intervali900e5:peersi0e6:peers618:" + v6("::1", 6882) + b"e"))
    assert out.ok and peers_of(out) == [Endpoint("::1", 6882)]
    assert out.response is not None and out.response.interval == 900
    assert "peers is a int, not a string or list: ignored" in out.response.quirks


# --- UDP (BEP 15) -----------------------------------------------------------------------------------------


class _UdpScript(asyncio.DatagramProtocol):
    """Answers connect and announce; ``before`` datagrams are sent ahead of each real reply."""

    def __init__(self, before: list[bytes], peers: bytes) -> None:
        self.before, self.peers = before, peers
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        assert self.transport is not None
        _, action, tid = struct.unpack_from(">QII", data)
        for junk in self.before:
            self.transport.sendto(junk, addr)
        if action == 0:
            self.transport.sendto(struct.pack(">IIQ", 0, tid, 0x1234), addr)
        else:
            self.transport.sendto(struct.pack(">IIiii", 1, tid, 0, 3, 1) + self.peers, addr)


async def udp_announce(before: list[bytes], peers: bytes) -> AnnounceOutcome:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _UdpScript(before, peers), local_addr=("127.0.0.1", 0)
    )
    url = f"udp://127.0.0.1:{transport.get_extra_info('sockname')[1]}/announce"
    c = TrackerClient(b"-SS0100-tolerancetst", "127.0.0.1", 10.0, random.Random(1), udp_base_timeout=2.0)
    try:
        return await c.announce(url, c.make_request(IH, port=6881, left=-1))
    finally:
        transport.close()
        await c.aclose()


async def test_t21_udp_datagrams_too_short_or_for_another_transaction_are_skipped() -> None:
    """T-21: a datagram under 8 bytes (no action + transaction id) or naming another transaction answers
    nothing: libtorrent (``on_receive``) and Transmission (``handle_message``) drop it and keep waiting."""
    junk = [b"\x00", b"\x00\x00\x00\x01\x00\x00", struct.pack(">II", 1, 0xDEADBEEF) + b"\x00" * 12]
    out = await udp_announce(junk, v4("127.0.0.7", 6881) + v4("127.0.0.7", 6881))
    assert out.ok and peers_of(out) == [Endpoint("127.0.0.7", 6881)]


async def test_t22_udp_interval_0_and_duplicates() -> None:
    """T-22: UDP ``interval`` 0 is clamped to the 300 s floor (libtorrent ``min_announce_interval``); a
    repeated peer is listed once (T-12)."""
    out = await udp_announce([], v4("127.0.0.7", 6881) * 3 + v4("127.0.0.8", 6881))
    assert out.ok and out.response is not None and out.response.interval == 300
    assert peers_of(out) == [Endpoint("127.0.0.7", 6881), Endpoint("127.0.0.8", 6881)]
    assert "duplicate peers (2)" in out.response.quirks
