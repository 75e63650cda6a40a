"""Client identification: BEP 20 peer-id styles, the BEP 10 ``v`` field, interop PW-10 text repair."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.wire import bencode, client_id
from swarmscope.wire.client_id import ClientInfo, identify, repair_text
from swarmscope.wire.extension import HANDSHAKE_EXT_ID, decode_handshake, encode_handshake
from tests.wire.test_extension import Frames

# Real peer ids captured on loopback (2026-11-29): libtorrent 2.1.1 (PyPI wheel) and aria2 1.36.0 (Debian),
# both from their 68-byte handshakes. The others are the documented prefixes of the packaged clients
# (Transmission 3.00, qBittorrent 4.5.2, rtorrent 0.9.8 / libTorrent 0.13.8) padded with random-looking bytes.
REAL_LIBTORRENT = b"-LT2110-y1akjvE!ajiX"
REAL_ARIA2 = b"A2-1-36-0-=\xb9\x08\x04<\x82QO\x93\xce"

PEER_IDS = [
    # (peer id, name, version, style)
    (REAL_LIBTORRENT, "libtorrent", "2.1.1.0", "azureus"),
    (REAL_ARIA2, "aria2", "1.36.0", "custom"),
    (b"A2-1-36-" + b"\xff" * 12, "aria2", "1.36.0", "custom"),
    (b"-TR3000-k3jd92kd0a1z", "Transmission", "3.00", "azureus"),
    (b"-TR2940-k3jd92kd0a1z", "Transmission", "2.94", "azureus"),
    (b"-TR111Z-k3jd92kd0a1z", "Transmission", "1.11+", "azureus"),
    (b"-TR0072-k3jd92kd0a1z", "Transmission", "0.72", "azureus"),
    (b"-TR0006-k3jd92kd0a1z", "Transmission", "0.6", "azureus"),
    (b"-TR400B-k3jd92kd0a1z", "Transmission", "4.0.0-beta", "azureus"),
    (b"-TR4060-k3jd92kd0a1z", "Transmission", "4.0.6", "azureus"),
    (b"-TR410Z-k3jd92kd0a1z", "Transmission", "4.1.0-dev", "azureus"),
    (b"-qB4520-a8f7Gh2Kq9xZ", "qBittorrent", "4.5.2", "azureus"),
    (b"-lt0D80-\x8f\x12abcdefghij", "libTorrent (Rakshasa)", "0.13.8", "azureus"),
    (b"-UT3550-\xa3\x01abcdefghij", "µTorrent", "3.5.5", "azureus"),
    (b"-UT355B-\xa3\x01abcdefghij", "µTorrent", "3.5.5-beta", "azureus"),
    (b"-UM1870-\xa3\x01abcdefghij", "µTorrent Mac", "1.8.7", "azureus"),
    (b"-UE3400-\xa3\x01abcdefghij", "µTorrent Embedded", "3.4.0", "azureus"),
    (b"exbc\x00\x32" + b"\x11" * 14, "BitComet", "0.50", "custom"),
    (b"exbc\x00\x32LORD" + b"\x11" * 10, "BitLord", "0.50", "custom"),
    (b"-BC0150-abcdefghijkl", "BitComet", "1.50", "azureus"),
    (b"-DE13F0-abcdefghijkl", "Deluge", "1.3.15", "azureus"),
    (b"-DE211s-abcdefghijkl", "Deluge", "2.1.1", "azureus"),
    (b"-DE200D-abcdefghijkl", "Deluge", "2.0.0-dev", "azureus"),
    (b"-AZ5770-abcdefghijkl", "Vuze", "5.7.7.0", "azureus"),
    (b"-BI3400-abcdefghijkl", "BiglyBT", "3.4.0.0", "azureus"),
    (b"-WW0105-abcdefghijkl", "WebTorrent", "1.5", "azureus"),
    (b"-WD0010-abcdefghijkl", "WebTorrent Desktop", "0.10", "azureus"),
    (b"M7-4-3--abcdefghijkl", "BitTorrent", "7.4.3", "mainline"),
    (b"M4-20-8-abcdefghijkl", "BitTorrent", "4.20.8", "mainline"),
    (b"-BT7a5S-abcdefghijkl", "BitTorrent", "7.10.5", "azureus"),
    (b"-KT4130-abcdefghijkl", "KTorrent", "4.1.3", "azureus"),
    (b"TIX0283-abcdefghijkl", "Tixati", "2.83", "custom"),
    (b"-XL0012-abcdefghijkl", "Xunlei", "0.0.1.2", "azureus"),
    (b"-FW6530-abcdefghijkl", "FrostWire", "6.5.3", "azureus"),
    (b"-CD0302-abcdefghijkl", "Enhanced CTorrent", "0.3.02", "azureus"),
    (b"T03I-----abcdefghijk", "BitTornado", "0.3.18", "shadow"),
    (b"S58B-----abcdefghijk", "Shad0w", "5.8.11", "shadow"),
]


@pytest.mark.parametrize(("peer_id", "name", "version", "style"), PEER_IDS)
def test_peer_id_vectors(peer_id: bytes, name: str, version: str, style: str) -> None:
    assert len(peer_id) == 20
    assert identify(peer_id) == ClientInfo(name, version, style)


def test_rakshasa_and_rasterbar_are_distinct() -> None:
    """-lt is rTorrent's libTorrent, -LT is libtorrent (Rasterbar): the case of the code matters."""
    assert identify(b"-lt0D80-abcdefghijkl").name != identify(b"-LT0D80-abcdefghijkl").name
    assert identify(b"-LT0D80-abcdefghijkl").version == "0.13.8.0"


