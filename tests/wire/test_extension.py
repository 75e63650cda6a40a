"""BEP 10 extension handshake and BEP 9 ut_metadata codecs: vectors, three-way decoding, properties,
and real bytes from a libtorrent 2.1.1 session on loopback."""

from __future__ import annotations

import hashlib
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire import bencode
from swarmscope.wire.client_id import ClientInfo, identify
from swarmscope.wire.extension import (
    EXTENDED_ID,
    HANDSHAKE_EXT_ID,
    METADATA_PIECE_LEN,
    ExtensionHandshake,
    MetadataMessage,
    decode_handshake,
    decode_metadata_message,
    encode_handshake,
    encode_metadata_data,
    encode_metadata_reject,
    encode_metadata_request,
    metadata_piece_count,
)

# Captured 2026-11-29 on loopback: the extension-handshake payloads (after <20><0>) that a libtorrent 2.1.1
# seed (PyPI wheel) and an aria2 1.36.0 seed (Debian) sent to an incoming connection.
REAL_LIBTORRENT = (
    b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e"
    b"11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei314e4:reqqi2000e11:upload_onlyi1e"
    b"1:v18:libtorrent/2.1.1.06:yourip4:\x7f\x00\x00\x01e"
)
REAL_ARIA2 = b"d1:md11:ut_metadatai9e6:ut_pexi8ee13:metadata_sizei205e1:pi6881e1:v12:aria2/1.36.0e"
# libtorrent 2.1.1's answer to a request for a metadata piece it does not have (it adds total_size).
REAL_LIBTORRENT_REJECT = b"d8:msg_typei2e5:piecei99e10:total_sizei314ee"


def test_constants() -> None:
    assert (EXTENDED_ID, HANDSHAKE_EXT_ID, METADATA_PIECE_LEN) == (20, 0, 16384)
    assert [metadata_piece_count(n) for n in (1, 16384, 16385, 32768)] == [1, 1, 2, 2]


def test_real_libtorrent_handshake() -> None:
    info = decode_handshake(REAL_LIBTORRENT)
    assert info.v == b"libtorrent/2.1.1.0"
    assert info.m == {
        "lt_donthave": 7,
        "share_mode": 8,
        "upload_only": 3,
        "ut_holepunch": 4,
        "ut_metadata": 2,
        "ut_pex": 1,
    }
    assert (info.metadata_size, info.reqq, info.yourip, info.p) == (314, 2000, "127.0.0.1", None)
    assert info.quirks == ()


def test_real_aria2_handshake() -> None:
    info = decode_handshake(REAL_ARIA2)
    assert info == ExtensionHandshake(
        m={"ut_metadata": 9, "ut_pex": 8},
        v=b"aria2/1.36.0",
        p=6881,
        metadata_size=205,
    )


def _hs(value: dict[bytes, Any]) -> ExtensionHandshake:
    return decode_handshake(bencode.encode(value))


HANDSHAKE_ROWS: list[tuple[dict[bytes, Any], dict[str, Any], list[str]]] = [
    # (dict sent, expected fields, expected quirk prefixes)
    ({}, {}, []),
    ({b"m": {b"ut_pex": 0, b"ut_metadata": 3}, b"metadata_size": 9}, {"m": {"ut_metadata": 3}}, []),
    ({b"m": {b"ut_pex": 0}}, {"disabled": ("ut_pex",)}, []),
    ({b"m": {b"ut_pex": b"1"}}, {"m": {}}, ["m.ut_pex:"]),
    ({b"m": {b"ut_pex": 300, b"x": -1}}, {"m": {}}, ["m.ut_pex:", "m.x:"]),
    ({b"m": b"ut_pex"}, {"m": {}}, ["m:"]),
    ({b"m": {b"ut_metadata": 2}}, {"m": {"ut_metadata": 2}}, ["metadata_size: missing"]),  # PW-12
    ({b"p": 6881}, {"p": 6881}, []),
    ({b"p": 0}, {"p": None}, ["p:"]),
    ({b"p": 70000}, {"p": None}, ["p:"]),
    ({b"p": b"6881"}, {"p": None}, ["p:"]),
    ({b"reqq": 250}, {"reqq": 250}, []),
    ({b"reqq": -1}, {"reqq": None}, ["reqq:"]),
    ({b"metadata_size": 0}, {"metadata_size": None}, ["metadata_size:"]),
    ({b"metadata_size": [1]}, {"metadata_size": None}, ["metadata_size:"]),
    ({b"v": 5}, {"v": None}, ["v:"]),
    ({b"v": b"\xb5Torrent 3.5.5"}, {"v": b"\xb5Torrent 3.5.5"}, []),  # PW-10: raw bytes kept
    ({b"yourip": b"\x0a\x00\x00\x07"}, {"yourip": "10.0.0.7"}, []),
    ({b"yourip": b"\x00" * 10 + b"\xff\xff\x01\x02\x03\x04"}, {"yourip": "1.2.3.4"}, []),
    ({b"yourip": b"\x00" * 15 + b"\x01"}, {"yourip": "::1"}, []),
    ({b"yourip": b"\x7f\x00\x00"}, {"yourip": None}, ["yourip:"]),
    ({b"yourip": 2130706433}, {"yourip": None}, ["yourip:"]),
    ({b"e": 1, b"ipv4": b"\x01\x02\x03\x04", b"x-custom": {b"a": []}}, {}, []),
]


