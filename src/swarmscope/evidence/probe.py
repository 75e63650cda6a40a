"""One probe of one peer, as a pure state machine: bytes and times in, bytes out, an Observation at the end.

The asyncio driver (``net.peer_conn``) only moves bytes and arms the timer at :attr:`ProbeRun.deadline_us`.
Because every input (received chunks, clock readings) is passed in, replaying a capture through a fresh
``ProbeRun`` re-derives the same :class:`~swarmscope.evidence.records.Observation` (issue 4, capture replay).

Steps (issue 2, "The probe"): handshake with our infohash → extension handshake → bitfield / have /
have_all / have_none (a peer may send none) → interested → request the blocks of one piece the peer claims →
check the piece hash (v1 SHA-1, v2 merkle; BEP 3 / BEP 52) → disconnect. We never send piece data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from swarmscope.errors import DecodeError
from swarmscope.evidence.peer_identity import identity_fields
from swarmscope.evidence.records import Failure, Observation, Tier
from swarmscope.wire import extension, pex
from swarmscope.wire import peer_session as ps
from swarmscope.wire.peer import reserved_bytes
from swarmscope.wire.types import BLOCK_SIZE

_US = 1_000_000


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
        max_hash_failures: pieces that may fail the hash check before we give up on the peer.
        pipeline_blocks: requests in flight (each 16 KiB; BEP 3 "request").
        handshake_timeout: from TCP connect to the peer's handshake.
        claims_wait: how long after the handshake to wait for piece claims when none came (BEP 3 lets a peer
            with no piece send no bitfield at all).
        ext_grace: after an explicit empty claim (have_none, all-zero bitfield), how long to wait for the
            BEP 10 handshake before concluding ``no_pieces``.
        unchoke_timeout: how long to wait for unchoke (or an allowed-fast piece) after ``interested``.
        piece_timeout: longest gap between blocks while downloading.
        max_rejected_pieces: pieces whose requests the peer rejected (BEP 6) before giving up.
        pex_wait: when > 0 and the peer offers ``ut_pex`` (BEP 11), stay connected after the outcome is
            known until its first PEX message arrives or this many seconds pass (the peers it names are
            discovery leads, never evidence).
    """

    depth: Depth = Depth.VERIFIED
    pieces_to_verify: int = 1
    max_hash_failures: int = 2
    pipeline_blocks: int = 16
    handshake_timeout: float = 10.0
    claims_wait: float = 3.0
    ext_grace: float = 0.5
    unchoke_timeout: float = 15.0
    piece_timeout: float = 20.0
    max_rejected_pieces: int = 3
    pex_wait: float = 0.0


class _Phase(enum.Enum):
    CONNECTING = 0
    HANDSHAKE = 1
    CLAIMS = 2
    UNCHOKE = 3
    DOWNLOAD = 4
    PEX = 5
    DONE = 6


