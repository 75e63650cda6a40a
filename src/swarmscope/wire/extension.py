"""BEP 10 extension-protocol handshake and BEP 9 ``ut_metadata`` messages (payload codecs, pure).

The payloads here are what follows the peer-wire header ``<len><id=20><ext id>``; framing lives in
``wire.peer``. Parsing is liberal where real peers deviate (unknown keys ignored, wrong-typed known keys
ignored and listed as quirks) and strict where the bytes are not bencode at all.

Bound: a payload of more than :data:`MAX_VALUES` bencode values is refused before its objects are built
(DecodeError naming the bound). A genuine handshake holds 20 to 60 (libtorrent 2.1.1's: 23; ``m`` can
name at most 255 extensions, 511 values), a ``ut_metadata`` head 3 to 4, a ``ut_pex`` message up to 9:
at the bound a payload of 1 MiB (the message length cap) is weighed by ``bytes.count`` and refused in
under 2 ms; the handshake's decoded dict is not kept (only the fields below), so a 1 MiB handshake
costs nothing after it is read.

Sources: BEP 10 "Extension Protocol" (handshake dict), BEP 9 "Extension for Peers to Send Metadata
Files" (ut_metadata), interop PW-08, PW-10, PW-12.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from swarmscope.errors import DecodeError
from swarmscope.wire import bencode

EXTENDED_ID = 20  # BEP 10: peer-wire message id of every extension message
HANDSHAKE_EXT_ID = 0  # BEP 10: extended message id of the extension handshake
MAX_EXT_ID = 255  # BEP 10: extended message ids are one byte
METADATA_PIECE_LEN = 16 * 1024  # BEP 9: metadata is sent in 16 KiB pieces (the last may be shorter)
METADATA_REQUEST = 0  # BEP 9 msg_type
MAX_VALUES = 1000  # bencode values in one extension payload (handshake, ut_metadata head, ut_pex)
METADATA_DATA = 1  # BEP 9 msg_type
METADATA_REJECT = 2  # BEP 9 msg_type


@dataclass(frozen=True)
class ExtensionHandshake:
    """A decoded BEP 10 extension handshake.

    Args:
        m: extension name → the peer's message id (1..255) for every *enabled* extension.
        disabled: names the peer listed with id 0 ("disabled", BEP 10).
        v: raw client name bytes (interop PW-10: may be any encoding; render with
            ``client_id.repair_text``). p: the peer's TCP listen port. reqq: its request queue length.
        yourip: the address the peer sees us as, a normalised IP literal (from 4 or 16 raw bytes).
        metadata_size: size of the bencoded info dict in bytes (BEP 9), or None.
        quirks: human-readable notes on ignored or odd fields, in field order.
    """

    m: dict[str, int] = field(default_factory=dict)
    disabled: tuple[str, ...] = ()
    v: bytes | None = None
    p: int | None = None
    reqq: int | None = None
    yourip: str | None = None
    metadata_size: int | None = None
    quirks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MetadataMessage:
    """A BEP 9 ``ut_metadata`` message.

    Args:
        msg_type: 0 request, 1 data, 2 reject (other values are kept: BEP 9 says to ignore them).
        piece: metadata piece index (16 KiB units).
        total_size: the metadata size in bytes: required with msg_type 1; kept when a reject or
            request carries a positive one (libtorrent 2.1.1 sends it with rejects), else None.
        data: the raw metadata bytes after the dict (msg_type 1 only; empty otherwise).
        quirks: notes on tolerated oddities (unknown msg_type, bytes after a request or reject).
    """

    msg_type: int
    piece: int
    total_size: int | None = None
    data: bytes = b""
    quirks: tuple[str, ...] = ()


def _optional_int(value: int | None, key: str, low: int, high: int) -> dict[str, int]:
    if value is None:
        return {}
    if not low <= value <= high:
        raise ValueError(f"extension handshake {key}: {value} outside {low}..{high}")
    return {key: value}


def encode_handshake(
    m: dict[str, int],
    *,
    v: bytes | None = None,
    p: int | None = None,
    reqq: int | None = None,
    yourip: bytes | None = None,
    metadata_size: int | None = None,
) -> bytes:
    """Bencode an extension-handshake payload (without length prefix, message id 20 or ext id 0).

    Args:
        m: extension name → our local message id (1..255; 0 announces "disabled").
        v: client name and version bytes, e.g. b"swarmscope/0.1.0". p: our TCP listen port.
        reqq: how many outstanding requests we accept. yourip: the peer's address as we see it, raw
            4 (IPv4) or 16 (IPv6) bytes. metadata_size: bencoded info-dict size in bytes (BEP 9).

    Returns:
        The bencoded dict.

    Raises:
        ValueError: an id, port, size or address length out of range (our own bug, not the peer's).

    Source: BEP 10 "handshake message"; BEP 9 "metadata_size".
    """
    for name, ext_id in m.items():
        if not 0 <= ext_id <= MAX_EXT_ID:
            raise ValueError(f"extension handshake m.{name}: id {ext_id} outside 0..255")
    if yourip is not None and len(yourip) not in (4, 16):
        raise ValueError(f"extension handshake yourip: {len(yourip)} bytes, expected 4 or 16")
    payload: dict[str, Any] = {"m": dict(m)}
    payload |= _optional_int(p, "p", 1, 65535)
    payload |= _optional_int(reqq, "reqq", 1, 1 << 31)
    payload |= _optional_int(metadata_size, "metadata_size", 1, 1 << 40)
    if v is not None:
        payload["v"] = bytes(v)
    if yourip is not None:
        payload["yourip"] = bytes(yourip)
    return bencode.encode(payload)


def _decode_dict(payload: bytes, what: str) -> dict[bytes, Any]:
    value = bencode.decode(bytes(payload), MAX_VALUES)
    if not isinstance(value, dict):
        raise DecodeError(f"{what}: payload is a {type(value).__name__}, expected a dict")
    return value


def _int_field(raw: dict[bytes, Any], key: bytes, low: int, high: int, quirks: list[str]) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        quirks.append(f"{key.decode()}: ignored {_describe(value)}, expected an integer {low}..{high}")
        return None
    return value


def _describe(value: Any) -> str:
    return repr(value)[:60] if isinstance(value, int | bytes) else f"a {type(value).__name__}"


def _m_field(raw: dict[bytes, Any], quirks: list[str]) -> tuple[dict[str, int], tuple[str, ...]]:
    value = raw.get(b"m")
    if value is None:
        return {}, ()
    if not isinstance(value, dict):
        quirks.append(f"m: ignored {_describe(value)}, expected a dict")
        return {}, ()
    enabled: dict[str, int] = {}
    disabled: list[str] = []
    for key, ext_id in value.items():
        name = key.decode("utf-8", "backslashreplace")
        if not isinstance(ext_id, int) or not 0 <= ext_id <= MAX_EXT_ID:
            quirks.append(f"m.{name}: ignored {_describe(ext_id)}, expected an id 0..255")
        elif ext_id == 0:
            disabled.append(name)
        else:
            enabled[name] = ext_id
    return enabled, tuple(disabled)


def _yourip_field(raw: dict[bytes, Any], quirks: list[str]) -> str | None:
    value = raw.get(b"yourip")
    if value is None:
        return None
    if not isinstance(value, bytes) or len(value) not in (4, 16):
        quirks.append(f"yourip: ignored {_describe(value)}, expected 4 or 16 bytes")
        return None
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address
    addr = ipaddress.IPv4Address(value) if len(value) == 4 else ipaddress.IPv6Address(value)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr)


def decode_handshake(payload: bytes) -> ExtensionHandshake:
    """Decode an extension-handshake payload (the bytes after ``<id=20><ext id=0>``).

    Args:
        payload: the bencoded dict, exactly (trailing bytes are an error).

    Returns:
        :class:`ExtensionHandshake`; unknown keys are ignored; known keys with a wrong type or
        range are dropped and described in ``quirks``; ``v`` is kept as raw bytes (PW-10).

    Raises:
        DecodeError: not bencode, trailing bytes, not a dict, or more than :data:`MAX_VALUES` values.

    Source: BEP 10 "handshake message"; BEP 9 "metadata_size"; interop PW-08, PW-10, PW-12.
    """
    raw = _decode_dict(payload, "extension handshake")
    quirks: list[str] = []
    m, disabled = _m_field(raw, quirks)
    if "ut_metadata" in m and b"metadata_size" not in raw:
        quirks.append("metadata_size: missing although ut_metadata is enabled (PW-12: ask for piece 0)")
    v = raw.get(b"v")
    if v is not None and not isinstance(v, bytes):
        quirks.append(f"v: ignored {_describe(v)}, expected a string")
        v = None
    return ExtensionHandshake(
        m=m,
        disabled=disabled,
        v=v,
        p=_int_field(raw, b"p", 1, 65535, quirks),
        reqq=_int_field(raw, b"reqq", 1, 1 << 31, quirks),
        yourip=_yourip_field(raw, quirks),
        metadata_size=_int_field(raw, b"metadata_size", 1, 1 << 40, quirks),
        quirks=tuple(quirks),
    )


def metadata_piece_count(metadata_size: int) -> int:
    """Number of 16 KiB metadata pieces for ``metadata_size`` bytes (BEP 9 "metadata")."""
    return -(-metadata_size // METADATA_PIECE_LEN)


def encode_metadata_request(piece: int) -> bytes:
    """Bencode a ``ut_metadata`` request for one metadata piece.

    Args:
        piece: zero-based metadata piece index (16 KiB units).

    Returns:
        The payload to send after ``<id=20><the peer's ut_metadata id>``.

    Raises:
        ValueError: ``piece`` is negative.

    Source: BEP 9 "request".
    """
    if piece < 0:
        raise ValueError(f"ut_metadata piece: {piece} is negative")
    return bencode.encode({"msg_type": METADATA_REQUEST, "piece": piece})


def encode_metadata_reject(piece: int) -> bytes:
    """Bencode a ``ut_metadata`` reject: our answer to every metadata request (we never upload).

    Args:
        piece: the metadata piece index the peer asked for.

    Returns:
        The payload to send after ``<id=20><the peer's ut_metadata id>``.

    Raises:
        ValueError: ``piece`` is negative.

    Source: BEP 9 "reject".
    """
    if piece < 0:
        raise ValueError(f"ut_metadata piece: {piece} is negative")
    return bencode.encode({"msg_type": METADATA_REJECT, "piece": piece})


def encode_metadata_data(piece: int, total_size: int, data: bytes) -> bytes:
    """Bencode a ``ut_metadata`` data message. For tests only: swarmscope never serves metadata.

    Args:
        piece: metadata piece index. total_size: metadata size in bytes. data: the piece's bytes.

    Returns:
        The dict followed by the raw piece bytes.

    Source: BEP 9 "data".
    """
    return bencode.encode({"msg_type": METADATA_DATA, "piece": piece, "total_size": total_size}) + data


def _required_int(head: dict[bytes, Any], key: bytes, end: int) -> int:
    value = head.get(key)
    if not isinstance(value, int) or value < 0:
        raise DecodeError(f"ut_metadata {key.decode()}: {_describe(value)}, expected an integer >= 0", end)
    return value


def _check_data(piece: int, total_size: int, data: bytes, end: int) -> None:
    if total_size <= 0:
        raise DecodeError(f"ut_metadata total_size: {total_size}, expected > 0", end)
    count = metadata_piece_count(total_size)
    if piece >= count:
        raise DecodeError(f"ut_metadata piece: {piece} >= {count} pieces of total_size {total_size}", end)
    expected = min(METADATA_PIECE_LEN, total_size - piece * METADATA_PIECE_LEN)
    if len(data) != expected:
        raise DecodeError(f"ut_metadata data: {len(data)} bytes for piece {piece}, expected {expected}", end)


def decode_metadata_message(payload: bytes) -> MetadataMessage:
    """Decode a ``ut_metadata`` payload (after ``<id=20><our ut_metadata id>``).

    Args:
        payload: a bencoded dict; for msg_type 1 followed by the piece bytes (16 KiB, or the rest of
            ``total_size`` for the last piece).

    Returns:
        :class:`MetadataMessage`. A reject (msg_type 2) is not final (PW-12: libtorrent rejects when
        its queue is full); unknown msg_types are returned with a quirk (BEP 9: ignore them).

    Raises:
        DecodeError: not a bencoded dict, or more than :data:`MAX_VALUES` values; msg_type or piece
            missing or not a non-negative integer;
            for data: total_size missing, the piece outside total_size, or the data length wrong.

    Source: BEP 9 "extension message"; interop PW-12.
    """
    payload = bytes(payload)
    head, end = bencode.decode_prefix(payload, 0, MAX_VALUES)
    if not isinstance(head, dict):
        raise DecodeError(f"ut_metadata: payload is a {type(head).__name__}, expected a dict", 0)
    msg_type = _required_int(head, b"msg_type", end)
    piece = _required_int(head, b"piece", end)
    rest = payload[end:]
    if msg_type == METADATA_DATA:
        size = _required_int(head, b"total_size", end)
        _check_data(piece, size, rest, end)
        return MetadataMessage(msg_type, piece, size, rest)
    quirks: list[str] = []
    if msg_type not in (METADATA_REQUEST, METADATA_REJECT):
        quirks.append(f"msg_type: unknown value {msg_type} (BEP 9: ignore)")
    if rest:
        quirks.append(f"{len(rest)} bytes after a msg_type {msg_type} dict ignored")
    total = head.get(b"total_size")  # libtorrent adds it to rejects too (captured from 2.1.1)
    total_size = total if isinstance(total, int) and total > 0 else None
    return MetadataMessage(msg_type, piece, total_size, quirks=tuple(quirks))
