"""Peer-wire framing and messages: BEP 3 core, BEP 6 fast extension, BEP 10 extended envelope.

Every message after the 68-byte handshake is ``<length: u32 big-endian><id: u8><payload>``; a length of 0 is a
keep-alive. This module turns bytes into message objects and back; the per-peer state lives in
``wire.peer_session``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from swarmscope.errors import DecodeError

PROTOCOL_STRING = b"\x13BitTorrent protocol"  # BEP 3: pstrlen 19 + "BitTorrent protocol"
HANDSHAKE_LEN = 68  # BEP 3: 1 + 19 + 8 reserved + 20 infohash + 20 peer id
MAX_MESSAGE_LEN = 1 << 20  # interop PW-06: libtorrent drops peers announcing more than 1 MiB

# Reserved-bit masks: (byte index, mask).
RESERVED_EXTENSION = (5, 0x10)  # BEP 10
RESERVED_FAST = (7, 0x04)  # BEP 6
RESERVED_DHT = (7, 0x01)  # BEP 5

# Message ids.
CHOKE = 0  # BEP 3
UNCHOKE = 1  # BEP 3
INTERESTED = 2  # BEP 3
NOT_INTERESTED = 3  # BEP 3
HAVE = 4  # BEP 3
BITFIELD = 5  # BEP 3
REQUEST = 6  # BEP 3
PIECE = 7  # BEP 3
CANCEL = 8  # BEP 3
PORT = 9  # BEP 5
SUGGEST = 0x0D  # BEP 6
HAVE_ALL = 0x0E  # BEP 6
HAVE_NONE = 0x0F  # BEP 6
REJECT = 0x10  # BEP 6
ALLOWED_FAST = 0x11  # BEP 6
EXTENDED = 20  # BEP 10

MESSAGE_NAMES = {
    CHOKE: "choke",
    UNCHOKE: "unchoke",
    INTERESTED: "interested",
    NOT_INTERESTED: "not_interested",
    HAVE: "have",
    BITFIELD: "bitfield",
    REQUEST: "request",
    PIECE: "piece",
    CANCEL: "cancel",
    PORT: "port",
    SUGGEST: "suggest",
    HAVE_ALL: "have_all",
    HAVE_NONE: "have_none",
    REJECT: "reject",
    ALLOWED_FAST: "allowed_fast",
    EXTENDED: "extended",
}

_U32 = struct.Struct(">I")
_LEN_ID = struct.Struct(">IB")
_LEN_ID_U32 = struct.Struct(">IBI")
_LEN_ID_3U32 = struct.Struct(">IB3I")
_3U32 = struct.Struct(">3I")


def reserved_bytes(*, extension: bool = True, fast: bool = True, dht: bool = False) -> bytes:
    """Build the 8 reserved handshake bytes advertising the given extensions (BEP 3/5/6/10)."""
    out = bytearray(8)
    for enabled, (index, mask) in (
        (extension, RESERVED_EXTENSION),
        (fast, RESERVED_FAST),
        (dht, RESERVED_DHT),
    ):
        if enabled:
            out[index] |= mask
    return bytes(out)


def has_reserved(reserved: bytes, bit: tuple[int, int]) -> bool:
    """True when ``reserved`` (8 bytes) has the flag ``bit`` = (byte index, mask) set."""
    index, mask = bit
    return len(reserved) > index and bool(reserved[index] & mask)


@dataclass(frozen=True, slots=True)
class Handshake:
    """The BEP 3 handshake: 8 reserved bytes, 20-byte infohash, 20-byte peer id."""

    reserved: bytes
    infohash: bytes
    peer_id: bytes

    def encode(self) -> bytes:
        """Serialise to the 68 handshake bytes.

        Raises:
            ValueError: a field has the wrong length (our bug, not the peer's).
        """
        if len(self.reserved) != 8 or len(self.infohash) != 20 or len(self.peer_id) != 20:
            raise ValueError("handshake fields must be 8, 20 and 20 bytes")
        return PROTOCOL_STRING + self.reserved + self.infohash + self.peer_id


def decode_handshake(data: bytes) -> Handshake:
    """Parse exactly the 68 handshake bytes (BEP 3 "handshake").

    Raises:
        DecodeError: wrong length or not the BitTorrent protocol string (names what arrived).
    """
    if len(data) != HANDSHAKE_LEN:
        raise DecodeError(f"handshake: expected {HANDSHAKE_LEN} bytes, got {len(data)}")
    if data[:20] != PROTOCOL_STRING:
        raise DecodeError(f"handshake: not the BitTorrent protocol: {bytes(data[:20])!r}", 0)
    return Handshake(bytes(data[20:28]), bytes(data[28:48]), bytes(data[48:68]))


# --- message objects -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A zero-length message (BEP 3); legal anywhere after the handshake (PW-06)."""


@dataclass(frozen=True, slots=True)
class Simple:
    """A message with no payload: choke, unchoke, interested, not_interested, have_all, have_none."""

    msg_id: int


@dataclass(frozen=True, slots=True)
class Have:
    """``have <piece index>`` (BEP 3); also ``suggest`` and ``allowed_fast`` (BEP 6) via ``msg_id``."""

    msg_id: int
    index: int


@dataclass(frozen=True, slots=True)
class Bitfield:
    """``bitfield``: raw bytes, high bit of byte 0 = piece 0 (BEP 3)."""

    bits: bytes


@dataclass(frozen=True, slots=True)
class BlockRef:
    """``request``, ``cancel`` (BEP 3) or ``reject`` (BEP 6): piece index, begin offset, length (bytes)."""

    msg_id: int
    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class Piece:
    """``piece``: a block of piece ``index`` starting at byte ``begin`` (BEP 3)."""

    index: int
    begin: int
    block: bytes


@dataclass(frozen=True, slots=True)
class Port:
    """``port``: the peer's DHT UDP port (BEP 5)."""

    port: int


@dataclass(frozen=True, slots=True)
class Extended:
    """``extended``: BEP 10 sub-id (0 = extension handshake) and its payload."""

    ext_id: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Unknown:
    """A message id this module does not know; kept raw, never fatal."""

    msg_id: int
    payload: bytes


Message = KeepAlive | Simple | Have | Bitfield | BlockRef | Piece | Port | Extended | Unknown

_SIMPLE_IDS = frozenset({CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE_ALL, HAVE_NONE})
_INDEX_IDS = frozenset({HAVE, SUGGEST, ALLOWED_FAST})
_BLOCKREF_IDS = frozenset({REQUEST, CANCEL, REJECT})
KEEP_ALIVE = KeepAlive()


def decode_message(body: bytes) -> Message:
    """Decode one framed message body (the bytes after the 4-byte length prefix).

    Args:
        body: message id + payload; empty for keep-alive.

    Raises:
        DecodeError: the payload has the wrong size for its id (names the message).
    """
    if not body:
        return KEEP_ALIVE
    msg_id = body[0]
    size = len(body) - 1
    if msg_id in _SIMPLE_IDS:
        if size:
            raise DecodeError(f"{MESSAGE_NAMES[msg_id]}: expected no payload, got {size} bytes")
        return Simple(msg_id)
    if msg_id == PIECE:
        if size < 8:
            raise DecodeError(f"piece: payload of {size} bytes is shorter than index + begin")
        index, begin = struct.unpack_from(">II", body, 1)
        return Piece(index, begin, bytes(body[9:]))
    if msg_id == BITFIELD:
        return Bitfield(bytes(body[1:]))
    if msg_id in _INDEX_IDS:
        if size != 4:
            raise DecodeError(f"{MESSAGE_NAMES[msg_id]}: expected 4 payload bytes, got {size}")
        return Have(msg_id, _U32.unpack_from(body, 1)[0])
    if msg_id in _BLOCKREF_IDS:
        if size != 12:
            raise DecodeError(f"{MESSAGE_NAMES[msg_id]}: expected 12 payload bytes, got {size}")
        return BlockRef(msg_id, *_3U32.unpack_from(body, 1))
    if msg_id == EXTENDED:
        if size < 1:
            raise DecodeError("extended: missing extension id")
        return Extended(body[1], bytes(body[2:]))
    if msg_id == PORT:
        if size != 2:
            raise DecodeError(f"port: expected 2 payload bytes, got {size}")
        return Port(struct.unpack_from(">H", body, 1)[0])
    return Unknown(msg_id, bytes(body[1:]))


def encode_message(message: Message) -> bytes:
    """Serialise a message with its 4-byte length prefix (BEP 3 framing)."""
    if isinstance(message, KeepAlive):
        return b"\x00\x00\x00\x00"
    if isinstance(message, Simple):
        return _LEN_ID.pack(1, message.msg_id)
    if isinstance(message, Have):
        return _LEN_ID_U32.pack(5, message.msg_id, message.index)
    if isinstance(message, BlockRef):
        return _LEN_ID_3U32.pack(13, message.msg_id, message.index, message.begin, message.length)
    if isinstance(message, Bitfield):
        return _LEN_ID.pack(1 + len(message.bits), BITFIELD) + message.bits
    if isinstance(message, Piece):
        return (
            _LEN_ID.pack(9 + len(message.block), PIECE)
            + struct.pack(">II", message.index, message.begin)
            + (message.block)
        )
    if isinstance(message, Port):
        return _LEN_ID.pack(3, PORT) + struct.pack(">H", message.port)
    if isinstance(message, Extended):
        return _LEN_ID.pack(2 + len(message.payload), EXTENDED) + bytes((message.ext_id,)) + message.payload
    return _LEN_ID.pack(1 + len(message.payload), message.msg_id) + message.payload


def encode_request(index: int, begin: int, length: int) -> bytes:
    """``request`` message bytes for one block (BEP 3); fast path used by the probe."""
    return _LEN_ID_3U32.pack(13, REQUEST, index, begin, length)


def encode_reject(index: int, begin: int, length: int) -> bytes:
    """``reject`` message bytes (BEP 6) for a request we will not serve."""
    return _LEN_ID_3U32.pack(13, REJECT, index, begin, length)


class MessageFramer:
    """Incremental splitter of a byte stream into message bodies (after the handshake).

    Feed arbitrary chunks; complete bodies come out in order, keep-alives as ``b""``. The length cap is
    checked before any payload is buffered (interop PW-06: never allocate what a hostile prefix asks for).

    Args:
        max_length: largest accepted body, bytes (default 1 MiB; raise it for huge bitfields).
    """

    __slots__ = ("_buf", "max_length")

    def __init__(self, max_length: int = MAX_MESSAGE_LEN) -> None:
        self._buf = bytearray()
        self.max_length = max_length

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a complete message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data`` and return every complete message body now available.

        Raises:
            DecodeError: a length prefix exceeds ``max_length`` (offset = bytes buffered before it).
        """
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            (length,) = _U32.unpack_from(buf, pos)
            if length > self.max_length:
                raise DecodeError(f"message length {length} exceeds the {self.max_length}-byte cap", pos)
            if end - pos - 4 < length:
                break
            out.append(bytes(buf[pos + 4 : pos + 4 + length]))
            pos += 4 + length
        if pos:
            del buf[:pos]
        return out
