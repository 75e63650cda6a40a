"""The bencode decoder's cost bound (``wire/bencode.py`` "Cost bound") and each caller's value cap.

A decode that returns allocates at most 16 times its input + 1 MiB (``tracemalloc``'s peak, CPython 3.11);
anything that would cost more is refused with one DecodeError line naming the bound, before its objects
are built. Genuine large inputs (a 50,000-peer tracker reply, a dict-model reply, a v2 file tree of
20,000 files, v1 file lists) still decode.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from swarmscope.errors import DecodeError
from swarmscope.wire import bencode, extension, http_tracker, krpc, pex
from swarmscope.wire.metainfo import MAX_VALUES as METAINFO_VALUES
from swarmscope.wire.metainfo import parse_metainfo

N = 30_000


def _keys(n: int, width: int, value: bytes) -> bytes:
    return b"d" + b"".join(b"%d:%0*d%s" % (width, width, i, value) for i in range(n)) + b"e"


SHAPES = {  # hostile and genuine shapes, each well above ALWAYS_WITHIN
    "empty lists": b"l" + b"le" * N + b"e",
    "empty dicts": b"l" + b"de" * N + b"e",
    "nested pairs": b"l" + b"llee" * N + b"e",
    "one-key dicts": b"l" + b"d1:ai0ee" * N + b"e",
    "dicts of 6 ints": b"l" + b"d1:ai300e1:bi300e1:ci300e1:di300e1:ei300e1:fi300ee" * (N // 6) + b"e",
    "dicts of 8 keys": b"l" + b"d1:a0:1:b0:1:c0:1:d0:1:e0:1:f0:1:g0:1:h0:e" * (N // 8) + b"e",
    "empty strings": b"l" + b"0:" * N + b"e",
    "2-byte strings": b"l" + b"2:ab" * N + b"e",
    "3-digit ints": b"l" + b"i300e" * N + b"e",
    "20-digit ints": b"l" + b"i12345678901234567890e" * N + b"e",
    "keys to empty strings": _keys(N, 5, b"0:"),
    "keys to empty lists": _keys(N, 5, b"le"),
    "keys to ints": _keys(N, 6, b"i300e"),
    "unsorted dicts": b"l" + b"d1:b0:1:a0:e" * N + b"e",
    "lists beside an unsorted dict": b"l" + b"le" * N + b"d1:b0:1:a0:ee",
    "strings beside an unsorted dict": b"l" + b"2:ab" * N + b"d1:b0:1:a0:ee",
    "v1 file list": b"d5:filesl"
    + b"".join(b"d6:lengthi%de4:pathl8:f%07dee" % (1000 + i, i) for i in range(N))
    + b"ee",
}


def _peak(call: Callable[[bytes], object], raw: bytes) -> tuple[int, str]:
    """tracemalloc's peak while ``call(raw)`` runs, and ``ok`` or the refusal."""
    tracemalloc.start()
    try:
        call(raw)
        outcome = "ok"
    except DecodeError as exc:
        outcome = exc.reason
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, outcome


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_decode_allocates_at_most_16_times_its_input_plus_1_mib(name: str) -> None:
    raw = SHAPES[name]
    assert len(raw) > bencode.ALWAYS_WITHIN
    for decode in (bencode.decode, lambda data: bencode.decode_prefix(data + b"trailing")):
        peak, outcome = _peak(decode, raw)
        assert peak <= bencode.COST_FACTOR * len(raw) + bencode.COST_SLACK, (name, peak, outcome)
        assert outcome == "ok" or "would allocate over" in outcome, outcome


def test_hostile_shapes_are_refused_before_anything_is_built() -> None:
    for name in ("empty lists", "empty dicts", "nested pairs", "one-key dicts", "keys to empty lists"):
        peak, outcome = _peak(bencode.decode, SHAPES[name])
        assert peak < 64 << 10, (name, peak)
        bound = bencode.COST_FACTOR * len(SHAPES[name]) + bencode.COST_SLACK
        assert outcome == (
            f"bencode: decoding would allocate over {bound} bytes (the bound for an input this size: a"
            " multiple of it + 1 MiB)"
        )


def test_genuine_shapes_decode_as_bencode2_decodes_them() -> None:
    for name in ("v1 file list", "2-byte strings", "3-digit ints", "keys to ints", "dicts of 6 ints"):
        assert bencode.decode(SHAPES[name]) == bencode.bdecode(SHAPES[name]), name


def test_the_cap_on_values_is_exact_and_named() -> None:
    raw = b"l" + b"i1e" * 499 + b"e"  # 500 values
    assert len(bencode.decode(raw, 500)) == 499
    assert bencode.decode_canonical(raw, 500) is not None
    assert bencode.decode_canonical(raw, 499) is None  # not decided here: the scanner counts exactly
    with pytest.raises(DecodeError, match=r"^bencode: more than 499 values \(this message's bound\)"):
        bencode.decode(raw, 499)
    long = b"l" + b"le" * 600 + b"e"  # 1,202 bytes: counted, not assumed small
    with pytest.raises(DecodeError, match="more than 500 values"):
        bencode.decode_prefix(long + b"xyz", 0, 500)


def _krpc_reply(values: int) -> bytes:
    """A get_peers reply holding exactly ``values`` values (each peer one 6-byte string)."""
    peers = max(values - 11, 0)  # the top dict and its 3 keys, r and its 2 keys, id, values, t, y: 11
    return bencode.encode({b"r": {b"id": b"n" * 20, b"values": [bytes(6)] * peers}, b"t": b"aa", b"y": b"r"})


