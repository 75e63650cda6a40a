"""Peer-wire framing and message codec (BEP 3, BEP 6, BEP 10): vectors whole, byte by byte, with trailing
bytes; round trips; hypothesis "decodes or raises DecodeError"."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire import peer as pw

IH = bytes(range(20))
PID = b"-LT2110-abcdefghijkl"

# (name, framed bytes, decoded message) — bytes written out by hand from the BEP 3 / BEP 6 layouts.
VECTORS: list[tuple[str, bytes, pw.Message]] = [
    ("keep-alive", b"\x00\x00\x00\x00", pw.KeepAlive()),
    ("choke", b"\x00\x00\x00\x01\x00", pw.Simple(pw.CHOKE)),
    ("unchoke", b"\x00\x00\x00\x01\x01", pw.Simple(pw.UNCHOKE)),
    ("interested", b"\x00\x00\x00\x01\x02", pw.Simple(pw.INTERESTED)),
    ("not interested", b"\x00\x00\x00\x01\x03", pw.Simple(pw.NOT_INTERESTED)),
    ("have 7", b"\x00\x00\x00\x05\x04\x00\x00\x00\x07", pw.Have(pw.HAVE, 7)),
    ("bitfield", b"\x00\x00\x00\x03\x05\xff\x80", pw.Bitfield(b"\xff\x80")),
    (
        "request",
        b"\x00\x00\x00\x0d\x06\x00\x00\x00\x01\x00\x00\x40\x00\x00\x00\x40\x00",
        pw.BlockRef(pw.REQUEST, 1, 16384, 16384),
    ),
    ("piece", b"\x00\x00\x00\x0c\x07\x00\x00\x00\x02\x00\x00\x00\x00abc", pw.Piece(2, 0, b"abc")),
    ("cancel", b"\x00\x00\x00\x0d\x08" + bytes(12), pw.BlockRef(pw.CANCEL, 0, 0, 0)),
    ("port", b"\x00\x00\x00\x03\x09\x1a\xe1", pw.Port(6881)),
    ("suggest", b"\x00\x00\x00\x05\x0d\x00\x00\x00\x03", pw.Have(pw.SUGGEST, 3)),
    ("have all", b"\x00\x00\x00\x01\x0e", pw.Simple(pw.HAVE_ALL)),
    ("have none", b"\x00\x00\x00\x01\x0f", pw.Simple(pw.HAVE_NONE)),
    (
        "reject",
        b"\x00\x00\x00\x0d\x10" + b"\x00\x00\x00\x01" + bytes(4) + b"\x00\x00\x40\x00",
        pw.BlockRef(pw.REJECT, 1, 0, 16384),
    ),
    ("allowed fast", b"\x00\x00\x00\x05\x11\x00\x00\x00\x09", pw.Have(pw.ALLOWED_FAST, 9)),
    ("extended hs", b"\x00\x00\x00\x04\x14\x00de", pw.Extended(0, b"de")),
    ("unknown id", b"\x00\x00\x00\x02\x63\x01", pw.Unknown(0x63, b"\x01")),
]


@pytest.mark.parametrize(("name", "framed", "message"), VECTORS, ids=[v[0] for v in VECTORS])
def test_vector_whole(name: str, framed: bytes, message: pw.Message) -> None:
    framer = pw.MessageFramer()
    bodies = framer.feed(framed)
    assert len(bodies) == 1
    assert pw.decode_message(bodies[0]) == message
    assert pw.encode_message(message) == framed
    assert framer.buffered == 0


@pytest.mark.parametrize(("name", "framed", "message"), VECTORS, ids=[v[0] for v in VECTORS])
def test_vector_byte_by_byte(name: str, framed: bytes, message: pw.Message) -> None:
    framer = pw.MessageFramer()
    got: list[bytes] = []
    for i in range(len(framed)):
        got += framer.feed(framed[i : i + 1])
        if i < len(framed) - 1:
            assert got == [], f"message emitted after only {i + 1} of {len(framed)} bytes"
    assert [pw.decode_message(b) for b in got] == [message]


@pytest.mark.parametrize(("name", "framed", "message"), VECTORS, ids=[v[0] for v in VECTORS])
def test_vector_with_trailing_bytes(name: str, framed: bytes, message: pw.Message) -> None:
    framer = pw.MessageFramer()
    bodies = framer.feed(framed + b"\x00\x00\x00\x05\x04\x00")  # the start of a `have`
    assert [pw.decode_message(b) for b in bodies] == [message]
    assert framer.buffered == 6
    assert [pw.decode_message(b) for b in framer.feed(b"\x00\x00\x01")] == [pw.Have(pw.HAVE, 1)]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"\x00\x00", "choke: expected no payload"),
        (b"\x04\x00\x00\x00", "have: expected 4 payload bytes"),
        (b"\x06" + bytes(11), "request: expected 12 payload bytes"),
        (b"\x07\x00\x00\x00\x01\x00\x00\x00", "piece: payload of 7 bytes"),
        (b"\x09\x1a", "port: expected 2"),
        (b"\x14", "extended: missing extension id"),
        (b"\x10" + bytes(13), "reject: expected 12"),
    ],
)
def test_malformed_bodies_name_the_message(body: bytes, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        pw.decode_message(body)


def test_oversized_length_prefix_is_refused_before_buffering() -> None:
    """PW-06: a hostile 0xFFFFFFF0 prefix must not make us wait for (or allocate) 4 GiB."""
    framer = pw.MessageFramer()
    with pytest.raises(DecodeError, match="exceeds"):
        framer.feed(b"\xff\xff\xff\xf0\x07")


def test_keepalives_anywhere_are_legal() -> None:
    """PW-06: keep-alives before the bitfield and repeated."""
    framer = pw.MessageFramer()
    bodies = framer.feed(b"\x00\x00\x00\x00" * 3 + b"\x00\x00\x00\x01\x0e")
    assert [pw.decode_message(b) for b in bodies] == [pw.KeepAlive()] * 3 + [pw.Simple(pw.HAVE_ALL)]


def test_handshake_round_trip_and_errors() -> None:
    hs = pw.Handshake(pw.reserved_bytes(), IH, PID)
    raw = hs.encode()
    assert len(raw) == pw.HANDSHAKE_LEN
    assert raw[:20] == b"\x13BitTorrent protocol"
    assert pw.decode_handshake(raw) == hs
    assert pw.has_reserved(hs.reserved, pw.RESERVED_EXTENSION)
    assert pw.has_reserved(hs.reserved, pw.RESERVED_FAST)
    assert not pw.has_reserved(hs.reserved, pw.RESERVED_DHT)
    # libtorrent 2.1.1's reserved bytes on loopback (testbed NOTES): extension, fast and DHT.
    lt = bytes.fromhex("0000000000100005")
    assert all(pw.has_reserved(lt, bit) for bit in (pw.RESERVED_EXTENSION, pw.RESERVED_FAST, pw.RESERVED_DHT))
    for cut in range(len(raw)):
        with pytest.raises(DecodeError, match="expected 68 bytes"):
            pw.decode_handshake(raw[:cut])
    with pytest.raises(DecodeError, match="not the BitTorrent protocol"):
        pw.decode_handshake(b"GET / HTTP/1.1\r\n" + bytes(52))


@given(st.binary(max_size=64))
def test_decode_message_raises_only_decode_error(body: bytes) -> None:
    try:
        msg = pw.decode_message(body)
    except DecodeError:
        return
    assert pw.encode_message(msg) == len(body).to_bytes(4, "big") + body


@given(st.lists(st.sampled_from([v[2] for v in VECTORS]), max_size=12), st.integers(1, 7))
def test_any_chunking_gives_the_same_messages(messages: list[pw.Message], chunk: int) -> None:
    stream = b"".join(pw.encode_message(m) for m in messages)
    framer = pw.MessageFramer()
    bodies: list[bytes] = []
    for i in range(0, len(stream), chunk):
        bodies += framer.feed(stream[i : i + chunk])
    assert [pw.decode_message(b) for b in bodies] == messages


@given(st.binary(max_size=200))
def test_framer_raises_only_decode_error(stream: bytes) -> None:
    framer = pw.MessageFramer(max_length=64)
    try:
        for body in framer.feed(stream):
            with contextlib.suppress(DecodeError):
                pw.decode_message(body)
    except DecodeError:
        pass