@pytest.mark.parametrize(
    "peer_id",
    [None, b"", b"\x00" * 20, b"-", b"-LT", b"-LT21", b"M7-", b"exbc", b"A2-x-y-", b"\xff" * 20, b"T03I--"],
)
def test_unknown_and_short_peer_ids(peer_id: bytes | None) -> None:
    info = identify(peer_id)
    assert info.name is None or info.name == "aria2"
    assert info.style in {"unknown", "custom"}
    assert info.mismatch is False


def test_unknown_azureus_code_keeps_the_style() -> None:
    assert identify(b"-ZZ1234-abcdefghijkl") == ClientInfo(None, None, "azureus")


def test_bad_version_characters_give_no_version() -> None:
    assert identify(b"-LT2!10-abcdefghijkl") == ClientInfo("libtorrent", None, "azureus")
    assert identify(b"-UTzz50-abcdefghijkl") == ClientInfo("µTorrent", None, "azureus")


V_FIELDS = [
    # (v, name, version) — the first rows are the real clients' strings (captured or documented).
    (b"libtorrent/2.1.1.0", "libtorrent", "2.1.1.0"),
    (b"aria2/1.36.0", "aria2", "1.36.0"),
    (b"Transmission 3.00", "Transmission", "3.00"),
    (b"qBittorrent/4.5.2", "qBittorrent", "4.5.2"),
    (b"\xb5Torrent 3.5.5", "µTorrent", "3.5.5"),
    ("µTorrent 3.5.5".encode(), "µTorrent", "3.5.5"),
    ("Deluge 2.1.1", "Deluge", "2.1.1"),
    (b"Transmission 4.0.5 (a6fe2a64aa)", "Transmission", "4.0.5"),
    (b"BitTorrent 7.10.5", "BitTorrent", "7.10.5"),
    (b"MyClient", "MyClient", None),
]


@pytest.mark.parametrize(("v", "name", "version"), V_FIELDS)
def test_v_field_alone(v: bytes | str, name: str, version: str | None) -> None:
    assert identify(None, v) == ClientInfo(name, version, "v-field")


@pytest.mark.parametrize(
    ("peer_id", "v", "name", "version"),
    [
        (REAL_LIBTORRENT, b"libtorrent/2.1.1.0", "libtorrent", "2.1.1.0"),
        (REAL_ARIA2, b"aria2/1.36.0", "aria2", "1.36.0"),
        (b"-TR3000-k3jd92kd0a1z", b"Transmission 3.00", "Transmission", "3.00"),
        (b"-qB4520-a8f7Gh2Kq9xZ", b"qBittorrent/4.5.2", "qBittorrent", "4.5.2"),
        (b"-UT3550-\xa3\x01abcdefghij", b"\xb5Torrent 3.5.5", "µTorrent", "3.5.5"),
        (b"-DE211s-abcdefghijkl", "Deluge 2.1.1", "Deluge", "2.1.1"),
        (b"-AZ5770-abcdefghijkl", b"Azureus 5.7.7.0", "Azureus", "5.7.7.0"),
    ],
)
def test_peer_id_and_v_agree(peer_id: bytes, v: bytes | str, name: str, version: str) -> None:
    info = identify(peer_id, v)
    assert (info.name, info.version, info.mismatch) == (name, version, False)
    assert info.style == identify(peer_id).style


