"""Piece checks: SHA-1 on real webtorrent content, BEP 52 merkle checks on v2/hybrid torrents built by
libtorrent, and META-08 (a hybrid piece is verified only when every hash matches)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from swarmscope.errors import DecodeError
from swarmscope.wire.bencode import decode, encode
from swarmscope.wire.metainfo import Metainfo, parse_metainfo
from swarmscope.wire.piece_hash import (
    check_piece,
    expected_piece_hashes,
    leaf_hashes,
    merkle_root,
    v2_piece_hash,
)
from swarmscope.wire.types import BLOCK_SIZE
from tests.wire.lt_build import libtorrent_torrent

lt = pytest.importorskip("libtorrent")


def piece_space(meta: Metainfo, content: Path) -> bytes:
    """Concatenate the files (pad files as zeros) in piece-space order."""
    out = bytearray()
    for entry in meta.files:
        if entry.is_pad:
            out += bytes(entry.length)
        elif entry.length:
            out += (content.joinpath(*entry.path) if entry.path else content).read_bytes()
    return bytes(out)


def pieces_of(meta: Metainfo, blob: bytes) -> list[bytes]:
    """Cut the piece space into pieces of ``piece_size`` (v2-only pieces stop at file ends)."""
    starts = [i * meta.piece_length for i in range(meta.num_pieces)]
    return [blob[s : s + meta.piece_size(i)] for i, s in enumerate(starts)]


@pytest.mark.parametrize(
    ("torrent", "content"),
    [
        ("numbers.torrent", "numbers"),  # multi-file, one piece spanning three files
        ("lots-of-numbers.torrent", "lots-of-numbers"),  # multi-file, nested directories
        ("folder.torrent", "folder"),
        ("alice.torrent", "alice.txt"),  # single file, 10 pieces
        ("leaves.torrent", "Leaves of Grass by Walt Whitman.epub"),  # 23 pieces
    ],
)
def test_webtorrent_every_piece_verifies_and_corruption_fails(
    fixtures_dir: Path, torrent: str, content: str
) -> None:
    meta = parse_metainfo((fixtures_dir / "webtorrent" / torrent).read_bytes())
    blob = piece_space(meta, fixtures_dir / "webtorrent" / "content" / content)
    assert len(blob) == meta.total_size
    pieces = pieces_of(meta, blob)
    assert all(check_piece(meta, i, data) for i, data in enumerate(pieces))
    for i in {0, meta.num_pieces - 1}:
        corrupted = bytearray(pieces[i])
        corrupted[len(corrupted) // 2] ^= 0x01
        assert not check_piece(meta, i, bytes(corrupted))
        assert not check_piece(meta, i, pieces[i][:-1])  # short
        assert not check_piece(meta, i, pieces[i] + b"\x00")  # long
    if meta.num_pieces > 1:
        assert not check_piece(meta, 0, pieces[1])  # right size, wrong piece


def test_index_out_of_range_raises(fixtures_dir: Path) -> None:
    meta = parse_metainfo((fixtures_dir / "webtorrent" / "alice.torrent").read_bytes())
    for index in (-1, meta.num_pieces, 2**32):
        with pytest.raises(DecodeError, match="piece index"):
            check_piece(meta, index, b"")


# ------------------------------------------------------------------ v2 / hybrid built by libtorrent

SIZES = {
    "a.bin": 100_000,  # 4 pieces of 32 KiB, last one partial
    "sub/b.bin": 5_000,  # smaller than one block: root = leaf
    "sub/c.bin": 40_000,  # smaller than one piece, 3 blocks → tree of 4 leaves
    "d.bin": 32_768,  # exactly one piece
    "e.bin": 0,
}


def build(
    root: Path, flags: int, sizes: dict[str, int] = SIZES, piece: int = 2 * BLOCK_SIZE
) -> tuple[Metainfo, Path]:
    content = root / "content"
    for i, (name, size) in enumerate(sizes.items()):
        path = content / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            (hashlib.sha512(name.encode()).digest() * (size // 64 + 1))[:size] if i % 2 else bytes([i]) * size
        )
    return parse_metainfo(libtorrent_torrent(root, content, piece, flags)), content


@pytest.mark.parametrize("kind", ["v2", "hybrid"])
def test_libtorrent_v2_and_hybrid_every_piece_verifies(tmp_path: Path, kind: str) -> None:
    meta, content = build(tmp_path, lt.create_torrent.v2_only if kind == "v2" else 0)
    assert meta.version == kind
    pieces = pieces_of(meta, piece_space(meta, content))
    assert [check_piece(meta, i, p) for i, p in enumerate(pieces)] == [True] * meta.num_pieces
    for i, data in enumerate(pieces):
        bad = bytearray(data)
        bad[-1] ^= 0xFF
        assert not check_piece(meta, i, bytes(bad))


def test_v2_piece_layers_and_roots_match_libtorrent(tmp_path: Path) -> None:
    meta, content = build(tmp_path, lt.create_torrent.v2_only)
    for entry in meta.files:
        if entry.is_pad or not entry.length:
            continue
        data = content.joinpath(*entry.path).read_bytes()
        leaves = leaf_hashes(data)
        width = 1 << max(0, len(leaves) - 1).bit_length()
        assert merkle_root(leaves, width) == entry.pieces_root, entry.path
        if entry.length > meta.piece_length:
            layer = meta.piece_layers[entry.pieces_root or b""]
            chunks = [data[i : i + meta.piece_length] for i in range(0, len(data), meta.piece_length)]
            assert b"".join(v2_piece_hash(c, meta.piece_length, False) for c in chunks) == layer


def test_single_block_file_root_is_the_leaf_hash(tmp_path: Path) -> None:
    meta, content = build(tmp_path, lt.create_torrent.v2_only, {"one.bin": 1000})
    assert meta.files[0].pieces_root == hashlib.sha256((content / "one.bin").read_bytes()).digest()


def test_meta08_hybrid_with_disagreeing_v1_hash_never_verifies(tmp_path: Path) -> None:
    meta, content = build(tmp_path, 0)
    pieces = pieces_of(meta, piece_space(meta, content))
    top = decode(meta.raw)
    top[b"info"][b"pieces"] = bytes(20) + top[b"info"][b"pieces"][20:]  # v1 hash of piece 0 is wrong
    broken = parse_metainfo(encode(top))
    hashes = expected_piece_hashes(broken, 0)
    assert hashes.sha256 is not None and hashes.sha1 == bytes(20)
    assert (
        v2_piece_hash(pieces[0][: hashes.file_bytes], broken.piece_length, hashes.single_piece_file)
        == hashes.sha256
    )
    assert not check_piece(broken, 0, pieces[0])
    assert check_piece(broken, 1, pieces[1])


def test_v2_without_piece_layers_cannot_verify_multi_piece_files(tmp_path: Path) -> None:
    meta, content = build(tmp_path, lt.create_torrent.v2_only)
    top: dict[bytes, Any] = decode(meta.raw)
    del top[b"piece layers"]
    bare = parse_metainfo(encode(top))
    pieces = pieces_of(bare, piece_space(bare, content))
    with pytest.raises(DecodeError, match="no hash known"):
        check_piece(bare, 0, pieces[0])
    small = next(i for i in range(bare.num_pieces) if expected_piece_hashes(bare, i).single_piece_file)
    assert check_piece(bare, small, pieces[small])  # files of one piece still verify by their root
