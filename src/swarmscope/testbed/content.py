"""Deterministic test content and its .torrent for the real-swarm testbed.

The content is pseudo-random bytes derived from a seed (SHA-256 in counter mode), so every run builds the
same file and therefore the same infohash. The .torrent is made by libtorrent's own ``create_torrent``
(BEP 3 v1 metainfo) so the swarm's peers agree on it byte for byte. Variants of the file are written for
the adversarial peers: a *partial* copy (only some pieces correct) and a *corrupt* copy (every piece wrong).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from swarmscope.wire.types import BLOCK_SIZE

DEFAULT_SIZE = 3 * 1024 * 1024  # bytes
DEFAULT_PIECE_LENGTH = 64 * 1024  # bytes; BEP 3 "piece length"
DEFAULT_SEED = b"swarmscope-testbed"
CONTENT_NAME = "swarmscope-testbed.bin"


@dataclass(frozen=True)
class TorrentContent:
    """A generated work: its payload file, its .torrent and the facts tests compare against.

    Attributes:
        torrent_path: the .torrent file (bencoded, v1 or hybrid, announce = the HTTP tracker if given).
        data_dir: directory holding the good payload file (the ``save_path`` for seeds).
        name: file name inside ``data_dir`` (the info dict ``name``).
        infohash_hex: SHA-1 of the bencoded info dict, 40 lower-case hex digits (BEP 3).
        size: payload length in bytes.
        piece_length: bytes per piece.
        num_pieces: number of pieces.
        piece_hashes: SHA-1 digest of each piece, in order.
        infohash_v2_hex: for a hybrid torrent, SHA-256 of the info dict (64 hex digits, BEP 52), else None.
    """

    torrent_path: Path
    data_dir: Path
    name: str
    infohash_hex: str
    size: int
    piece_length: int
    num_pieces: int
    piece_hashes: tuple[bytes, ...]
    infohash_v2_hex: str | None = None

    def piece_span(self, index: int) -> tuple[int, int]:
        """Return (offset, length) in bytes of piece ``index`` in the payload (the last one may be short)."""
        if not 0 <= index < self.num_pieces:
            raise IndexError(f"piece index {index} out of range 0..{self.num_pieces - 1}")
        offset = index * self.piece_length
        return offset, min(self.piece_length, self.size - offset)


def pseudo_random_bytes(seed: bytes, size: int) -> bytes:
    """Return ``size`` deterministic pseudo-random bytes: SHA-256(seed || counter) blocks concatenated."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def build_content(
    workdir: Path,
    *,
    announce: Iterable[str] = (),
    size: int = DEFAULT_SIZE,
    piece_length: int = DEFAULT_PIECE_LENGTH,
    seed: bytes = DEFAULT_SEED,
    hybrid: bool = False,
) -> TorrentContent:
    """Write the payload under ``workdir/good`` and a v1 (or hybrid v1+v2) .torrent made with libtorrent.

    Args:
        workdir: an existing directory; ``good/`` and ``testbed.torrent`` are created inside.
        announce: tracker URLs, one tier each, in order (BEP 12 announce-list; first = ``announce``).
        size: payload length in bytes (> 0).
        piece_length: bytes per piece, a power of two >= 16 KiB (BEP 3).
        seed: bytes the pseudo-random payload is derived from.
        hybrid: make a BEP 52 hybrid torrent (v1 and v2 metadata in one info dict) instead of v1 only.

    Returns:
        The generated TorrentContent. The info dict is deterministic in (size, piece_length, seed).

    Raises:
        ValueError: on a non-positive size or an invalid piece length.
    """
    import libtorrent as lt

    if size <= 0 or piece_length < 16384 or piece_length & (piece_length - 1):
        raise ValueError(f"bad size {size} or piece length {piece_length}")
    data_dir = workdir / "good"
    data_dir.mkdir(parents=True, exist_ok=True)
    payload = pseudo_random_bytes(seed, size)
    (data_dir / CONTENT_NAME).write_bytes(payload)
    entries = [lt.create_file_entry(CONTENT_NAME, size)]
    flags = 0 if hybrid else lt.create_torrent.v1_only
    creator = lt.create_torrent(entries, piece_length, flags=flags)
    for tier, url in enumerate(announce):
        creator.add_tracker(url, tier)
    lt.set_piece_hashes(creator, str(data_dir))
    meta = creator.generate()
    meta.pop(b"creation date", None)
    meta[b"created by"] = b"swarmscope testbed"
    torrent_path = workdir / "testbed.torrent"
    torrent_path.write_bytes(lt.bencode(meta))
    hashes = tuple(hashlib.sha1(payload[i : i + piece_length]).digest() for i in range(0, size, piece_length))
    info = lt.bencode(meta[b"info"])
    v2 = hashlib.sha256(info).hexdigest() if hybrid else None
    return TorrentContent(
        torrent_path,
        data_dir,
        CONTENT_NAME,
        hashlib.sha1(info).hexdigest(),
        size,
        piece_length,
        len(hashes),
        hashes,
        v2,
    )