@pytest.mark.parametrize(
    ("peer_id", "v"),
    [
        (REAL_LIBTORRENT, b"Transmission 3.00"),  # other client family: spoofed or modified
        (REAL_LIBTORRENT, b"libtorrent/1.2.19.0"),  # same family, other version
        (b"-TR3000-k3jd92kd0a1z", b"qBittorrent/4.5.2"),
        (b"-UT3550-\xa3\x01abcdefghij", b"\xb5Torrent 2.2.1"),
    ],
)
def test_peer_id_and_v_disagree(peer_id: bytes, v: bytes) -> None:
    info = identify(peer_id, v)
    assert info.mismatch is True
    assert info.name == identify(None, v).name  # the v field wins for name/version


def test_v_without_version_keeps_peer_id_version() -> None:
    assert identify(REAL_LIBTORRENT, b"libtorrent") == ClientInfo("libtorrent", "2.1.1.0", "azureus")


@pytest.mark.parametrize("v", [b"", b"   ", b"1.2.3", b"\x00\x01"])
def test_unusable_v_falls_back_to_peer_id(v: bytes) -> None:
    assert identify(REAL_LIBTORRENT, v) == identify(REAL_LIBTORRENT)


# Interop PW-10: `v` not valid UTF-8 (Latin-1, GBK, truncated sequences) or containing surrogates.
REPAIRS = [
    (b"libtorrent/2.1.1.0", "libtorrent/2.1.1.0"),
    (b"\xb5Torrent 3.5.5", "µTorrent 3.5.5"),  # Latin-1 micro sign
    (b"M\xfcller's client", "Müller's client"),  # Latin-1
    ("迅雷 7.9".encode("gbk"), "迅雷 7.9"),  # GBK (Xunlei)
    ("迅雷 7.9".encode(), "迅雷 7.9"),  # already UTF-8
    (b"libtorrent/2.1\xe2\x82", "libtorrent/2.1\ufffd"),  # truncated 3-byte sequence
    (b"a\xed\xa0\x80b", "a\ufffdb"),  # UTF-8-encoded lone surrogate (CESU)
    (b"a\xed\xa0\x80\xed\xb0\x80b", "a\ufffd\ufffdb"),  # surrogate pair encoded separately
    (b"tab\tnul\x00bell\x07", "tab\ufffdnul\ufffdbell\ufffd"),  # control characters
    (b"", ""),
]


@pytest.mark.parametrize(("raw", "text"), REPAIRS)
def test_repair_text_pw10(raw: bytes, text: str) -> None:
    assert repair_text(raw) == text


def test_repair_text_caps_length() -> None:
    text = repair_text(b"x" * 10_000)
    assert len(text) == 201
    assert text.endswith("…")


def test_latin1_v_identifies_and_matches() -> None:
    assert identify(b"-UT3550-\xa3\x01abcdefghij", b"\xb5Torrent 3.5.5").mismatch is False


@given(st.binary(max_size=64))
def test_repair_text_never_raises_and_is_utf8(raw: bytes) -> None:
    text = repair_text(raw)
    text.encode("utf-8")  # no lone surrogates survive
    assert all(ch.isprintable() for ch in text)


@given(st.one_of(st.none(), st.binary(max_size=40)), st.one_of(st.none(), st.binary(max_size=40), st.text()))
def test_identify_never_raises(peer_id: bytes | None, v: bytes | str | None) -> None:
    info = identify(peer_id, v)
    assert isinstance(info, ClientInfo)
    assert info.style in {"azureus", "shadow", "mainline", "custom", "v-field", "unknown"}
    if info.style == "unknown":
        assert (info.name, info.version, info.mismatch) == (None, None, False)
    if info.mismatch:
        assert peer_id and v is not None


