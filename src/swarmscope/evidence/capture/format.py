"""Wire capture format, version 1: every input of one probe and every byte it moved, compact and replayable.

A capture holds what an opposing expert needs to re-derive an Observation with nothing but the capture, the
metainfo and the referenced blocks: the header (every constructor input of the pure run, including our own
ephemeral MSE secrets) and the ordered driver events with the exact UTC microseconds passed to the run.

Layout (all integers big-endian)::

    "SWSCAP" (6 bytes) | version (1 byte, = 1) | zlib(bencode(body)) | CRC-32 of all before (4 bytes)

The CRC makes every single-byte change fail to decode (deflate's last byte has free padding bits that zlib's
own Adler-32 does not cover); tampering is the ledger's business (``capture_sha256`` is sealed).

``body`` is a canonical bencode dict (BEP 3 "bencoding", sorted keys; a decoder rejects anything else)::

    h  header dict: k kind ("probe"), s swarm (hex), w wire infohash (20), p our peer id (20), a peer ip,
       o peer port, u source, t started_us, y policy (dict: ProbePolicy field name → int, or str for an
       enum value, or float.hex() str for a float), d piece_seed, x our BEP 10 handshake payload (absent:
       none), n inbound (0/1), q pex_id, b block candidates (list of [piece, begin, length, sha256]),
       l record an inbound peer under its BEP 10 listen port ``p`` (0/1; absent in captures written
       before it was an input of the run: then it equals n, because the monitor applied that rule to
       every inbound observation), m MSE secrets when the probe initiated MSE: {k private key, a PadA,
       c crypto_provide}; r MSE secrets when our listener answered an MSE initiator: {k private key,
       b PadB, c crypto_allowed, p prefer}.
    For a BEP 9 metadata fetch (k = "metadata") the header holds instead: s, p, a, o, u, t, m as above,
       1 v1 infohash (20, absent: none), 2 v2 infohash (32, absent: none), y MetadataPolicy (same encoding),
       c our BEP 10 ``v`` client bytes (absent: none).
    e  events, in driver order: [code, utc_us, mono_us, ...]; code 0 connected [sent_len], 1 accepted
       [sent_len], 2 received [recv_len, sent_len], 3 timer [sent_len], 4 closed [detail], 5 connect_failed
       [failure, detail], 6 stop [], 7 payload [sent_len] (inbound MSE: the run gets the decrypted
       bytes that came with the handshake).
    i  the received byte stream, as segments: a byte string is literal, [sha256, length] a block lifted out.
    o  the sent byte stream (every byte the run returned, in order), verbatim.

Received events take their bytes from ``i`` in order (``recv_len`` each), sent lengths from ``o``. For
plaintext probes the payload of every BEP 3 ``piece`` message (id 7) is lifted out of ``i`` into a blob
keyed by its SHA-256, so blocks are stored once across peers; MSE ciphertext (with the MSE handshake) is
stored verbatim. Our DH private key and PadA/PadB are disclosed on purpose: they were ephemeral, and a
verifier needs them to re-derive the RC4 keystream (Vuze wiki "Message Stream Encryption"); they protect
nothing after the connection ended. An inbound MSE capture starts with the raw bytes received (and our
responder's replies) before the swarm was known; their UTC stamps were not passed to any run.

Source: README "Wire captures"; BEP 3 (peer messages); MSE spec for the secrets.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from swarmscope.evidence.probe.encrypted import ResponderSecrets
from swarmscope.evidence.probe.metadata_fetch import MetadataPolicy
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.records import BlockProof
from swarmscope.wire import bencode

MAGIC = b"SWSCAP"
VERSION = 1
MIN_LIFT = 64  # bytes; shorter piece payloads stay literal
HANDSHAKE_LEN = 68  # BEP 3 handshake: skipped before message framing starts
PIECE_ID = 7  # BEP 3 "piece"


class EventKind(enum.Enum):
    """A driver call on the run (``ProbeDriven``; PAYLOAD only for ``EncryptedInboundRun``)."""

    CONNECTED = 0
    ACCEPTED = 1
    RECEIVED = 2
    TIMER = 3
    CLOSED = 4
    CONNECT_FAILED = 5
    STOP = 6
    PAYLOAD = 7


@dataclass(frozen=True, slots=True)
class MseSecrets:
    """Our ephemeral MSE initiator inputs (disclosed in the capture so the keystream can be re-derived)."""

    private_key: bytes
    pad_a: bytes
    crypto_provide: int


@dataclass(frozen=True, slots=True)
class CaptureHeader:
    """Every input needed to rebuild the pure run; field names follow ``ProbeRun``'s constructor."""

    swarm: str
    wire_infohash: bytes
    peer_id: bytes
    ip: str
    port: int
    source: str
    started_us: int
    policy: ProbePolicy = dataclasses.field(default_factory=ProbePolicy)
    piece_seed: int = 0
    extension_handshake: bytes | None = None
    inbound: bool = False
    pex_id: int = 0
    block_candidates: tuple[BlockProof, ...] = ()
    mse: MseSecrets | None = None
    mse_responder: ResponderSecrets | None = None
    kind: str = "probe"
    record_listen_port: bool = False


