"""Wire captures of probes: record every driver call and byte, and replay a capture to its Observation.

The tap in ``net.capture_tap`` feeds a :class:`CaptureRecorder` (a pure sink); :func:`replay` rebuilds the
pure run from the capture header, feeds it the recorded events with the recorded UTC microseconds, checks
that our outputs equal the bytes we sent byte for byte, and returns the re-derived Observation. The format
is documented in :mod:`swarmscope.evidence.capture.format`.

Source: README "Wire captures" (replaying a capture through the same pure parsers gives back exactly the
stored observation).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from swarmscope.errors import ProtocolStateError, SwarmscopeError
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.capture.format import (
    CaptureEvent,
    CaptureHeader,
    EventKind,
    MetadataHeader,
    MseSecrets,
    Segment,
    encode_rows,
    event_row,
    lift_blocks,
)
from swarmscope.evidence.probe.encrypted import EncryptedInboundRun, EncryptedProbeRun
from swarmscope.evidence.probe.metadata_fetch import MetadataFetch
from swarmscope.evidence.probe.piece_download import PieceSpec
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Failure, Observation
from swarmscope.wire import extension

__all__ = [
    "Capture",
    "CaptureRecorder",
    "ReplayError",
    "build_run",
    "capture_header",
    "replay",
    "verified_blocks",
]


class ReplayError(SwarmscopeError):
    """A capture decoded but does not replay: our outputs differ, or a referenced block is missing."""


@dataclass(frozen=True, slots=True)
class Capture:
    """A finished capture.

    Args:
        data: the encoded capture (payload blocks lifted out by reference). sha256: SHA-256 of ``data``
        (the Observation's ``capture_sha256``). blobs: sha256 → block bytes that ``data`` references.
    """

    data: bytes
    sha256: bytes
    blobs: dict[bytes, bytes]


class CaptureRecorder:
    """Pure sink of one probe's driver calls; :meth:`finish` encodes them.

    Args:
        header: every input of the run (see :func:`capture_header`).
    """

    __slots__ = ("_received", "_rows", "_sent", "capture", "header")

    def __init__(self, header: CaptureHeader | MetadataHeader) -> None:
        self.header = header
        self._rows: list[list[Any]] = []  # each event in its encoded form (format.event_row)
        self._sent: list[bytes] = []
        self._received: list[bytes] = []
        self.capture: Capture | None = None

    def event(
        self,
        kind: EventKind | str,
        utc_us: int,
        mono_us: int,
        data: bytes = b"",
        *,
        sent: bytes = b"",
        detail: str | None = None,
        failure: str | None = None,
    ) -> None:
        """Record one driver call.

        Args:
            kind: the call (``EventKind`` or its lower-case name, e.g. ``"received"``). utc_us: the exact
                UTC µs passed to the run. mono_us: monotonic µs at the call. data: bytes received (RECEIVED).
            sent: bytes the run returned (sent to the peer). detail / failure: CLOSED and CONNECT_FAILED
                arguments.

        Raises:
            ProtocolStateError: the capture was already finished.
        """
        if self.capture is not None:
            raise ProtocolStateError("capture: event after finish()")
        k = kind if isinstance(kind, EventKind) else EventKind[kind.upper()]
        if k is EventKind.RECEIVED:
            if not data:
                return  # the driver never passes empty chunks; nothing to replay
            self._received.append(data)
        self._rows.append(event_row(k, utc_us, mono_us, len(data), len(sent), detail, failure))
        if sent:
            self._sent.append(sent)

    def finish(self, known: Sequence[tuple[bytes, bytes]] = ()) -> Capture:
        """Encode the capture (idempotent): plaintext blocks are lifted into ``blobs``, MSE kept verbatim.

        Args:
            known: ``(sha256, block)`` pairs hashed already (the run's verified blocks), which
                :func:`~swarmscope.evidence.capture.format.lift_blocks` need not hash again; the same
                capture with or without them.
        """
        if self.capture is None:
            stream = b"".join(self._received)
            segments: list[Segment]
            if self.header.mse is None and getattr(self.header, "mse_responder", None) is None and stream:
                segments, blobs = lift_blocks(stream, known)
            else:
                segments, blobs = ([stream] if stream else []), {}
            data = encode_rows(self.header, self._rows, b"".join(self._sent), segments)
            self.capture = Capture(data, hashlib.sha256(data).digest(), blobs)
        return self.capture


def capture_header(run: object) -> CaptureHeader | MetadataHeader:
    """The header of a fresh run (call before its first driver call).

    Args:
        run: a :class:`ProbeRun` or a :class:`MetadataFetch` (BEP 9), or an :class:`EncryptedProbeRun` /
            :class:`EncryptedInboundRun` around one (its MSE secrets are recorded).

    Raises:
        ProtocolStateError: another kind of run.
    """
    mse, responder = None, None
    if isinstance(run, EncryptedProbeRun):
        mse = MseSecrets(run.private_key, run.pad_a, run.crypto_provide)
        run = run.run
    elif isinstance(run, EncryptedInboundRun):
        responder, run = run.secrets, run.run
    if isinstance(run, MetadataFetch) and responder is None:
        return _metadata_header(run, mse)
    if not isinstance(run, ProbeRun):
        raise ProtocolStateError(f"capture: cannot capture a {type(run).__name__}")
    return CaptureHeader(
        swarm=run.swarm,
        wire_infohash=run.session.infohash,
        peer_id=run.session.peer_id,
        ip=run.ip,
        port=run.port,
        source=run.source,
        started_us=run.started_us,
        policy=run.policy,
        piece_seed=run.piece_seed,
        extension_handshake=run._ext_out,  # the run keeps our BEP 10 payload private; it is an input
        inbound=run.inbound,
        record_listen_port=run.record_listen_port,
        pex_id=run.pex_id,
        block_candidates=tuple(run.block_candidates),
        mse=mse,
        mse_responder=responder,
    )


def _metadata_header(run: MetadataFetch, mse: MseSecrets | None) -> MetadataHeader:
    client = extension.decode_handshake(run._ext_out).v  # the fetch keeps only its encoded BEP 10 payload
    header = MetadataHeader(
        swarm=run.swarm,
        v1=run.v1,
        v2=run.v2,
        peer_id=run.session.peer_id,
        ip=run.ip,
        port=run.port,
        source=run.source,
        started_us=run.started_us,
        policy=run.policy,
        client=client,
        mse=mse,
    )
    if _metadata_fetch(header)._ext_out != run._ext_out:
        raise ProtocolStateError("capture: the fetch's extension handshake cannot be rebuilt from its inputs")
    return header


def _metadata_fetch(h: MetadataHeader) -> MetadataFetch:
    return MetadataFetch(
        swarm=h.swarm,
        v1=h.v1,
        v2=h.v2,
        peer_id=h.peer_id,
        ip=h.ip,
        port=h.port,
        source=h.source,
        started_us=h.started_us,
        policy=h.policy,
        client=h.client,
    )


Run = ProbeRun | EncryptedProbeRun | EncryptedInboundRun | MetadataFetch


def build_run(header: CaptureHeader | MetadataHeader, pieces: PieceSpec | None) -> Run:
    """A fresh run from a header: a ProbeRun (or MetadataFetch), wrapped for MSE when secrets are recorded.

    Raises:
        ReplayError: a probe capture and no ``pieces``.
    """
    if isinstance(header, MetadataHeader):
        fetch = _metadata_fetch(header)
        if header.mse is None:
            return fetch
        m = header.mse
        # EncryptedProbeRun only uses the driver interface and ``session.infohash``, which a fetch has
        inner = cast(ProbeRun, fetch)
        return EncryptedProbeRun(
            inner, private_key=m.private_key, pad_a=m.pad_a, crypto_provide=m.crypto_provide
        )
    if pieces is None:
        raise ReplayError("capture: replaying a probe needs the torrent's pieces")
    kwargs: dict[str, Any] = {
        "swarm": header.swarm,
        "wire_infohash": header.wire_infohash,
        "peer_id": header.peer_id,
        "pieces": pieces,
        "ip": header.ip,
        "port": header.port,
        "source": header.source,
        "started_us": header.started_us,
        "policy": header.policy,
        "piece_seed": header.piece_seed,
        "extension_handshake": header.extension_handshake,
        "inbound": header.inbound,
        "record_listen_port": header.record_listen_port,
        "pex_id": header.pex_id,
    }
    if header.block_candidates:  # only block-mode runs take candidates
        kwargs["block_candidates"] = header.block_candidates
    run = ProbeRun(**kwargs)
    if header.mse_responder is not None:
        return EncryptedInboundRun(run, secrets=header.mse_responder)
    if header.mse is None:
        return run
    m = header.mse
    return EncryptedProbeRun(run, private_key=m.private_key, pad_a=m.pad_a, crypto_provide=m.crypto_provide)


def _received_chunks(
    segments: tuple[Segment, ...], lengths: tuple[int, ...], blob: Callable[[bytes], bytes | None]
) -> list[bytes]:
    parts = []
    for seg in segments:
        if isinstance(seg, bytes):
            parts.append(seg)
            continue
        digest, length = seg
        data = blob(digest)
        if data is None:
            raise ReplayError(f"capture: block {digest.hex()} is missing")
        if len(data) != length or hashlib.sha256(data).digest() != digest:
            raise ReplayError(f"capture: block {digest.hex()} does not match its hash or length")
        parts.append(data)
    stream = b"".join(parts)
    chunks, pos = [], 0
    for n in lengths:
        chunks.append(stream[pos : pos + n])
        pos += n
    return chunks


def _call(run: Run, e: CaptureEvent, data: bytes) -> bytes:
    """Apply one event to the run; returns what the run wants sent."""
    k, now = e.kind, e.utc_us
    if k is EventKind.CONNECTED:
        if isinstance(run, EncryptedInboundRun):
            raise ReplayError("capture: a connected (outgoing) event in an inbound MSE capture")
        return run.connected(now)
    if k is EventKind.ACCEPTED:
        if isinstance(run, EncryptedProbeRun | MetadataFetch):
            raise ReplayError("capture: an accepted (inbound) event in an MSE-initiator capture")
        return run.accepted(now)
    if k is EventKind.RECEIVED:
        return run.received(data, now)
    if k is EventKind.PAYLOAD:
        if not isinstance(run, EncryptedInboundRun):
            raise ReplayError("capture: a payload event outside an inbound MSE capture")
        return run.payload(now)
    if k is EventKind.TIMER:
        return run.timer(now)
    if k is EventKind.CLOSED:
        run.closed(now, e.detail or "")
    elif k is EventKind.CONNECT_FAILED:
        try:
            failure = Failure(e.failure or "")
        except ValueError as exc:
            raise ReplayError(f"capture: unknown failure {e.failure!r}") from exc
        run.connect_failed(now, failure, e.detail or "")
    elif k is EventKind.STOP:
        run.stop(now)
    return b""


def replay(
    capture_data: bytes, pieces: PieceSpec | None, blob: Callable[[bytes], bytes | None]
) -> Observation:
    """Re-derive the Observation of a captured probe through the pure run.

    Args:
        capture_data: the capture bytes as stored. pieces: the torrent's pieces (e.g.
            :class:`~swarmscope.evidence.probe.pieces.MetainfoPieces` over the metainfo); None is enough for a
            metadata-fetch capture.
        blob: sha256 → block bytes (None when unknown) for blocks lifted out of the capture.

    Returns:
        The observation, with ``capture_sha256`` = SHA-256 of ``capture_data``.

    Raises:
        DecodeError: the capture is malformed (see ``capture.decode.decode_capture``).
        ReplayError: a referenced block is missing or wrong (names its sha256), or the run's output at an
            event differs from the bytes recorded as sent (names the event index), or the run failed.

    Source: README "Wire captures".
    """
    doc = decode_capture(capture_data)
    chunks = _received_chunks(doc.received, doc.received_lengths, blob)  # one per event (b"" if none)
    run = build_run(doc.header, pieces)
    pos = 0
    for i, (event, n_out) in enumerate(zip(doc.events, doc.sent_lengths, strict=True)):
        try:
            out = _call(run, event, chunks[i])
        except SwarmscopeError as exc:
            raise ReplayError(f"capture: event {i} ({event.kind.name.lower()}): {exc}") from exc
        except Exception as exc:  # a hostile event order must end in ReplayError, whatever the run does
            raise ReplayError(f"capture: event {i} ({event.kind.name.lower()}) failed: {exc!r}") from exc
        if out != doc.sent[pos : pos + n_out]:
            raise ReplayError(f"capture: event {i} ({event.kind.name.lower()}): our output differs")
        pos += n_out
    return captured_observation(run, hashlib.sha256(capture_data).digest())


def verified_blocks(run: object) -> list[tuple[bytes, bytes]]:
    """``(sha256, block)`` of the blocks a plain :class:`ProbeRun` verified against their proofs (the
    digest is the SHA-256 it computed of those bytes, ``PieceDownload._judge_block``), for
    :meth:`CaptureRecorder.finish`; empty for any other run (an MSE capture lifts nothing)."""
    if type(run) is not ProbeRun:
        return []
    return [(proof.sha256, block) for proof, block in run.verified_block_data]


def captured_observation(run: Any, capture_sha256: bytes) -> Observation:
    """The run's finished Observation, linked to the SHA-256 of its own capture.

    The one place a record gets its ``capture_sha256``, for the live tap and for replay alike: the hash
    covers the capture's final events, so the run cannot know it while it emits the record.

    A plain :class:`ProbeRun` (the common case: every plaintext probe) builds its record with the hash at
    once; any other run's record is copied with it (``dataclasses.replace``): the same record either way.

    Source: README "Wire captures".
    """
    if type(run) is ProbeRun:
        return run.observation(capture_sha256)
    obs: Observation = run.observation()
    return replace(obs, capture_sha256=capture_sha256)
