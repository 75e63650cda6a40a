"""BEP 11 ``ut_pex`` (peer exchange) message codec, pure.

PEX is a discovery source: a connected peer tells us which addresses it is connected to. Those
addresses are *listed* leads, never evidence of distribution by themselves. swarmscope only receives
PEX; :func:`encode_pex` exists so tests can build messages.

Sources: BEP 11 "Peer Exchange (PEX)"; interop PW-13 (``added.f`` missing or the wrong length,
flag bits beyond the BEP 11 set).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from swarmscope.errors import DecodeError
from swarmscope.wire import bencode
from swarmscope.wire.compact import decode_peers_v4, decode_peers_v6, encode_peers_v4, encode_peers_v6
from swarmscope.wire.extension import MAX_VALUES
from swarmscope.wire.types import Endpoint

FLAG_ENCRYPTION = 0x01  # BEP 11: prefers encryption
FLAG_SEED = 0x02  # BEP 11: seed / upload_only (not trusted until we connect: PW-13)
FLAG_UTP = 0x04  # BEP 11: supports uTP
FLAG_HOLEPUNCH = 0x08  # BEP 11: supports ut_holepunch
FLAG_REACHABLE = 0x10  # BEP 11: outgoing connection, peer is reachable
KNOWN_FLAGS = 0x1F  # BEP 11: every other bit is reserved

_LISTS = ((b"added", False), (b"added6", True), (b"dropped", False), (b"dropped6", True))


@dataclass(frozen=True, slots=True)
class PexMessage:
    """A decoded ``ut_pex`` message.

    Args:
        added, added6: peers the sender says it is connected to (IPv4 / IPv6 compact lists).
        added_flags, added6_flags: one BEP 11 flag byte per added peer (reserved bits cleared), or
            ``()`` when ``added.f`` / ``added6.f`` was missing or did not match (PW-13).
        dropped, dropped6: peers the sender disconnected from.
        quirks: notes on tolerated deviations (missing or short flags, unknown flag bits,
            duplicates, a peer both added and dropped, an empty message).
    """

    added: tuple[Endpoint, ...] = ()
    added_flags: tuple[int, ...] = ()
    added6: tuple[Endpoint, ...] = ()
    added6_flags: tuple[int, ...] = ()
    dropped: tuple[Endpoint, ...] = ()
    dropped6: tuple[Endpoint, ...] = ()
    quirks: tuple[str, ...] = ()


def _peer_list(raw: dict[bytes, Any], key: bytes, v6: bool) -> tuple[Endpoint, ...]:
    value = raw.get(key, b"")
    if not isinstance(value, bytes):
        raise DecodeError(f"ut_pex {key.decode()}: a {type(value).__name__}, expected a compact string")
    try:
        peers = decode_peers_v6(value) if v6 else decode_peers_v4(value)
    except DecodeError as exc:
        raise DecodeError(f"ut_pex {key.decode()}: {exc.reason}", exc.offset) from exc
    return tuple(peers)


def _flags(raw: dict[bytes, Any], key: bytes, count: int, quirks: list[str]) -> tuple[int, ...]:
    value = raw.get(key)
    name = key.decode()
    if value is None:
        if count:
            quirks.append(f"{name}: missing; {count} peers kept without flags (PW-13)")
        return ()
    if not isinstance(value, bytes) or len(value) != count:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else f"a {type(value).__name__}"
        quirks.append(f"{name}: {got} for {count} peers; flags ignored, peers kept (PW-13)")
        return ()
    unknown = 0
    for flag in value:
        unknown |= flag & ~KNOWN_FLAGS
    if unknown:
        quirks.append(f"{name}: reserved flag bits 0x{unknown:02x} cleared")
    return tuple(flag & KNOWN_FLAGS for flag in value)


def _list_quirks(message: PexMessage) -> list[str]:
    quirks: list[str] = []
    for name, peers in (
        ("added", message.added),
        ("added6", message.added6),
        ("dropped", message.dropped),
        ("dropped6", message.dropped6),
    ):
        if len(set(peers)) != len(peers):
            quirks.append(f"{name}: {len(peers) - len(set(peers))} duplicate entries")
    both = (set(message.added) | set(message.added6)) & (set(message.dropped) | set(message.dropped6))
    if both:
        quirks.append(f"{len(both)} peers both added and dropped in one message")
    return quirks


def decode_pex(payload: bytes) -> PexMessage:
    """Decode a ``ut_pex`` payload (the bytes after ``<id=20><our ut_pex id>``).

    Args:
        payload: the bencoded dict, exactly (trailing bytes are an error).

    Returns:
        :class:`PexMessage`. Peers in ``added`` are kept even when ``added.f`` is missing or has the
        wrong length (as Transmission does; libtorrent drops them) — the flags are then ``()``.
        Reserved flag bits are cleared. Unknown keys are ignored. Each tolerated deviation is a quirk.

    Raises:
        DecodeError: not bencode, trailing bytes, not a dict, more than ``extension.MAX_VALUES`` values
            (the bound of every extension payload), an address list that is not a string,
            or a list whose length is not a multiple of its stride (6 for IPv4, 18 for IPv6).

    Source: BEP 11 "Protocol Extension"; interop PW-13.
    """
    raw = bencode.decode(bytes(payload), MAX_VALUES)
    if not isinstance(raw, dict):
        raise DecodeError(f"ut_pex: payload is a {type(raw).__name__}, expected a dict")
    added, added6, dropped, dropped6 = (_peer_list(raw, key, v6) for key, v6 in _LISTS)
    quirks: list[str] = []
    added_flags = _flags(raw, b"added.f", len(added), quirks)
    added6_flags = _flags(raw, b"added6.f", len(added6), quirks)
    message = PexMessage(added, added_flags, added6, added6_flags, dropped, dropped6)
    quirks += _list_quirks(message)
    if not any(key in raw for key, _ in _LISTS):
        quirks.append("no added, added6, dropped or dropped6 key (BEP 11 requires one)")
    return replace(message, quirks=tuple(quirks))


def encode_pex(
    added: Sequence[Endpoint] = (),
    added_flags: Sequence[int] | None = None,
    added6: Sequence[Endpoint] = (),
    added6_flags: Sequence[int] | None = None,
    dropped: Sequence[Endpoint] = (),
    dropped6: Sequence[Endpoint] = (),
) -> bytes:
    """Bencode a ``ut_pex`` payload. For tests only: swarmscope never sends PEX (it does not advertise
    peers to a swarm it monitors).

    Args:
        added, added6, dropped, dropped6: endpoints for each list (IPv4 / IPv6). Empty lists are
            omitted, except that an all-empty message still carries ``added``.
        added_flags, added6_flags: one flag byte per added peer, or None to omit ``added.f``.

    Returns:
        The bencoded dict.

    Raises:
        ValueError: an endpoint of the wrong family, or a flag outside 0..255.

    Source: BEP 11 "Protocol Extension".
    """
    payload: dict[bytes, bytes] = {
        b"added": encode_peers_v4(added),
        b"added6": encode_peers_v6(added6),
        b"dropped": encode_peers_v4(dropped),
        b"dropped6": encode_peers_v6(dropped6),
    }
    if added_flags is not None:
        payload[b"added.f"] = bytes(added_flags)
    if added6_flags is not None:
        payload[b"added6.f"] = bytes(added6_flags)
    kept = {key: value for key, value in payload.items() if value or key.endswith(b".f")}
    return bencode.encode(kept or {b"added": b""})
