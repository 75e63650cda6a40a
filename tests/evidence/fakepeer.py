"""A scripted remote peer for pure ProbeRun tests: it parses what the probe sends and answers by rules.

This is a unit-test double for the pure layer only; the real-software tests (libtorrent, aria2) are in
tests/net and tests/e2e.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import BlockProof
from swarmscope.wire import bencode
from swarmscope.wire import peer as pw

IH = hashlib.sha1(b"swarm").digest()
OUR_ID = b"-SS0100-000000000000"
LT_ID = b"-LT2110-abcdefghijkl"
PIECE_LEN = 32 * 1024


class Pieces:
    """An in-memory torrent: ``n`` pieces of PIECE_LEN bytes (the last one shorter), SHA-1 hashed."""

    def __init__(self, n: int = 10, last: int = 5000) -> None:
        self.data = [
            bytes([(i * 7 + j) % 251 for j in range(PIECE_LEN if i < n - 1 else last)]) for i in range(n)
        ]
        self.hashes = [hashlib.sha1(d).digest() for d in self.data]
        self.num_pieces = n

    def piece_size(self, index: int) -> int:
        return len(self.data[index])

    def check_piece(self, index: int, data: bytes) -> bool:
        return hashlib.sha1(data).digest() == self.hashes[index]


@dataclass
class FakePeer:
    """Rules: what to send after the handshake and how to answer requests."""

    pieces: Pieces
    infohash: bytes = IH
    reserved: bytes = bytes.fromhex("0000000000100005")
    peer_id: bytes = LT_ID
    opening: bytes = b""  # sent with the handshake (bitfield, ext handshake...)
    unchoke_on_interested: bool = True
    corrupt: bool = False
    corrupt_pieces: set[int] = field(default_factory=set)  # serve wrong bytes for these pieces only
    reject_requests: bool = False
    requests_seen: list[tuple[int, int, int]] = field(default_factory=list)
    received: list[pw.Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._framer = pw.MessageFramer()
        self._hs = bytearray()
        self._handshake_done = False
        self.uploaded = 0  # payload bytes served, the peer's own upload counter

    def handshake(self) -> bytes:
        return pw.Handshake(self.reserved, self.infohash, self.peer_id).encode() + self.opening

    def feed(self, data: bytes) -> bytes:
        """Bytes from the probe → bytes back."""
        if not self._handshake_done:
            self._hs += data
            if len(self._hs) < 68:
                return b""
            data = bytes(self._hs[68:])
            self._handshake_done = True
        out = bytearray()
        for body in self._framer.feed(data):
            msg = pw.decode_message(body)
            self.received.append(msg)
            if msg == pw.Simple(pw.INTERESTED) and self.unchoke_on_interested:
                out += pw.encode_message(pw.Simple(pw.UNCHOKE))
            elif isinstance(msg, pw.BlockRef) and msg.msg_id == pw.REQUEST:
                self.requests_seen.append((msg.index, msg.begin, msg.length))
                if self.reject_requests:
                    out += pw.encode_reject(msg.index, msg.begin, msg.length)
                    continue
                block = self.pieces.data[msg.index][msg.begin : msg.begin + msg.length]
                if self.corrupt or msg.index in self.corrupt_pieces:
                    block = bytes(b ^ 0x55 for b in block)
                self.uploaded += len(block)
                out += pw.encode_message(pw.Piece(msg.index, msg.begin, block))
        return bytes(out)


def bitfield(n: int, have: set[int], spare: bool = False) -> bytes:
    bits = bytearray((n + 7) // 8)
    for i in have:
        bits[i >> 3] |= 0x80 >> (i & 7)
    if spare and n % 8:
        bits[-1] |= 0xFF >> (n % 8)
    return pw.encode_message(pw.Bitfield(bytes(bits)))


def ext_handshake(v: bytes = b"libtorrent/2.1.1.0") -> bytes:
    payload = bencode.encode(
        {
            b"m": {b"ut_metadata": 2, b"ut_pex": 1},
            b"v": v,
            b"reqq": 500,
            b"yourip": bytes([127, 0, 0, 1]),
            b"metadata_size": 1234,
        }
    )
    return pw.encode_message(pw.Extended(0, payload))


def make_run(
    pieces: Pieces,
    policy: ProbePolicy | None = None,
    seed: int = 0,
    block_candidates: tuple[BlockProof, ...] = (),
) -> ProbeRun:
    return ProbeRun(
        swarm=IH.hex(),
        wire_infohash=IH,
        peer_id=OUR_ID,
        pieces=pieces,
        ip="127.0.0.2",
        port=6881,
        source="tracker",
        started_us=1_000_000,
        policy=policy or ProbePolicy(),
        piece_seed=seed,
        extension_handshake=bencode.encode({b"m": {}, b"v": b"swarmscope/0.1.0"}),
        block_candidates=block_candidates,
    )


def converse(
    run: ProbeRun, peer: FakePeer, *, chunk: int | None = None, max_rounds: int = 200
) -> list[bytes]:
    """Run the exchange until the probe is done or nothing more moves; returns every chunk we sent."""
    now = 2_000_000
    sent = [run.connected(now)]
    to_peer = sent[0]
    to_probe = peer.handshake()
    for _ in range(max_rounds):
        if run.done:
            break
        to_probe += peer.feed(to_peer)
        to_peer = b""
        if not to_probe:
            break
        now += 1000
        pieces = (
            [to_probe] if chunk is None else [to_probe[i : i + chunk] for i in range(0, len(to_probe), chunk)]
        )
        to_probe = b""
        for part in pieces:
            out = run.received(part, now)
            if out:
                sent.append(out)
                to_peer += out
            if run.done:
                break
    return sent


def sent_messages(sent: list[bytes]) -> list[pw.Message]:
    stream = b"".join(sent)
    assert stream[:20] == pw.PROTOCOL_STRING
    framer = pw.MessageFramer()
    return [pw.decode_message(b) for b in framer.feed(stream[68:])]
