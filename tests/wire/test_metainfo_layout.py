"""Hybrid torrents whose v1 file list and v2 file tree must describe the same files, pad files and
path elements as libtorrent sees them, the piece length bounds of v1 and v2 torrents, and bytes after
the torrent dictionary: every crafted torrent is checked against libtorrent 2.1.1's own verdict (or
file list) in the same test."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from swarmscope.errors import DecodeError
from swarmscope.wire.bencode import decode, encode
from swarmscope.wire.metainfo import parse_metainfo

lt = pytest.importorskip("libtorrent")

PIECE = 16384
MAX_PIECE_LENGTH = 536854528  # libtorrent file_storage::max_piece_size: (2**15 - 1) * 16 KiB
MULTI = {"a.bin": 70_000, "b.bin": 5_000, "e.txt": 0}  # v1 list: a, pad, b, pad (tail), e (empty)
SINGLE = {"one.bin": 40_000}
Mutation = Callable[[dict[bytes, Any]], None]


def hybrid(root: Path, sizes: dict[str, int]) -> dict[bytes, Any]:
    """A hybrid torrent made by libtorrent itself (decoded), over files of the given sizes in bytes."""
    content = root / "content"
    for i, (name, size) in enumerate(sizes.items()):
        path = content / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(hashlib.sha256(name.encode()).digest() * (size // 32) + bytes([i]) * (size % 32))
    source = content / next(iter(sizes)) if len(sizes) == 1 else content
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fs = lt.file_storage()
        lt.add_files(fs, str(source))
        ct = lt.create_torrent(fs, 2 * PIECE, flags=0)
        lt.set_piece_hashes(ct, str(source.parent))
        top: dict[bytes, Any] = decode(lt.bencode(ct.generate()))
    return top


def lt_verdict(data: bytes) -> str:
    """``"ok"`` or libtorrent's error message."""
    try:
        lt.torrent_info(data)
    except RuntimeError as exc:
        return str(exc)
    return "ok"


def v1_file(info: dict[bytes, Any], name: bytes) -> dict[bytes, Any]:
    (entry,) = [f for f in info[b"files"] if f.get(b"path") == [name]]
    return entry


def _set(key: bytes, value: Any) -> Mutation:
    return lambda info: info.__setitem__(key, value)


def _set_in(file: bytes, key: bytes, value: Any) -> Mutation:
    return lambda info: v1_file(info, file).__setitem__(key, value)


def _rename(old: bytes, new: list[bytes]) -> Mutation:
    return _set_in(old, b"path", new)


def _append_empty(info: dict[bytes, Any]) -> None:
    info[b"files"].append({b"length": 0, b"path": [b"x"]})


def _drop_empty(info: dict[bytes, Any]) -> None:
    info[b"files"].remove(v1_file(info, b"e.txt"))


def _empty_first(info: dict[bytes, Any]) -> None:
    _drop_empty(info)
    info[b"files"].insert(0, {b"length": 0, b"path": [b"e.txt"]})


def _tree_key(new: bytes, nest: bytes | None = None) -> Mutation:
    def mutate(info: dict[bytes, Any]) -> None:
        ((_, leaf),) = info[b"file tree"].items()
        info[b"file tree"] = {nest: {new: leaf}} if nest else {new: leaf}

    return mutate


def _bitcomet_pads(info: dict[bytes, Any]) -> None:
    for entry in info[b"files"]:
        if b"p" in entry.get(b"attr", b""):
            entry[b"path"] = [b"_____padding_file_0"]


def _drop_tail_pad(info: dict[bytes, Any]) -> None:
    info[b"files"] = [f for f in info[b"files"] if f.get(b"path") != [b".pad", b"27768"]]


