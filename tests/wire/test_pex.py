"""BEP 11 ut_pex codec: interop PW-13 rows, three-way decoding, properties, a real libtorrent message."""

from __future__ import annotations

import socket
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
from swarmscope.wire.extension import HANDSHAKE_EXT_ID, decode_handshake, encode_handshake
from swarmscope.wire.pex import FLAG_REACHABLE, FLAG_SEED, KNOWN_FLAGS, PexMessage, decode_pex, encode_pex
from swarmscope.wire.types import Endpoint
from tests.wire.test_extension import Frames, libtorrent_seed

# Captured 2026-11-29: the first ut_pex payload a libtorrent 2.1.1 seed sent on loopback. It always
# carries all six keys, empty ones included.
REAL_LIBTORRENT_PEX = b"d5:added0:7:added.f0:6:added60:8:added6.f0:7:dropped0:8:dropped60:e"
# Same seed with a leecher 127.0.0.2:39695 and us (we announced p=6881) connected: flags 0x0d for the
# leecher (prefers encryption, uTP, ut_holepunch), 0 for us.
REAL_LIBTORRENT_PEX_ADDED = (
    b"d5:added12:\x7f\x00\x00\x02\x9b\x0f\x7f\x00\x00\x01\x1a\xe17:added.f2:\r\x00"
    b"6:added60:8:added6.f0:7:dropped0:8:dropped60:e"
)

A = Endpoint("10.0.0.1", 6881)
B = Endpoint("192.168.1.20", 51413)
C6 = Endpoint("2001:db8::7", 6881)
A_PACKED = b"\x0a\x00\x00\x01\x1a\xe1"
B_PACKED = b"\xc0\xa8\x01\x14\xc8\xd5"
C6_PACKED = bytes.fromhex("20010db8000000000000000000000007") + b"\x1a\xe1"
MAPPED_A = b"\x00" * 10 + b"\xff\xff" + A_PACKED  # IPv4-mapped IPv6 form of A


def _pex(value: dict[bytes, Any]) -> PexMessage:
    return decode_pex(bencode.encode(value))


def test_real_libtorrent_pex() -> None:
    assert decode_pex(REAL_LIBTORRENT_PEX) == PexMessage()
    assert decode_pex(REAL_LIBTORRENT_PEX_ADDED) == PexMessage(
        added=(Endpoint("127.0.0.2", 39695), Endpoint("127.0.0.1", 6881)), added_flags=(0x0D, 0)
    )


PEX_ROWS: list[tuple[dict[bytes, Any], dict[str, Any], list[str]]] = [
    # (dict sent, expected fields, expected quirk substrings) — PW-13 rows first.
    (
        {b"added": A_PACKED + B_PACKED, b"added.f": b"\x02\x11"},
        {"added": (A, B), "added_flags": (2, 0x11)},
        [],
    ),
    ({b"added": A_PACKED + B_PACKED}, {"added": (A, B), "added_flags": ()}, ["added.f: missing"]),
    (
        {b"added": A_PACKED + B_PACKED, b"added.f": b"\x02"},
        {"added": (A, B), "added_flags": ()},
        ["1 bytes for 2"],
    ),
    ({b"added": A_PACKED, b"added.f": b"\x02\x02"}, {"added": (A,), "added_flags": ()}, ["2 bytes for 1"]),
    ({b"added": A_PACKED, b"added.f": 2}, {"added": (A,), "added_flags": ()}, ["a int for 1"]),
    ({b"added": A_PACKED, b"added.f": b"\xe2"}, {"added_flags": (FLAG_SEED,)}, ["bits 0xe0 cleared"]),
    ({b"added": A_PACKED, b"added.f": bytes([FLAG_REACHABLE])}, {"added_flags": (0x10,)}, []),
    ({b"added6": C6_PACKED, b"added6.f": b"\x04"}, {"added6": (C6,), "added6_flags": (4,)}, []),
    ({b"added6": C6_PACKED}, {"added6": (C6,)}, ["added6.f: missing"]),
    ({b"added6": MAPPED_A, b"added6.f": b"\x00"}, {"added6": (A,)}, []),  # mapped → IPv4 literal
    ({b"dropped": A_PACKED, b"dropped6": C6_PACKED}, {"dropped": (A,), "dropped6": (C6,)}, []),
    ({b"added": A_PACKED * 2, b"added.f": b"\x00\x00"}, {"added": (A, A)}, ["1 duplicate entries"]),
    ({b"added": A_PACKED, b"added.f": b"\x00", b"dropped": A_PACKED}, {}, ["both added and dropped"]),
    ({}, {}, ["no added, added6, dropped or dropped6 key"]),
    ({b"added": b"", b"x-custom": [1, 2]}, {"added": ()}, []),  # unknown keys ignored
]


