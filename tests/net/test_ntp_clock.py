"""SNTP sampling: server parsing, reply judgement from crafted packets (table, truncations, arbitrary bytes),
and a hostile responder on loopback (kiss-o'-death, stray datagrams, silence). Real chronyd tests are in
test_ntp_real.py."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.errors import InputError
from swarmscope.net.clock import Clock
from swarmscope.net.ntp_clock import (
    NTP_PORT,
    ClockWatch,
    _from_ntp,
    _to_ntp,
    parse_server,
    reply_sample,
    sample,
)

T1 = 1_795_000_000_123_456  # 2026-11-18, UTC microseconds


def ntp_ts(us: int) -> bytes:
    seconds, fraction = _to_ntp(us)
    return struct.pack("!II", seconds, fraction)


def reply(
    *,
    t2_us: int,
    t3_us: int,
    origin: bytes = b"\0" * 8,
    leap: int = 0,
    mode: int = 4,
    stratum: int = 2,
    ref_id: bytes = b"GPS\0",
) -> bytes:
    head = struct.pack("!BBbb", leap << 6 | 4 << 3 | mode, stratum, 6, -20) + b"\0" * 8 + ref_id
    return head + ntp_ts(t2_us - 1000) + origin + ntp_ts(t2_us) + ntp_ts(t3_us)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", NTP_PORT)),
        ("127.0.0.1:12345", ("127.0.0.1", 12345)),
        ("ntp.example:1", ("ntp.example", 1)),
        ("::1", ("::1", NTP_PORT)),
        ("[::1]", ("::1", NTP_PORT)),
        ("[::1]:4123", ("::1", 4123)),
        (" 127.0.0.2:65535 ", ("127.0.0.2", 65535)),
    ],
)
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize(
    "text", ["", ":123", "[::1", "host:0", "host:65536", "host:x", "[::1]x", "[]:1", "h:-1"]
)
def test_parse_server_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_server(text)


@pytest.mark.parametrize(
    "us", [0, 1, 999_999, T1, 2_085_978_496_000_000, 2_085_978_495_999_999, 4_000_000_000_000_000]
)
def test_ntp_timestamp_round_trip_across_the_2036_era(us: int) -> None:
    seconds, fraction = _to_ntp(us)
    assert 0 <= seconds < 2**32 and 0 <= fraction < 2**32
    assert _from_ntp(seconds, fraction, near_us=us + 3_600_000_000) == us


GOOD = reply(t2_us=T1 + 400 + 250_000, t3_us=T1 + 400 + 250_000 + 200)


@pytest.mark.parametrize(
    ("name", "packet", "fields"),
    [
        ("usable", GOOD, {"offset_us": 250_000, "delay_us": 800, "stratum": 2, "leap": 0, "error": None}),
        (
            "behind",
            reply(t2_us=T1 + 500 - 70_000, t3_us=T1 + 500 - 70_000),
            {"offset_us": -70_000, "delay_us": 1000, "error": None},
        ),
        ("extension fields ignored", GOOD + b"\xff" * 20, {"offset_us": 250_000}),
        (
            "kiss-o'-death",
            reply(t2_us=T1, t3_us=T1, stratum=0, ref_id=b"RATE"),
            {"error": "kiss-o'-death RATE", "offset_us": None, "stratum": 0},
        ),
        (
            "unsynchronised (chrony)",
            reply(t2_us=T1, t3_us=T1, stratum=0, leap=3, ref_id=b"\0" * 4),
            {"error": "server unsynchronised (leap 3, stratum 0)", "leap": 3},
        ),
        (
            "leap 3 at stratum 2",
            reply(t2_us=T1, t3_us=T1, leap=3),
            {"error": "server unsynchronised (leap 3, stratum 2)"},
        ),
        (
            "stratum 16",
            reply(t2_us=T1, t3_us=T1, stratum=16),
            {"error": "server unsynchronised (leap 0, stratum 16)"},
        ),
        (
            "client mode",
            reply(t2_us=T1, t3_us=T1, mode=3),
            {"error": "malformed reply: mode 3, expected 4 (server)"},
        ),
        ("zero transmit", GOOD[:40] + b"\0" * 8, {"error": "malformed reply: transmit timestamp is zero"}),
        ("short", GOOD[:47], {"error": "malformed reply: 47 bytes, need 48", "stratum": None}),
    ],
)
def test_reply_sample(name: str, packet: bytes, fields: dict[str, object]) -> None:
    got = reply_sample("s:1", packet, t1_us=T1, elapsed_us=1000)
    assert got.server == "s:1" and got.measured_at_us == T1 + 1000
    for key, value in fields.items():
        assert getattr(got, key) == value, key


def test_every_truncation_is_an_error_sample() -> None:
    for size in range(48):
        got = reply_sample("s", GOOD[:size], t1_us=T1, elapsed_us=10)
        assert got.error == f"malformed reply: {size} bytes, need 48" and got.offset_us is None


@given(st.binary(max_size=120), st.integers(0, 2**62), st.integers(0, 10**9))
def test_any_bytes_give_a_sample_never_an_exception(data: bytes, t1: int, elapsed: int) -> None:
    got = reply_sample("s", data, t1_us=t1, elapsed_us=elapsed)
    assert (got.error is None) == (got.offset_us is not None) == (got.delay_us is not None)


# -- a hostile NTP responder on loopback ----------------------------------------------------------

Script = Callable[[bytes], list[bytes]]


class Responder(asyncio.DatagramProtocol):
    """Answers each request with whatever ``script(request)`` returns (crafted packets)."""

    def __init__(self, script: Script) -> None:
        self.script, self.requests = script, 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.requests += 1
        for datagram in self.script(data):
            self.transport.sendto(datagram, addr)


async def serve(script: Script, host: str = "127.0.0.1") -> tuple[asyncio.DatagramTransport, Responder, str]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: Responder(script), local_addr=(host, 0))
    port = transport.get_extra_info("sockname")[1]
    return transport, proto, f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def echo(request: bytes, *, skew_us: int, **kw: int | bytes) -> bytes:
    now = Clock().now_us() + skew_us
    return reply(t2_us=now, t3_us=now + 10, origin=request[40:48], **kw)  # type: ignore[arg-type]


async def test_reply_echoing_our_request_is_measured() -> None:
    transport, proto, server = await serve(lambda r: [echo(r, skew_us=300_000)])
    try:
        got = await sample(server, clock=Clock(), timeout=5)
    finally:
        transport.close()
    assert got.error is None and got.stratum == 2 and proto.requests == 1
    assert got.offset_us is not None and abs(got.offset_us - 300_000) < 50_000
    assert got.delay_us is not None and got.delay_us >= -20


async def test_stray_datagrams_are_skipped() -> None:
    stale = reply(t2_us=T1, t3_us=T1, origin=b"\1" * 8)  # answers some other request
    transport, _, server = await serve(lambda r: [stale, stale, echo(r, skew_us=-90_000)])
    try:
        got = await sample(server, clock=Clock(), timeout=5)
    finally:
        transport.close()
    assert got.error is None and got.offset_us is not None and abs(got.offset_us + 90_000) < 50_000


async def test_short_datagram_from_the_server_is_malformed() -> None:
    transport, _, server = await serve(lambda r: [b"junk", echo(r, skew_us=0)])
    try:
        got = await sample(server, clock=Clock(), timeout=5)
    finally:
        transport.close()
    assert got.error == "malformed reply: 4 bytes, need 48"  # too short to match our request: judged


async def test_wrong_origin_only_times_out() -> None:
    transport, _, server = await serve(lambda r: [reply(t2_us=T1, t3_us=T1, origin=b"\1" * 8)])
    try:
        got = await sample(server, clock=Clock(), timeout=0.5)
    finally:
        transport.close()
    assert got.error == "timeout: no reply within 0.5 s" and got.offset_us is None


async def test_kiss_of_death_over_ipv6() -> None:
    transport, _, server = await serve(lambda r: [echo(r, skew_us=0, stratum=0, ref_id=b"DENY")], "::1")
    try:
        got = await sample(server, clock=Clock(), timeout=5)
    finally:
        transport.close()
    assert got.server == server and got.error == "kiss-o'-death DENY" and got.offset_us is None


async def test_silent_server_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        server = f"127.0.0.1:{silent.getsockname()[1]}"
        before = Clock().now_us()
        got = await sample(server, clock=Clock(), timeout=0.3)
    assert got.error == "timeout: no reply within 0.3 s"
    assert got.measured_at_us >= before + 250_000


async def test_bad_server_text_is_an_error_sample() -> None:
    got = await sample("[::1", clock=Clock(), timeout=1)
    assert got.error is not None and got.error.startswith("bad server:")


def test_clock_watch_rejects_bad_configuration() -> None:
    for servers, interval in (([], 64.0), (["h:0"], 64.0), (["127.0.0.1"], 0.0)):
        with pytest.raises(InputError):
            ClockWatch(servers, clock=Clock(), interval=interval)
