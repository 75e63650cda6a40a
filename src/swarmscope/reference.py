"""A reference copy of the work on disk → the block hash table that makes 16 KiB block proofs possible.

The user supplies the content the torrent describes (a single file, or the torrent's directory). It is read
piece by piece in piece-space order (BEP 47 pad files are zeros, never read; BEP 52 v2 files start on a
piece boundary), each piece is checked against the metainfo (v1 SHA-1 and v2 merkle, both for hybrids,
META-08), and only pieces that verify enter the
:class:`~swarmscope.evidence.probe.block_table.BlockTable`. A block hash is trustworthy exactly because
its piece verified against the infohash-bound metainfo (README "Blocks proving distribution").

The same reading checks that a torrent carries a work (``works link`` and the document gate,
:mod:`swarmscope.cases.campaigns`): it lives below ``monitor/`` and ``cases/`` (layer 3, an adapter of
files on disk) so that both use one reader.

Memory is bounded by one piece: piece bytes are not kept. A caller that must be able to show the pieces
behind its proofs (a third party re-checks a proof block by re-assembling its piece and hashing it against
the metainfo) stores them from the ``on_piece`` callback, or walks :func:`iter_reference_pieces` itself.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from swarmscope.errors import DecodeError, InputError
from swarmscope.evidence.probe.block_table import BlockTable
from swarmscope.wire import piece_hash
from swarmscope.wire.file_tree import FileEntry
from swarmscope.wire.metainfo import Metainfo


class PieceStatus(enum.Enum):
    """What the reference copy holds for one piece."""

    VERIFIED = "verified"  # the bytes pass every hash the metainfo carries for the piece
    MISSING = "missing"  # a file the piece needs is absent or too short (only when not strict)
    MISMATCHED = "mismatched"  # the bytes are there but fail the piece hash
    UNHASHED = "unhashed"  # the metainfo carries no hash for the piece (v2 without that piece layer)


@dataclass(frozen=True, slots=True)
class ReferencePiece:
    """One piece of the reference copy.

    Args:
        index: piece index. status: :class:`PieceStatus`. data: the piece bytes (pad zeros included,
            ``meta.piece_size(index)`` long), None when missing.
    """

    index: int
    status: PieceStatus
    data: bytes | None


@dataclass(frozen=True, slots=True)
class ReferenceResult:
    """Outcome of loading a reference copy.

    Args:
        table: block hashes of every verified piece. root: the file or directory the content was read from.
        verified / missing / mismatched / unhashed: piece counts by :class:`PieceStatus`.
        mismatched_pieces: indexes of pieces that failed their hash (a damaged or different copy).
    """

    table: BlockTable
    root: Path
    verified: int
    missing: int
    mismatched: int
    unhashed: int
    mismatched_pieces: tuple[int, ...]


def _real_files(meta: Metainfo) -> list[FileEntry]:
    """Files with bytes on disk: not pad files (BEP 47), not symlinks, not empty."""
    return [f for f in meta.files if not f.is_pad and not f.is_symlink and f.length > 0]


def resolve_root(meta: Metainfo, path: Path) -> Path:
    """Find the content for ``meta`` at ``path``.

    Args:
        meta: the torrent. path: for a single-file torrent the file itself or a directory holding a file
            named ``meta.name``; for a multi-file torrent the torrent's directory or its parent.

    Returns:
        The single file, or the directory the torrent's file paths are relative to.

    Raises:
        InputError: nothing of the torrent's content is found there.
    """
    files = _real_files(meta)
    if any(f.path == () for f in meta.files):  # single-file torrent (BEP 3 "length")
        for candidate in (path, path / meta.name):
            if candidate.is_file():
                return candidate
        raise InputError(f"{path}: no file {meta.name!r} (the torrent's single file) there")
    if not path.is_dir():
        raise InputError(f"{path}: not a directory (the torrent {meta.name!r} holds {len(files)} files)")
    best, found = path, -1
    for candidate in (path, path / meta.name):
        count = sum(candidate.joinpath(*f.path).is_file() for f in files) if candidate.is_dir() else -1
        if count > found:
            best, found = candidate, count
    if found <= 0:
        raise InputError(f"{path}: none of the {len(files)} files of torrent {meta.name!r} is there")
    return best


def _file_problem(meta: Metainfo, root: Path, entry: FileEntry) -> str | None:
    where = root if entry.path == () else root.joinpath(*entry.path)
    try:
        size = where.stat().st_size
    except OSError as exc:
        return f"{where}: missing ({exc.strerror or exc})"
    if size < entry.length:
        return f"{where}: {size} bytes, the torrent says {entry.length} (short file)"
    return None


class _ContentReader:
    """Reads ranges of the torrent's piece space from the files under ``root`` (one open file at a time)."""

    def __init__(self, meta: Metainfo, root: Path, unusable: set[tuple[str, ...]]) -> None:
        self.meta, self.root, self.unusable = meta, root, unusable
        self.offsets = [f.offset for f in meta.files]
        self._open: tuple[FileEntry, BinaryIO] | None = None

    def close(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None

    def read(self, start: int, size: int) -> bytes | None:
        """Bytes ``start .. start+size`` of piece space; None when a file they need is unusable."""
        out = bytearray()
        pos = max(0, bisect.bisect_right(self.offsets, start) - 1)
        end = start + size
        while len(out) < size and pos < len(self.meta.files):
            entry = self.meta.files[pos]
            pos += 1
            lo, hi = max(start, entry.offset), min(end, entry.offset + entry.length)
            if lo >= hi or entry.is_symlink:
                continue
            if entry.is_pad:
                out += bytes(hi - lo)  # BEP 47: pad files are zeros
                continue
            if entry.path in self.unusable:
                return None
            chunk = self._handle(entry)
            chunk.seek(lo - entry.offset)
            data = chunk.read(hi - lo)
            if len(data) != hi - lo:
                raise InputError(f"{self._where(entry)}: shrank while being read")
            out += data
        return bytes(out) if len(out) == size else None

    def _where(self, entry: FileEntry) -> Path:
        return self.root if entry.path == () else self.root.joinpath(*entry.path)

    def _handle(self, entry: FileEntry) -> BinaryIO:
        if self._open is None or self._open[0] is not entry:
            self.close()
            try:
                self._open = (entry, self._where(entry).open("rb"))
            except OSError as exc:
                raise InputError(f"{self._where(entry)}: cannot read: {exc.strerror or exc}") from exc
        return self._open[1]


def iter_reference_pieces(meta: Metainfo, path: Path, *, strict: bool = True) -> Iterator[ReferencePiece]:
    """Read and check the reference copy piece by piece, in index order (memory: one piece).

    Args:
        meta: the torrent. path: see :func:`resolve_root`. strict: raise on a missing or short file
            (default); otherwise the pieces that need it are reported :attr:`PieceStatus.MISSING`.

    Yields:
        One :class:`ReferencePiece` per piece index ``0 .. meta.num_pieces - 1``.

    Raises:
        InputError: no content at ``path``; with ``strict``, a missing or short file (all are named).

    Source: BEP 3 (piece space, SHA-1), BEP 47 (pad files), BEP 52 (v2 piece alignment and merkle hashes).
    """
    root = resolve_root(meta, path)
    problems = {f.path: p for f in _real_files(meta) if (p := _file_problem(meta, root, f)) is not None}
    if problems and strict:
        shown = "; ".join(list(problems.values())[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InputError(f"reference copy of {meta.name!r} is incomplete: {shown}{more}")
    reader = _ContentReader(meta, root, set(problems))
    try:
        for index in range(meta.num_pieces):
            data = reader.read(index * meta.piece_length, meta.piece_size(index))
            yield ReferencePiece(index, _status(meta, index, data), data)
    finally:
        reader.close()


def _status(meta: Metainfo, index: int, data: bytes | None) -> PieceStatus:
    if data is None:
        return PieceStatus.MISSING
    try:
        ok = piece_hash.check_piece(meta, index, data)
    except DecodeError:
        return PieceStatus.UNHASHED
    return PieceStatus.VERIFIED if ok else PieceStatus.MISMATCHED


def load_reference(
    meta: Metainfo,
    path: Path,
    *,
    strict: bool = True,
    on_piece: Callable[[int, bytes], None] | None = None,
    table: BlockTable | None = None,
) -> ReferenceResult:
    """Build a block hash table from a reference copy of the work.

    Args:
        meta: the torrent the copy must match. path: see :func:`resolve_root`. strict: see
            :func:`iter_reference_pieces`. on_piece: called with ``(index, bytes)`` for every verified
            piece, e.g. to store the pieces that back proofs; the bytes are not kept here.
        table: an existing table to extend (default: a new one).

    Returns:
        :class:`ReferenceResult` with the table and per-status piece counts.

    Raises:
        InputError: nothing found at ``path``, or (``strict``) a missing or short file.

    Source: README "Blocks proving distribution" (``--reference PATH``).
    """
    table = BlockTable() if table is None else table
    counts = dict.fromkeys(PieceStatus, 0)
    mismatched: list[int] = []
    for piece in iter_reference_pieces(meta, path, strict=strict):
        counts[piece.status] += 1
        if piece.status is PieceStatus.MISMATCHED:
            mismatched.append(piece.index)
        elif piece.status is PieceStatus.VERIFIED and piece.data is not None:
            table.add_piece(piece.index, piece.data)
            if on_piece is not None:
                on_piece(piece.index, piece.data)
    return ReferenceResult(
        table=table,
        root=resolve_root(meta, path),
        verified=counts[PieceStatus.VERIFIED],
        missing=counts[PieceStatus.MISSING],
        mismatched=counts[PieceStatus.MISMATCHED],
        unhashed=counts[PieceStatus.UNHASHED],
        mismatched_pieces=tuple(mismatched),
    )
