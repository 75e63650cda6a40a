"""What a probe downloads to verify a peer: one 16 KiB block proof, or whole pieces (pure).

:class:`PieceDownload` chooses the next target the peer lets us have, builds exactly the requests it needs
(never more: a peer's upload counter must equal our ``bytes_received``), and judges what arrives:

* block mode — a :class:`~swarmscope.evidence.records.BlockProof` whose piece the peer claims: request that
  one block; its SHA-256 equal to the proof's → proof of distribution; different → a failed block, never
  a proof (README "Blocks proving distribution").
* piece mode — no usable block proof: download the blocks of one claimed piece and check the piece hash
  (BEP 3 SHA-1 / BEP 52 merkle, through :class:`PieceSpec`).

The owning :class:`~swarmscope.evidence.probe.run.ProbeRun` keeps phases, timers and tiers; this module only
decides what to ask for and what the answers prove. ``end`` set means the probe should finish.

Source: BEP 3 ("request", "piece", "choke"), BEP 6 ("reject request", "allowed fast"), BEP 52.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from swarmscope.errors import ProtocolStateError
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.records import BlockProof, Failure
from swarmscope.wire import peer_session as ps
from swarmscope.wire.types import BLOCK_SIZE


class PieceSpec(Protocol):
    """What the probe needs to know about the torrent's pieces."""

    @property
    def num_pieces(self) -> int: ...

    def piece_size(self, index: int) -> int:
        """Length of piece ``index`` in bytes."""
        ...

    def check_piece(self, index: int, data: bytes) -> bool:
        """True when ``data`` hashes to piece ``index``'s hash(es) (BEP 3 SHA-1 / BEP 52 merkle)."""
        ...


@dataclass(frozen=True, slots=True)
class _Target:
    piece: int
    proof: BlockProof | None  # block mode: exactly this block; None: the whole piece


def _check_candidates(candidates: tuple[BlockProof, ...], pieces: PieceSpec) -> None:
    """Refuse block proofs that cannot belong to this torrent (a caller bug, e.g. another torrent's table).

    Raises:
        ProtocolStateError: piece out of range, begin not on a 16 KiB boundary, a length that is not
            the block's length in that piece (BEP 3 "request"), or a digest that is not 32 bytes.
    """
    for proof in candidates:
        ok = 0 <= proof.piece < pieces.num_pieces and proof.begin % BLOCK_SIZE == 0
        if ok:
            size = pieces.piece_size(proof.piece)
            ok = proof.begin < size and proof.length == min(BLOCK_SIZE, size - proof.begin)
        if not ok or len(proof.sha256) != 32:
            where = f"piece {proof.piece} begin {proof.begin} length {proof.length}"
            raise ProtocolStateError(f"block candidate {where} fits no block of this torrent")