def test_krpc_datagrams_are_capped_at_500_values_like_libtorrent() -> None:
    assert len(krpc.decode_message(_krpc_reply(krpc.MAX_VALUES)).values) == krpc.MAX_VALUES - 11
    with pytest.raises(DecodeError, match="more than 500 values"):
        krpc.decode_message(_krpc_reply(krpc.MAX_VALUES + 1))
    hostile = b"d1:rd2:id20:" + b"a" * 20 + b"5:nodesl" + b"le" * 32_000 + b"ee1:t2:aa1:y1:re"  # 64 KB
    assert bencode.decode_canonical(hostile, krpc.MAX_VALUES) is None
    peak, outcome = _peak(lambda data: krpc.decode_message(data), hostile)
    assert "more than 500 values" in outcome and peak < 64 << 10


def _handshake(values: int) -> bytes:
    """An extension handshake of exactly ``values`` values: ``m`` names ``(values - 3) // 2`` extensions."""
    m = {b"x%04d" % i: 1 + i % 255 for i in range((values - 3) // 2)}
    return bencode.encode({b"m": m})


def test_extension_payloads_are_capped_at_1000_values() -> None:
    assert len(extension.decode_handshake(_handshake(999)).m) == 498
    with pytest.raises(DecodeError, match="more than 1000 values"):
        extension.decode_handshake(_handshake(1003))
    wide = b"d1:ml" + b"le" * 500_000 + b"ee"  # 1 MiB: the message length cap
    peak, outcome = _peak(extension.decode_handshake, wide)
    assert "more than 1000 values" in outcome and peak < 64 << 10
    with pytest.raises(DecodeError, match="more than 1000 values"):
        pex.decode_pex(b"d5:addedl" + b"0:" * 1000 + b"ee")
    with pytest.raises(DecodeError, match="more than 1000 values"):
        extension.decode_metadata_message(b"d8:msg_typei0e5:piecei0e1:xl" + b"le" * 1000 + b"ee")


def test_the_handshake_keeps_no_decoded_dict() -> None:
    info = extension.decode_handshake(b"d1:md6:ut_pexi1ee1:xl" + b"i1e" * 900 + b"ee")
    assert info.m == {"ut_pex": 1} and not hasattr(info, "raw")


def test_tracker_replies_are_capped_at_20000_values() -> None:
    peers = b"".join(bytes([10, i >> 16, (i >> 8) & 255, i & 255, 0x1A, 0xE1]) for i in range(50_000))
    compact = bencode.encode({b"interval": 1800, b"peers": peers})  # BEP 23: 50,000 peers in one string
    assert len(http_tracker.parse_announce_response(compact).peers) == 50_000
    dict_peers = [
        {b"ip": b"10.0.%d.%d" % (i // 250, 1 + i % 250), b"peer id": b"%020d" % i, b"port": 6881}
        for i in range(2_856)
    ]  # 7 values a peer: 19,992, and the top dict, its 2 keys, interval and the list: 19,997
    reply = http_tracker.parse_announce_response(bencode.encode({b"interval": 1800, b"peers": dict_peers}))
    assert len(reply.peers) == 2_856
    hostile = b"d5:peersl" + b"le" * (2 << 20) + b"ee"  # 4 MiB, what a 4 KB gzip body inflates to
    peak, outcome = _peak(http_tracker.parse_announce_response, hostile)
    assert "more than 20000 values" in outcome and "\n" not in outcome and peak < 64 << 10


def _v2_torrent(files: int) -> bytes:
    """A v2 torrent of ``files`` files of 1,000 bytes each (one piece each: no piece layers needed)."""
    tree = {
        b"f%06d" % i: {b"": {b"length": 1000, b"pieces root": hashlib.sha256(b"%d" % i).digest()}}
        for i in range(files)
    }
    info = {b"file tree": tree, b"meta version": 2, b"name": b"big", b"piece length": 16384}
    return bencode.encode({b"info": info, b"piece layers": {}})


def test_a_large_v2_file_tree_parses_and_a_hostile_metainfo_is_refused_in_bounded_memory() -> None:
    data = _v2_torrent(20_000)
    peak, outcome = _peak(lambda raw: bencode.decode_prefix(raw, 0, METAINFO_VALUES), data)
    assert outcome == "ok" and peak <= 16 * len(data) + (1 << 20), peak
    assert sum(not f.is_pad for f in parse_metainfo(data).files) == 20_000  # and a pad file after each
    hostile = b"d4:infol" + b"de" * (1 << 20) + b"ee"  # 2 MiB of empty dicts: weighed 116 times its bytes
    peak, outcome = _peak(parse_metainfo, hostile)
    assert "would allocate over" in outcome and peak < 64 << 10
    many = b"d4:infol" + b"le" * 2_000_001 + b"ee"  # under the torrent's 64 times, over its value cap
    peak, outcome = _peak(parse_metainfo, many)
    assert "values" in outcome and peak < 64 << 10, outcome
    assert METAINFO_VALUES == 2_000_000  # libtorrent bdecode's token_limit


def test_every_real_torrent_decodes_as_before(fixtures_dir: Path) -> None:
    for path in sorted(fixtures_dir.glob("**/*.torrent")):
        raw = path.read_bytes()
        try:
            expected = bencode.bdecode(raw)
        except Exception:  # malformed on purpose
            continue
        try:
            assert bencode.decode_prefix(raw, 0, METAINFO_VALUES)[0] == expected, path
        except DecodeError as exc:  # META-09 strictness (deep nesting, leading zeros), never a bound
            assert "allocate" not in exc.reason and "values" not in exc.reason, (path, exc.reason)