@dataclass(frozen=True, slots=True)
class MetadataHeader:
    """Every input of a :class:`~swarmscope.evidence.probe.metadata_fetch.MetadataFetch` (BEP 9); same
    names."""

    swarm: str
    v1: bytes | None
    v2: bytes | None
    peer_id: bytes
    ip: str
    port: int
    source: str
    started_us: int
    policy: MetadataPolicy = dataclasses.field(default_factory=MetadataPolicy)
    client: bytes | None = None
    mse: MseSecrets | None = None
    kind: str = "metadata"


@dataclass(frozen=True, slots=True)
class CaptureEvent:
    """One recorded driver call (``data``: bytes received; ``sent``: bytes the run returned)."""

    kind: EventKind
    utc_us: int
    mono_us: int
    data: bytes = b""
    sent: bytes = b""
    detail: str | None = None
    failure: str | None = None


Segment = bytes | tuple[bytes, int]  # literal bytes, or (sha256, length) of a lifted block


@dataclass(frozen=True, slots=True)
class CaptureDoc:
    """A decoded capture: header, events (received ``data`` still empty), received segments, sent bytes."""

    header: CaptureHeader | MetadataHeader
    events: tuple[CaptureEvent, ...]
    received: tuple[Segment, ...]
    received_lengths: tuple[int, ...]
    sent: bytes
    sent_lengths: tuple[int, ...]


def lift_blocks(
    stream: bytes, known: Sequence[tuple[bytes, bytes]] = ()
) -> tuple[list[Segment], dict[bytes, bytes]]:
    """Split a plaintext received stream into literal segments and lifted ``piece`` payloads.

    Lossless for any input: the framing is only followed while it parses; the rest stays literal.

    Args:
        stream: every byte received, starting with the peer's 68-byte handshake (BEP 3).
        known: ``(sha256, block)`` pairs whose digest the caller computed from exactly those bytes (the
            probe's verified blocks): a payload equal to one of them (compared byte for byte) is keyed by
            that digest instead of being hashed again. The result is the same with or without them.

    Returns:
        (segments, blobs): segments as in the capture's ``i``; blobs sha256 → payload bytes.
    """
    segments: list[Segment] = []
    blobs: dict[bytes, bytes] = {}
    lit, pos, end = 0, HANDSHAKE_LEN, len(stream)
    while pos + 4 <= end:
        (n,) = struct.unpack_from(">I", stream, pos)
        if pos + 4 + n > end:
            break
        if n >= 9 + MIN_LIFT and stream[pos + 4] == PIECE_ID:
            start = pos + 13
            block = stream[start : pos + 4 + n]
            digest = _known_digest(block, known) or hashlib.sha256(block).digest()
            blobs[digest] = block
            segments.append(stream[lit:start])
            segments.append((digest, len(block)))
            lit = pos + 4 + n
        pos += 4 + n
    if lit < end or not segments:
        segments.append(stream[lit:])
    return segments, blobs