@pytest.mark.parametrize(("sent", "fields", "quirks"), HANDSHAKE_ROWS)
def test_handshake_rows(sent: dict[bytes, Any], fields: dict[str, Any], quirks: list[str]) -> None:
    info = _hs(sent)
    for name, value in fields.items():
        assert getattr(info, name) == value
    assert len(info.quirks) == len(quirks)
    for quirk, prefix in zip(info.quirks, quirks, strict=True):
        assert quirk.startswith(prefix)


@pytest.mark.parametrize("payload", [b"", b"x", b"i5e", b"le", b"4:spam", b"d1:mi1e", b"d1:m", b"di1ei2ee"])
def test_handshake_rejects_non_dicts_and_garbage(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_handshake(payload)


@pytest.mark.parametrize("payload", [REAL_LIBTORRENT, REAL_ARIA2])
def test_handshake_every_truncation_raises(payload: bytes) -> None:
    for cut in range(len(payload)):
        with pytest.raises(DecodeError):
            decode_handshake(payload[:cut])


@pytest.mark.parametrize("payload", [REAL_LIBTORRENT, REAL_ARIA2])
def test_handshake_trailing_bytes_raise(payload: bytes) -> None:
    """The payload is exactly one dict (its length comes from the frame): trailing bytes are an error."""
    for tail in (b"\x00", b"e", b"d1:ai1ee"):
        with pytest.raises(DecodeError):
            decode_handshake(payload + tail)


def test_encode_handshake_matches_wire_format() -> None:
    payload = encode_handshake(
        {"ut_metadata": 2, "ut_pex": 1},
        v=b"swarmscope/0.1.0",
        p=6881,
        reqq=250,
        yourip=b"\x7f\x00\x00\x01",
        metadata_size=314,
    )
    assert payload == (
        b"d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei314e1:pi6881e4:reqqi250e"
        b"1:v16:swarmscope/0.1.06:yourip4:\x7f\x00\x00\x01e"
    )
    assert encode_handshake({}) == b"d1:mdee"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"m": {"ut_pex": 256}},
        {"m": {}, "p": 0},
        {"m": {}, "yourip": b"\x01\x02"},
        {"m": {}, "metadata_size": 0},
    ],
)
def test_encode_handshake_rejects_our_own_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        encode_handshake(**kwargs)


@given(
    m=st.dictionaries(st.text(min_size=1, max_size=12), st.integers(0, 255), max_size=6),
    v=st.none() | st.binary(max_size=30),
    p=st.none() | st.integers(1, 65535),
    reqq=st.none() | st.integers(1, 10_000),
    yourip=st.none() | st.binary(min_size=4, max_size=4) | st.binary(min_size=16, max_size=16),
    metadata_size=st.none() | st.integers(1, 1 << 30),
)
def test_handshake_round_trip(
    m: dict[str, int],
    v: bytes | None,
    p: int | None,
    reqq: int | None,
    yourip: bytes | None,
    metadata_size: int | None,
) -> None:
    info = decode_handshake(
        encode_handshake(m, v=v, p=p, reqq=reqq, yourip=yourip, metadata_size=metadata_size)
    )
    assert info.m == {k: i for k, i in m.items() if i}
    assert set(info.disabled) == {k for k, i in m.items() if not i}
    assert (info.v, info.p, info.reqq, info.metadata_size) == (v, p, reqq, metadata_size)
    assert (info.yourip is None) == (yourip is None)


