"""A deliberately tiny BEP 3 peer-wire client over a plain socket, used only to check the testbed's peers.

It is independent of swarmscope's own wire/ and net/ code on purpose: the testbed must be validated by
something other than the monitor it will be used to test. It never sends piece data.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import time
from dataclasses import dataclass, field

PSTR = b"\x13BitTorrent protocol"  # BEP 3 handshake
BLOCK = 16384  # bytes per request (BEP 3 convention)
CHOKE, UNCHOKE, INTERESTED, HAVE, BITFIELD, REQUEST, PIECE = 0, 1, 2, 4, 5, 6, 7
HAVE_ALL, HAVE_NONE = 0x0E, 0x0F  # BEP 6


@dataclass
class ProbeResult:
    """What one connection learned: remote handshake fields and the pieces it advertised."""

    reserved: bytes = b""
    infohash: bytes = b""
    peer_id: bytes = b""
    pieces: set[int] = field(default_factory=set)
    got_bitfield: bool = False


class PeerProbe:
    """One outgoing connection to a peer, bound to ``source_ip``."""

    def __init__(self, ip: str, port: int, *, source_ip: str, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((ip, port), timeout=timeout, source_address=(source_ip, 0))
        self.sock.settimeout(timeout)
        self.buf = b""
        self.choked = True
        self.result = ProbeResult()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> PeerProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("peer closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def handshake(self, infohash: bytes, peer_id: bytes, *, fast: bool = False) -> ProbeResult:
        """Send and read the BEP 3 handshake (with the BEP 6 fast bit when ``fast``)."""
        reserved = bytearray(8)
        if fast:
            reserved[7] |= 0x04
        self.sock.sendall(PSTR + bytes(reserved) + infohash + peer_id)
        reply = self._read(68, time.monotonic() + 10)
        if reply[:20] != PSTR:
            raise ConnectionError(f"not a BitTorrent handshake: {reply[:20]!r}")
        self.result.reserved, self.result.infohash, self.result.peer_id = (
            reply[20:28],
            reply[28:48],
            reply[48:68],
        )
        return self.result

    def next_message(self, deadline: float) -> tuple[int, bytes] | None:
        """Read one message (None for keep-alive) and track choke state and advertised pieces."""
        (length,) = struct.unpack(">I", self._read(4, deadline))
        if length == 0:
            return None
        body = self._read(length, deadline)
        msg_id, payload = body[0], body[1:]
        if msg_id == CHOKE:
            self.choked = True
        elif msg_id == UNCHOKE:
            self.choked = False
        elif msg_id == BITFIELD:
            self.result.got_bitfield = True
            self.result.pieces |= {i for i in range(len(payload) * 8) if payload[i // 8] & (0x80 >> (i % 8))}
        elif msg_id == HAVE:
            self.result.pieces.add(struct.unpack(">I", payload)[0])
        return msg_id, payload

    def collect_advertised(self, num_pieces: int, seconds: float) -> set[int]:
        """Read messages for up to ``seconds`` (stop after a bitfield/HAVE_ALL); return the pieces."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = self.next_message(deadline)
            except TimeoutError:
                break
            if msg is not None and msg[0] == HAVE_ALL:
                self.result.pieces = set(range(num_pieces))
                self.result.got_bitfield = True
            if msg is not None and msg[0] in (BITFIELD, HAVE_ALL, HAVE_NONE):
                break
        return {p for p in self.result.pieces if p < num_pieces}

    def download_piece(self, index: int, length: int, seconds: float = 20.0) -> bytes:
        """Send interested, wait for unchoke, request every block of piece ``index``; return its bytes."""
        deadline = time.monotonic() + seconds
        self.sock.sendall(struct.pack(">IB", 1, INTERESTED))
        while self.choked:
            self.next_message(deadline)
        for offset in range(0, length, BLOCK):
            size = min(BLOCK, length - offset)
            self.sock.sendall(struct.pack(">IBIII", 13, REQUEST, index, offset, size))
        blocks: dict[int, bytes] = {}
        while sum(len(b) for b in blocks.values()) < length:
            msg = self.next_message(deadline)
            if msg is not None and msg[0] == PIECE:
                got_index, begin = struct.unpack(">II", msg[1][:8])
                if got_index == index:
                    blocks[begin] = msg[1][8:]
        return b"".join(blocks[k] for k in sorted(blocks))


def sha1(data: bytes) -> bytes:
    """SHA-1 digest of ``data`` (BEP 3 piece hash)."""
    return hashlib.sha1(data).digest()