# (label, layout, mutation of the info dict, libtorrent accepts it)
LAYOUTS: list[tuple[str, dict[str, int], Mutation, bool]] = [
    ("v1 path renamed", MULTI, _rename(b"a.bin", [b"z.bin"]), False),
    ("v1 path differs only in case", MULTI, _rename(b"b.bin", [b"B.bin"]), False),
    ("v1 file moved into a directory", MULTI, _rename(b"a.bin", [b"sub", b"a.bin"]), False),
    ("v1 path.utf-8 differs", MULTI, _set_in(b"a.bin", b"path.utf-8", [b"u"]), False),
    ("v1 lacks the empty file", MULTI, _drop_empty, False),
    ("v1 empty file moved to the front", MULTI, _empty_first, False),
    ("v1 has an extra empty file", MULTI, _append_empty, False),
    ("single: name is not the file tree key", SINGLE, _set(b"name", b"other.bin"), False),
    ("single: name.utf-8 is not the file tree key", SINGLE, _set(b"name.utf-8", b"other.bin"), False),
    ("single: v2 file inside a directory", SINGLE, _tree_key(b"one.bin", b"dir"), False),
    ("single: file tree key renamed", SINGLE, _tree_key(b"two.bin"), False),
    ("torrent name holds BitComet's pad marker", MULTI, _set(b"name", b"_____padding_file_1"), False),
    # libtorrent ignores attributes, pad file names, and names of empty files; it accepts a v1 list
    # without the tail pad (hybrids made by libtorrent 2.0.0-2.0.7)
    ("v1 executable and hidden attributes", MULTI, _set_in(b"a.bin", b"attr", b"xh"), True),
    ("v1 pad files named BitComet style", MULTI, _bitcomet_pads, True),
    ("v1 empty file renamed", MULTI, _rename(b"e.txt", [b"other.txt"]), True),
    ("v1 without the tail pad", MULTI, _drop_tail_pad, True),
    ("single: file tree key with a leading slash", SINGLE, _tree_key(b"/one.bin"), True),
    ("unchanged multi-file", MULTI, lambda i: None, True),
    ("unchanged single-file", SINGLE, lambda i: None, True),
]


@pytest.mark.parametrize(
    ("layout", "mutate", "accepted"), [c[1:] for c in LAYOUTS], ids=[c[0] for c in LAYOUTS]
)
def test_hybrid_v1_and_v2_files_must_match_like_libtorrent(
    tmp_path: Path, layout: dict[str, int], mutate: Mutation, accepted: bool
) -> None:
    top = hybrid(tmp_path, layout)
    mutate(top[b"info"])
    data = encode(top)
    verdict = lt_verdict(data)
    assert (verdict == "ok") is accepted, verdict
    if accepted:
        meta = parse_metainfo(data)
        theirs = lt.torrent_info(data)
        assert meta.version == "hybrid"
        assert (len(meta.files), meta.total_size) == (theirs.num_files(), theirs.total_size())
        return
    assert "v1 and v2 file metadata does not match" in verdict
    with pytest.raises(DecodeError, match="the v1 file list and the v2 file tree do not match") as info:
        parse_metainfo(data)
    assert info.value.reason.startswith("info.files: ")


def test_hybrid_mismatch_message_names_the_file(tmp_path: Path) -> None:
    top = hybrid(tmp_path, MULTI)
    _rename(b"a.bin", [b"z.bin"])(top[b"info"])
    with pytest.raises(DecodeError) as info:
        parse_metainfo(encode(top))
    assert "file 0" in info.value.reason and "'content/z.bin'" in info.value.reason
    assert "'content/a.bin'" in info.value.reason


V1_PADS = [
    ({b"name": b"_____padding_file_1", b"files": [{b"length": 5, b"path": [b"a"]}]}, [True]),
    ({b"name": b"x", b"files": [{b"length": 5, b"path": [b"a_____padding_file_"]}]}, [True]),
    ({b"name": b"x", b"files": [{b"length": 2, b"path": [b"a"]}, {b"length": 3, b"path": [b"b"]}]}, [0, 0]),
    ({b"name": b"x_____padding_file_", b"length": 5}, [True]),
    ({b"name": b"x", b"length": 5, b"attr": b"p"}, [True]),
    ({b"name": b"x", b"length": 5}, [False]),
]