def write_partial_copy(content: TorrentContent, target_dir: Path, pieces: Iterable[int]) -> Path:
    """Write a copy of the payload in which only ``pieces`` hold correct bytes (the rest are zeros).

    Args:
        content: the generated work.
        target_dir: directory to create; the file keeps its name so it can be a libtorrent ``save_path``.
        pieces: indices of the pieces to keep.

    Returns:
        Path of the written file.
    """
    good = (content.data_dir / content.name).read_bytes()
    out = bytearray(content.size)
    for index in pieces:
        offset, length = content.piece_span(index)
        out[offset : offset + length] = good[offset : offset + length]
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / content.name
    path.write_bytes(bytes(out))
    return path


def write_corrupt_copy(content: TorrentContent, target_dir: Path) -> Path:
    """Write a copy of the payload in which every piece and every 16 KiB block is wrong.

    The first 64 bytes of every block (BEP 3 request granularity) are inverted, so neither a whole-piece
    hash check nor a block proof can pass on anything this peer serves.

    Args:
        content: the generated work.
        target_dir: directory to create; the file keeps its name.

    Returns:
        Path of the written file. Every piece's SHA-1 and every block's SHA-256 differ from the good copy's.
    """
    data = bytearray((content.data_dir / content.name).read_bytes())
    for index in range(content.num_pieces):
        offset, length = content.piece_span(index)
        for block in range(offset, offset + length, BLOCK_SIZE):
            for i in range(block, block + min(64, offset + length - block)):
                data[i] ^= 0xFF
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / content.name
    path.write_bytes(bytes(data))
    return path


def copy_good(content: TorrentContent, target_dir: Path) -> Path:
    """Copy the good payload into ``target_dir`` (one private copy per seeding client) and return its path."""
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / content.name
    shutil.copyfile(content.data_dir / content.name, path)
    return path


def write_announce_variant(content: TorrentContent, target: Path, announce: Iterable[str]) -> Path:
    """Write a copy of the .torrent whose trackers are ``announce`` (one tier each); same info dict.

    The info dict is decoded and re-encoded; it was written canonically (sorted keys), so its bytes and
    therefore the infohash are unchanged (the caller's test checks this).

    Args:
        content: the generated work.
        target: path of the new .torrent.
        announce: tracker URLs in tier order (BEP 12).

    Returns:
        ``target``.
    """
    import libtorrent as lt

    urls = list(announce)
    meta = cast(dict[bytes, Any], lt.bdecode(content.torrent_path.read_bytes()))
    meta[b"announce"] = urls[0].encode() if urls else b""
    meta[b"announce-list"] = [[u.encode()] for u in urls]
    target.write_bytes(lt.bencode(meta))
    return target
