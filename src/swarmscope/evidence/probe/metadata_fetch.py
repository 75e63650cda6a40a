"""Fetching a magnet's metadata from one peer, as a pure state machine with the probe's driver interface.

Steps: handshake with the wire infohash (BEP 3; v1 or the truncated v2, BEP 52) → BEP 10 extension
handshake offering ``ut_metadata`` → request the 16 KiB metadata pieces (BEP 9) → hash the whole buffer
against the magnet's infohash(es) → disconnect. A reject is not final (PW-12): the peer is asked again after
a back-off, up to a limit. A peer whose metadata does not hash to the infohash is recorded as such and its
bytes are never returned. We answer every metadata request with a reject (we never upload).

``net.peer_conn.probe`` drives it exactly like a :class:`~swarmscope.evidence.probe.run.ProbeRun`.

Sources: BEP 3, BEP 9, BEP 10, BEP 52; interop PW-07 (handshake and messages in one segment), PW-12.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from swarmscope.errors import DecodeError
from swarmscope.evidence.probe.peer_identity import identity_fields
from swarmscope.evidence.records import Failure, Observation, Tier
from swarmscope.wire import extension
from swarmscope.wire import peer_session as ps
from swarmscope.wire.metadata import MAX_METADATA_SIZE, MetadataAssembler, digest_metadata
from swarmscope.wire.peer import reserved_bytes

_US = 1_000_000
UT_METADATA_ID = 3  # BEP 10: our local id for ut_metadata (any 1..255; libtorrent uses 2, we avoid clashes)
MISMATCH_DETAIL = "metadata does not hash to the infohash"
NO_METADATA_FAILURE = Failure.NO_METADATA  # the peer offers no ut_metadata; MetadataFetch.outcome says more
# PeerSession quirks that only say we did not know the piece count (metadata not fetched yet).
_PIECE_COUNT_QUIRKS = ("bitfield of ", "PW-04 ", "PW-01 ")


class MetadataOutcome(enum.Enum):
    """How a metadata fetch from one peer ended (finer than :class:`Failure`; proposed as Failure values)."""

    PENDING = "pending"
    VERIFIED = "metadata_verified"  # complete and hashes to the infohash
    MISMATCH = "metadata_mismatch"  # complete but does not hash to the infohash
    NO_METADATA = "no_metadata"  # no BEP 10 handshake, or ut_metadata not offered
    REJECTED = "metadata_rejected"  # rejected more often than the policy tolerates (PW-12)
    OVERSIZE = "metadata_oversize"  # metadata_size / total_size above the cap
    FAILED = "failed"  # connection-level failure (see Observation.failure)


@dataclass(frozen=True, slots=True)
class MetadataPolicy:
    """Limits of one metadata fetch. Times in seconds, sizes in bytes.

    Args:
        handshake_timeout: from TCP connect to the peer's handshake.
        ext_timeout: from the handshake to the peer's BEP 10 handshake.
        piece_timeout: longest wait for the next metadata message while requests are open.
        reject_backoff: wait after a reject before asking again (PW-12).
        max_rejects: rejects tolerated before giving up on this peer.
        pipeline: metadata requests in flight (libtorrent rejects when its queue is full, PW-12).
        max_size: cap on metadata_size / total_size.
    """

    handshake_timeout: float = 10.0
    ext_timeout: float = 10.0
    piece_timeout: float = 15.0
    reject_backoff: float = 1.0
    max_rejects: int = 4
    pipeline: int = 4
    max_size: int = MAX_METADATA_SIZE


class _Phase(enum.Enum):
    CONNECTING = 0
    HANDSHAKE = 1
    EXTENSION = 2
    REQUESTING = 3
    BACKOFF = 4
    DONE = 5


class MetadataFetch:
    """Fetch and verify the info dict of a magnet from one peer; build its Observation.

    Args:
        swarm: hex swarm id stored with the observation. v1: 20-byte SHA-1 infohash or None.
        v2: 32-byte SHA-256 infohash or None (at least one; a hybrid magnet gives both, both must match).
        peer_id: our 20-byte peer id. ip, port: the peer's address. source: a Source value.
        started_us: UTC microseconds when the connection attempt began. policy: limits.
        client: our BEP 10 ``v`` (client name and version bytes), or None.

    Attributes readable by the caller: ``result`` (the verified raw info-dict bytes, else None),
    ``outcome`` (:class:`MetadataOutcome`), ``rejects`` (count), ``ext`` (the peer's BEP 10 handshake).

    Raises:
        ValueError: neither v1 nor v2 given.
    """

    def __init__(
        self,
        *,
        swarm: str,
        v1: bytes | None,
        v2: bytes | None,
        peer_id: bytes,
        ip: str,
        port: int,
        source: str,
        started_us: int,
        policy: MetadataPolicy = MetadataPolicy(),
        client: bytes | None = None,
    ) -> None:
        if v1 is None and v2 is None:
            raise ValueError("MetadataFetch needs a v1 or a v2 infohash")
        self.swarm, self.v1, self.v2 = swarm, v1, v2
        self.ip, self.port, self.source, self.policy = ip, port, source, policy
        self.started_us = self.ended_us = started_us
        wire = v1 if v1 is not None else v2
        assert wire is not None
        self.session = ps.PeerSession(wire[:20], peer_id, 0, reserved=reserved_bytes())
        self._ext_out = extension.encode_handshake({"ut_metadata": UT_METADATA_ID}, v=client)
        self.assembler = MetadataAssembler(policy.max_size)
        self.phase = _Phase.CONNECTING
        self.tier = Tier.LISTED
        self.outcome = MetadataOutcome.PENDING
        self.failure: Failure | None = None
        self.failure_detail: str | None = None
        self.deadline_us: int | None = None
        self.remote_infohash: str | None = None
        self.ext: extension.ExtensionHandshake | None = None
        self.wire_in = self.wire_out = self.metadata_in = 0
        self.rejects = 0
        self.result: bytes | None = None
        self.quirks: list[str] = []
        self._peer_ext_id = 0
        self._open: set[int] = set()  # metadata pieces requested and not yet answered

    # --- inputs from the driver ---------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once the fetch finished; the driver closes the connection."""
        return self.phase is _Phase.DONE

    def connected(self, now_us: int) -> bytes:
        """TCP connection established: returns our handshake to send (BEP 3)."""
        self.phase = _Phase.HANDSHAKE
        self.deadline_us = now_us + int(self.policy.handshake_timeout * _US)
        return self._out(self.session.handshake_bytes())

    def connect_failed(self, now_us: int, failure: Failure, detail: str) -> None:
        """The TCP connection could not be made (refused, timeout, unreachable)."""
        self._finish(now_us, MetadataOutcome.FAILED, failure, detail)

    def received(self, data: bytes, now_us: int) -> bytes:
        """Bytes arrived from the peer; returns bytes to send (possibly empty)."""
        if self.done:
            return b""
        self.wire_in += len(data)
        try:
            events, reply = self.session.receive(data)
        except DecodeError as exc:
            failure = Failure.HANDSHAKE_INVALID if self.session.remote is None else Failure.PROTOCOL_ERROR
            self._finish(now_us, MetadataOutcome.FAILED, failure, str(exc))
            return b""
        out = bytearray(reply)
        for event in events:
            out += self._on_event(event, now_us)
            if self.done:
                break
        return self._out(bytes(out))

    def timer(self, now_us: int) -> bytes:
        """The deadline passed: conclude or retry the phase that timed out; returns bytes to send."""
        if self.done or self.deadline_us is None or now_us < self.deadline_us:
            return b""
        phase = self.phase
        if phase is _Phase.HANDSHAKE:
            self._finish(now_us, MetadataOutcome.FAILED, Failure.HANDSHAKE_TIMEOUT, "no handshake")
        elif phase is _Phase.EXTENSION:
            wait = self.policy.ext_timeout
            detail = f"no BEP 10 extension handshake within {wait:g} s"
            self._finish(now_us, MetadataOutcome.NO_METADATA, NO_METADATA_FAILURE, detail)
        elif phase is _Phase.REQUESTING:
            detail = (
                f"metadata pieces {sorted(self._open)} not answered within {self.policy.piece_timeout:g} s"
            )
            self._finish(now_us, MetadataOutcome.FAILED, Failure.PIECE_TIMEOUT, detail)
        elif phase is _Phase.BACKOFF:
            return self._out(self._request(now_us))
        return b""

    def closed(self, now_us: int, detail: str = "connection closed") -> None:
        """The peer (or the network) closed the connection."""
        if not self.done:
            self._finish(now_us, MetadataOutcome.FAILED, Failure.CLOSED_BY_PEER, detail)

    def stop(self, now_us: int) -> None:
        """The caller is ending (another peer served the metadata, or time ran out)."""
        if not self.done:
            detail = f"stopped during {self.phase.name.lower()}"
            self._finish(now_us, MetadataOutcome.FAILED, Failure.DEADLINE, detail)

    # --- event handling -----------------------------------------------------------------------------

    def _quirk(self, name: str) -> None:
        if name not in self.quirks:
            self.quirks.append(name)

    def _out(self, data: bytes) -> bytes:
        self.wire_out += len(data)
        return data

    def _on_event(self, event: ps.Event, now_us: int) -> bytes:
        if isinstance(event, ps.HandshakeReceived):
            return self._on_handshake(event, now_us)
        if isinstance(event, ps.ExtensionHandshakeReceived):
            return self._on_extension_handshake(event.payload, now_us)
        if isinstance(event, ps.ExtendedMessageReceived) and event.ext_id == UT_METADATA_ID:
            return self._on_metadata(event.payload, now_us)
        return b""  # claims, chokes, other extensions: irrelevant to metadata

    def _on_handshake(self, event: ps.HandshakeReceived, now_us: int) -> bytes:
        if not event.infohash_matches:
            self.remote_infohash = event.handshake.infohash.hex()
            detail = f"peer answered {self.remote_infohash}"
            self._finish(now_us, MetadataOutcome.FAILED, Failure.INFOHASH_MISMATCH, detail)
            return b""
        self.tier = Tier.CONNECTED
        if not self.session.extension:
            detail = "peer does not support the extension protocol (BEP 10), so no ut_metadata"
            self._finish(now_us, MetadataOutcome.NO_METADATA, NO_METADATA_FAILURE, detail)
            return b""
        self.phase = _Phase.EXTENSION
        self.deadline_us = now_us + int(self.policy.ext_timeout * _US)
        return self.session.opening_messages(self._ext_out)

    def _on_extension_handshake(self, payload: bytes, now_us: int) -> bytes:
        if self.phase is not _Phase.EXTENSION:
            self._quirk("repeated BEP 10 handshake ignored")
            return b""
        try:
            self.ext = extension.decode_handshake(payload)
        except DecodeError as exc:
            self._finish(now_us, MetadataOutcome.FAILED, Failure.PROTOCOL_ERROR, str(exc))
            return b""
        peer_id = self.ext.m.get("ut_metadata", 0)
        if not peer_id:
            detail = "peer does not offer ut_metadata (BEP 9)"
            self._finish(now_us, MetadataOutcome.NO_METADATA, NO_METADATA_FAILURE, detail)
            return b""
        self._peer_ext_id = peer_id
        if self.ext.metadata_size is not None and not self._learn_size(self.ext.metadata_size, now_us):
            return b""
        return self._request(now_us)

    def _learn_size(self, size: int, now_us: int) -> bool:
        try:
            self.assembler.set_size(size)
        except DecodeError as exc:
            oversize = size > self.policy.max_size
            outcome = MetadataOutcome.OVERSIZE if oversize else MetadataOutcome.FAILED
            self._finish(now_us, outcome, Failure.PROTOCOL_ERROR, exc.reason)
            return False
        return True

    def _request(self, now_us: int) -> bytes:
        """Ask for missing pieces up to the pipeline (only piece 0 while the size is unknown, PW-12)."""
        self.phase = _Phase.REQUESTING
        self.deadline_us = now_us + int(self.policy.piece_timeout * _US)
        out = bytearray()
        for piece in self.assembler.missing():
            if len(self._open) >= self.policy.pipeline:
                break
            if piece not in self._open:
                self._open.add(piece)
                out += self.session.extended(self._peer_ext_id, extension.encode_metadata_request(piece))
        return bytes(out)

    def _on_metadata(self, payload: bytes, now_us: int) -> bytes:
        if self.phase not in (_Phase.REQUESTING, _Phase.BACKOFF):
            self._quirk("ut_metadata message before the peer's BEP 10 handshake ignored")
            return b""
        try:
            msg = extension.decode_metadata_message(payload)
        except DecodeError as exc:
            self._finish(now_us, MetadataOutcome.FAILED, Failure.PROTOCOL_ERROR, str(exc))
            return b""
        for quirk in msg.quirks:
            self._quirk(quirk)
        if msg.msg_type == extension.METADATA_REQUEST:
            return self.session.extended(self._peer_ext_id, extension.encode_metadata_reject(msg.piece))
        if msg.msg_type == extension.METADATA_REJECT:
            return self._on_reject(msg, now_us)
        if msg.msg_type == extension.METADATA_DATA:
            return self._on_data(msg, now_us)
        return b""

    def _on_reject(self, msg: extension.MetadataMessage, now_us: int) -> bytes:
        self._open.discard(msg.piece)
        self.rejects += 1
        if self.rejects > self.policy.max_rejects:
            detail = f"ut_metadata rejected {self.rejects} times (last: piece {msg.piece})"
            self._finish(now_us, MetadataOutcome.REJECTED, Failure.REJECTED, detail)
            return b""
        self._quirk("PW-12 ut_metadata reject")
        if not self._open:  # back off only when nothing else is in flight
            self.phase = _Phase.BACKOFF
            self.deadline_us = now_us + int(self.policy.reject_backoff * _US)
        return b""

    def _on_data(self, msg: extension.MetadataMessage, now_us: int) -> bytes:
        if msg.total_size is not None and msg.total_size > self.policy.max_size:
            detail = f"metadata size: {msg.total_size} bytes exceeds the cap of {self.policy.max_size} bytes"
            self._finish(now_us, MetadataOutcome.OVERSIZE, Failure.PROTOCOL_ERROR, detail)
            return b""
        try:
            if msg.piece not in self._open:
                self._quirk(f"unrequested metadata piece {msg.piece}")
            self.assembler.add(msg)
        except DecodeError as exc:
            self._finish(now_us, MetadataOutcome.FAILED, Failure.PROTOCOL_ERROR, exc.reason)
            return b""
        self._open.discard(msg.piece)
        self.metadata_in += len(msg.data)
        if self.assembler.complete:
            self._verify(now_us)
            return b""
        if self.phase is _Phase.BACKOFF and self._open:
            return b""
        return self._request(now_us)

    def _verify(self, now_us: int) -> None:
        info = self.assembler.assemble()
        digest = digest_metadata(info, self.v1, self.v2)
        if digest.matches:
            self.result = info
            self._finish(now_us, MetadataOutcome.VERIFIED, None, None)
            return
        served = f"served {digest.size} bytes with sha1 {digest.sha1.hex()} sha256 {digest.sha256.hex()}"
        self._finish(
            now_us, MetadataOutcome.MISMATCH, Failure.METADATA_MISMATCH, f"{MISMATCH_DETAIL}: {served}"
        )

    def _finish(
        self, now_us: int, outcome: MetadataOutcome, failure: Failure | None, detail: str | None
    ) -> None:
        self.outcome = outcome
        self.failure, self.failure_detail = failure, detail
        self.ended_us = now_us
        self.deadline_us = None
        self.phase = _Phase.DONE

    # --- result -----------------------------------------------------------------------------------------

    def observation(self) -> Observation:
        """The record of this fetch (call once :attr:`done`). ``bytes_received`` counts metadata bytes."""
        s, ext = self.session, self.ext
        remote = s.remote
        session_quirks = [q for q in s.quirks if not q.startswith(_PIECE_COUNT_QUIRKS)]
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
            bytes_received=self.metadata_in,
            wire_bytes_in=self.wire_in,
            wire_bytes_out=self.wire_out,
            payload_bytes_sent=0,
            quirks=tuple(session_quirks + self.quirks) + (ext.quirks if ext else ()),
        )