_BENCODE_VALUES = st.recursive(
    st.integers(-(2**40), 2**40) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.binary(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_KEYS = st.sampled_from([b"m", b"v", b"p", b"reqq", b"yourip", b"metadata_size", b"e", b"msg_type", b"piece"])


@given(st.binary(max_size=80))
def test_decoders_on_random_bytes_decode_or_raise_decode_error(payload: bytes) -> None:
    for decoder in (decode_handshake, decode_metadata_message):
        with suppress(DecodeError):
            decoder(payload)


@given(st.dictionaries(_KEYS, _BENCODE_VALUES, max_size=6), st.binary(max_size=20))
def test_decoders_on_wrong_typed_dicts_decode_or_raise_decode_error(
    value: dict[bytes, Any], tail: bytes
) -> None:
    payload = bencode.encode(value)
    for decoder in (decode_handshake, decode_metadata_message):
        for data in (payload, payload + tail):
            with suppress(DecodeError):
                decoder(data)


# ---- BEP 9 ut_metadata ------------------------------------------------------------------------------


def test_metadata_request_and_reject_wire_format() -> None:
    """BEP 9 "request" and "reject" examples."""
    assert encode_metadata_request(0) == b"d8:msg_typei0e5:piecei0ee"
    assert encode_metadata_reject(0) == b"d8:msg_typei2e5:piecei0ee"
    with pytest.raises(ValueError):
        encode_metadata_request(-1)


METADATA_ROWS = [
    (b"d8:msg_typei0e5:piecei0ee", MetadataMessage(0, 0)),
    (b"d8:msg_typei2e5:piecei3ee", MetadataMessage(2, 3)),
    (REAL_LIBTORRENT_REJECT, MetadataMessage(2, 99, 314)),  # PW-12: reject is not final
    (
        b"d8:msg_typei7e5:piecei0ee",
        MetadataMessage(7, 0, quirks=("msg_type: unknown value 7 (BEP 9: ignore)",)),
    ),
    (
        b"d8:msg_typei0e5:piecei1eexyz",
        MetadataMessage(0, 1, quirks=("3 bytes after a msg_type 0 dict ignored",)),
    ),
    (b"d8:msg_typei1e5:piecei0e10:total_sizei5eehello", MetadataMessage(1, 0, 5, b"hello")),
]


@pytest.mark.parametrize(("payload", "message"), METADATA_ROWS)
def test_metadata_rows(payload: bytes, message: MetadataMessage) -> None:
    assert decode_metadata_message(payload) == message


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"", "bencode"),
        (b"le", "ut_metadata"),
        (b"d5:piecei0ee", "ut_metadata msg_type"),
        (b"d8:msg_typei0ee", "ut_metadata piece"),
        (b"d8:msg_type1:05:piecei0ee", "ut_metadata msg_type"),
        (b"d8:msg_typei0e5:piecei-1ee", "ut_metadata piece"),
        (b"d8:msg_typei1e5:piecei0eehello", "ut_metadata total_size"),
        (b"d8:msg_typei1e5:piecei0e10:total_sizei0eehello", "ut_metadata total_size"),
        (b"d8:msg_typei1e5:piecei1e10:total_sizei5eehello", "ut_metadata piece"),
        (b"d8:msg_typei1e5:piecei0e10:total_sizei5eehell", "ut_metadata data"),
        (b"d8:msg_typei1e5:piecei0e10:total_sizei99999ee" + b"x" * 100, "ut_metadata data"),
    ],
)
def test_metadata_errors_name_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(DecodeError) as excinfo:
        decode_metadata_message(payload)
    assert excinfo.value.reason.startswith(field)


def test_metadata_data_three_ways() -> None:
    """A full 16 KiB first piece and a short last piece: whole, every truncation, trailing bytes."""
    total = METADATA_PIECE_LEN + 700
    first = encode_metadata_data(0, total, bytes(range(256)) * 64)
    last = encode_metadata_data(1, total, b"\x07" * 700)
    assert decode_metadata_message(first).data == bytes(range(256)) * 64
    assert decode_metadata_message(last) == MetadataMessage(1, 1, total, b"\x07" * 700)
    for payload in (first, last):
        for cut in range(0, len(payload), 7):
            with pytest.raises(DecodeError):
                decode_metadata_message(payload[:cut])
        with pytest.raises(DecodeError):
            decode_metadata_message(payload + b"\x00")  # a data piece has an exact length


@pytest.mark.parametrize("payload", [b"d8:msg_typei0e5:piecei0ee", REAL_LIBTORRENT_REJECT])
def test_metadata_request_every_truncation_raises(payload: bytes) -> None:
    for cut in range(len(payload)):
        with pytest.raises(DecodeError):
            decode_metadata_message(payload[:cut])


