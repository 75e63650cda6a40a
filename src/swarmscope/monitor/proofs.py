"""Block proofs for the monitor: per-swarm block hash tables and the verified pieces that back them.

A peer proves it distributes the work by serving one 16 KiB block whose SHA-256 matches a table built
from content already verified against the metainfo (README "Blocks proving distribution"). The table
of a swarm grows from two sources: a reference copy of the work supplied by the user (``--reference``)
and whole pieces that earlier probes downloaded and hash-checked. Every piece that enters a table is also
handed to the evidence writer, so the bundle carries the whole piece behind each proof and a third party
can re-check it (piece hash against the metainfo, block inside the piece).

Storage stays bounded: at most ``max_pieces`` pieces per swarm back proofs (spread evenly over the
torrent for a reference copy); a peer that has none of them is verified by a whole piece, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from swarmscope.evidence.probe.block_table import BlockTable
from swarmscope.evidence.records import BlockProof
from swarmscope.reference import PieceStatus, iter_reference_pieces
from swarmscope.wire.metainfo import Metainfo

StorePiece = Callable[[str, int, bytes], None]


@dataclass(frozen=True, slots=True)
class ReferenceLoaded:
    """What a reference copy gave: pieces kept as proof basis, and the check of the whole copy.

    Args:
        kept: piece indices now backing block proofs. verified, mismatched, missing: piece counts over
        the whole copy (a mismatched piece is never used).
    """

    kept: tuple[int, ...]
    verified: int
    mismatched: int
    missing: int


def spread_indices(num_pieces: int, count: int) -> list[int]:
    """``count`` piece indices spread evenly over ``0..num_pieces-1`` (all of them when fewer)."""
    if count >= num_pieces:
        return list(range(num_pieces))
    return sorted({(k * num_pieces) // count for k in range(count)})


class ProofPieces:
    """Block hash tables of every monitored swarm.

    Args:
        store_piece: called with ``(swarm, piece, bytes)`` for every piece that starts backing proofs
        (the evidence writer keeps it as a reference piece). max_pieces: pieces per swarm.
        candidates: block proofs offered to each probe (the probe asks for the first one the peer has).
    """

    def __init__(self, store_piece: StorePiece, *, max_pieces: int = 16, candidates: int = 4) -> None:
        self.store_piece, self.max_pieces, self.count = store_piece, max_pieces, candidates
        self.tables: dict[str, BlockTable] = {}

    def table(self, swarm: str) -> BlockTable:
        """The swarm's table (created empty)."""
        table = self.tables.get(swarm)
        if table is None:
            table = self.tables[swarm] = BlockTable()
        return table

    def load_reference(self, swarm: str, meta: Metainfo, path: Path) -> ReferenceLoaded:
        """Check a reference copy piece by piece; keep up to ``max_pieces`` verified ones as proof basis.

        Raises:
            InputError: nothing at ``path``, or a missing or short file (every one is named).
        """
        wanted = set(spread_indices(meta.num_pieces, self.max_pieces))
        table = self.table(swarm)
        kept: list[int] = []
        counts = dict.fromkeys(PieceStatus, 0)
        for piece in iter_reference_pieces(meta, path):
            counts[piece.status] += 1
            if piece.status is PieceStatus.VERIFIED and piece.index in wanted and piece.data is not None:
                self._keep(swarm, table, piece.index, piece.data)
                kept.append(piece.index)
        return ReferenceLoaded(
            kept=tuple(kept),
            verified=counts[PieceStatus.VERIFIED],
            mismatched=counts[PieceStatus.MISMATCHED],
            missing=counts[PieceStatus.MISSING],
        )

    def candidates(self, swarm: str, seed: int) -> tuple[BlockProof, ...]:
        """Block proofs to offer a probe of this swarm (empty while the table is empty)."""
        table = self.tables.get(swarm)
        return table.candidates(seed, self.count) if table is not None else ()

    def learned(self, swarm: str, verified_data: list[tuple[int, bytes]]) -> None:
        """Whole pieces a probe verified against the metainfo join the table while there is room."""
        table = self.table(swarm)
        for index, data in verified_data:
            if len(table) >= self.max_pieces:
                return
            if index not in table:
                self._keep(swarm, table, index, data)

    def _keep(self, swarm: str, table: BlockTable, index: int, data: bytes) -> None:
        table.add_piece(index, data)
        self.store_piece(swarm, index, data)
