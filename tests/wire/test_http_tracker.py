"""HTTP tracker codec: URL building (TRK-09/11/13) and reply parsing (BEP 3/7/23/24/48, TRK-01..07, 13)."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire.bencode import encode
from swarmscope.wire.http_tracker import (
    build_announce_url,
    build_scrape_url,
    parse_announce_response,
    parse_scrape_response,
    scrape_url,
)
from swarmscope.wire.tracker import LEFT_UNKNOWN, AnnounceRequest, AnnounceResponse, TrackerPeer
from swarmscope.wire.types import Endpoint

IH = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")
PID = b"-SS0001-abcdefghijkl"
QB_ID = b"-qB3360-ABCDEFGHIJKL"
V6 = bytes.fromhex("20010db8000000000000000000000001")


def peer(host: str, port: int, peer_id: bytes | None = None) -> TrackerPeer:
    return TrackerPeer(Endpoint(host, port), peer_id)


# Real bytes from Debian opentracker on 127.0.0.1 (this testbed, 2026-11-29).
OPENTRACKER_OK = (
    b"d8:completei1e10:downloadedi0e10:incompletei0e8:intervali1819e12:min intervali909e"
    b"5:peers6:\x7f\x00\x00\x01\x1a\xe1e"
)
OPENTRACKER_NOT_LISTED = (
    b"d14:failure reason63:Requested download is not authorized for use with this tracker.e"
)

# (id, body, expected fields as a dict of AnnounceResponse attributes)
ANNOUNCE_VECTORS: list[tuple[str, bytes, dict[str, Any]]] = [
    (
        "opentracker",
        OPENTRACKER_OK,
        {"peers": (peer("127.0.0.1", 6881),), "interval": 1819, "interval_raw": 1819, "min_interval": 909,
         "complete": 1, "incomplete": 0, "downloaded": 0, "quirks": ()},
    ),
    (
        "opentracker not whitelisted",
        OPENTRACKER_NOT_LISTED,
        {"failure_reason": "Requested download is not authorized for use with this tracker.", "peers": (),
         "interval": 1800, "interval_raw": None},
    ),
    (
        "BEP 7 peers and peers6",
        b"d8:intervali1800e5:peers6:\x0a\x00\x00\x01\x00\x506:peers618:" + V6 + b"\x1a\xe1e",
        {"peers": (peer("10.0.0.1", 80), peer("2001:db8::1", 6881)), "quirks": ()},
    ),
    (
        "TRK-01 qBittorrent dict model",
        b"d8:intervali1800e5:peersld2:id20:" + QB_ID + b"2:ip15:::ffff:10.0.0.54:porti6881eeee",
        {"peers": (peer("10.0.0.5", 6881),), "quirks": ("TRK-01 dict-model peers",)},
    ),
    (
        "TRK-01 dict model with peer id, hostname, non-dict, bad port",
        b"d8:intervali1800e5:peersld2:ip8:10.0.0.77:peer id20:" + QB_ID + b"4:porti1ee"
        b"d2:ip11:example.org4:porti2ee" b"i5e" b"d2:ip8:10.0.0.84:porti70000eeee",
        {"peers": (peer("10.0.0.7", 1, QB_ID),),
         "quirks": ("TRK-01 dict-model peers", "TRK-01 3 bad peer entries skipped")},
    ),
    (
        "TRK-06 failure with interval, min interval and peers",
        b"d14:failure reason4:nope8:intervali3600e12:min intervali600e5:peers6:\x01\x02\x03\x04\x00\x01e",
        {"failure_reason": "nope", "peers": (), "interval": 3600, "min_interval": 600},
    ),
    (
        "TRK-06 warning message keeps peers",
        b"d8:completei0e8:intervali900e5:peers6:\x01\x02\x03\x04\x00\x0115:warning message5:hello"
        b"e",
        {"warning_message": "hello", "peers": (peer("1.2.3.4", 1),), "failure_reason": None},
    ),
    ("TRK-07 interval missing", b"d5:peers0:e", {"interval": 1800, "interval_raw": None,
                                                "quirks": ("TRK-07 interval missing",)}),
    ("TRK-07 interval 60", b"d8:intervali60e5:peers0:e", {"interval": 300, "interval_raw": 60,
                                                          "quirks": ("TRK-07 interval 60 clamped to 300",)}),
    ("TRK-07 interval 0", b"d8:intervali0ee", {"interval": 300, "interval_raw": 0}),
    ("TRK-07 interval huge", b"d8:intervali99999999ee", {"interval": 10800, "interval_raw": 99999999}),
    (
        "BEP 3 tracker id, BEP 24 external ip",
        b"d11:external ip4:\x7f\x00\x00\x098:intervali1800e5:peers0:10:tracker id3:abce",
        {"tracker_id": b"abc", "external_ip": "127.0.0.9"},
    ),
    (
        "peers length not a multiple of 6",
        b"d8:intervali1800e5:peers8:\x01\x02\x03\x04\x00\x01\xff\xffe",
        {"peers": (peer("1.2.3.4", 1),),
         "quirks": ("peers length 8 not a multiple of 6", "TRK-01 1 bad peer entries skipped")},
    ),
    ("interval wrong type", b"d8:interval2:xx5:peers0:e", {"interval": 1800, "interval_raw": None}),
]  # fmt: skip

IDS = [v[0] for v in ANNOUNCE_VECTORS]


def check(resp: AnnounceResponse, expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        assert getattr(resp, name) == value, name


@pytest.mark.parametrize(("name", "body", "expected"), ANNOUNCE_VECTORS, ids=IDS)
def test_announce_whole(name: str, body: bytes, expected: dict[str, Any]) -> None:
    check(parse_announce_response(body), expected)


@pytest.mark.parametrize(("name", "body", "expected"), ANNOUNCE_VECTORS, ids=IDS)
def test_announce_every_truncation_is_decode_error(name: str, body: bytes, expected: dict[str, Any]) -> None:
    for cut in range(len(body)):
        with pytest.raises(DecodeError, match="not bencoded"):
            parse_announce_response(body[:cut])


@pytest.mark.parametrize(("name", "body", "expected"), ANNOUNCE_VECTORS, ids=IDS)
@pytest.mark.parametrize("tail", [b"\n", b"6:peers618:" + bytes(18)])  # TRK-03: newline, sukebei's peers6
def test_announce_trailing_bytes(name: str, body: bytes, expected: dict[str, Any], tail: bytes) -> None:
    resp = parse_announce_response(body + tail)
    plain = parse_announce_response(body)
    assert resp.peers == plain.peers and resp.interval == plain.interval
    assert resp.quirks == (f"TRK-03 trailing bytes ({len(tail)})", *plain.quirks)


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>",
        b"<html><body>Attention Required! | Cloudflare</body></html>",
        b"",
        b"Tracker is down\n",
    ],
)
def test_trk05_html_body_is_decode_error_with_first_bytes(body: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        parse_announce_response(body)
    assert "not bencoded: " + repr(body[:64]) in str(info.value)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"li1ee", "not a dictionary"),
        (b"d5:peers3:abce", "all 1 peer entries are invalid"),
        (b"d5:peersld2:ip7:foo.bar4:porti1eeee", "all 1 peer entries are invalid"),
        (b"d5:peersli1ei2eee", "all 2 peer entries are invalid"),
    ],
)
def test_announce_rejects(body: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        parse_announce_response(body)


def test_peers_of_a_wrong_type_is_read_as_absent() -> None:
    """``peers`` as an int or a dict: libtorrent and Transmission ignore it (docs/tolerances.md T-26).

    This row was a rejection before ("peers is a int"); it moved here when the tolerance was matched."""
    for body in (b"d5:peersi5ee", b"d5:peersd1:ai1eee"):
        resp = parse_announce_response(body)
        assert resp.peers == () and resp.failure_reason is None
        assert any(q.startswith("peers is a ") and q.endswith("ignored") for q in resp.quirks)


def test_empty_dict_model_list_is_zero_peers_not_error() -> None:
    assert parse_announce_response(b"d8:intervali1800e5:peerslee").peers == ()


REQ = AnnounceRequest(infohash=IH, peer_id=PID, port=6881, left=0, key=0xDEADBEEF, event="started")


def query(url: str) -> list[tuple[str, bytes]]:
    raw = urlsplit(url).query
    return [(k, unquote_to_bytes(v)) for k, v in (p.split("=", 1) for p in raw.split("&"))]


def test_trk11_every_field_sent() -> None:
    url = build_announce_url("http://127.0.0.1:6969/announce", REQ)
    assert url.startswith("http://127.0.0.1:6969/announce?info_hash=%01%23Eg%89%AB%CD%EF")
    assert query(url) == [
        ("info_hash", IH), ("peer_id", PID), ("port", b"6881"), ("uploaded", b"0"), ("downloaded", b"0"),
        ("left", b"0"), ("event", b"started"), ("key", b"DEADBEEF"), ("numwant", b"200"), ("compact", b"1"),
        ("no_peer_id", b"1"),
    ]  # fmt: skip


def test_trk11_unknown_left_is_large_non_negative() -> None:
    req = AnnounceRequest(infohash=IH, peer_id=PID, port=1, left=-1, key=1, tracker_id=b"t 1")
    q = dict(query(build_announce_url("http://t/announce", req)))
    assert q["left"] == str(LEFT_UNKNOWN).encode() and q["trackerid"] == b"t 1" and "event" not in q
    assert q["key"] == b"00000001"


@pytest.mark.parametrize(
    ("announce", "prefix"),
    [
        ("http://t.example/announce.php?passkey=abc", "http://t.example/announce.php?passkey=abc&info_hash="),
        ("http://t.example:2710?passkey=abc", "http://t.example:2710?passkey=abc&info_hash="),
        ("http://t.example/a?", "http://t.example/a?info_hash="),
        ("http://t.example/a?x=1&", "http://t.example/a?x=1&info_hash="),
        ("http://t.example/announce#frag", "http://t.example/announce?info_hash="),
    ],
)
def test_trk09_existing_query_kept_first(announce: str, prefix: str) -> None:
    assert build_announce_url(announce, REQ).startswith(prefix)


def test_request_validation() -> None:
    with pytest.raises(ValueError):
        AnnounceRequest(infohash=b"x", peer_id=PID, port=1, left=0, key=0)
    with pytest.raises(ValueError):
        AnnounceRequest(infohash=IH, peer_id=PID, port=1, left=0, key=0, event="paused")
    with pytest.raises(ValueError):
        AnnounceRequest(infohash=IH, peer_id=PID, port=70000, left=0, key=0)


@given(st.binary(min_size=20, max_size=20), st.binary(min_size=20, max_size=20), st.integers(0, 2**32 - 1))
def test_announce_url_round_trip(infohash: bytes, peer_id: bytes, key: int) -> None:
    req = AnnounceRequest(infohash=infohash, peer_id=peer_id, port=1, left=5, key=key)
    q = dict(query(build_announce_url("https://t/announce?p=1", req)))
    assert (q["info_hash"], q["peer_id"], int(q["key"], 16), q["p"]) == (infohash, peer_id, key, b"1")


@pytest.mark.parametrize(
    ("announce", "expected"),
    [
        ("http://example.com/announce", "http://example.com/scrape"),
        ("http://example.com/x/announce", "http://example.com/x/scrape"),
        ("http://example.com/announce.php", "http://example.com/scrape.php"),
        ("http://example.com/announce?passkey=a", "http://example.com/scrape?passkey=a"),
        ("https://example.com:8443/p/announce", "https://example.com:8443/p/scrape"),
        ("http://example.com/a", None),
        ("http://example.com/announce/x", None),
        ("http://example.com/x%064announce", None),
        ("http://example.com/", None),
        ("udp://tracker.example:1337/announce", "udp://tracker.example:1337/announce"),
        ("ws://example.com/announce", None),
        ("http://[bad/announce", None),
    ],
)
def test_trk13_scrape_url(announce: str, expected: str | None) -> None:
    assert scrape_url(announce) == expected


def test_build_scrape_url_repeats_info_hash() -> None:
    url = build_scrape_url("http://t/scrape?k=1", [IH, b"\xff" * 20])
    assert parse_qsl(urlsplit(url).query)[0] == ("k", "1")
    assert query(url)[1:] == [("info_hash", IH), ("info_hash", b"\xff" * 20)]


OT_SCRAPE = (
    b"d5:filesd20:" + IH + b"d8:completei1e10:downloadedi0e10:incompletei0eeee"
)  # real opentracker bytes
SCRAPE_VECTORS: list[tuple[str, bytes, dict[bytes, tuple[Any, ...]], dict[str, Any]]] = [
    ("opentracker", OT_SCRAPE, {IH: (1, 0, 0)}, {}),
    ("opentracker unknown hash", b"d5:filesdee", {}, {}),
    (
        "TRK-13 flags, missing counters, hex key ignored",
        b"d5:filesd40:" + IH.hex().encode() + b"d8:completei9ee20:" + IH + b"d10:incompletei4eee"
        b"5:flagsd20:min_request_intervali900eee",
        {IH: (None, 4, None)},
        {"min_request_interval": 900, "quirks": ("TRK-13 1 scrape entries skipped",)},
    ),
    ("failure", b"d14:failure reason6:no waye", {}, {"failure_reason": "no way"}),
]


@pytest.mark.parametrize(
    ("name", "body", "files", "extra"), SCRAPE_VECTORS, ids=[v[0] for v in SCRAPE_VECTORS]
)
def test_scrape_three_ways(
    name: str, body: bytes, files: dict[bytes, tuple[Any, ...]], extra: dict[str, Any]
) -> None:
    result = parse_scrape_response(body, [IH])
    got = {h: (c.complete, c.incomplete, c.downloaded) for h, c in result.files.items()}
    assert got == files
    for attr, value in extra.items():
        assert getattr(result, attr) == value
    for cut in range(len(body)):
        with pytest.raises(DecodeError):
            parse_scrape_response(body[:cut], [IH])
    trailing = parse_scrape_response(body + b"\r\n", [IH])
    assert trailing.files == result.files and trailing.quirks[0] == "TRK-03 trailing bytes (2)"


def test_scrape_unrequested_hash_dropped_and_bad_files() -> None:
    other = b"\xee" * 20
    assert parse_scrape_response(OT_SCRAPE, [other]).files == {}
    assert set(parse_scrape_response(OT_SCRAPE, []).files) == {IH}
    with pytest.raises(DecodeError, match="files is a"):
        parse_scrape_response(b"d5:filesi1ee", [IH])


@given(st.binary(max_size=300))
def test_fuzz_bytes_decode_or_decode_error(body: bytes) -> None:
    for parse in (parse_announce_response, lambda b: parse_scrape_response(b, [IH])):
        with contextlib.suppress(DecodeError):
            parse(body)


bencode_values = st.recursive(
    st.integers(-(2**40), 2**40) | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=12), inner, max_size=5),
    max_leaves=20,
)
keys = st.sampled_from(
    [b"peers", b"peers6", b"interval", b"min interval", b"failure reason", b"warning message", b"files",
     b"complete", b"external ip", b"tracker id", b"flags", b"ip", b"port", b"peer id", IH]
)  # fmt: skip
tracker_like = st.dictionaries(keys, bencode_values | st.dictionaries(keys, bencode_values), max_size=8)


@given(tracker_like)
def test_fuzz_structured_decode_or_decode_error(value: dict[bytes, Any]) -> None:
    body = encode(value)
    for parse in (parse_announce_response, lambda b: parse_scrape_response(b, [IH])):
        with contextlib.suppress(DecodeError):
            parse(body)
