"""Sans-IO state of one peer-wire connection (BEP 3, BEP 6, BEP 10).

The session consumes received bytes and returns events; it produces the bytes we send through explicit
methods. It never serves data: there is no method that emits a ``piece`` message, we never unchoke, and
requests addressed to us are rejected (fast extension) or ignored. Liberal in what it accepts (see
``specs/interop-quirks.md``): deviations become entries in :attr:`PeerSession.quirks`, not disconnects,
unless the bytes cannot be framed at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmscope.errors import DecodeError, ProtocolStateError
from swarmscope.wire import peer as pw

# --- events (past tense, frozen) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeReceived:
    """The peer's 68-byte handshake arrived; ``infohash_matches`` compares it with ours (BEP 3)."""

    handshake: pw.Handshake
    infohash_matches: bool


@dataclass(frozen=True, slots=True)
class PiecesClaimed:
    """The set of pieces the peer claims changed (bitfield, have_all/none, have). ``have`` = count."""

    have: int
    source: str  # "bitfield" | "have_all" | "have_none" | "have"


@dataclass(frozen=True, slots=True)
class ChokeChanged:
    """The peer choked (``choked`` True) or unchoked us (BEP 3)."""

    choked: bool


@dataclass(frozen=True, slots=True)
class BlockReceived:
    """A block we requested arrived (BEP 3 ``piece``); ``block`` is its data."""

    index: int
    begin: int
    block: bytes


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """The peer rejected one of our requests (BEP 6)."""

    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class AllowedFastReceived:
    """The peer allows us piece ``index`` while choked (BEP 6)."""

    index: int


