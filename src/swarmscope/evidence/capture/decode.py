"""Decode and validate a wire capture (format in :mod:`swarmscope.evidence.capture.format`).

A capture may come from anyone (an exhibit bundle handed to the other side, or back): every field is
checked for type, size and value, and anything wrong raises :class:`~swarmscope.errors.DecodeError` naming
the field — never another exception.
"""

from __future__ import annotations

import dataclasses
import enum
import zlib
from typing import Any, TypeVar

from swarmscope.errors import DecodeError
from swarmscope.evidence.capture.format import (
    MAGIC,
    VERSION,
    CaptureDoc,
    CaptureEvent,
    CaptureHeader,
    EventKind,
    MetadataHeader,
    MseSecrets,
    Segment,
)
from swarmscope.evidence.probe.encrypted import ResponderSecrets
from swarmscope.evidence.probe.metadata_fetch import MetadataPolicy
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.records import BlockProof
from swarmscope.wire import bencode

MAX_BODY = 256 << 20  # bytes; decompressed body bound (refuses zlib bombs)
_BODY_KEYS = {b"h", b"e", b"i", b"o"}
_HEADER_KEYS = {
    b"k",
    b"s",
    b"w",
    b"p",
    b"a",
    b"o",
    b"u",
    b"t",
    b"y",
    b"d",
    b"x",
    b"n",
    b"q",
    b"b",
    b"l",
    b"m",
    b"r",
}
_METADATA_KEYS = {b"k", b"s", b"p", b"a", b"o", b"u", b"t", b"y", b"1", b"2", b"c", b"m"}
_P = TypeVar("_P", ProbePolicy, MetadataPolicy)
_EVENT_ARITY = {0: 1, 1: 1, 2: 2, 3: 1, 4: 1, 5: 2, 6: 0, 7: 1}  # values after [code, utc_us, mono_us]


def decode_capture(data: bytes) -> CaptureDoc:
    """Decode and validate a capture (blobs are not resolved here).

    Args:
        data: the capture bytes as stored.

    Returns:
        The header, the events (RECEIVED events carry empty ``data``; their lengths are in
        ``received_lengths``, sent lengths in ``sent_lengths``), the received segments and the sent bytes.

    Raises:
        DecodeError: wrong magic or version, CRC-32 mismatch, corrupt/truncated/trailing zlib data, a
            body over :data:`MAX_BODY`, non-canonical bencode, or any field of the wrong type, size or value.

    Source: README "Wire captures" (format version 1).
    """
    if data[: len(MAGIC)] != MAGIC:
        raise DecodeError("capture: not a swarmscope capture (magic)", 0)
    if len(data) < len(MAGIC) + 1 or data[len(MAGIC)] != VERSION:
        raise DecodeError(f"capture: unsupported version (want {VERSION})", len(MAGIC))
    if len(data) < len(MAGIC) + 5 or zlib.crc32(data[:-4]) != int.from_bytes(data[-4:], "big"):
        raise DecodeError("capture: CRC-32 mismatch (truncated, extended or corrupted)", len(data))
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data[len(MAGIC) + 1 : -4], MAX_BODY + 1)
    except zlib.error as exc:
        raise DecodeError(f"capture: corrupt zlib stream: {exc}", len(MAGIC) + 1) from exc
    if len(raw) > MAX_BODY or inflater.unconsumed_tail:
        raise DecodeError(f"capture: body larger than {MAX_BODY} bytes", len(MAGIC) + 1)
    if not inflater.eof:
        raise DecodeError("capture: truncated zlib stream", len(data) - 4)
    if inflater.unused_data:
        raise DecodeError(f"capture: {len(inflater.unused_data)} trailing bytes", len(data) - 4)
    body = bencode.decode(raw)
    if bencode.encode(body) != raw:
        raise DecodeError("capture: body is not canonical bencode", len(MAGIC) + 1)
    return _doc(body)


def _get(d: Any, key: bytes, where: str) -> Any:
    if not isinstance(d, dict):
        raise DecodeError(f"capture: {where} is not a dict")
    if key not in d:
        raise DecodeError(f"capture: {where} lacks {key.decode()!r}")
    return d[key]


def _int(v: Any, field: str, lo: int | None = None, hi: int | None = None) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise DecodeError(f"capture: {field} is not an integer")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise DecodeError(f"capture: {field} = {v} out of range")
    return v


def _bytes(v: Any, field: str, size: int | None = None, max_len: int | None = None) -> bytes:
    if not isinstance(v, bytes):
        raise DecodeError(f"capture: {field} is not a byte string")
    if (size is not None and len(v) != size) or (max_len is not None and len(v) > max_len):
        raise DecodeError(f"capture: {field} has {len(v)} bytes")
    return v