@pytest.mark.parametrize(("fields", "pads"), V1_PADS)
def test_v1_pad_files_are_the_ones_libtorrent_sees(fields: dict[bytes, Any], pads: list[bool]) -> None:
    """BEP 47 ``attr`` ``p``, or BitComet's marker anywhere in the path, the torrent name included."""
    data = encode({b"info": {b"piece length": PIECE, b"pieces": bytes(20), **fields}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        storage = lt.torrent_info(data).files()
    theirs = [bool(storage.file_flags(i) & storage.flag_pad_file) for i in range(storage.num_files())]
    assert [f.is_pad for f in parse_metainfo(data).files] == theirs == [bool(p) for p in pads]


@pytest.mark.parametrize("element", [b".", b"..", b"", b"/", b"a/b", b"...", b"a\x01"])
def test_v1_path_elements_are_sanitised_like_libtorrent(element: bytes) -> None:
    """An element that sanitises to nothing becomes ``_`` (libtorrent's ``force_element``)."""
    files = [{b"length": 5, b"path": [element, b"a", element]}, {b"length": 0, b"path": [b"zz"]}]
    data = encode({b"info": {b"name": b"n", b"piece length": PIECE, b"pieces": bytes(20), b"files": files}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        storage = lt.torrent_info(data).files()
    theirs = [storage.file_path(i) for i in range(storage.num_files())]
    assert ["/".join(("n", *f.path)) for f in parse_metainfo(data).files] == theirs


@pytest.mark.parametrize("key", [b".", b"..", b"/"])
def test_v2_file_tree_keys_are_sanitised_like_libtorrent(tmp_path: Path, key: bytes) -> None:
    """The same rule in the v2 file tree, so a hybrid naming a file ``.`` in both lists matches."""
    top = hybrid(tmp_path, MULTI)
    tree = top[b"info"][b"file tree"]
    top[b"info"][b"file tree"] = {key: tree.pop(b"a.bin"), **tree}
    v1_file(top[b"info"], b"a.bin")[b"path"] = [key]
    data = encode(top)
    assert lt_verdict(data) == "ok"
    meta = parse_metainfo(data)
    assert [f.path for f in meta.files if f.length and not f.is_pad] == [("_",), ("b.bin",)]


# ---------------------------------------------------------------- piece length


def v1_torrent(piece_length: int) -> bytes:
    """A v1 single-file torrent of 5 bytes with the given ``piece length`` and 20 bytes per piece."""
    pieces = bytes(20 * -(-5 // piece_length)) if piece_length > 0 else bytes(20)
    info = {b"name": b"x", b"piece length": piece_length, b"length": 5, b"pieces": pieces}
    return encode({b"info": info})


@pytest.mark.parametrize("piece_length", [1, 3, 12345, PIECE - 1, PIECE + 1, MAX_PIECE_LENGTH])
def test_v1_piece_length_needs_no_power_of_two_like_libtorrent(piece_length: int) -> None:
    """BEP 3 sets no rule; libtorrent accepts 1 .. file_storage::max_piece_size for v1."""
    data = v1_torrent(piece_length)
    assert lt_verdict(data) == "ok"
    assert parse_metainfo(data).piece_length == lt.torrent_info(data).piece_length() == piece_length


@pytest.mark.parametrize("piece_length", [MAX_PIECE_LENGTH + 1, 2**29, 2**30 - 1, 2**31, 0, -1])
def test_v1_piece_length_above_libtorrents_maximum_is_refused(piece_length: int) -> None:
    data = v1_torrent(piece_length)
    assert "'piece length'" in lt_verdict(data)
    with pytest.raises(DecodeError) as info:
        parse_metainfo(data)
    assert info.value.reason.startswith(f"info.piece length: {piece_length} ")


@pytest.mark.parametrize("piece_length", [12345, 8192, 3 * PIECE, PIECE + 1])
def test_v2_piece_length_must_be_a_power_of_two_of_at_least_16_kib(tmp_path: Path, piece_length: int) -> None:
    """BEP 52: "It must be a power of two and at least 16KiB" (hybrid torrents too)."""
    top = hybrid(tmp_path, MULTI)
    top[b"info"][b"piece length"] = piece_length
    data = encode(top)
    assert "'piece length'" in lt_verdict(data)
    with pytest.raises(DecodeError) as info:
        parse_metainfo(data)
    assert info.value.reason.startswith(f"info.piece length: {piece_length} is not a power of two")


# ---------------------------------------------------------------- bytes after the torrent


@pytest.mark.parametrize("tail", [b"\n", b"\r\ngarbage", bytes(64), b"d1:ai1ee", b"e", b"i5"])
def test_bytes_after_the_torrent_dictionary_are_ignored_like_libtorrent(tmp_path: Path, tail: bytes) -> None:
    """libtorrent's bdecode stops after the first value; a torrent with a tail keeps its infohashes."""
    data = encode(hybrid(tmp_path, MULTI))
    assert lt_verdict(data + tail) == "ok"
    ours, theirs = parse_metainfo(data + tail), lt.torrent_info(data + tail).info_hashes()
    assert ours.v1 is not None and ours.v2 is not None
    assert (ours.v1.hex, ours.v2.hex) == (str(theirs.v1), str(theirs.v2))
    assert ours.info_raw == parse_metainfo(data).info_raw
