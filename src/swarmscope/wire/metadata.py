"""Assembling and checking torrent metadata (the bencoded info dict) received over ``ut_metadata``, pure.

A magnet gives only the infohash; the info dict arrives from peers in 16 KiB pieces (BEP 9) and is
trusted only when it hashes to the infohash: SHA-1 for v1, SHA-256 for v2, both for a hybrid magnet
(BEP 52). Sizes are capped before any buffer is allocated, because ``metadata_size`` / ``total_size``
are whatever the peer says (interop PW-12: the size may also be missing until piece 0 arrives).

Sources: BEP 9 "metadata", "data", BEP 52 "infohash"; interop PW-12.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from swarmscope.errors import DecodeError
from swarmscope.wire.extension import METADATA_PIECE_LEN, MetadataMessage, metadata_piece_count

MAX_METADATA_SIZE = (
    16 * 1024 * 1024
)  # bytes; libtorrent's default max_metadata_size is 30 MiB, real ones ≪ 1 MiB


@dataclass(frozen=True, slots=True)
class MetadataDigest:
    """The hashes of a complete metadata buffer and whether they match what the magnet asked for.

    Args:
        size: metadata length in bytes. sha1, sha256: its digests (20 and 32 bytes).
        matches: True when every infohash the caller gave equals the corresponding digest (BEP 9, BEP 52).
    """

    size: int
    sha1: bytes
    sha256: bytes
    matches: bool


def check_metadata_size(size: int, max_size: int = MAX_METADATA_SIZE) -> int:
    """Validate a metadata size announced by a peer before allocating anything for it.

    Args:
        size: ``metadata_size`` (BEP 9 extension handshake) or ``total_size`` (data message), bytes.
        max_size: the cap in bytes.

    Returns:
        ``size`` unchanged.

    Raises:
        DecodeError: ``size`` ≤ 0 or above ``max_size``.

    Source: BEP 9 "metadata_size"; interop PW-12.
    """
    if size <= 0:
        raise DecodeError(f"metadata size: {size} bytes, expected > 0")
    if size > max_size:
        raise DecodeError(f"metadata size: {size} bytes exceeds the cap of {max_size} bytes")
    return size


def digest_metadata(info: bytes, v1: bytes | None, v2: bytes | None) -> MetadataDigest:
    """Hash complete metadata and compare it with the infohashes of a magnet.

    Args:
        info: the raw bencoded info dict, exactly as received (never re-encoded, META-01).
        v1: the 20-byte SHA-1 infohash, or None. v2: the 32-byte SHA-256 infohash, or None.
            At least one must be given; a hybrid magnet gives both and both must match.

    Returns:
        :class:`MetadataDigest`.

    Raises:
        ValueError: neither ``v1`` nor ``v2`` given (our misuse).

    Source: BEP 9 "metadata" (verify the SHA-1), BEP 52 "infohash" (SHA-256 for v2).
    """
    if v1 is None and v2 is None:
        raise ValueError("digest_metadata needs a v1 or a v2 infohash")
    sha1 = hashlib.sha1(info).digest()
    sha256 = hashlib.sha256(info).digest()
    matches = (v1 is None or sha1 == v1) and (v2 is None or sha256 == v2)
    return MetadataDigest(len(info), sha1, sha256, matches)


class MetadataAssembler:
    """Collects metadata pieces from one peer until the buffer is complete.

    Args:
        max_size: cap on the metadata size in bytes (:data:`MAX_METADATA_SIZE`).

    Attributes readable by the caller: ``size`` (bytes, None until learned), ``pieces`` (index → bytes).

    Source: BEP 9 "data"; interop PW-12 (size learned from piece 0 when the handshake had none).
    """

    def __init__(self, max_size: int = MAX_METADATA_SIZE) -> None:
        self.max_size = max_size
        self.size: int | None = None
        self.pieces: dict[int, bytes] = {}

    @property
    def piece_count(self) -> int | None:
        """Number of 16 KiB pieces, or None while the size is unknown."""
        return None if self.size is None else metadata_piece_count(self.size)

    @property
    def complete(self) -> bool:
        """True when every piece has arrived."""
        count = self.piece_count
        return count is not None and len(self.pieces) == count

    def set_size(self, size: int) -> None:
        """Learn the metadata size (from the extension handshake or a data message).

        Raises:
            DecodeError: the size is out of range, or differs from a size learned earlier.
        """
        check_metadata_size(size, self.max_size)
        if self.size is not None and size != self.size:
            raise DecodeError(f"metadata size: peer said {self.size} bytes, now {size}")
        self.size = size

    def missing(self) -> list[int]:
        """Piece indices not yet received, ascending ([0] while the size is unknown, PW-12)."""
        count = self.piece_count
        if count is None:
            return [0]
        return [i for i in range(count) if i not in self.pieces]

    def add(self, message: MetadataMessage) -> bool:
        """Store one data message (msg_type 1); returns True when the piece was new.

        Raises:
            DecodeError: its ``total_size`` is out of range or disagrees with the known size, or its
                data length does not fit the piece (re-checked here against the known size).
        """
        if message.total_size is None:
            raise DecodeError("ut_metadata total_size: missing in a data message")
        self.set_size(message.total_size)
        assert self.size is not None
        count = metadata_piece_count(self.size)
        if not 0 <= message.piece < count:
            raise DecodeError(f"ut_metadata piece: {message.piece} outside 0..{count - 1}")
        expected = min(METADATA_PIECE_LEN, self.size - message.piece * METADATA_PIECE_LEN)
        if len(message.data) != expected:
            raise DecodeError(f"ut_metadata data: {len(message.data)} bytes, expected {expected}")
        if message.piece in self.pieces:
            return False
        self.pieces[message.piece] = message.data
        return True

    def assemble(self) -> bytes:
        """The whole metadata buffer.

        Raises:
            ValueError: called before :attr:`complete` (our misuse).
        """
        if not self.complete:
            raise ValueError("metadata not complete")
        return b"".join(self.pieces[i] for i in range(len(self.pieces)))

    def reset(self) -> None:
        """Forget the pieces (after a mismatch) but keep the size."""
        self.pieces = {}