class ProbeRun:
    """Drive one peer-wire connection through the probe steps and build its Observation.

    Args:
        swarm: hex swarm id stored with the observation. wire_infohash: the 20 handshake bytes.
        peer_id: our peer id (20 bytes). pieces: the torrent's :class:`PieceSpec`.
        ip, port: the peer's address. source: :class:`~swarmscope.evidence.records.Source` value.
        started_us: UTC microseconds when the connection attempt began.
        policy: limits. piece_seed: spreads piece choice across peers (any int; passed in, not random).
        extension_handshake: our BEP 10 handshake payload (None to send none).
        inbound: the peer connected to us: we answer its handshake instead of sending ours first (BEP 3).
        pex_id: the id under which our extension handshake offered ``ut_pex`` (BEP 11), 0 when not offered.
    """

    def __init__(
        self,
        *,
        swarm: str,
        wire_infohash: bytes,
        peer_id: bytes,
        pieces: PieceSpec,
        ip: str,
        port: int,
        source: str,
        started_us: int,
        policy: ProbePolicy = ProbePolicy(),
        piece_seed: int = 0,
        extension_handshake: bytes | None = None,
        inbound: bool = False,
        pex_id: int = 0,
    ) -> None:
        self.swarm, self.ip, self.port, self.source = swarm, ip, port, source
        self.pieces, self.policy, self.piece_seed = pieces, policy, piece_seed
        self.started_us = started_us
        self.ended_us = started_us
        self.session = ps.PeerSession(wire_infohash, peer_id, pieces.num_pieces, reserved=reserved_bytes())
        self._ext_out = extension_handshake
        self.phase = _Phase.CONNECTING
        self.tier = Tier.LISTED
        self.failure: Failure | None = None
        self.failure_detail: str | None = None
        self.deadline_us: int | None = None
        self.remote_infohash: str | None = None
        self.ext: extension.ExtensionHandshake | None = None
        self.wire_in = self.wire_out = self.payload_in = 0
        self.verified: list[int] = []
        self.failed: list[int] = []
        self._tried: set[int] = set()
        self._rejected_pieces = 0
        self._piece: int | None = None
        self._blocks: dict[int, bytes] = {}
        self._empty_claimed = False
        self.inbound = inbound
        self.pex_id = pex_id  # our local BEP 10 id for ut_pex (0: we did not offer it)
        self.pex: list[pex.PexMessage] = []
        self._pending: tuple[Failure | None, str | None] | None = None
        self._requested: set[int] = set()  # begin offsets of the current piece asked for, not yet answered

    # --- inputs from the driver ---------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once the probe finished; the driver closes the connection."""
        return self.phase is _Phase.DONE

    def connected(self, now_us: int) -> bytes:
        """TCP connection established: returns our handshake to send (BEP 3)."""
        self.phase = _Phase.HANDSHAKE
        self.deadline_us = now_us + int(self.policy.handshake_timeout * _US)
        return self._out(self.session.handshake_bytes())

    def accepted(self, now_us: int) -> bytes:
        """An inbound connection was accepted: wait for the peer's handshake, answer it (BEP 3)."""
        self.inbound = True
        self.phase = _Phase.HANDSHAKE
        self.deadline_us = now_us + int(self.policy.handshake_timeout * _US)
        return b""

    def connect_failed(self, now_us: int, failure: Failure, detail: str) -> None:
        """The TCP connection could not be made (refused, timeout, unreachable)."""
        self._finish(now_us, failure, detail)

    def received(self, data: bytes, now_us: int) -> bytes:
        """Bytes arrived from the peer; returns bytes to send (possibly empty)."""
        if self.phase is _Phase.DONE:
            return b""
        self.wire_in += len(data)
        try:
            events, reply = self.session.receive(data)
        except DecodeError as exc:  # events of this chunk are lost; keep what the session state proves
            remote = self.session.remote
            if remote is not None and remote.infohash == self.session.infohash:
                self.tier = max(self.tier, Tier.HAS_PIECES if self.session.have_count else Tier.CONNECTED)
            self._finish(now_us, self._decode_failure(), str(exc))
            return b""
        out = bytearray()
        for event in events:
            out += self._on_event(event, now_us)
            if self.done:  # the property re-reads the phase that _on_event may have changed
                break
        out += reply  # rejects after our handshake answer and have_none (BEP 6: have_* comes first)
        return self._out(bytes(out))

    def timer(self, now_us: int) -> bytes:
        """The deadline passed: conclude the phase that timed out; returns bytes to send."""
        if self.phase is _Phase.DONE or self.deadline_us is None or now_us < self.deadline_us:
            return b""
        phase = self.phase
        if phase is _Phase.HANDSHAKE:
            self._finish(now_us, Failure.HANDSHAKE_TIMEOUT, "no handshake")
        elif phase is _Phase.CLAIMS:
            self._no_claims(now_us)
        elif phase is _Phase.UNCHOKE:
            self._finish(now_us, Failure.CHOKED, f"not unchoked within {self.policy.unchoke_timeout:g} s")
        elif phase is _Phase.DOWNLOAD:
            got = sum(len(b) for b in self._blocks.values())
            self._finish(now_us, Failure.PIECE_TIMEOUT, f"piece {self._piece}: {got} bytes then silence")
        elif phase is _Phase.PEX:
            self._finish(now_us, *(self._pending or (None, None)))
        return b""

    def closed(self, now_us: int, detail: str = "connection closed") -> None:
        """The peer (or the network) closed the connection."""
        if self.phase is not _Phase.DONE:
            if self.phase is _Phase.PEX:
                self._finish(now_us, *(self._pending or (None, None)))
            elif self.phase is _Phase.CLAIMS and self._empty_claimed:
                self._no_claims(now_us, detail)
            else:
                self._finish(now_us, Failure.CLOSED_BY_PEER, detail)

    def stop(self, now_us: int) -> None:
        """The monitor is ending; record how far we got."""
        if self.phase is _Phase.PEX:
            self._finish(now_us, *(self._pending or (None, None)))
        elif self.phase is not _Phase.DONE:
            self._finish(now_us, Failure.DEADLINE, f"monitor stopped during {self.phase.name.lower()}")

    # --- event handling -----------------------------------------------------------------------------

    def _out(self, data: bytes) -> bytes:
        self.wire_out += len(data)
        return data

    def _decode_failure(self) -> Failure:
        return Failure.HANDSHAKE_INVALID if self.session.remote is None else Failure.PROTOCOL_ERROR

    def _on_event(self, event: ps.Event, now_us: int) -> bytes:
        if isinstance(event, ps.BlockReceived):
            return self._on_block(event, now_us)
        if isinstance(event, ps.HandshakeReceived):
            return self._on_handshake(event, now_us)
        if isinstance(event, ps.PiecesClaimed):
            return self._on_claims(now_us)
        if isinstance(event, ps.ChokeChanged):
            if event.choked and not self.session.fast:
                self._requested.clear()  # BEP 3: a choke discards our requests; BEP 6 peers reject them
            return self._advance(now_us)
        if isinstance(event, ps.AllowedFastReceived):
            return self._advance(now_us)
        if isinstance(event, ps.RequestRejected):
            return self._on_reject(event, now_us)
        if isinstance(event, ps.ExtendedMessageReceived):
            self._on_extended(event, now_us)
            return b""
        if isinstance(event, ps.ExtensionHandshakeReceived):
            try:
                self.ext = extension.decode_handshake(event.payload)
            except DecodeError as exc:
                self.session.quirks.append(f"extension handshake undecodable: {exc.reason}")
            if self._empty_claimed and self.phase is _Phase.CLAIMS and self.session.have_count == 0:
                self._no_claims(now_us)
        return b""

    def _on_extended(self, event: ps.ExtendedMessageReceived, now_us: int) -> None:
        if not self.pex_id or event.ext_id != self.pex_id:
            return
        try:
            self.pex.append(pex.decode_pex(event.payload))
        except DecodeError as exc:
            self.session.quirks.append(f"ut_pex undecodable: {exc.reason}")
        if self.phase is _Phase.PEX:
            self._finish(now_us, *(self._pending or (None, None)))

    def _on_handshake(self, event: ps.HandshakeReceived, now_us: int) -> bytes:
        if not event.infohash_matches:
            self.remote_infohash = event.handshake.infohash.hex()
            self._finish(now_us, Failure.INFOHASH_MISMATCH, f"peer answered {self.remote_infohash}")
            return b""
        self.tier = Tier.CONNECTED
        if self.policy.depth is Depth.CONNECTED:
            self._finish(now_us, None, None)
            return self.session.handshake_bytes() if self.inbound else b""
        self.phase = _Phase.CLAIMS
        self.deadline_us = now_us + int(self.policy.claims_wait * _US)
        opening = self.session.opening_messages(self._ext_out)
        return self.session.handshake_bytes() + opening if self.inbound else opening

    def _on_claims(self, now_us: int) -> bytes:
        if self.session.have_count == 0:
            return self._on_empty_claim(now_us)
        self.tier = max(self.tier, Tier.HAS_PIECES)
        if self.policy.depth is Depth.HAS_PIECES:
            self._finish(now_us, None, None)
            return b""
        if self.phase is _Phase.CLAIMS:
            self.phase = _Phase.UNCHOKE
            self.deadline_us = now_us + int(self.policy.unchoke_timeout * _US)
        return self._advance(now_us)

    def _on_empty_claim(self, now_us: int) -> bytes:
        """An explicit empty claim (have_none, all-zero bitfield) concludes the probe.

        At once, or when the BEP 10 handshake (client name, yourip) arrives, at most ``ext_grace`` later.
        A ``have`` sent later is caught by the next re-probe.
        """
        if self.phase is not _Phase.CLAIMS:
            return b""
        self._empty_claimed = True
        if not self.session.extension or self.ext is not None:
            self._no_claims(now_us)
        else:
            self.deadline_us = min(self.deadline_us or now_us, now_us + int(self.policy.ext_grace * _US))
        return b""

    def _no_claims(self, now_us: int, detail: str | None = None) -> None:
        if self.session.have is None:
            self.session.quirks.append("PW-03 no bitfield, have_all or have_none (peer has no pieces)")
        self._finish(now_us, Failure.NO_PIECES, detail or "peer claims no piece")

    def _advance(self, now_us: int) -> bytes:
        """Start or continue downloading when the peer lets us."""
        if self.phase not in (_Phase.UNCHOKE, _Phase.DOWNLOAD):
            return b""
        if self._piece is None:
            piece = self._choose_piece()
            if piece is None:
                if not self.session.choked and not self._candidates():
                    self._finish(now_us, self.failure or Failure.NO_PIECES, self.failure_detail)
                return b""
            self._piece, self._blocks, self._requested = piece, {}, set()
            self._tried.add(piece)
            self.phase = _Phase.DOWNLOAD
            self.deadline_us = now_us + int(self.policy.piece_timeout * _US)
        return self._request_more()

    def _candidates(self) -> list[int]:
        s = self.session
        if s.choked:
            return sorted(i for i in s.allowed_fast if s.has_piece(i) and i not in self._tried)
        n = s.num_pieces
        start = self.piece_seed % n if n else 0
        out = []
        for k in range(n):
            i = (start + k) % n
            if s.has_piece(i) and i not in self._tried:
                out.append(i)
                if len(out) >= 1:
                    break
        return out

    def _choose_piece(self) -> int | None:
        cands = self._candidates()
        return cands[0] if cands else None

    def _request_more(self) -> bytes:
        """Fill the request pipeline with blocks of the current piece not yet received or asked for."""
        piece = self._piece
        s = self.session
        if piece is None or (s.choked and piece not in s.allowed_fast):
            return b""
        size = self.pieces.piece_size(piece)
        out = bytearray()
        begin = 0
        # self._requested, not the session's set: events of one segment are handled after the session
        # parsed all of it, so the session may already know of blocks this loop has not seen yet.
        while len(self._requested) < self.policy.pipeline_blocks and begin < size:
            length = min(BLOCK_SIZE, size - begin)
            if begin not in self._blocks and begin not in self._requested:
                self._requested.add(begin)
                out += s.request(piece, begin, length)
            begin += BLOCK_SIZE
        return bytes(out)

    def _on_block(self, event: ps.BlockReceived, now_us: int) -> bytes:
        if event.index != self._piece:
            return b""
        self._blocks[event.begin] = event.block
        self._requested.discard(event.begin)
        self.payload_in += len(event.block)
        self.deadline_us = now_us + int(self.policy.piece_timeout * _US)
        size = self.pieces.piece_size(event.index)
        if sum(len(b) for b in self._blocks.values()) < size:
            return self._request_more()
        data = b"".join(self._blocks[b] for b in sorted(self._blocks))
        self._piece, self._blocks, self._requested = None, {}, set()
        if self.pieces.check_piece(event.index, data):
            self.verified.append(event.index)
            self.tier = Tier.VERIFIED
            if len(self.verified) >= self.policy.pieces_to_verify:
                self._finish(now_us, None, None)
                return b""
        else:
            self.failed.append(event.index)
            self.failure, self.failure_detail = (
                Failure.HASH_MISMATCH,
                f"piece {event.index} failed its hash check",
            )
            if len(self.failed) >= self.policy.max_hash_failures:
                self._finish(now_us, Failure.HASH_MISMATCH, f"pieces {self.failed} failed their hash check")
                return b""
        return self._advance(now_us)

    def _on_reject(self, event: ps.RequestRejected, now_us: int) -> bytes:
        if event.index != self._piece:
            return b""
        self._rejected_pieces += 1
        self.failure, self.failure_detail = Failure.REJECTED, f"piece {event.index} request rejected"
        if self._rejected_pieces >= self.policy.max_rejected_pieces:
            self._finish(now_us, Failure.REJECTED, f"{self._rejected_pieces} pieces rejected")
            return b""
        self._piece, self._blocks, self._requested = None, {}, set()
        self.session.outstanding = {k for k in self.session.outstanding if k[0] != event.index}
        return self._advance(now_us)

    def _finish(self, now_us: int, failure: Failure | None, detail: str | None) -> None:
        if self._wants_pex(failure):
            self._pending = (failure, detail)
            self.phase = _Phase.PEX
            self.deadline_us = now_us + int(self.policy.pex_wait * _US)
            return
        if self.tier is Tier.VERIFIED and failure is not Failure.INFOHASH_MISMATCH:
            failure, detail = None, None
        self.failure, self.failure_detail = failure, detail
        self.ended_us = now_us
        self.deadline_us = None
        self.phase = _Phase.DONE

    def _wants_pex(self, failure: Failure | None) -> bool:
        """Linger for a PEX message only after a clean outcome with a peer that offers ut_pex."""
        if (
            self.phase in (_Phase.PEX, _Phase.DONE)
            or self.pex
            or not self.pex_id
            or self.policy.pex_wait <= 0
        ):
            return False
        if failure not in (None, Failure.NO_PIECES, Failure.HASH_MISMATCH):
            return False
        return self.ext is not None and "ut_pex" in self.ext.m

    # --- result -----------------------------------------------------------------------------------------

    def observation(self) -> Observation:
        """The record of this probe (call once :attr:`done`)."""
        s = self.session
        remote = s.remote
        ext = self.ext
        completion = None
        if remote is not None and self.remote_infohash is None and s.num_pieces:
            completion = s.have_count / s.num_pieces
        return Observation(
            infohash=self.swarm,
            ip=self.ip,
            port=self.port,
            source=self.source,
            started_us=self.started_us,
            ended_us=self.ended_us,
            tier=self.tier,
            failure=self.failure.value if self.failure else None,
            failure_detail=self.failure_detail,
            remote_infohash=self.remote_infohash,
            **identity_fields(remote, ext),
            num_pieces=s.num_pieces,
            pieces_have=s.have_count,
            bitfield=bytes(s.have) if s.have is not None else None,
            completion=completion,
            bytes_received=self.payload_in,
            wire_bytes_in=self.wire_in,
            wire_bytes_out=self.wire_out,
            payload_bytes_sent=0,
            verified_pieces=tuple(self.verified),
            failed_pieces=tuple(self.failed),
            encrypted=False,
            quirks=tuple(s.quirks) + (ext.quirks if ext else ()),
        )