class PieceDownload:
    """Choose, request and judge the data that verifies one peer.

    Args:
        session: the connection's peer session (claims, choke state, request encoder).
        pieces: the torrent's :class:`PieceSpec`. policy: the probe's limits (verify counts, failures).
        piece_seed: spreads whole-piece choice across peers (any int, passed in).
        block_candidates: block proofs to try first, in order; at most one is tried per piece. While the
            peer chokes us and claims a candidate's piece we wait for unchoke rather than download a
            whole allowed-fast piece.

    Raises:
        ProtocolStateError: a candidate that fits no block of this torrent.

    Attributes (results):
        verified / failed: piece indexes that passed / failed the piece hash check.
        verified_blocks / failed_blocks: block proofs matched / contradicted by the peer's bytes.
        verified_data: ``(index, bytes)`` of every whole piece verified (memory: up to
            ``pieces_to_verify`` pieces of ``piece_length`` bytes, held as long as this object lives).
        verified_block_data: ``(proof, bytes)`` of every verified block (16 KiB each).
        payload_in: block payload bytes received for our requests. soft: the last recoverable failure.
        end: ``(failure, detail)`` once the probe should finish, else None.
    """

    def __init__(
        self,
        session: ps.PeerSession,
        pieces: PieceSpec,
        policy: ProbePolicy,
        piece_seed: int = 0,
        block_candidates: tuple[BlockProof, ...] = (),
    ) -> None:
        _check_candidates(block_candidates, pieces)
        self.session, self.pieces, self.policy, self.piece_seed = session, pieces, policy, piece_seed
        self.block_candidates = block_candidates
        self.verified: list[int] = []
        self.failed: list[int] = []
        self.verified_blocks: list[BlockProof] = []
        self.failed_blocks: list[BlockProof] = []
        self.verified_data: list[tuple[int, bytes]] = []
        self.verified_block_data: list[tuple[BlockProof, bytes]] = []
        self.payload_in = 0
        self.soft: tuple[Failure, str] | None = None
        self.end: tuple[Failure | None, str | None] | None = None
        self.target: _Target | None = None
        self._blocks: dict[int, bytes] = {}
        self._requested: set[int] = set()  # begin offsets of the target asked for, not yet answered
        self._tried: set[int] = set()
        self._rejected = 0
        self._block_wait = True  # choked with a claimed candidate: wait for unchoke before any whole piece

    @property
    def proven(self) -> bool:
        """True once a whole piece or a block proof verified (tier VERIFIED)."""
        return bool(self.verified or self.verified_blocks)

    def stall_detail(self, overran: bool = False) -> str:
        """What we were waiting for when ``piece_timeout`` passed (``overran``: the whole download phase
        outlasted ``download_timeout`` while blocks were still arriving)."""
        target = self.target
        if target is not None and target.proof is not None:
            return f"block piece {target.piece} begin {target.proof.begin}: no answer"
        got = sum(len(b) for b in self._blocks.values())
        if overran:
            return f"piece {target.piece if target else None}: {got} bytes within download_timeout"
        return f"piece {target.piece if target else None}: {got} bytes then silence"

    def on_choke(self) -> None:
        """The peer choked us: without BEP 6 our requests are discarded (BEP 3), so ask again later."""
        if not self.session.fast:
            self._requested.clear()

    # --- choosing --------------------------------------------------------------------------------------

    def advance(self) -> bytes:
        """Pick a target when none is active and fill the request pipeline; returns requests to send.

        Sets :attr:`end` when the peer is unchoking us and nothing is left to try.
        """
        if self.target is None:
            target = self._next_target()
            if target is None:
                if not self.session.choked:
                    self._conclude()
                return b""
            self.target, self._blocks, self._requested = target, {}, set()
            self._tried.add(target.piece)
        return self._request_more()

    def _conclude(self) -> None:
        if self.proven:
            self.end = (None, None)
        else:
            self.end = self.soft or (Failure.NO_PIECES, "peer claims no piece")

    def _candidate_claimed(self) -> bool:
        return any(
            self.session.has_piece(p.piece) and p.piece not in self._tried for p in self.block_candidates
        )

    def release_block_wait(self) -> bool:
        """Stop waiting for unchoke for a block candidate (the unchoke timeout passed).

        Returns:
            True when we were waiting and an allowed-fast whole piece (BEP 6) may now be tried instead.
        """
        waiting = self._block_wait and self.target is None and self._candidate_claimed()
        self._block_wait = False
        return waiting

    def _usable(self, piece: int) -> bool:
        s = self.session
        return s.has_piece(piece) and piece not in self._tried and (not s.choked or piece in s.allowed_fast)

    def _next_target(self) -> _Target | None:
        if len(self.verified_blocks) < self.policy.blocks_to_verify:
            for proof in self.block_candidates:
                if self._usable(proof.piece):
                    return _Target(proof.piece, proof)
            if self._block_wait and self.session.choked and self._candidate_claimed():
                return None  # wait for unchoke: one block beats an allowed-fast whole piece (BEP 6)
        if self.verified_blocks:
            return None  # a block proof is enough; no whole piece downloaded on top of it
        piece = self._next_piece()
        return _Target(piece, None) if piece is not None else None

    def _next_piece(self) -> int | None:
        s = self.session
        if s.choked:
            fast = sorted(i for i in s.allowed_fast if self._usable(i))
            return fast[0] if fast else None
        n = s.num_pieces
        start = self.piece_seed % n if n else 0
        for k in range(n):
            i = (start + k) % n
            if self._usable(i):
                return i
        return None

    def _request_more(self) -> bytes:
        """Request the target's blocks not yet received or asked for, up to the pipeline depth."""
        target = self.target
        s = self.session
        if target is None or (s.choked and target.piece not in s.allowed_fast):
            return b""
        if target.proof is not None:
            begin, length = target.proof.begin, target.proof.length
            if begin in self._blocks or begin in self._requested:
                return b""
            self._requested.add(begin)
            return s.request(target.piece, begin, length)
        size = self.pieces.piece_size(target.piece)
        out = bytearray()
        begin = 0
        # self._requested, not the session's set: events of one segment are handled after the session
        # parsed all of it, so the session may already know of blocks this loop has not seen yet.
        while len(self._requested) < self.policy.pipeline_blocks and begin < size:
            length = min(BLOCK_SIZE, size - begin)
            if begin not in self._blocks and begin not in self._requested:
                self._requested.add(begin)
                out += s.request(target.piece, begin, length)
            begin += BLOCK_SIZE
        return bytes(out)

    # --- judging ---------------------------------------------------------------------------------------

    def on_block(self, event: ps.BlockReceived) -> bytes:
        """A block we requested arrived: store or judge it; returns further requests."""
        self.payload_in += len(event.block)  # every BlockReceived answers a request of ours
        target = self.target
        if target is None or event.index != target.piece:
            return b""
        self._blocks[event.begin] = event.block
        self._requested.discard(event.begin)
        if target.proof is not None:
            self.target, self._blocks, self._requested = None, {}, set()
            self._judge_block(target.proof, event.block)
        else:
            size = self.pieces.piece_size(event.index)
            if sum(len(b) for b in self._blocks.values()) < size:
                return self._request_more()
            data = b"".join(self._blocks[b] for b in sorted(self._blocks))
            self.target, self._blocks, self._requested = None, {}, set()
            self._judge_piece(event.index, data)
        return b"" if self.end is not None else self.advance()

    def _judge_block(self, proof: BlockProof, block: bytes) -> None:
        if len(block) == proof.length and hashlib.sha256(block).digest() == proof.sha256:
            self.verified_blocks.append(proof)
            self.verified_block_data.append((proof, block))
            if len(self.verified_blocks) >= self.policy.blocks_to_verify:
                self.end = (None, None)
            return
        self.failed_blocks.append(proof)
        self._hash_failure(f"block piece {proof.piece} begin {proof.begin}: sha256 mismatch")

    def _judge_piece(self, index: int, data: bytes) -> None:
        if self.pieces.check_piece(index, data):
            self.verified.append(index)
            self.verified_data.append((index, data))
            if len(self.verified) >= self.policy.pieces_to_verify:
                self.end = (None, None)
            return
        self.failed.append(index)
        self._hash_failure(f"piece {index} failed its hash check")

    def _hash_failure(self, detail: str) -> None:
        self.soft = (Failure.HASH_MISMATCH, detail)
        if len(self.failed) + len(self.failed_blocks) < self.policy.max_hash_failures:
            return
        parts = [f"block piece {p.piece} begin {p.begin}: sha256 mismatch" for p in self.failed_blocks]
        if self.failed:
            parts.append(f"pieces {self.failed} failed their hash check")
        self.end = (Failure.HASH_MISMATCH, "; ".join(parts))

    def on_reject(self, event: ps.RequestRejected) -> bytes:
        """The peer rejected one of our requests (BEP 6): give up on that target, maybe try another."""
        target = self.target
        if target is None or event.index != target.piece:
            return b""
        self._rejected += 1
        what = (
            f"block piece {target.piece} begin {target.proof.begin}"
            if target.proof
            else f"piece {target.piece}"
        )
        self.soft = (Failure.REJECTED, f"{what} request rejected")
        if self._rejected >= self.policy.max_rejected_pieces:
            self.end = (Failure.REJECTED, f"{self._rejected} pieces rejected")
            return b""
        self.target, self._blocks, self._requested = None, {}, set()
        self.session.outstanding = {k for k in self.session.outstanding if k[0] != event.index}
        return self.advance()
