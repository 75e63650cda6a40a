"""The Observation a finished :class:`~swarmscope.evidence.probe.run.ProbeRun` emits, from its state.

Every field comes from the run's inputs and what the peer sent, so replaying the capture through a fresh
run re-derives the same record (README "Wire captures"). A new Observation field is filled here.
"""

from __future__ import annotations

from typing import Protocol

from swarmscope.evidence.probe.peer_identity import identity_fields
from swarmscope.evidence.probe.piece_download import PieceDownload
from swarmscope.evidence.records import Failure, Observation, Tier
from swarmscope.wire import extension
from swarmscope.wire import peer_session as ps


class FinishedProbe(Protocol):
    """What :func:`observation_of` reads of a finished probe (a ``ProbeRun``): times in UTC µs."""

    swarm: str
    ip: str
    port: int
    source: str
    started_us: int
    ended_us: int
    tier: Tier
    failure: Failure | None
    failure_detail: str | None
    remote_infohash: str | None
    ext: extension.ExtensionHandshake | None
    session: ps.PeerSession
    download: PieceDownload
    wire_in: int
    wire_out: int
    inbound: bool
    record_listen_port: bool


def recorded_port(run: FinishedProbe) -> int:
    """The port the record names: the peer's BEP 10 listen port ``p`` for an inbound run that asks for it
    (BEP 10: the "local TCP listen port", the port a re-probe can dial; a claim nothing checked, so the
    record keeps the observed source port beside it), else the connection's port."""
    listen_port = run.ext.p if run.ext is not None else None
    if run.inbound and run.record_listen_port and listen_port:
        return listen_port
    return run.port


def observation_of(run: FinishedProbe, capture_sha256: bytes | None = None) -> Observation:
    """The record of a finished probe: its inputs, the peer's handshakes and claims, what verified;
    ``capture_sha256``: the SHA-256 of the probe's own capture when one was taken (README "Wire
    captures"), set in the one construction instead of a copy of the record."""
    s = run.session
    remote = s.remote
    ext = run.ext
    completion = None
    if remote is not None and run.remote_infohash is None and s.num_pieces:
        completion = s.have_count / s.num_pieces
    return Observation(
        infohash=run.swarm,
        ip=run.ip,
        port=recorded_port(run),
        source=run.source,
        started_us=run.started_us,
        ended_us=run.ended_us,
        tier=run.tier,
        failure=run.failure.value if run.failure else None,
        failure_detail=run.failure_detail,
        remote_infohash=run.remote_infohash,
        **identity_fields(remote, ext),
        num_pieces=s.num_pieces,
        pieces_have=s.have_count,
        bitfield=bytes(s.have) if s.have is not None else None,
        completion=completion,
        bytes_received=run.download.payload_in,
        wire_bytes_in=run.wire_in,
        wire_bytes_out=run.wire_out,
        payload_bytes_sent=0,
        verified_pieces=tuple(run.download.verified),
        failed_pieces=tuple(run.download.failed),
        verified_blocks=tuple(run.download.verified_blocks),
        failed_blocks=tuple(run.download.failed_blocks),
        encrypted=False,
        quirks=tuple(s.quirks) + (ext.quirks if ext else ()),
        # inbound: the connection's TCP source port as accepted (run.port; RFC 6302 section 2)
        source_port=run.port if run.inbound else None,
        capture_sha256=capture_sha256,
    )