@given(st.integers(1, 5 * METADATA_PIECE_LEN), st.data())
def test_metadata_data_round_trip(total: int, data: st.DataObject) -> None:
    piece = data.draw(st.integers(0, metadata_piece_count(total) - 1))
    size = min(METADATA_PIECE_LEN, total - piece * METADATA_PIECE_LEN)
    chunk = bytes([piece % 256]) * size
    assert decode_metadata_message(encode_metadata_data(piece, total, chunk)) == MetadataMessage(
        1, piece, total, chunk
    )


@given(st.integers(0, 1 << 31))
def test_metadata_request_reject_round_trip(piece: int) -> None:
    assert decode_metadata_message(encode_metadata_request(piece)) == MetadataMessage(0, piece)
    assert decode_metadata_message(encode_metadata_reject(piece)) == MetadataMessage(2, piece)


# ---- real libtorrent 2.1.1 on loopback --------------------------------------------------------------


@contextmanager
def libtorrent_seed(tmp_path: Path, size: int) -> Iterator[tuple[int, bytes, bytes]]:
    """A libtorrent session seeding ``size`` bytes on 127.0.0.1; yields (port, infohash, info bytes)."""
    import libtorrent as lt

    data = bytes((i * 7) % 251 for i in range(size))
    (tmp_path / "f.bin").write_bytes(data)
    pieces = b"".join(hashlib.sha1(data[i : i + 16384]).digest() for i in range(0, size, 16384))
    info = {b"name": b"f.bin", b"piece length": 16384, b"length": size, b"pieces": pieces}
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(bencode.encode({b"info": info}))
    params.save_path = str(tmp_path)
    settings = {"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False}
    session = lt.session(settings | {"enable_upnp": False, "enable_natpmp": False})
    try:
        handle = session.add_torrent(params)
        deadline = time.monotonic() + 30
        while handle.status().state != lt.torrent_status.seeding and time.monotonic() < deadline:
            time.sleep(0.05)
        yield session.listen_port(), hashlib.sha1(bencode.encode(info)).digest(), bencode.encode(info)
    finally:
        session.pause()
        del session


class Frames:
    """Minimal peer-wire framing over a blocking socket (test scaffolding, bounded by a deadline)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def read(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            if time.monotonic() > deadline:
                raise TimeoutError("peer sent nothing in time")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("peer closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def message(self, deadline: float) -> bytes:
        (length,) = struct.unpack(">I", self.read(4, deadline))
        return self.read(length, deadline)

    def extended(self, ext_id: int, deadline: float) -> bytes:
        """Skip messages until an extended message with ``ext_id``; return its payload."""
        for _ in range(1000):
            msg = self.message(deadline)
            if msg[:2] == bytes([EXTENDED_ID, ext_id]):
                return msg[2:]
        raise AssertionError("no such extended message")

    def send_extended(self, ext_id: int, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">IBB", len(payload) + 2, EXTENDED_ID, ext_id) + payload)


@pytest.mark.netns
@pytest.mark.realclients
def test_real_libtorrent_extension_handshake_and_metadata(netns: bool, tmp_path: Path) -> None:
    seed = libtorrent_seed(tmp_path, 3 * 16384 + 100)
    with seed as (port, infohash, info_bytes), socket.create_connection(("127.0.0.1", port), 10) as sock:
        reserved = bytes([0, 0, 0, 0, 0, 0x10, 0, 0x04])
        sock.sendall(b"\x13BitTorrent protocol" + reserved + infohash + b"-SS0001-testtesttest")
        frames = Frames(sock)
        deadline = time.monotonic() + 20
        handshake = frames.read(68, deadline)
        assert handshake[28:48] == infohash and handshake[48:56] == b"-LT2110-"
        frames.send_extended(HANDSHAKE_EXT_ID, encode_handshake({"ut_metadata": 3}))
        info = decode_handshake(frames.extended(HANDSHAKE_EXT_ID, deadline))
        assert info.v == b"libtorrent/2.1.1.0"
        assert {"ut_metadata", "ut_pex"} <= info.m.keys()
        assert info.metadata_size == len(info_bytes)
        assert info.yourip == "127.0.0.1"
        assert identify(handshake[48:68], info.v) == ClientInfo("libtorrent", "2.1.1.0", "azureus")
        frames.send_extended(info.m["ut_metadata"], encode_metadata_request(0))
        reply = decode_metadata_message(frames.extended(3, deadline))
        assert reply == MetadataMessage(1, 0, len(info_bytes), info_bytes)
        assert hashlib.sha1(reply.data).digest() == infohash
        frames.send_extended(info.m["ut_metadata"], encode_metadata_request(5))  # beyond the metadata
        reject = decode_metadata_message(frames.extended(3, deadline))
        assert (reject.msg_type, reject.piece) == (2, 5)