def _known_digest(block: bytes, known: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    """The digest of a known block equal to ``block`` (byte for byte), else None."""
    for digest, data in known:
        if data == block:
            return digest
    return None


# The dicts of the last few policies encoded, by identity: a monitor run hands every probe one of a few
# policy objects, so each capture header reuses its policy's dict instead of walking its fields again.
# By identity, never by equality: equal policies may differ in a field's type (1 vs 1.0, True vs 1),
# which the recorded dict keeps apart.
_POLICY_DICTS: list[tuple[ProbePolicy | MetadataPolicy, dict[bytes, Any]]] = []
_POLICY_DICTS_KEPT = 8


def _policy_dict(policy: ProbePolicy | MetadataPolicy) -> dict[bytes, Any]:
    """Every field of a policy dataclass, generically (new fields are recorded without code changes);
    a fresh dict each call."""
    for known, recorded in _POLICY_DICTS:
        if known is policy:
            return dict(recorded)
    out = _policy_fields(policy)
    _POLICY_DICTS[:] = [(policy, out), *_POLICY_DICTS[: _POLICY_DICTS_KEPT - 1]]
    return dict(out)


def _policy_fields(policy: ProbePolicy | MetadataPolicy) -> dict[bytes, Any]:
    out: dict[bytes, Any] = {}
    for f in dataclasses.fields(policy):
        value = getattr(policy, f.name)
        if isinstance(value, enum.Enum):
            value = str(value.value)
        elif isinstance(value, bool):
            value = int(value)
        elif isinstance(value, float):
            value = value.hex()
        elif not isinstance(value, int | str):
            raise TypeError(f"{type(policy).__name__}.{f.name}: cannot record a {type(value).__name__}")
        out[f.name.encode()] = value
    return out


def _metadata_header_dict(h: MetadataHeader) -> dict[bytes, Any]:
    d: dict[bytes, Any] = {
        b"k": h.kind, b"s": h.swarm, b"p": h.peer_id, b"a": h.ip, b"o": h.port, b"u": h.source,
        b"t": h.started_us, b"y": _policy_dict(h.policy),
    }  # fmt: skip
    for key, value in ((b"1", h.v1), (b"2", h.v2), (b"c", h.client)):
        if value is not None:
            d[key] = value
    if h.mse is not None:
        d[b"m"] = {b"k": h.mse.private_key, b"a": h.mse.pad_a, b"c": h.mse.crypto_provide}
    return d


def _header_dict(h: CaptureHeader | MetadataHeader) -> dict[bytes, Any]:
    if isinstance(h, MetadataHeader):
        return _metadata_header_dict(h)
    d: dict[bytes, Any] = {
        b"k": h.kind, b"s": h.swarm, b"w": h.wire_infohash, b"p": h.peer_id, b"a": h.ip, b"o": h.port,
        b"u": h.source, b"t": h.started_us, b"y": _policy_dict(h.policy), b"d": h.piece_seed,
        b"n": int(h.inbound), b"q": h.pex_id, b"l": int(h.record_listen_port),
        b"b": [[c.piece, c.begin, c.length, c.sha256] for c in h.block_candidates],
    }  # fmt: skip
    if h.extension_handshake is not None:
        d[b"x"] = h.extension_handshake
    if h.mse is not None:
        d[b"m"] = {b"k": h.mse.private_key, b"a": h.mse.pad_a, b"c": h.mse.crypto_provide}
    if h.mse_responder is not None:
        r = h.mse_responder
        d[b"r"] = {b"k": r.private_key, b"b": r.pad_b, b"c": r.crypto_allowed, b"p": r.prefer}
    return d


_SENT_ONLY = frozenset((EventKind.CONNECTED, EventKind.ACCEPTED, EventKind.TIMER, EventKind.PAYLOAD))


def event_row(
    kind: EventKind,
    utc_us: int,
    mono_us: int,
    data_len: int = 0,
    sent_len: int = 0,
    detail: str | None = None,
    failure: str | None = None,
) -> list[Any]:
    """One event as the capture's ``e`` list holds it (format above): ``[code, utc_us, mono_us, ...]``.

    Args:
        kind: the driver call. utc_us / mono_us: its UTC and monotonic µs. data_len / sent_len: bytes
            received / returned (byte counts, never the bytes). detail / failure: CLOSED and
            CONNECT_FAILED arguments (None recorded as "").
    """
    if kind in _SENT_ONLY:
        return [kind.value, utc_us, mono_us, sent_len]
    if kind is EventKind.RECEIVED:
        return [kind.value, utc_us, mono_us, data_len, sent_len]
    if kind is EventKind.CLOSED:
        return [kind.value, utc_us, mono_us, detail or ""]
    if kind is EventKind.CONNECT_FAILED:
        return [kind.value, utc_us, mono_us, failure or "", detail or ""]
    return [kind.value, utc_us, mono_us]


def encode_capture(
    header: CaptureHeader | MetadataHeader, events: list[CaptureEvent], received: list[Segment]
) -> bytes:
    """Encode a capture (format above). ``received`` segments must join to the events' received bytes."""
    rows = [
        event_row(e.kind, e.utc_us, e.mono_us, len(e.data), len(e.sent), e.detail, e.failure) for e in events
    ]
    return encode_rows(header, rows, b"".join(e.sent for e in events), received)


def encode_rows(
    header: CaptureHeader | MetadataHeader, rows: list[list[Any]], sent: bytes, received: list[Segment]
) -> bytes:
    """Encode a capture from its events already in their ``e`` form (:func:`event_row`), every byte the
    run returned (``sent``, in order) and the received segments: the bytes :func:`encode_capture` gives
    for the same events. Raises TypeError for a value bencode cannot hold."""
    body = {
        b"h": _header_dict(header),
        b"e": rows,
        b"i": [s if isinstance(s, bytes) else [s[0], s[1]] for s in received],
        b"o": sent,
    }
    out = MAGIC + bytes([VERSION]) + zlib.compress(bencode.encode(body), 9)
    return out + zlib.crc32(out).to_bytes(4, "big")