@pytest.mark.parametrize(("sent", "fields", "quirks"), PEX_ROWS)
def test_pex_rows(sent: dict[bytes, Any], fields: dict[str, Any], quirks: list[str]) -> None:
    message = _pex(sent)
    for name, value in fields.items():
        assert getattr(message, name) == value
    assert len(message.quirks) == len(quirks), message.quirks
    for quirk, part in zip(message.quirks, quirks, strict=True):
        assert part in quirk


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"", "bencode"),
        (b"le", "ut_pex"),
        (b"i1e", "ut_pex"),
        (bencode.encode({b"added": A_PACKED + b"\x00"}), "ut_pex added:"),
        (bencode.encode({b"added6": C6_PACKED[:-1]}), "ut_pex added6:"),
        (bencode.encode({b"added6": A_PACKED}), "ut_pex added6:"),  # a v4 entry under the v6 key
        (bencode.encode({b"dropped": b"\x01\x02\x03\x04\x05"}), "ut_pex dropped:"),
        (bencode.encode({b"dropped6": b"\x00" * 19}), "ut_pex dropped6:"),
        (bencode.encode({b"added": 5}), "ut_pex added:"),
        (bencode.encode({b"added": [A_PACKED]}), "ut_pex added:"),
    ],
)
def test_pex_errors_name_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(DecodeError) as excinfo:
        decode_pex(payload)
    assert excinfo.value.reason.startswith(field)


THREE_WAY = [
    REAL_LIBTORRENT_PEX,
    REAL_LIBTORRENT_PEX_ADDED,
    encode_pex([A, B], [0x12, 0x01], [C6], [0x04], [Endpoint("1.2.3.4", 1)], [Endpoint("::2", 2)]),
]


@pytest.mark.parametrize("payload", THREE_WAY)
def test_pex_three_ways(payload: bytes) -> None:
    message = decode_pex(payload)  # whole
    assert message.quirks == ()
    for cut in range(len(payload)):  # every truncation
        with pytest.raises(DecodeError):
            decode_pex(payload[:cut])
    for tail in (b"\x00", b"e", REAL_LIBTORRENT_PEX):  # trailing bytes: the frame gives the exact length
        with pytest.raises(DecodeError):
            decode_pex(payload + tail)


def test_encode_pex_wire_format() -> None:
    assert encode_pex([A], [FLAG_SEED]) == b"d5:added6:" + A_PACKED + b"7:added.f1:\x02e"
    assert encode_pex() == b"d5:added0:e"
    with pytest.raises(ValueError):
        encode_pex([C6])  # an IPv6 endpoint under the IPv4 key


_V4 = st.builds(Endpoint, st.ip_addresses(v=4).map(str), st.integers(0, 65535))
_V6 = st.builds(
    Endpoint,
    st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str),
    st.integers(0, 65535),
)