def _str(v: Any, field: str) -> str:
    try:
        return _bytes(v, field).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"capture: {field} is not UTF-8") from exc


def _list(v: Any, field: str) -> list[Any]:
    if not isinstance(v, list):
        raise DecodeError(f"capture: {field} is not a list")
    return v


def _policy(d: Any, cls: type[_P]) -> _P:
    """A policy dataclass from its recorded fields (decoded by the type of each field's default)."""
    if not isinstance(d, dict):
        raise DecodeError("capture: header.policy is not a dict")
    defaults = cls()
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in d.items():
        name = key.decode("utf-8", "replace")
        if name not in names:
            raise DecodeError(f"capture: header.policy has unknown field {name!r}")
        default, field = getattr(defaults, name), f"header.policy.{name}"
        if isinstance(default, enum.Enum):
            try:
                values[name] = type(default)(_str(raw, field))
            except ValueError as exc:
                raise DecodeError(f"capture: {field} is not a known value") from exc
        elif isinstance(default, bool):
            values[name] = bool(_int(raw, field, 0, 1))
        elif isinstance(default, float):
            try:
                values[name] = float.fromhex(_str(raw, field))
            except (ValueError, OverflowError) as exc:
                raise DecodeError(f"capture: {field} is not a hex float") from exc
        elif isinstance(default, str):
            values[name] = _str(raw, field)
        else:
            values[name] = _int(raw, field)
    return cls(**values)  # fields missing from an older capture keep their defaults


def _candidates(v: Any) -> tuple[BlockProof, ...]:
    out = []
    for i, item in enumerate(_list(v, "header.block_candidates")):
        f = f"header.block_candidates[{i}]"
        item = _list(item, f)
        if len(item) != 4:
            raise DecodeError(f"capture: {f} is not [piece, begin, length, sha256]")
        piece, begin, length = (_int(x, f, 0) for x in item[:3])
        out.append(BlockProof(piece, begin, length, _bytes(item[3], f + ".sha256", 32)))
    return tuple(out)


def _responder(r: Any) -> ResponderSecrets:
    f = "header.mse_responder"
    return ResponderSecrets(
        private_key=_bytes(_get(r, b"k", f), f + ".private_key", max_len=96),
        pad_b=_bytes(_get(r, b"b", f), f + ".pad_b", max_len=512),
        crypto_allowed=_int(_get(r, b"c", f), f + ".crypto_allowed", 0, 0xFFFFFFFF),
        prefer=_int(_get(r, b"p", f), f + ".prefer", 0, 0xFFFFFFFF),
    )


def _mse(h: dict[bytes, Any]) -> MseSecrets | None:
    if b"m" not in h:
        return None
    m = h[b"m"]
    return MseSecrets(
        private_key=_bytes(_get(m, b"k", "header.mse"), "header.mse.private_key", max_len=96),
        pad_a=_bytes(_get(m, b"a", "header.mse"), "header.mse.pad_a", max_len=512),
        crypto_provide=_int(_get(m, b"c", "header.mse"), "header.mse.crypto_provide", 0, 0xFFFFFFFF),
    )


def _metadata_header(h: dict[bytes, Any]) -> MetadataHeader:
    if not h.keys() <= _METADATA_KEYS:
        raise DecodeError(f"capture: header has unknown keys {sorted(h.keys() - _METADATA_KEYS)}")
    v1, v2, client = h.get(b"1"), h.get(b"2"), h.get(b"c")
    if v1 is None and v2 is None:
        raise DecodeError("capture: metadata header has neither a v1 nor a v2 infohash")
    return MetadataHeader(
        swarm=_str(_get(h, b"s", "header"), "header.swarm"),
        v1=None if v1 is None else _bytes(v1, "header.v1", 20),
        v2=None if v2 is None else _bytes(v2, "header.v2", 32),
        peer_id=_bytes(_get(h, b"p", "header"), "header.peer_id", 20),
        ip=_str(_get(h, b"a", "header"), "header.ip"),
        port=_int(_get(h, b"o", "header"), "header.port", 0, 65535),
        source=_str(_get(h, b"u", "header"), "header.source"),
        started_us=_int(_get(h, b"t", "header"), "header.started_us"),
        policy=_policy(_get(h, b"y", "header"), MetadataPolicy),
        client=None if client is None else _bytes(client, "header.client"),
        mse=_mse(h),
    )


