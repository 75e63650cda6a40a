"""One probe of one peer, as a pure state machine: bytes and times in, bytes out, an Observation at the end.

The asyncio driver (``net.peer_conn``) only moves bytes and arms the timer at :attr:`ProbeRun.deadline_us`.
Because every input (received chunks, clock readings) is passed in, replaying a capture through a fresh
``ProbeRun`` re-derives the same :class:`~swarmscope.evidence.records.Observation` (README "Wire captures").

Steps (BEP 3 "peer protocol", BEP 6, BEP 10): handshake with our infohash → extension handshake →
bitfield / have / have_all / have_none (a peer may send none) → interested → request one 16 KiB block
proof the peer claims (block mode, README "Blocks proving distribution") or the blocks of one piece it
claims → check the block's SHA-256 against the block hash table, or the piece hash (v1 SHA-1, v2 merkle;
BEP 3 / BEP 52) → disconnect. We never send piece data.
What to download and how to judge it lives in :mod:`swarmscope.evidence.probe.piece_download`.
"""

from __future__ import annotations

import enum

from swarmscope.errors import DecodeError
from swarmscope.evidence.probe.piece_download import PieceDownload, PieceSpec
from swarmscope.evidence.probe.policy import Depth, ProbePolicy
from swarmscope.evidence.probe.record import observation_of
from swarmscope.evidence.records import BlockProof, Failure, Observation, Tier
from swarmscope.wire import extension, pex
from swarmscope.wire import peer_session as ps
from swarmscope.wire.peer import reserved_bytes

_US = 1_000_000

__all__ = ["ProbeRun"]

_DEFAULT_POLICY = ProbePolicy()
_RESERVED = reserved_bytes()  # BEP 10 extension + BEP 6 fast, the same 8 bytes for every probe


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
        block_candidates: block proofs from a :class:`~swarmscope.evidence.probe.block_table.BlockTable`,
            tried in order before any whole piece: when the peer claims a candidate's piece exactly that block
            is requested and its SHA-256 compared. Empty: whole-piece verification only.
        record_listen_port: for an inbound run, record the peer under the TCP listen port it announces in
            its BEP 10 handshake (``p``) instead of the ephemeral source port of its connection; without a
            ``p`` the source port stays. BEP 10: ``p`` is the "local TCP listen port", the port a re-probe
            can dial. An input like the others: the capture header carries it, so replay re-derives the port.

    Attributes:
        verified_data: ``(index, bytes)`` of the whole pieces that passed their hash check, so the caller
            can add them to its block table. Memory: up to ``policy.pieces_to_verify`` pieces of
            ``piece_length`` bytes each stay referenced as long as the run object does; drop the run (or
            clear the list) once the pieces are stored.
        verified_block_data: ``(proof, bytes)`` of the blocks that matched their proof (16 KiB each).
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
        policy: ProbePolicy = _DEFAULT_POLICY,
        piece_seed: int = 0,
        extension_handshake: bytes | None = None,
        inbound: bool = False,
        pex_id: int = 0,
        block_candidates: tuple[BlockProof, ...] = (),
        record_listen_port: bool = False,
    ) -> None:
        self.swarm, self.ip, self.port, self.source = swarm, ip, port, source
        self.pieces, self.policy, self.piece_seed = pieces, policy, piece_seed
        self.started_us = started_us
        self.ended_us = started_us
        self.session = ps.PeerSession(wire_infohash, peer_id, pieces.num_pieces, reserved=_RESERVED)
        self._ext_out = extension_handshake
        self.phase = _Phase.CONNECTING
        self.tier = Tier.LISTED
        self.failure: Failure | None = None
        self.failure_detail: str | None = None
        self.deadline_us: int | None = None
        self.remote_infohash: str | None = None
        self.ext: extension.ExtensionHandshake | None = None
        self.wire_in = self.wire_out = 0
        self.block_candidates = block_candidates  # an input: a capture header must carry it for replay
        self.download = PieceDownload(self.session, pieces, policy, piece_seed, block_candidates)
        self.verified_data = self.download.verified_data
        self.verified_block_data = self.download.verified_block_data
        self._empty_claimed = False
        self.inbound = inbound
        self.record_listen_port = record_listen_port
        self.pex_id = pex_id  # our local BEP 10 id for ut_pex (0: we did not offer it)
        self.pex: list[pex.PexMessage] = []
        self._pending: tuple[Failure | None, str | None] | None = None
        self._download_started: int | None = None  # UTC µs of our first request (download_timeout)

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
        cap = self.policy.max_overhead_bytes + (self.pieces.num_pieces + 7) // 8  # + one bitfield
        if not self.done and self.wire_in - self.download.payload_in > cap:
            self._finish(now_us, Failure.PROTOCOL_ERROR, f"peer sent {cap}+ bytes besides requested blocks")
            return b""
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
            if self.download.release_block_wait():  # still choked: an allowed-fast whole piece will do
                out = self._advance(now_us)
                if self.phase is not _Phase.UNCHOKE:
                    return self._out(out)
            self._finish(now_us, Failure.CHOKED, f"not unchoked within {self.policy.unchoke_timeout:g} s")
        elif phase is _Phase.DOWNLOAD:
            overran = self.policy.block_deadline(self._download_started or now_us, now_us) <= now_us
            self._finish(now_us, Failure.PIECE_TIMEOUT, self.download.stall_detail(overran))
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
            if event.choked:
                self.download.on_choke()  # BEP 3: a choke discards our requests; BEP 6 peers reject them
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
        started = self.download.target is not None
        out = self.download.advance()
        if self.download.target is not None and not started:
            self.phase = _Phase.DOWNLOAD
            self._download_started = self._download_started or now_us
            self.deadline_us = self.policy.block_deadline(self._download_started, now_us)
        return self._after_download(out, now_us)

    def _on_block(self, event: ps.BlockReceived, now_us: int) -> bytes:
        out = self.download.on_block(event)
        self.deadline_us = self.policy.block_deadline(self._download_started or now_us, now_us)
        return self._after_download(out, now_us)

    def _on_reject(self, event: ps.RequestRejected, now_us: int) -> bytes:
        return self._after_download(self.download.on_reject(event), now_us)

    def _after_download(self, out: bytes, now_us: int) -> bytes:
        """Take over the download's verdict: tier, soft failure, or the end of the probe."""
        dl = self.download
        if dl.proven:
            self.tier = Tier.VERIFIED
        if dl.soft is not None:
            self.failure, self.failure_detail = dl.soft
        if dl.end is not None:
            self._finish(now_us, *dl.end)
            return b""
        return out

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

    def observation(self, capture_sha256: bytes | None = None) -> Observation:
        """The record of this probe (call once :attr:`done`), built by :func:`observation_of`;
        ``capture_sha256``: the SHA-256 of this probe's capture, when one was taken."""
        return observation_of(self, capture_sha256)