@given(st.sampled_from([row[0] for row in PEER_IDS]), st.binary(min_size=0, max_size=20))
def test_random_suffix_does_not_change_identification(peer_id: bytes, suffix: bytes) -> None:
    prefix = peer_id[:10]
    assert identify(prefix + suffix[:10]).name == identify(peer_id).name


@pytest.mark.netns
@pytest.mark.realclients
def test_real_aria2_peer_id_and_v(netns: bool, tmp_path: Path) -> None:
    """aria2 1.36.0 seeding on 127.0.0.8: its handshake peer id and BEP 10 ``v`` identify it, no mismatch."""
    if shutil.which("aria2c") is None:
        pytest.skip("aria2c not installed")
    data = bytes(range(256)) * 128
    (tmp_path / "f.bin").write_bytes(data)
    info = {b"name": b"f.bin", b"piece length": 16384, b"length": len(data)}
    info[b"pieces"] = b"".join(hashlib.sha1(data[i : i + 16384]).digest() for i in range(0, len(data), 16384))
    (tmp_path / "f.torrent").write_bytes(bencode.encode({b"info": info}))
    infohash = hashlib.sha1(bencode.encode(info)).digest()
    args = ["aria2c", "--no-conf", "--interface=127.0.0.8", "--listen-port=6881", "--enable-dht=false"]
    args += ["--bt-enable-lpd=false", "--seed-ratio=0.0", "--seed-time=1", "--bt-seed-unverified=true"]
    proc = subprocess.Popen(
        [*args, f"--dir={tmp_path}", str(tmp_path / "f.torrent")], stdout=subprocess.DEVNULL
    )
    try:
        peer_id, ext = _handshake_with(("127.0.0.8", 6881), infohash)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert peer_id[:10] == b"A2-1-36-0-"
    handshake = decode_handshake(ext)
    assert handshake.v == b"aria2/1.36.0"
    assert identify(peer_id, handshake.v) == ClientInfo("aria2", "1.36.0", "custom")


def _handshake_with(address: tuple[str, int], infohash: bytes) -> tuple[bytes, bytes]:
    """Connect (retrying while the client starts), send BT + LTEP handshakes; return (peer id, ext)."""
    deadline = time.monotonic() + 20
    for _ in range(200):
        with suppress(OSError):
            sock = socket.create_connection(address, timeout=10)
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"nothing listens on {address}")
    with sock:
        reserved = bytes([0, 0, 0, 0, 0, 0x10, 0, 0x04])
        sock.sendall(b"\x13BitTorrent protocol" + reserved + infohash + b"-SS0001-testtesttest")
        frames = Frames(sock)
        peer_id = frames.read(68, deadline)[48:]
        frames.send_extended(HANDSHAKE_EXT_ID, encode_handshake({"ut_metadata": 3}))
        return peer_id, frames.extended(HANDSHAKE_EXT_ID, deadline)


_PREFIXES = [
    *(b"-LT2110-", b"A2-1-36-0-", b"exbc", b"FUTB", b"xUTB", b"TIX0137", b"M7-2-3--", b"Q1-10-0-"),
    *(b"T03I---", b"S58B---", b"-TR300Z-", b"-DE211s-", b"-UT355B-", b"-BC0150-", b"-WW0105-"),
    *(b"-CD0302-", b"-zz0000-", b""),
]
_VS = [b"libtorrent/2.1.1.0", "Transmission 3.00"]


@given(
    st.sampled_from(_PREFIXES),
    st.binary(max_size=16),
    st.one_of(st.none(), st.binary(max_size=24), st.sampled_from(_VS)),
)
def test_identify_reads_only_the_peer_ids_first_bytes(
    prefix: bytes, tail: bytes, v: bytes | str | None
) -> None:
    """The kept answers (by the first PEER_ID_READ bytes and ``v``) are what the whole id gives."""
    peer_id = (prefix + tail)[:20]
    assert client_id._from_peer_id(peer_id) == client_id._from_peer_id(peer_id[: client_id.PEER_ID_READ])
    whole = client_id._identified.__wrapped__(peer_id or None, v)
    assert identify(peer_id, v) == whole == identify(bytearray(peer_id), v)
    if isinstance(v, bytes):
        assert identify(peer_id, bytearray(v)) == whole == identify(peer_id, memoryview(v))
