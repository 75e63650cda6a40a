"""The block hash table: SHA-256 of every 16 KiB block of pieces already verified against the metainfo.

A probe that receives one block whose SHA-256 matches the table has proof that the peer distributes that
part of the work, at 1/16 (or less) of the cost of a whole piece (README "Blocks proving distribution").
The table is filled only from content the caller has verified in full (a reference copy supplied by the
user, or pieces a probe verified against the metainfo hash): a block hash is trustworthy exactly because
its piece was.

Memory: per piece one ``bytes`` of 32-byte digests (0.2 % of the content; 100 MiB of hashes for a 50 GiB
work held entirely) plus the piece size. No per-block objects are kept; :class:`BlockProof` values are
built on demand.

Source: BEP 3 ("request": 16 KiB blocks, the last one shorter), BEP 52 (16 KiB leaves).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from swarmscope.errors import ProtocolStateError
from swarmscope.evidence.records import BlockProof
from swarmscope.wire.types import BLOCK_SIZE

DIGEST_LEN = 32  # SHA-256
PROOFS_KEPT = 64  # BlockProof values a table keeps made (≈ 150 B each); then it starts afresh


def block_hashes(data: bytes) -> bytes:
    """Concatenated SHA-256 digests of ``data``'s 16 KiB blocks (the last one may be shorter).

    Args:
        data: one whole piece.

    Returns:
        ``32 * ceil(len(data) / 16384)`` bytes.

    Source: BEP 3 ("request" granularity).
    """
    view = memoryview(data)
    return b"".join(
        hashlib.sha256(view[i : i + BLOCK_SIZE]).digest() for i in range(0, len(data), BLOCK_SIZE)
    )


def _spread(seed: int, piece: int, blocks: int) -> int:
    """Deterministic block number in ``0..blocks-1`` for ``piece`` under ``seed`` (no randomness used);
    a one-block piece has only block 0, which is what the hash modulo 1 gives, so it is not hashed."""
    if blocks == 1:
        return 0
    mixed = hashlib.sha256(f"{seed}:{piece}".encode()).digest()
    return int.from_bytes(mixed[:8], "big") % blocks


class BlockTable:
    """Per-block SHA-256 hashes of verified pieces; hands out block proofs to ask peers for.

    Args: none; fill it with :meth:`add_piece`.
    """

    __slots__ = ("_hashes", "_order", "_proofs", "_sizes")

    def __init__(self) -> None:
        self._hashes: dict[int, bytes] = {}  # piece → concatenated 32-byte block digests
        self._sizes: dict[int, int] = {}  # piece → piece size, bytes (gives the last block's length)
        self._order: list[int] | None = []  # sorted piece indexes, rebuilt lazily after additions
        # (piece, block number) -> its BlockProof, made once: a piece's digests never change once added
        # (add_piece refuses other bytes), and the probes of a swarm of one-block pieces (or of few seeds)
        # are offered the same proofs again; at most PROOFS_KEPT, so a table of large pieces stays small
        self._proofs: dict[tuple[int, int], BlockProof] = {}

    def add_piece(self, index: int, data: bytes) -> tuple[BlockProof, ...]:
        """Record the block hashes of piece ``index``; the caller guarantees ``data`` passed its hash check.

        Args:
            index: piece index (≥ 0). data: the whole verified piece, bytes.

        Returns:
            The piece's block proofs, in offset order.

        Raises:
            ProtocolStateError: negative index, empty data, or the piece is already in the table with
                different bytes (two "verified" copies disagree: a caller bug, never a peer's fault).
        """
        if index < 0 or not data:
            raise ProtocolStateError(f"block table: piece {index} with {len(data)} bytes")
        digests = block_hashes(data)
        known = self._hashes.get(index)
        if known is not None:
            if known != digests or self._sizes[index] != len(data):
                raise ProtocolStateError(f"block table: piece {index} added twice with different bytes")
            return self.piece_blocks(index)
        self._hashes[index] = digests
        self._sizes[index] = len(data)
        self._order = None
        return self.piece_blocks(index)

    def piece_blocks(self, index: int) -> tuple[BlockProof, ...]:
        """The block proofs of piece ``index`` in offset order; ``()`` when the piece is not in the table."""
        digests = self._hashes.get(index)
        if digests is None:
            return ()
        size = self._sizes[index]
        return tuple(self._proof(index, size, digests, n) for n in range(len(digests) // DIGEST_LEN))

    def candidates(self, seed: int, count: int) -> tuple[BlockProof, ...]:
        """Up to ``count`` block proofs on distinct pieces, spread over the table, chosen by ``seed``.

        The same table, seed and count always give the same proofs (replayable); different seeds (one per
        peer) start at different pieces and pick different blocks within them.

        Args:
            seed: any int (e.g. derived from the peer address). count: proofs wanted (≤ 0 gives none).

        Returns:
            ``min(count, len(self))`` proofs, each on its own piece, in the order a probe should try them.
        """
        order = self._sorted()
        n = len(order)
        if count <= 0 or n == 0:
            return ()
        count = min(count, n)
        start = seed % n
        out = []
        proofs = self._proofs
        for k in range(count):
            piece = order[(start + (k * n) // count) % n]
            digests = self._hashes[piece]
            block = _spread(seed, piece, len(digests) // DIGEST_LEN)
            proof = proofs.get((piece, block))
            if proof is None:
                if len(proofs) >= PROOFS_KEPT:
                    proofs.clear()
                proof = proofs[piece, block] = self._proof(piece, self._sizes[piece], digests, block)
            out.append(proof)
        return tuple(out)

    def pieces(self) -> Iterator[int]:
        """Indexes of the pieces in the table, ascending."""
        return iter(self._sorted())

    @property
    def block_count(self) -> int:
        """Number of block hashes held."""
        return sum(len(d) for d in self._hashes.values()) // DIGEST_LEN

    def __len__(self) -> int:
        """Number of pieces in the table."""
        return len(self._hashes)

    def __contains__(self, piece: object) -> bool:
        """True when piece index ``piece`` is in the table."""
        return piece in self._hashes

    def _sorted(self) -> list[int]:
        if self._order is None:
            self._order = sorted(self._hashes)
        return self._order

    @staticmethod
    def _proof(piece: int, size: int, digests: bytes, n: int) -> BlockProof:
        begin = n * BLOCK_SIZE
        sha = digests[n * DIGEST_LEN : (n + 1) * DIGEST_LEN]
        return BlockProof(piece=piece, begin=begin, length=min(BLOCK_SIZE, size - begin), sha256=sha)
