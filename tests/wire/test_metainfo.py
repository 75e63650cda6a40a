"""Metainfo parsing: interop rows META-01/03/05/07/08 and TRK-18 as byte-level cases, each verdict
checked against libtorrent 2.1.1; v2 and hybrid torrents built by libtorrent itself."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire.bencode import decode, encode
from swarmscope.wire.metainfo import Metainfo, parse_metainfo
from tests.wire.lt_build import libtorrent_torrent

lt = pytest.importorskip("libtorrent")

PIECE = 16384
HASH = hashlib.sha1(b"x" * 5).digest()


def torrent(info: dict[bytes, Any] | None = None, **top: Any) -> bytes:
    """A v1 single-file torrent (5 bytes, one piece) with ``info``/top-level overrides."""
    base = {b"name": b"x", b"piece length": PIECE, b"length": 5, b"pieces": HASH}
    base.update(info or {})
    outer = {k.replace("_", "-").encode(): v for k, v in top.items() if v is not None}
    return encode({b"info": {k: v for k, v in base.items() if v is not None}, **outer})


def lt_valid(data: bytes) -> bool:
    try:
        lt.torrent_info(data)
    except RuntimeError:
        return False
    return True


def lt_info(data: bytes) -> Any:
    return lt.torrent_info(data)


# ---------------------------------------------------------------- META-01


def test_meta01_unsorted_info_keys_hash_the_raw_span_like_libtorrent() -> None:
    info_raw = b"d4:name1:x6:lengthi5e12:piece lengthi16384e6:pieces20:" + HASH + b"6:source3:TTG1:ai1ee"
    data = b"d4:info" + info_raw + b"e"
    meta = parse_metainfo(data)
    assert meta.info_raw == info_raw
    assert meta.v1 is not None and meta.v1.raw == hashlib.sha1(info_raw).digest()
    assert meta.v1.hex == str(lt_info(data).info_hashes().v1)
    reencoded = encode(decode(info_raw))
    assert reencoded != info_raw and hashlib.sha1(reencoded).digest() != meta.v1.raw


def test_meta01_duplicate_keys_first_wins_and_hash_is_raw() -> None:
    info_raw = b"d6:lengthi5e4:name1:x4:name1:y12:piece lengthi16384e6:pieces20:" + HASH + b"e"
    data = b"d4:info" + info_raw + b"e"
    meta = parse_metainfo(data)
    assert meta.name == "x"
    assert meta.v1 is not None and meta.v1.hex == str(lt_info(data).info_hashes().v1)


def test_meta01_unsorted_keys_in_a_v2_info_are_invalid_bencoding(tmp_path: Path) -> None:
    meta = _build_with_libtorrent(tmp_path, lt.create_torrent.v2_only, {"a.bin": 40000})
    info_raw = meta.info_raw
    swapped = info_raw.replace(b"12:meta versioni2e", b"").replace(
        b"d9:file tree", b"d12:meta versioni2e9:file tree", 1
    )
    data = meta.raw.replace(info_raw, swapped)
    assert not lt_valid(data)
    with pytest.raises(DecodeError, match="unsorted"):
        parse_metainfo(data)


# ---------------------------------------------------------------- META-03 / TRK-18

ANNOUNCE_CASES = [
    # (announce-list, announce, expected tiers)
    (
        [[b"http://a/ann"], [b"udp://b:80", b"udp://c:80"]],
        b"http://z/ann",
        (("http://a/ann",), ("udp://b:80", "udp://c:80")),
    ),
    (None, [b"http://a/ann"], (("http://a/ann",),)),  # announce is a list (META-03)
    (b"http://a/ann,http://b/ann", b"http://z/ann", (("http://z/ann",),)),  # comma string → fall back
    ([{b"url": b"http://a/ann"}], b"http://z/ann", (("http://z/ann",),)),  # list of dicts
    ([b"http://a/ann", [b"http://b/ann"]], None, (("http://b/ann",),)),  # tier not a list is skipped
    ([[], [b""], [b"   "]], b"udp://z:1", (("udp://z:1",),)),  # empty tiers → announce
    ([[b"http://a/ann", b"http://a/ann"], [b"http://a/ann"]], None, (("http://a/ann",),)),  # duplicates
    (None, None, ()),
    (None, b"", ()),
]

TRK18_REJECTED = [
    b"ws://tracker/announce",
    b"wss://tracker/announce",
    b"dht://abcdef",
    b"garbage",
    b"*http://disabled/announce",
    b"http://a b/announce",
    b"http://a/ann\x7f",
    b"<html><head><title>Just a moment...</title>",
    b"udp://",
    b"\xff\xfehttp://x/",
]


@pytest.mark.parametrize(("announce_list", "announce", "tiers"), ANNOUNCE_CASES)
def test_meta03_announce_shapes(announce_list: Any, announce: Any, tiers: Any) -> None:
    data = torrent(announce_list=announce_list, announce=announce)
    assert parse_metainfo(data).trackers == tiers
    assert lt_valid(data)  # a malformed tracker list never makes the torrent invalid


@pytest.mark.parametrize("url", TRK18_REJECTED)
def test_trk18_unusable_urls_are_skipped_not_fatal(url: bytes) -> None:
    data = torrent(announce_list=[[url, b"udp://ok:6969/announce"]])
    assert parse_metainfo(data).trackers == (("udp://ok:6969/announce",),)
    assert parse_metainfo(torrent(announce=url)).trackers == ()


def test_trk18_whitespace_is_trimmed_and_scheme_case_ignored() -> None:
    data = torrent(announce_list=[[b" \thttp://a/ann\r\n", b"UDP://b:1/ann"]])
    assert parse_metainfo(data).trackers == (("http://a/ann", "UDP://b:1/ann"),)


# ---------------------------------------------------------------- META-05

PRIVATE_CASES = [
    (None, False, False),
    (1, True, True),
    (42, True, True),
    (0, False, False),
    (-1, True, True),
    (b"1", True, False),  # libtorrent: a string means public — the privacy hazard
    (b"true", True, False),
    (b"t", True, False),
    (b"yes please", True, False),
    (b"0", False, False),
    (b"", False, False),
    (b"false", False, False),
    (b"F", False, False),
]


@pytest.mark.parametrize(("raw", "private", "lt_private"), PRIVATE_CASES)
def test_meta05_any_truthy_private_is_private(raw: Any, private: bool, lt_private: bool) -> None:
    data = torrent({b"private": raw})
    meta = parse_metainfo(data)
    assert meta.private is private
    assert meta.private_raw == raw
    assert meta.libtorrent_private is lt_private
    assert lt_info(data).priv() is lt_private


# ---------------------------------------------------------------- META-07

META07_CASES = [
    ({b"pieces": HASH * 2}, "info.pieces: 40 bytes, expected 20"),
    ({b"length": PIECE * 2, b"pieces": HASH}, "info.pieces: 20 bytes, expected 40"),
    ({b"pieces": HASH[:19]}, "info.pieces: 19 bytes"),
    ({b"pieces": None}, "info.pieces: missing"),
    ({b"piece length": 0}, "info.piece length"),
    ({b"piece length": -16384}, "info.piece length"),
    ({b"piece length": 2**30}, "info.piece length"),
    ({b"piece length": b"16384"}, "info.piece length"),
    ({b"length": (0x200000 + 1) * PIECE, b"pieces": b""}, "too many pieces"),
    ({b"length": -5}, "info.length"),
    ({b"length": 0, b"pieces": b""}, "total size of the torrent is zero"),
]


@pytest.mark.parametrize(("override", "message"), META07_CASES)
def test_meta07_piece_count_and_size_abuse(override: dict[bytes, Any], message: str) -> None:
    data = torrent(override)
    assert not lt_valid(data)
    with pytest.raises(DecodeError) as info:
        parse_metainfo(data)
    assert message in str(info.value)


def test_meta07_v1_piece_length_need_not_be_a_power_of_two() -> None:
    """libtorrent only requires a power of two for v2 (BEP 52); large_piece_size.torrent relies on it."""
    data = torrent({b"piece length": 12345})
    assert lt_valid(data)
    assert parse_metainfo(data).piece_length == 12345


# ---------------------------------------------------------------- v2 / hybrid built by libtorrent


def _build_with_libtorrent(root: Path, flags: int, sizes: dict[str, int], piece: int = 2 * PIECE) -> Metainfo:
    content = root / "content"
    for i, (name, size) in enumerate(sizes.items()):
        path = content / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(hashlib.sha256(name.encode()).digest() * (size // 32) + bytes([i]) * (size % 32))
    return parse_metainfo(libtorrent_torrent(root, content, piece, flags))


SIZES = {"a.bin": 100_000, "sub/b.bin": 5_000, "sub/c.bin": 0, "z.bin": 40_000}


@pytest.mark.parametrize(
    ("flags", "version"),
    [
        (lambda: lt.create_torrent.v2_only, "v2"),
        (lambda: 0, "hybrid"),
        (lambda: lt.create_torrent.v1_only, "v1"),
    ],
)
def test_libtorrent_built_torrents_agree(tmp_path: Path, flags: Any, version: str) -> None:
    meta = _build_with_libtorrent(tmp_path, flags(), SIZES)
    ti = lt_info(meta.raw)
    hashes = ti.info_hashes()
    assert meta.version == version
    assert (meta.v1.hex if meta.v1 else None) == (str(hashes.v1) if hashes.has_v1() else None)
    assert (meta.v2.hex if meta.v2 else None) == (str(hashes.v2) if hashes.has_v2() else None)
    assert (meta.total_size, meta.num_pieces, meta.piece_length) == (
        ti.total_size(),
        ti.num_pieces(),
        ti.piece_length(),
    )
    assert len(meta.files) == ti.num_files()
    assert meta.wire_infohash == meta.swarm_id.raw[:20]
    assert meta.swarm_id == (meta.v1 or meta.v2)
    described = meta.describe()
    assert described["num_files"] == len(meta.files) and described["version"] == version


def test_v2_pieces_end_at_file_boundaries(tmp_path: Path) -> None:
    meta = _build_with_libtorrent(tmp_path, lt.create_torrent.v2_only, {"a.bin": 70_000, "b.bin": 5_000})
    # a.bin: 32768 + 32768 + 4464; b.bin starts a new piece: 5000
    assert [meta.piece_size(i) for i in range(meta.num_pieces)] == [32768, 32768, 4464, 5000]
    with pytest.raises(ValueError):
        meta.piece_size(meta.num_pieces)


@pytest.mark.parametrize("tail", ["with tail pad", "without tail pad"])
def test_meta08_hybrid_pads_count_in_the_v1_layout(tmp_path: Path, tail: str) -> None:
    meta = _build_with_libtorrent(tmp_path, 0, {"a.bin": 70_000, "b.bin": 5_000})
    info = decode(meta.info_raw)
    if tail == "without tail pad":
        info[b"files"] = [f for f in info[b"files"] if f is not info[b"files"][-1] or b"attr" not in f]
        total = sum(f[b"length"] for f in info[b"files"])
        info[b"pieces"] = info[b"pieces"][: 20 * -(-total // (2 * PIECE))]
    data = encode({b"info": info, b"piece layers": decode(meta.raw)[b"piece layers"]})
    ours, theirs = parse_metainfo(data), lt_info(data)
    assert (ours.total_size, len(ours.files), ours.num_pieces) == (
        theirs.total_size(),
        theirs.num_files(),
        theirs.num_pieces(),
    )
    assert [f.is_pad for f in ours.files][:2] == [False, True]


def test_meta08_hybrid_whose_v1_and_v2_layouts_disagree_is_rejected(tmp_path: Path) -> None:
    meta = _build_with_libtorrent(tmp_path, 0, {"a.bin": 70_000, "b.bin": 5_000})
    info = decode(meta.info_raw)
    info[b"files"] = [f for f in info[b"files"] if b"attr" not in f]  # drop the pad files
    info[b"pieces"] = info[b"pieces"][: 20 * -(-75_000 // (2 * PIECE))]
    data = encode({b"info": info, b"piece layers": decode(meta.raw)[b"piece layers"]})
    assert not lt_valid(data)
    with pytest.raises(DecodeError, match="do not match"):
        parse_metainfo(data)


def test_v2_piece_layer_that_does_not_hash_to_the_root_is_rejected(tmp_path: Path) -> None:
    meta = _build_with_libtorrent(tmp_path, lt.create_torrent.v2_only, {"a.bin": 100_000})
    top = decode(meta.raw)
    (root,) = top[b"piece layers"]
    top[b"piece layers"][root] = bytes(32) + top[b"piece layers"][root][32:]
    data = encode(top)
    assert not lt_valid(data)
    with pytest.raises(DecodeError, match="piece layers"):
        parse_metainfo(data)


# ---------------------------------------------------------------- robustness


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_arbitrary_bytes_parse_or_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_metainfo(data)


@given(st.integers(min_value=0, max_value=400), st.binary(min_size=1, max_size=12))
@settings(max_examples=500)
def test_mutated_torrent_parses_or_raises_decode_error(pos: int, noise: bytes) -> None:
    data = torrent(announce_list=[[b"http://a/ann"]], comment=b"hello")
    mutated = data[:pos] + noise + data[pos + len(noise) :]
    with contextlib.suppress(DecodeError):
        parse_metainfo(mutated)


def test_trailing_bytes_after_the_torrent_are_ignored() -> None:
    data = torrent()
    assert parse_metainfo(data + b"\n").v1 == parse_metainfo(data).v1


# ---------------------------------------------------------------- META-09 inside a torrent

META09_TORRENTS = [
    (b"6:lengthi5e", b"6:lengthi05e", "leading zero"),
    (b"6:lengthi5e", b"6:lengthi+5e", "leading '+'"),
    (b"6:lengthi5e", b"6:lengthie", "empty integer"),
    (b"4:name1:x", b"4:name-1:x", "negative string length"),
    (b"4:name1:x", b"4:name01:x", "leading zero"),
    (b"4:name1:x", b"4:name999:x", "string longer than the remaining input"),
    (b"4:name1:x", b"4:nameX1:x", "invalid type byte"),
]


@pytest.mark.parametrize(("good", "bad", "reason"), META09_TORRENTS)
def test_meta09_bencode_edge_cases_are_rejected_in_metainfo(good: bytes, bad: bytes, reason: str) -> None:
    """Stricter than libtorrent for v1 (it tolerates i05e as a soft error); META-09 says reject."""
    data = torrent()
    assert good in data
    with pytest.raises(DecodeError, match="bencode") as info:
        parse_metainfo(data.replace(good, bad, 1))
    assert reason in str(info.value)