def _header(h: Any) -> CaptureHeader | MetadataHeader:
    kind = _str(_get(h, b"k", "header"), "header.kind")
    if kind == "metadata":
        return _metadata_header(h)
    if kind != "probe":
        raise DecodeError(f"capture: header.kind {kind!r} is not supported")
    if not h.keys() <= _HEADER_KEYS:
        raise DecodeError(f"capture: header has unknown keys {sorted(h.keys() - _HEADER_KEYS)}")
    mse = _mse(h)
    if mse is not None and b"r" in h:
        raise DecodeError("capture: header has both initiator and responder MSE secrets")
    ext = h.get(b"x")
    inbound = bool(_int(_get(h, b"n", "header"), "header.inbound", 0, 1))
    # "l" is absent from captures written before the listen-port rule was an input of the run; the monitor
    # then applied the rule to every inbound observation after the run, so it equals the inbound flag
    listen_rule = h.get(b"l", int(inbound))
    return CaptureHeader(
        kind=kind,
        swarm=_str(_get(h, b"s", "header"), "header.swarm"),
        wire_infohash=_bytes(_get(h, b"w", "header"), "header.wire_infohash", 20),
        peer_id=_bytes(_get(h, b"p", "header"), "header.peer_id", 20),
        ip=_str(_get(h, b"a", "header"), "header.ip"),
        port=_int(_get(h, b"o", "header"), "header.port", 0, 65535),
        source=_str(_get(h, b"u", "header"), "header.source"),
        started_us=_int(_get(h, b"t", "header"), "header.started_us"),
        policy=_policy(_get(h, b"y", "header"), ProbePolicy),
        piece_seed=_int(_get(h, b"d", "header"), "header.piece_seed"),
        extension_handshake=None if ext is None else _bytes(ext, "header.extension_handshake"),
        inbound=inbound,
        record_listen_port=bool(_int(listen_rule, "header.record_listen_port", 0, 1)),
        pex_id=_int(_get(h, b"q", "header"), "header.pex_id", 0, 255),
        block_candidates=_candidates(_get(h, b"b", "header")),
        mse=mse,
        mse_responder=_responder(h[b"r"]) if b"r" in h else None,
    )


def _event(i: int, item: Any) -> tuple[CaptureEvent, int, int]:
    """One event; returns it with its received and sent lengths."""
    f = f"events[{i}]"
    item = _list(item, f)
    if len(item) < 3:
        raise DecodeError(f"capture: {f} is too short")
    code = _int(item[0], f + ".kind")
    if code not in _EVENT_ARITY or len(item) != 3 + _EVENT_ARITY[code]:
        raise DecodeError(f"capture: {f} has kind {code} with {len(item) - 3} values")
    kind, utc, mono = EventKind(code), _int(item[1], f + ".utc_us"), _int(item[2], f + ".mono_us")
    rest = item[3:]
    if kind is EventKind.RECEIVED:
        n_in, n_out = _int(rest[0], f + ".received", 1), _int(rest[1], f + ".sent", 0)
        return CaptureEvent(kind, utc, mono), n_in, n_out
    if kind is EventKind.CLOSED:
        return CaptureEvent(kind, utc, mono, detail=_str(rest[0], f + ".detail")), 0, 0
    if kind is EventKind.CONNECT_FAILED:
        failure, detail = _str(rest[0], f + ".failure"), _str(rest[1], f + ".detail")
        return CaptureEvent(kind, utc, mono, failure=failure, detail=detail), 0, 0
    if kind is EventKind.STOP:
        return CaptureEvent(kind, utc, mono), 0, 0
    return CaptureEvent(kind, utc, mono), 0, _int(rest[0], f + ".sent", 0)


def _segments(v: Any) -> tuple[list[Segment], int]:
    out: list[Segment] = []
    total = 0
    for i, seg in enumerate(_list(v, "received")):
        if isinstance(seg, bytes):
            out.append(seg)
            total += len(seg)
            continue
        seg = _list(seg, f"received[{i}]")
        if len(seg) != 2:
            raise DecodeError(f"capture: received[{i}] is not [sha256, length]")
        length = _int(seg[1], f"received[{i}].length", 1)
        out.append((_bytes(seg[0], f"received[{i}].sha256", 32), length))
        total += length
    return out, total


def _doc(body: Any) -> CaptureDoc:
    if not isinstance(body, dict) or body.keys() != _BODY_KEYS:
        raise DecodeError("capture: body must hold exactly h, e, i and o")
    header = _header(_get(body, b"h", "body"))
    events, n_in, n_out = [], [], []
    for i, item in enumerate(_list(_get(body, b"e", "body"), "events")):
        event, a, b = _event(i, item)
        events.append(event)
        n_in.append(a)
        n_out.append(b)
    segments, total_in = _segments(_get(body, b"i", "body"))
    sent = _bytes(_get(body, b"o", "body"), "sent")
    if total_in != sum(n_in):
        raise DecodeError(f"capture: received stream has {total_in} bytes, events take {sum(n_in)}")
    if len(sent) != sum(n_out):
        raise DecodeError(f"capture: sent stream has {len(sent)} bytes, events took {sum(n_out)}")
    return CaptureDoc(header, tuple(events), tuple(segments), tuple(n_in), sent, tuple(n_out))
