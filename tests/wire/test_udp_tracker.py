"""UDP tracker codec (BEP 15, BEP 41; interop TRK-13, TRK-14, TRK-17): packets, replies, truncations, fuzz."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire.tracker import LEFT_UNKNOWN, AnnounceRequest, TrackerPeer
from swarmscope.wire.types import Endpoint
from swarmscope.wire.udp_tracker import (
    ConnectResponse,
    ErrorResponse,
    ScrapeResponse,
    UdpAnnounceResponse,
    UdpResponse,
    announce_request,
    connect_request,
    parse_response,
    scrape_request,
)

IH = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")
PID = b"-SS0001-bbbbbbbbbbbb"
V6 = bytes.fromhex("20010db8000000000000000000000001")
H = bytes.fromhex

# Real datagrams from Debian opentracker on 127.0.0.1 (this testbed, 2026-11-29).
OT_CONNECT = H("0000000000000007057d3ddcec8540f6")
OT_ANNOUNCE = H("00000001000000080000078100000000000000027f0000051ae27f0000011ae1")
OT_ANNOUNCE_NOT_LISTED = H("0000000100000008")  # 8 bytes: header only, for a non-whitelisted infohash
OT_SCRAPE = H("0000000200000009000000020000000000000000")
OT_ERROR = H("0000000300000009436f6e6e656374696f6e204944206d6973736d617463682e00")

# (id, datagram, ipv6, expected, shortest valid length, stride of the variable part)
VECTORS: list[tuple[str, bytes, bool, UdpResponse, int, int]] = [
    ("connect", OT_CONNECT, False, ConnectResponse(7, 0x057D3DDCEC8540F6), 16, 0),
    (
        "announce",
        OT_ANNOUNCE,
        False,
        UdpAnnounceResponse(8, 1921, 0, 2, (Endpoint("127.0.0.5", 6882), Endpoint("127.0.0.1", 6881))),
        20,
        6,
    ),
    (
        "announce ipv6",
        H("0000000100000001000007080000000100000000") + V6 + b"\x1a\xe1",
        True,
        UdpAnnounceResponse(1, 1800, 1, 0, (Endpoint("2001:db8::1", 6881),)),
        20,
        18,
    ),
    ("scrape", OT_SCRAPE, False, ScrapeResponse(9, ((2, 0, 0),)), 8, 12),
    ("TRK-14 error", OT_ERROR, False, ErrorResponse(9, "Connection ID missmatch."), 8, 1),
]
IDS = [v[0] for v in VECTORS]


@pytest.mark.parametrize(("name", "data", "ipv6", "expected", "min_len", "stride"), VECTORS, ids=IDS)
def test_whole(name: str, data: bytes, ipv6: bool, expected: UdpResponse, min_len: int, stride: int) -> None:
    assert parse_response(data, ipv6=ipv6) == expected


@pytest.mark.parametrize(("name", "data", "ipv6", "expected", "min_len", "stride"), VECTORS, ids=IDS)
def test_every_truncation(
    name: str, data: bytes, ipv6: bool, expected: UdpResponse, min_len: int, stride: int
) -> None:
    for cut in range(len(data)):
        prefix = data[:cut]
        if cut < min_len or (stride and (cut - min_len) % stride):
            with pytest.raises(DecodeError):
                parse_response(prefix, ipv6=ipv6)
        else:
            assert type(parse_response(prefix, ipv6=ipv6)) is type(expected)


@pytest.mark.parametrize(("name", "data", "ipv6", "expected", "min_len", "stride"), VECTORS, ids=IDS)
def test_trailing_nul_byte(
    name: str, data: bytes, ipv6: bool, expected: UdpResponse, min_len: int, stride: int
) -> None:
    """A stray byte is ignored where the layout allows (connect, error text) and fatal inside a list."""
    if stride in (0, 1):
        assert parse_response(data + b"\x00", ipv6=ipv6) == expected
    else:
        with pytest.raises(DecodeError, match="not a multiple of"):
            parse_response(data + b"\x00", ipv6=ipv6)


def test_opentracker_truncated_announce_reply_names_the_problem() -> None:
    with pytest.raises(DecodeError, match="truncated, 8 bytes, shorter than the 20-byte header"):
        parse_response(OT_ANNOUNCE_NOT_LISTED, ipv6=False)


@pytest.mark.parametrize(
    ("data", "match"),
    [(b"", "shorter than the 8-byte header"), (H("00000009") + b"tidx", "unknown action 9"),
     (H("00000000000000070102"), "connect reply: 10 bytes")],
)  # fmt: skip
def test_rejects(data: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        parse_response(data, ipv6=False)


def test_trk17_stride_from_address_family_not_length() -> None:
    body = H("0000000100000001000007080000000000000000") + V6 + b"\x1a\xe1"
    v4 = parse_response(body, ipv6=False)
    v6 = parse_response(body, ipv6=True)
    assert isinstance(v4, UdpAnnounceResponse) and isinstance(v6, UdpAnnounceResponse)
    assert len(v4.peers) == 3 and v6.peers == (Endpoint("2001:db8::1", 6881),)


def test_trk17_reply_larger_than_576_bytes() -> None:
    peers = b"".join(struct.pack(">4sH", bytes((10, 0, i // 256, i % 256)), 1000 + i) for i in range(200))
    resp = parse_response(H("0000000100000001000007080000000000000000") + peers, ipv6=False)
    assert isinstance(resp, UdpAnnounceResponse) and len(resp.peers) == 200


def test_trk14_error_text_lenient() -> None:
    resp = parse_response(H("0000000300000005") + b"bad \xff\x00\x00", ipv6=False)
    assert resp == ErrorResponse(5, "bad \ufffd")


def test_trk13_scrape_field_order_and_pairing() -> None:
    resp = parse_response(H("00000002000000030000000b000035cc000000130000001500000003000000ce"), ipv6=False)
    assert isinstance(resp, ScrapeResponse)
    counts = resp.counts([IH, b"\xee" * 20])
    assert (counts[IH].complete, counts[IH].downloaded, counts[IH].incomplete) == (11, 13772, 19)
    assert (counts[b"\xee" * 20].complete, counts[b"\xee" * 20].incomplete) == (21, 206)


def test_to_announce_response_clamps_interval() -> None:
    resp = UdpAnnounceResponse(1, 60, 3, 4, (Endpoint("1.2.3.4", 5),)).to_announce_response()
    assert resp.interval == 300 and resp.interval_raw == 60 and resp.min_interval is None
    assert (resp.complete, resp.incomplete, resp.peers) == (4, 3, (TrackerPeer(Endpoint("1.2.3.4", 5)),))


def test_connect_request_bytes() -> None:
    assert connect_request(7) == H("00000417271019800000000000000007")


def test_announce_request_layout() -> None:
    req = AnnounceRequest(infohash=IH, peer_id=PID, port=6882, left=-1, key=5, event="started", numwant=50)
    pkt = announce_request(0x1122334455667788, 8, req)
    expected = (
        H("1122334455667788" "00000001" "00000008") + IH + PID
        + struct.pack(">QQQ", 0, LEFT_UNKNOWN, 0) + H("00000002" "00000000" "00000005" "00000032" "1ae2")
    )  # fmt: skip
    assert pkt == expected and len(pkt) == 98


def test_announce_request_bep41_url_data() -> None:
    req = AnnounceRequest(infohash=IH, peer_id=PID, port=1, left=0, key=0)
    long = b"/announce?passkey=" + b"x" * 300
    tail = announce_request(1, 2, req, url_data=long)[98:]
    assert tail == b"\x02\xff" + long[:255] + bytes((2, len(long) - 255)) + long[255:] + b"\x00"
    assert len(announce_request(1, 2, req, url_data=b"")) == 98


def test_scrape_request() -> None:
    assert scrape_request(1, 2, [IH]) == H("00000000000000010000000200000002") + IH
    with pytest.raises(ValueError):
        scrape_request(1, 2, [])
    with pytest.raises(ValueError):
        scrape_request(1, 2, [IH] * 75)


@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(min_size=20, max_size=20),
    st.integers(0, 65535),
    st.integers(-5, 2**63 - 1),
    st.sampled_from([None, "started", "stopped", "completed"]),
)
def test_announce_request_round_trip(
    cid: int, tid: int, ih: bytes, port: int, left: int, event: str | None
) -> None:
    req = AnnounceRequest(infohash=ih, peer_id=PID, port=port, left=left, key=tid, event=event, numwant=2**40)
    fields = struct.unpack(">QII20s20sQQQIIIiH", announce_request(cid, tid, req))
    codes = {None: 0, "completed": 1, "started": 2, "stopped": 3}
    assert fields == (cid, 1, tid, ih, PID, 0, req.left_on_wire, 0, codes[event], 0, tid, 2**31 - 1, port)
    assert req.left_on_wire == (left if left >= 0 else LEFT_UNKNOWN)


@given(st.binary(max_size=120), st.booleans())
def test_fuzz_decodes_or_raises_decode_error(data: bytes, ipv6: bool) -> None:
    with contextlib.suppress(DecodeError):
        parse_response(data, ipv6=ipv6)


@given(st.integers(0, 3), st.binary(max_size=100), st.booleans())
def test_fuzz_valid_actions(action: int, body: bytes, ipv6: bool) -> None:
    try:
        resp = parse_response(struct.pack(">II", action, 42) + body, ipv6=ipv6)
    except DecodeError:
        return
    assert resp.transaction_id == 42
