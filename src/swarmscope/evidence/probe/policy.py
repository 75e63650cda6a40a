"""How far a probe goes and the limits it keeps (split from :mod:`swarmscope.evidence.probe.run`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Depth(enum.Enum):
    """How far a probe goes before disconnecting (benchmarks use the shallower depths)."""

    CONNECTED = "connected"
    HAS_PIECES = "has_pieces"
    VERIFIED = "verified"


@dataclass(frozen=True, slots=True)
class ProbePolicy:
    """Limits of one probe. Times in seconds.

    Args:
        depth: stop after this tier is reached. pieces_to_verify: verified pieces wanted (≥ 1).
        blocks_to_verify: verified block proofs wanted (≥ 1) when block candidates are given.
        max_hash_failures: pieces and blocks that may fail their hash check before we give up on the peer.
        pipeline_blocks: requests in flight (each 16 KiB; BEP 3 "request").
        handshake_timeout: from TCP connect to the peer's handshake.
        claims_wait: how long after the handshake to wait for piece claims when none came (BEP 3 lets a peer
            with no piece send no bitfield at all).
        ext_grace: after an explicit empty claim (have_none, all-zero bitfield), how long to wait for the
            BEP 10 handshake before concluding ``no_pieces``.
        unchoke_timeout: how long to wait for unchoke (or an allowed-fast piece) after ``interested``.
        piece_timeout: longest gap between blocks while downloading.
        download_timeout: longest the whole download phase may last, from our first request (every block
            received moves the piece_timeout deadline, so without this bound a peer that sends one block
            just inside piece_timeout holds the probe for blocks x piece_timeout: hours for 16 MiB pieces).
        max_rejected_pieces: pieces whose requests the peer rejected (BEP 6) before giving up.
        pex_wait: when > 0 and the peer offers ``ut_pex`` (BEP 11), stay connected after the outcome is
            known until its first PEX message arrives or this many seconds pass (the peers it names are
            discovery leads, never evidence).
        max_overhead_bytes: bytes the peer may send besides the blocks we requested (handshakes, claims,
            BEP 10 messages, unrequested data), on top of one bitfield's size; above it the probe ends with
            ``protocol_error``. A probe needs a few KiB of these; without the cap a peer that floods
            ``have``, ``request`` or unrequested ``piece`` messages fills the wire capture (held in memory
            until the probe ends, then stored) for as long as the phase's timeout lasts.
    """

    depth: Depth = Depth.VERIFIED
    pieces_to_verify: int = 1
    blocks_to_verify: int = 1
    max_hash_failures: int = 2
    pipeline_blocks: int = 16
    handshake_timeout: float = 10.0
    claims_wait: float = 3.0
    ext_grace: float = 0.5
    unchoke_timeout: float = 15.0
    piece_timeout: float = 20.0
    download_timeout: float = 300.0
    max_rejected_pieces: int = 3
    pex_wait: float = 0.0
    max_overhead_bytes: int = 4 * 1024 * 1024

    def block_deadline(self, download_started_us: int, now_us: int) -> int:
        """UTC µs by which the next block must arrive: ``piece_timeout`` after ``now_us``, and never later
        than ``download_timeout`` after the download started (UTC µs)."""
        next_block = now_us + int(self.piece_timeout * 1_000_000)
        return min(next_block, download_started_us + int(self.download_timeout * 1_000_000))