@given(
    st.lists(_V4, max_size=5),
    st.lists(_V6, max_size=5),
    st.lists(_V4, max_size=5),
    st.lists(_V6, max_size=5),
    st.data(),
)
def test_pex_round_trip(
    added: list[Endpoint],
    added6: list[Endpoint],
    dropped: list[Endpoint],
    dropped6: list[Endpoint],
    data: st.DataObject,
) -> None:
    flags = data.draw(st.lists(st.integers(0, KNOWN_FLAGS), min_size=len(added), max_size=len(added)))
    flags6 = data.draw(st.lists(st.integers(0, KNOWN_FLAGS), min_size=len(added6), max_size=len(added6)))
    message = decode_pex(encode_pex(added, flags, added6, flags6, dropped, dropped6))
    assert (message.added, message.added_flags) == (tuple(added), tuple(flags))
    assert (message.added6, message.added6_flags) == (tuple(added6), tuple(flags6))
    assert (message.dropped, message.dropped6) == (tuple(dropped), tuple(dropped6))


@given(st.binary(max_size=80))
def test_pex_random_bytes_decode_or_raise_decode_error(payload: bytes) -> None:
    with suppress(DecodeError):
        decode_pex(payload)


_VALUES = st.one_of(
    st.binary(max_size=40),
    st.integers(-5, 300),
    st.lists(st.binary(max_size=6), max_size=3),
    st.dictionaries(st.binary(max_size=4), st.integers(), max_size=2),
)
_KEYS = st.sampled_from([b"added", b"added.f", b"added6", b"added6.f", b"dropped", b"dropped6", b"x"])


@given(st.dictionaries(_KEYS, _VALUES, max_size=7))
def test_pex_random_dicts_decode_or_raise_decode_error(value: dict[bytes, Any]) -> None:
    try:
        message = decode_pex(bencode.encode(value))
    except DecodeError:
        return
    assert len(message.added_flags) in (0, len(message.added))
    assert all(flag & ~KNOWN_FLAGS == 0 for flag in message.added_flags + message.added6_flags)


@contextmanager
def libtorrent_leecher(tmp_path: Path, info_bytes: bytes, seed_port: int) -> Iterator[int]:
    """A rate-limited libtorrent leecher on 127.0.0.2 connected to the seed; yields its listen port."""
    import libtorrent as lt

    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(bencode.encode({b"info": bencode.decode(info_bytes)}))
    params.save_path = str(tmp_path / "leecher")
    session = lt.session(
        {
            "listen_interfaces": "127.0.0.2:0",
            "outgoing_interfaces": "127.0.0.2",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "download_rate_limit": 2000,
            "ignore_limits_on_local_network": False,
        }
    )
    try:
        handle = session.add_torrent(params)
        handle.connect_peer(("127.0.0.1", seed_port))
        deadline = time.monotonic() + 20
        # wait until the seed's bitfield arrived: both sides are then past the handshakes
        while time.monotonic() < deadline:
            if any(peer.flags & lt.peer_info.seed for peer in handle.get_peer_info()):
                break
            time.sleep(0.05)
        yield session.listen_port()
    finally:
        session.pause()
        del session


@pytest.mark.netns
@pytest.mark.realclients
def test_real_libtorrent_sends_a_decodable_pex(netns: bool, tmp_path: Path) -> None:
    """libtorrent 2.1.1 sends ut_pex within a second of the extension handshake once it has another peer."""
    with (
        libtorrent_seed(tmp_path, 8 * 16384) as (port, infohash, info_bytes),
        libtorrent_leecher(tmp_path, info_bytes, port) as leecher_port,
        socket.create_connection(("127.0.0.1", port), 10) as sock,
    ):
        reserved = bytes([0, 0, 0, 0, 0, 0x10, 0, 0x04])
        sock.sendall(b"\x13BitTorrent protocol" + reserved + infohash + b"-SS0001-testtesttest")
        frames = Frames(sock)
        deadline = time.monotonic() + 20
        frames.read(68, deadline)
        frames.send_extended(HANDSHAKE_EXT_ID, encode_handshake({"ut_pex": 5}, p=6881))
        assert "ut_pex" in decode_handshake(frames.extended(HANDSHAKE_EXT_ID, deadline)).m
        message = decode_pex(frames.extended(5, deadline))
        assert message.quirks == ()
        assert Endpoint("127.0.0.2", leecher_port) in message.added
        assert len(message.added_flags) == len(message.added)
