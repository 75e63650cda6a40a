"""Reference copies on disk → block hash tables: real WebTorrent fixtures with their real content, and
torrents made by libtorrent 2.1 (v1, v2-only, hybrid with BEP 47 pad files) over files written here."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from swarmscope.errors import InputError
from swarmscope.evidence.probe.block_table import block_hashes
from swarmscope.reference import PieceStatus, iter_reference_pieces, load_reference, resolve_root
from swarmscope.wire.metainfo import Metainfo, parse_metainfo
from swarmscope.wire.types import BLOCK_SIZE

# (torrent, pieces, content path below content/) for the WebTorrent fixtures that ship their content
WEBTORRENT = [
    ("alice", 10, "alice.txt"),
    ("leaves", 23, "Leaves of Grass by Walt Whitman.epub"),
    ("folder", 1, "folder"),
    ("numbers", 1, "numbers"),
    ("lots-of-numbers", 1, "lots-of-numbers"),
]


@pytest.fixture()
def webtorrent(fixtures_dir: Path) -> Path:
    base = fixtures_dir / "webtorrent"
    if not (base / "content").is_dir():
        pytest.skip(f"no WebTorrent fixture content at {base / 'content'}")
    return base


def meta_of(path: Path) -> Metainfo:
    return parse_metainfo(path.read_bytes())


@pytest.mark.parametrize(("name", "pieces", "rel"), WEBTORRENT)
def test_real_fixtures_verify_every_piece(webtorrent: Path, name: str, pieces: int, rel: str) -> None:
    meta = meta_of(webtorrent / f"{name}.torrent")
    stored: dict[int, bytes] = {}
    result = load_reference(meta, webtorrent / "content", on_piece=stored.__setitem__)
    assert (result.verified, result.missing, result.mismatched, result.unhashed) == (pieces, 0, 0, 0)
    assert result.root == webtorrent / "content" / rel
    assert len(result.table) == pieces and sorted(stored) == list(range(pieces))
    for index, data in stored.items():  # the stored pieces re-derive the proofs (a third party's check)
        assert len(data) == meta.piece_size(index)
        assert b"".join(p.sha256 for p in result.table.piece_blocks(index)) == block_hashes(data)
    # the same content found from the file/directory itself, not only from its parent
    assert load_reference(meta, webtorrent / "content" / rel).verified == pieces


def test_real_single_file_blocks_match_the_bytes_on_disk(webtorrent: Path) -> None:
    meta = meta_of(webtorrent / "alice.torrent")
    content = (webtorrent / "content" / "alice.txt").read_bytes()
    table = load_reference(meta, webtorrent / "content").table
    last = table.piece_blocks(meta.num_pieces - 1)
    assert len(last) == 1 and last[0].length == len(content) - (meta.num_pieces - 1) * meta.piece_length
    for proof in table.candidates(seed=1, count=5):
        start = proof.piece * meta.piece_length + proof.begin
        assert hashlib.sha256(content[start : start + proof.length]).digest() == proof.sha256


def test_a_damaged_copy_counts_mismatched_pieces(webtorrent: Path, tmp_path: Path) -> None:
    meta = meta_of(webtorrent / "alice.torrent")
    data = bytearray((webtorrent / "content" / "alice.txt").read_bytes())
    data[3 * meta.piece_length + 10] ^= 0xFF
    (tmp_path / "alice.txt").write_bytes(bytes(data))
    result = load_reference(meta, tmp_path)
    assert (result.verified, result.mismatched, result.mismatched_pieces) == (9, 1, (3,))
    assert 3 not in result.table and 2 in result.table and 4 in result.table


def test_missing_and_short_files_are_clear_input_errors(webtorrent: Path, tmp_path: Path) -> None:
    meta = meta_of(webtorrent / "numbers.torrent")
    with pytest.raises(InputError, match="none of the 3 files"):
        load_reference(meta, tmp_path)
    shutil.copytree(webtorrent / "content" / "numbers", tmp_path / "numbers")
    (tmp_path / "numbers" / "2.txt").unlink()
    (tmp_path / "numbers" / "3.txt").write_bytes(b"3")
    with pytest.raises(InputError) as info:
        load_reference(meta, tmp_path)
    message = str(info.value)
    assert "2.txt: missing" in message and "3.txt: 1 bytes, the torrent says 3 (short file)" in message
    lenient = load_reference(meta, tmp_path, strict=False)
    assert (lenient.verified, lenient.missing, len(lenient.table)) == (0, 1, 0)
    single = meta_of(webtorrent / "alice.torrent")
    with pytest.raises(InputError, match=r"no file 'alice\.txt'"):
        resolve_root(single, tmp_path)
    with pytest.raises(InputError, match="not a directory"):
        resolve_root(meta, tmp_path / "nothing-here")


def make_content(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "a.bin").write_bytes(hashlib.sha256(b"a").digest() * 2400)  # 76 800 bytes: 2.3 pieces
    (root / "sub" / "b.bin").write_bytes(b"xyz" * 20000)  # 60 000 bytes
    (root / "c.txt").write_bytes(b"hello")  # a tiny file followed by a pad file
    (root / "empty").write_bytes(b"")


def make_torrent(lt: Any, base: Path, flags: int) -> Metainfo:
    ct = lt.create_torrent(lt.list_files(str(base / "work")), 32 * 1024, flags=flags)
    lt.set_piece_hashes(ct, str(base))
    return parse_metainfo(lt.bencode(ct.generate()))


@pytest.mark.parametrize(
    ("kind", "flags"), [("v1", "v1_only"), ("v2", "v2_only"), ("hybrid", None)], ids=["v1", "v2", "hybrid"]
)
def test_libtorrent_made_torrents_of_every_version(tmp_path: Path, kind: str, flags: str | None) -> None:
    lt = pytest.importorskip("libtorrent", reason="libtorrent (PyPI) makes the v2 and hybrid torrents")
    make_content(tmp_path / "work")
    meta = make_torrent(lt, tmp_path, getattr(lt.create_torrent, flags) if flags else 0)
    assert meta.version == kind
    if kind != "v1":
        assert any(f.is_pad for f in meta.files)  # BEP 47 / BEP 52 alignment: pad files are read as zeros
    pieces = list(iter_reference_pieces(meta, tmp_path))
    assert [p.index for p in pieces] == list(range(meta.num_pieces))
    assert all(p.status is PieceStatus.VERIFIED for p in pieces), [p.status for p in pieces]
    result = load_reference(meta, tmp_path / "work")
    assert result.verified == meta.num_pieces and result.root == tmp_path / "work"
    for p in pieces:
        assert p.data is not None and len(p.data) == meta.piece_size(p.index)
        blocks = result.table.piece_blocks(p.index)
        assert [b.begin for b in blocks] == list(range(0, len(p.data), BLOCK_SIZE))
    # a corrupted tail of one file: only the pieces holding it fail
    path = tmp_path / "work" / "sub" / "b.bin"
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    damaged = load_reference(meta, tmp_path)
    assert damaged.mismatched == 1 and damaged.verified == meta.num_pieces - 1
