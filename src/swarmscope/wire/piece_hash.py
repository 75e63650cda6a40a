"""Piece hash checks: SHA-1 (v1) and SHA-256 merkle trees (v2), both for hybrids.

A piece counts as verified only when every hash the torrent carries for it matches (META-08): a
hybrid whose v1 and v2 hashes disagree never yields a verified piece.

Sources: BEP 3 ("pieces"), BEP 52 ("piece layers", merkle trees of 16 KiB blocks, zero padding),
interop-quirks META-08.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from swarmscope.errors import DecodeError
from swarmscope.wire.types import BLOCK_SIZE, InfoHash

if TYPE_CHECKING:
    from swarmscope.wire.file_tree import FileEntry

HASH_LEN_V2 = 32  # BEP 52: SHA-256
_ZERO = bytes(HASH_LEN_V2)  # BEP 52: leaf hashes past the end of a file are zero


class TorrentPieces(Protocol):
    """What the piece checks read of a torrent (:class:`swarmscope.wire.metainfo.Metainfo` is one).

    Source: BEP 3 ("pieces", "piece length"), BEP 52 ("piece layers", "pieces root").
    """

    @property
    def v1(self) -> InfoHash | None: ...

    @property
    def v2(self) -> InfoHash | None: ...

    @property
    def piece_length(self) -> int: ...

    @property
    def num_pieces(self) -> int: ...

    @property
    def files(self) -> tuple[FileEntry, ...]: ...

    @property
    def pieces(self) -> bytes: ...

    @property
    def piece_layers(self) -> Mapping[bytes, bytes]: ...

    def piece_size(self, index: int) -> int: ...


@dataclass(frozen=True, slots=True)
class PieceHashes:
    """The hashes a torrent carries for one piece.

    Attributes:
        sha1: 20-byte v1 hash, or None (v2-only torrent).
        sha256: 32-byte v2 hash (piece-layer entry, or the file's ``pieces root`` when the file fits
            in one piece), or None (v1-only, or the torrent lacks that file's piece layer).
        file_bytes: bytes of file data in the piece that the v2 hash covers.
        single_piece_file: the v2 hash is a ``pieces root`` (tree sized by the file, not the piece).
    """

    sha1: bytes | None
    sha256: bytes | None
    file_bytes: int
    single_piece_file: bool


def merkle_root(leaves: list[bytes], width: int, pad: bytes = _ZERO) -> bytes:
    """Root of a binary SHA-256 tree over ``leaves`` padded with ``pad`` to ``width`` (a power of 2).

    Source: BEP 52 ("merkle tree", "remaining leaf hashes ... are set to zero").
    """
    layer = leaves + [pad] * (width - len(leaves))
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest() for i in range(0, len(layer), 2)]
    return layer[0]


def _pow2(count: int) -> int:
    return 1 << max(0, count - 1).bit_length()


def _zero_subtree(blocks: int) -> bytes:
    """Root of a subtree of ``blocks`` zero leaves (pads piece layers up to a power of two)."""
    node = _ZERO
    while blocks > 1:
        node = hashlib.sha256(node + node).digest()
        blocks //= 2
    return node


def leaf_hashes(data: bytes) -> list[bytes]:
    """SHA-256 of each 16 KiB block; the last block may be shorter (BEP 52)."""
    view = memoryview(data)
    return [hashlib.sha256(view[i : i + BLOCK_SIZE]).digest() for i in range(0, len(data), BLOCK_SIZE)]


def parse_piece_layers(value: Any, files: tuple[FileEntry, ...], piece_length: int) -> Mapping[bytes, bytes]:
    """Validate the top-level ``piece layers`` dict against the files' ``pieces root`` values.

    A missing dict, or a missing entry for a file, is accepted (libtorrent 2.1 loads such torrents;
    those pieces then have no v2 hash). Present entries must be well formed and hash to the root.

    Raises:
        DecodeError: not a dict, a key matching no multi-piece file, a wrong length, or a layer whose
            merkle root differs from the file's ``pieces root``.

    Source: BEP 52 ("piece layers"); libtorrent ``parse_piece_layers`` (``torrent_invalid_piece_layer``).
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError("piece layers: not a dictionary")
    roots = {f.pieces_root: f for f in files if f.pieces_root and f.length > piece_length}
    pad = _zero_subtree(piece_length // BLOCK_SIZE)
    for key, layer in value.items():
        entry = roots.get(key)
        if entry is None:
            raise DecodeError(f"piece layers: key {key.hex()[:64]} is no multi-piece file's pieces root")
        count = -(-entry.length // piece_length)
        if not isinstance(layer, bytes) or len(layer) != count * HASH_LEN_V2:
            raise DecodeError(f"piece layers[{'/'.join(entry.path)}]: expected {count} hashes")
        hashes = [layer[i : i + HASH_LEN_V2] for i in range(0, len(layer), HASH_LEN_V2)]
        if merkle_root(hashes, _pow2(count), pad) != key:
            raise DecodeError(f"piece layers[{'/'.join(entry.path)}]: does not hash to pieces root")
    return dict(value)


def file_at(meta: TorrentPieces, index: int) -> FileEntry:
    """The (non-pad, non-empty) file holding the first byte of piece ``index``.

    Raises:
        DecodeError: ``index`` outside the torrent, or no file data at that piece.
    """
    if not 0 <= index < meta.num_pieces:
        raise DecodeError(f"piece index: {index} outside 0..{meta.num_pieces - 1}")
    start = index * meta.piece_length
    pos = bisect.bisect_right(meta.files, start, key=lambda f: f.offset) - 1
    while pos >= 0:
        entry = meta.files[pos]
        if not entry.is_pad and entry.offset <= start < entry.offset + entry.length:
            return entry
        pos -= 1
    raise DecodeError(f"piece index: piece {index} holds no file data")


def expected_piece_hashes(meta: TorrentPieces, index: int) -> PieceHashes:
    """Collect the hashes the torrent carries for piece ``index``.

    Raises:
        DecodeError: ``index`` out of range.

    Source: BEP 3 ("pieces"), BEP 52 ("piece layers", "pieces root").
    """
    if not 0 <= index < meta.num_pieces:
        raise DecodeError(f"piece index: {index} outside 0..{meta.num_pieces - 1}")
    sha1 = meta.pieces[index * 20 : index * 20 + 20] if meta.v1 is not None else None
    if meta.v2 is None:
        return PieceHashes(sha1, None, 0, False)
    entry = file_at(meta, index)
    start = index * meta.piece_length
    file_bytes = min(meta.piece_length, entry.offset + entry.length - start)
    if entry.length <= meta.piece_length:
        return PieceHashes(sha1, entry.pieces_root, file_bytes, True)
    layer = meta.piece_layers.get(entry.pieces_root or b"")
    k = (start - entry.offset) // meta.piece_length
    sha256 = layer[k * HASH_LEN_V2 : (k + 1) * HASH_LEN_V2] if layer else None
    return PieceHashes(sha1, sha256, file_bytes, False)


def v2_piece_hash(data: bytes, piece_length: int, single_piece_file: bool) -> bytes:
    """Merkle root of one piece's file data (16 KiB leaves, zero leaves as padding).

    Args:
        data: the file bytes of the piece (no pad-file zeros).
        piece_length: the torrent's piece length, bytes.
        single_piece_file: the file fits in one piece; its tree is sized by the file.

    Source: BEP 52 ("piece layers", "pieces root").
    """
    leaves = leaf_hashes(data)
    width = _pow2(len(leaves)) if single_piece_file else piece_length // BLOCK_SIZE
    return merkle_root(leaves, width)


def check_piece(meta: TorrentPieces, index: int, data: bytes) -> bool:
    """Tell whether ``data`` is piece ``index`` of the torrent: every available hash must match.

    Args:
        meta: the torrent.
        index: piece index.
        data: the whole piece, ``meta.piece_size(index)`` bytes (for hybrids this includes pad-file
            zeros; the v2 check covers only the file bytes).

    Returns:
        True when the length is right and the SHA-1 (v1) and merkle (v2) hashes present all match.

    Raises:
        DecodeError: ``index`` out of range, or the torrent carries no hash at all for this piece
            (a v2-only torrent without that file's piece layer).

    Source: BEP 3, BEP 52; interop-quirks META-08.
    """
    expected = expected_piece_hashes(meta, index)
    if expected.sha1 is None and expected.sha256 is None:
        raise DecodeError(f"piece layers: no hash known for piece {index}")
    if len(data) != meta.piece_size(index):
        return False
    if expected.sha1 is not None and hashlib.sha1(data).digest() != expected.sha1:
        return False
    if expected.sha256 is not None:
        file_data = data[: expected.file_bytes]
        got = v2_piece_hash(file_data, meta.piece_length, expected.single_piece_file)
        if got != expected.sha256 or data[expected.file_bytes :].count(0) != len(data) - expected.file_bytes:
            return False
    return True
