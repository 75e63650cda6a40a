"""The torrent's pieces as the pure probe sees them: a Metainfo adapted to ``PieceSpec``.

Lives in ``evidence/`` (pure) so capture replay and bundle verification can check pieces with nothing but
the metainfo (README "Export and verify": verify needs nothing but the bundle); ``monitor.targets``
hands it to the probes.
"""

from __future__ import annotations

from swarmscope.wire import piece_hash
from swarmscope.wire.metainfo import Metainfo


class MetainfoPieces:
    """Adapts a Metainfo to :class:`swarmscope.evidence.probe.run.PieceSpec`."""

    __slots__ = ("meta", "num_pieces")

    def __init__(self, meta: Metainfo) -> None:
        self.meta = meta
        self.num_pieces = meta.num_pieces

    def piece_size(self, index: int) -> int:
        """Bytes in piece ``index``."""
        return self.meta.piece_size(index)

    def check_piece(self, index: int, data: bytes) -> bool:
        """BEP 3 SHA-1 / BEP 52 merkle check of a whole piece."""
        return piece_hash.check_piece(self.meta, index, data)