@dataclass(frozen=True, slots=True)
class ExtensionHandshakeReceived:
    """BEP 10 handshake payload (bencoded dict, undecoded here)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class ExtendedMessageReceived:
    """A BEP 10 message with our local extension id ``ext_id`` (> 0)."""

    ext_id: int
    payload: bytes


Event = (
    HandshakeReceived
    | PiecesClaimed
    | ChokeChanged
    | BlockReceived
    | RequestRejected
    | AllowedFastReceived
    | ExtensionHandshakeReceived
    | ExtendedMessageReceived
)

_MAX_BITFIELD_EXTRA = 64  # bytes above the 1 MiB cap kept for a bitfield of a huge torrent


class PeerSession:
    """Protocol state of one connection, from our side.

    Args:
        infohash: the 20 bytes we expect on the wire (v1, or v2 truncated; BEP 52).
        peer_id: our 20-byte peer id.
        num_pieces: pieces in the torrent (bitfield size; interop PW-01/PW-04).
        reserved: the 8 reserved bytes we advertise (see :func:`swarmscope.wire.peer.reserved_bytes`).

    Attributes readable by the caller: ``remote`` (their handshake), ``fast`` / ``extension`` (negotiated),
    ``have`` (bytearray bitfield snapshot or None), ``have_count``, ``choked``, ``allowed_fast``,
    ``outstanding`` (our open requests), ``quirks`` (interop ids seen), ``unrequested_bytes``.
    """

    def __init__(self, infohash: bytes, peer_id: bytes, num_pieces: int, *, reserved: bytes) -> None:
        self.infohash = infohash
        self.peer_id = peer_id
        self.num_pieces = num_pieces
        self.reserved = reserved
        self.remote: pw.Handshake | None = None
        self.fast = False
        self.extension = False
        self.have: bytearray | None = None
        self.have_count = 0
        self.choked = True
        self.allowed_fast: set[int] = set()
        self.outstanding: set[tuple[int, int, int]] = set()
        self.quirks: list[str] = []
        self.unrequested_bytes = 0
        self.peer_requests = 0
        self._hs_buf = bytearray()
        bitfield_len = (num_pieces + 7) // 8
        self._framer = pw.MessageFramer(max(pw.MAX_MESSAGE_LEN, bitfield_len + _MAX_BITFIELD_EXTRA))

    # --- outgoing ---------------------------------------------------------------------------------

    def handshake_bytes(self) -> bytes:
        """Our 68-byte handshake (BEP 3)."""
        return pw.Handshake(self.reserved, self.infohash, self.peer_id).encode()

    def opening_messages(self, extension_handshake: bytes | None) -> bytes:
        """What we send right after the handshakes: BEP 10 handshake, ``have_none`` (BEP 6), ``interested``.

        We own no piece, so with the fast extension we send ``have_none`` (BEP 6 requires one of bitfield /
        have_all / have_none); without it, nothing (BEP 3 allows omitting the bitfield).

        Raises:
            ProtocolStateError: called before the peer's handshake arrived.
        """
        if self.remote is None:
            raise ProtocolStateError("opening_messages before the peer's handshake")
        out = bytearray()
        if self.fast:
            out += pw.encode_message(pw.Simple(pw.HAVE_NONE))
        if self.extension and extension_handshake is not None:
            out += pw.encode_message(pw.Extended(0, extension_handshake))
        out += pw.encode_message(pw.Simple(pw.INTERESTED))
        return bytes(out)

    def request(self, index: int, begin: int, length: int) -> bytes:
        """A ``request`` for one block; remembered so the answer can be matched (BEP 3)."""
        self.outstanding.add((index, begin, length))
        return pw.encode_request(index, begin, length)

    def extended(self, ext_id: int, payload: bytes) -> bytes:
        """A BEP 10 message using the *peer's* id ``ext_id`` for the extension (PW-08)."""
        return pw.encode_message(pw.Extended(ext_id, payload))

    # --- incoming ---------------------------------------------------------------------------------

    def receive(self, data: bytes) -> tuple[list[Event], bytes]:
        """Consume bytes from the peer.

        Returns:
            (events in order, bytes we must send in reply — only ``reject`` messages for requests
            addressed to us when the fast extension is on; we never serve data).

        Raises:
            DecodeError: not a BitTorrent handshake, an oversized length prefix (PW-06) or a malformed
                message; the connection should be closed and the reason recorded.
        """
        events: list[Event] = []
        if self.remote is None:
            self._hs_buf += data
            if len(self._hs_buf) < pw.HANDSHAKE_LEN:
                if self._hs_buf[:20] != pw.PROTOCOL_STRING[: len(self._hs_buf)]:
                    raise DecodeError(
                        f"handshake: not the BitTorrent protocol: {bytes(self._hs_buf[:20])!r}", 0
                    )
                return events, b""
            hs = pw.decode_handshake(bytes(self._hs_buf[: pw.HANDSHAKE_LEN]))
            data = bytes(self._hs_buf[pw.HANDSHAKE_LEN :])  # PW-07: messages in the same segment
            self._hs_buf = bytearray()
            self.remote = hs
            self.fast = pw.has_reserved(hs.reserved, pw.RESERVED_FAST) and pw.has_reserved(
                self.reserved, pw.RESERVED_FAST
            )
            self.extension = pw.has_reserved(hs.reserved, pw.RESERVED_EXTENSION) and pw.has_reserved(
                self.reserved, pw.RESERVED_EXTENSION
            )
            events.append(HandshakeReceived(hs, hs.infohash == self.infohash))
            if not data:
                return events, b""
        reply = bytearray()
        for body in self._framer.feed(data):
            self._dispatch(pw.decode_message(body), events, reply)
        return events, bytes(reply)

    def _quirk(self, name: str) -> None:
        if name not in self.quirks:
            self.quirks.append(name)

    def _dispatch(self, msg: pw.Message, events: list[Event], reply: bytearray) -> None:
        if isinstance(msg, pw.Piece):
            self._on_piece(msg, events)
        elif isinstance(msg, pw.Simple):
            self._on_simple(msg.msg_id, events)
        elif isinstance(msg, pw.Have):
            self._on_index(msg, events)
        elif isinstance(msg, pw.Bitfield):
            self._on_bitfield(msg.bits, events)
        elif isinstance(msg, pw.BlockRef):
            self._on_blockref(msg, events, reply)
        elif isinstance(msg, pw.Extended):
            if not self.extension:
                self._quirk("PW-08 extended message without reserved bit")
            if msg.ext_id == 0:
                events.append(ExtensionHandshakeReceived(msg.payload))
            else:
                events.append(ExtendedMessageReceived(msg.ext_id, msg.payload))
        elif isinstance(msg, pw.Unknown):
            self._quirk(f"unknown message id {msg.msg_id}")

    def _on_simple(self, msg_id: int, events: list[Event]) -> None:
        if msg_id == pw.CHOKE or msg_id == pw.UNCHOKE:
            choked = msg_id == pw.CHOKE
            if choked == self.choked:
                if (
                    not choked
                ):  # a leading `choke` is normal (everyone starts choked); a repeat unchoke is not
                    self._quirk("PW-15 redundant unchoke")
                return
            self.choked = choked
            if choked and not self.fast:
                self.outstanding.clear()  # BEP 3: requests are dropped on choke (not with BEP 6)
            events.append(ChokeChanged(choked))
        elif msg_id == pw.HAVE_ALL or msg_id == pw.HAVE_NONE:
            if not self.fast:
                self._quirk("BEP 6 have_all/have_none without the fast extension")
            full = msg_id == pw.HAVE_ALL
            self._set_all(full)
            events.append(PiecesClaimed(self.have_count, "have_all" if full else "have_none"))
        # interested / not_interested: noted by nobody; we never unchoke anyone.

    def _set_all(self, full: bool) -> None:
        n = self.num_pieces
        if full:
            bits = bytearray(b"\xff" * ((n + 7) // 8))
            if n % 8:
                bits[-1] = (0xFF << (8 - n % 8)) & 0xFF
            self.have, self.have_count = bits, n
        else:
            self.have, self.have_count = bytearray((n + 7) // 8), 0

    def _on_bitfield(self, bits: bytes, events: list[Event]) -> None:
        n = self.num_pieces
        want = (n + 7) // 8
        if self.have is not None:
            self._quirk("PW-03 bitfield after earlier piece state")
        if len(bits) != want:
            self._quirk(f"bitfield of {len(bits)} bytes for {n} pieces")
            bits = bits[:want].ljust(want, b"\x00")
        arr = bytearray(bits)
        if n % 8 and arr and arr[-1] & (0xFF >> (n % 8)):
            self._quirk("PW-01 bitfield spare bits set")
            arr[-1] &= (0xFF << (8 - n % 8)) & 0xFF
        self.have = arr
        self.have_count = int.from_bytes(arr, "big").bit_count()
        events.append(PiecesClaimed(self.have_count, "bitfield"))

    def _on_index(self, msg: pw.Have, events: list[Event]) -> None:
        if msg.index >= self.num_pieces:
            self._quirk(f"PW-04 {pw.MESSAGE_NAMES[msg.msg_id]} index out of range")
            return
        if msg.msg_id == pw.HAVE:
            if self.have is None:
                self._set_all(False)  # PW-03: have before any bitfield = implicit have_none
            assert self.have is not None
            byte, mask = msg.index >> 3, 0x80 >> (msg.index & 7)
            if not self.have[byte] & mask:
                self.have[byte] |= mask
                self.have_count += 1
                events.append(PiecesClaimed(self.have_count, "have"))
        elif msg.msg_id == pw.ALLOWED_FAST:
            self.allowed_fast.add(msg.index)
            events.append(AllowedFastReceived(msg.index))
        # suggest: advisory, ignored.

    def _on_blockref(self, msg: pw.BlockRef, events: list[Event], reply: bytearray) -> None:
        key = (msg.index, msg.begin, msg.length)
        if msg.msg_id == pw.REJECT:
            if key in self.outstanding:
                self.outstanding.discard(key)
                events.append(RequestRejected(*key))
            else:
                self._quirk("BEP 6 reject for a request never sent")
        elif msg.msg_id == pw.REQUEST:
            self.peer_requests += 1
            if self.fast:  # BEP 6: a choking peer must reject requests; we choke everyone, always
                reply += pw.encode_reject(*key)

    def _on_piece(self, msg: pw.Piece, events: list[Event]) -> None:
        key = (msg.index, msg.begin, len(msg.block))
        if key not in self.outstanding:
            self._quirk("BEP 6 piece never requested")
            self.unrequested_bytes += len(msg.block)
            return
        self.outstanding.discard(key)
        events.append(BlockReceived(msg.index, msg.begin, msg.block))

    def has_piece(self, index: int) -> bool:
        """True when the peer's latest snapshot + deltas claim piece ``index``."""
        have = self.have
        return (
            have is not None
            and 0 <= index < self.num_pieces
            and bool(have[index >> 3] & (0x80 >> (index & 7)))
        )
