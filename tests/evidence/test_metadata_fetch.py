"""MetadataFetch (BEP 9 over BEP 10) against scripted byte streams: whole, byte by byte, rejects, liars."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.evidence.probe.metadata_fetch import (
    MISMATCH_DETAIL,
    NO_METADATA_FAILURE,
    UT_METADATA_ID,
    MetadataFetch,
    MetadataOutcome,
    MetadataPolicy,
)
from swarmscope.evidence.records import Failure, Tier
from swarmscope.wire import bencode, extension
from swarmscope.wire import peer as pw
from swarmscope.wire.extension import METADATA_PIECE_LEN

OUR_ID = b"-SS0100-000000000000"
LT_ID = b"-LT2110-abcdefghijkl"
PEER_UT = 2  # the scripted peer's own ut_metadata id (libtorrent's choice)
# A real-shaped v1 info dict of 40,075 bytes: three metadata pieces, the last one short.
INFO = bencode.encode(
    {b"length": 2000 * 16384, b"name": b"x.bin", b"piece length": 16384, b"pieces": bytes(range(200)) * 200}
)
V1 = hashlib.sha1(INFO).digest()
V2 = hashlib.sha256(INFO).digest()
_US = 1_000_000


@dataclass
class MetadataPeer:
    """A scripted peer: answers our handshake, offers ut_metadata and serves/rejects metadata by rules."""

    info: bytes = INFO
    infohash: bytes = V1
    send_size: bool = True
    size_override: int | None = None
    rejects: int = 0
    offer: bool = True
    reserved: bytes = bytes.fromhex("0000000000100005")
    ask_us: bool = False  # request metadata from us right after the handshake
    requests: list[int] = field(default_factory=list)
    received: list[pw.Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._framer = pw.MessageFramer()
        self._hs = bytearray()
        self._their_ut = 0

    def opening(self) -> bytes:
        m = {"ut_metadata": PEER_UT, "ut_pex": 1} if self.offer else {"ut_pex": 1}
        size = (self.size_override or len(self.info)) if self.send_size else None
        ext = extension.encode_handshake(m, v=b"libtorrent/2.1.1.0", metadata_size=size)
        out = pw.Handshake(self.reserved, self.infohash, LT_ID).encode()
        out += pw.encode_message(pw.Simple(pw.HAVE_ALL)) + pw.encode_message(pw.Extended(0, ext))
        if self.ask_us:
            out += pw.encode_message(pw.Extended(UT_METADATA_ID, extension.encode_metadata_request(0)))
        return out

    def feed(self, data: bytes) -> bytes:
        if len(self._hs) < 68:
            take = 68 - len(self._hs)
            self._hs += data[:take]
            data = data[take:]
        out = bytearray()
        for body in self._framer.feed(data):
            msg = pw.decode_message(body)
            self.received.append(msg)
            if isinstance(msg, pw.Extended) and msg.ext_id == 0:
                self._their_ut = extension.decode_handshake(msg.payload).m.get("ut_metadata", 0)
            elif isinstance(msg, pw.Extended) and msg.ext_id == PEER_UT:
                out += self._answer(extension.decode_metadata_message(msg.payload))
        return bytes(out)

    def _answer(self, msg: extension.MetadataMessage) -> bytes:
        if msg.msg_type != extension.METADATA_REQUEST:
            return b""
        self.requests.append(msg.piece)
        if self.rejects > 0:
            self.rejects -= 1
            payload = extension.encode_metadata_reject(msg.piece)
        else:
            size = self.size_override or len(self.info)
            chunk = self.info[msg.piece * METADATA_PIECE_LEN : (msg.piece + 1) * METADATA_PIECE_LEN]
            if self.size_override:
                chunk = chunk.ljust(min(METADATA_PIECE_LEN, size - msg.piece * METADATA_PIECE_LEN), b"\0")
            payload = extension.encode_metadata_data(msg.piece, size, chunk)
        return pw.encode_message(pw.Extended(self._their_ut, payload))


def new_fetch(v1: bytes | None = V1, v2: bytes | None = None, **policy: float) -> MetadataFetch:
    return MetadataFetch(
        swarm=(v1 or v2 or b"").hex(),
        v1=v1,
        v2=v2,
        peer_id=OUR_ID,
        ip="127.0.0.2",
        port=6881,
        source="manual",
        started_us=0,
        policy=MetadataPolicy(**policy),  # type: ignore[arg-type]
        client=b"swarmscope/0.1.0",
    )


def converse(fetch: MetadataFetch, peer: MetadataPeer, chunk: int | None = None) -> int:
    """Run the conversation to its end; deliver the peer's bytes whole or in ``chunk``-byte pieces.

    When nothing is in flight, the clock jumps to the fetch's deadline (back-off, timeouts). Returns now.
    """
    now = 1_000
    to_peer = fetch.connected(now)
    to_fetch = peer.opening()
    for _ in range(10_000):
        if fetch.done:
            return now
        to_fetch += peer.feed(to_peer)
        to_peer = b""
        if to_fetch:
            now += 10
            step = len(to_fetch) if chunk is None else chunk
            for i in range(0, len(to_fetch), step):
                to_peer += fetch.received(to_fetch[i : i + step], now)
            to_fetch = b""
        elif not to_peer:
            assert fetch.deadline_us is not None
            now = fetch.deadline_us
            to_peer = fetch.timer(now)
    raise AssertionError("conversation did not end")


@pytest.mark.parametrize("chunk", [None, 1, 7, 16_400], ids=["whole", "byte-by-byte", "7-bytes", "16400"])
def test_fetches_and_verifies_metadata(chunk: int | None) -> None:
    fetch, peer = new_fetch(), MetadataPeer()
    converse(fetch, peer, chunk)
    assert fetch.outcome is MetadataOutcome.VERIFIED and fetch.result == INFO
    assert peer.requests == [0, 1, 2]
    obs = fetch.observation()
    assert obs.tier is Tier.CONNECTED and obs.failure is None and obs.failure_detail is None
    assert obs.bytes_received == len(INFO) and obs.payload_bytes_sent == 0
    assert obs.client == "libtorrent" and obs.extension is not None
    assert obs.extension.metadata_size == len(INFO)
    assert obs.peer_id == LT_ID and obs.infohash == V1.hex()
    assert not [q for q in obs.quirks if "bitfield" in q or "PW-04" in q]


def test_handshake_extension_handshake_and_request_in_one_segment() -> None:
    fetch, peer = new_fetch(), MetadataPeer(ask_us=True)
    converse(fetch, peer)
    assert fetch.result == INFO
    rejects = [
        extension.decode_metadata_message(m.payload)
        for m in peer.received
        if isinstance(m, pw.Extended) and m.ext_id == PEER_UT
    ]
    assert any(r.msg_type == extension.METADATA_REJECT and r.piece == 0 for r in rejects)  # never upload


def test_reject_is_not_final() -> None:
    fetch, peer = new_fetch(pipeline=1), MetadataPeer(rejects=2)
    converse(fetch, peer)
    assert fetch.outcome is MetadataOutcome.VERIFIED and fetch.result == INFO
    assert fetch.rejects == 2 and "PW-12 ut_metadata reject" in fetch.observation().quirks
    assert peer.requests == [0, 0, 0, 1, 2]


def test_too_many_rejects_end_the_fetch() -> None:
    fetch = new_fetch(max_rejects=3, pipeline=1)
    converse(fetch, MetadataPeer(rejects=100))
    obs = fetch.observation()
    assert fetch.outcome is MetadataOutcome.REJECTED and fetch.result is None
    assert obs.failure == Failure.REJECTED.value and obs.tier is Tier.CONNECTED


def test_no_metadata_size_asks_piece_zero_first() -> None:
    fetch, peer = new_fetch(), MetadataPeer(send_size=False)
    converse(fetch, peer, 1)
    assert fetch.result == INFO and peer.requests == [0, 1, 2]
    sent = [m for m in peer.received if isinstance(m, pw.Extended) and m.ext_id == PEER_UT]
    first = extension.decode_metadata_message(sent[0].payload)
    assert first.piece == 0 and fetch.observation().extension is not None


@pytest.mark.parametrize("chunk", [None, 1])
def test_lying_peer_is_never_accepted(chunk: int | None) -> None:
    lie = INFO.replace(b"x.bin", b"y.bin")
    fetch = new_fetch()
    converse(fetch, MetadataPeer(info=lie), chunk)
    obs = fetch.observation()
    assert fetch.result is None and fetch.outcome is MetadataOutcome.MISMATCH
    assert obs.failure == Failure.METADATA_MISMATCH.value and obs.tier is Tier.CONNECTED
    assert obs.failure_detail is not None and obs.failure_detail.startswith(MISMATCH_DETAIL)
    assert hashlib.sha1(lie).hexdigest() in obs.failure_detail


@pytest.mark.parametrize(
    ("v1", "v2", "wire", "ok"),
    [
        (None, V2, V2[:20], True),  # v2 magnet: SHA-256, truncated hash on the wire (BEP 52)
        (V1, V2, V1, True),  # hybrid: both must match
        (V1, hashlib.sha256(b"other").digest(), V1, False),  # hybrid whose v2 does not match
        (None, hashlib.sha256(b"other").digest(), hashlib.sha256(b"other").digest()[:20], False),
    ],
    ids=["v2", "hybrid", "hybrid-bad-v2", "v2-bad"],
)
def test_v2_and_hybrid_hashes(v1: bytes | None, v2: bytes | None, wire: bytes, ok: bool) -> None:
    fetch = new_fetch(v1, v2)
    assert fetch.session.infohash == wire
    converse(fetch, MetadataPeer(infohash=wire))
    assert (fetch.result == INFO) is ok and (fetch.result is None) is not ok
    assert fetch.outcome is (MetadataOutcome.VERIFIED if ok else MetadataOutcome.MISMATCH)


def test_oversize_metadata_size_is_refused_before_any_request() -> None:
    fetch, peer = new_fetch(max_size=1 << 20), MetadataPeer(size_override=(1 << 20) + 1)
    converse(fetch, peer)
    assert fetch.outcome is MetadataOutcome.OVERSIZE and peer.requests == []
    assert fetch.observation().failure == Failure.PROTOCOL_ERROR.value


def test_oversize_total_size_without_metadata_size_is_refused() -> None:
    fetch = new_fetch(max_size=1 << 20)
    peer = MetadataPeer(send_size=False, size_override=(1 << 20) + 1)
    converse(fetch, peer)
    assert fetch.outcome is MetadataOutcome.OVERSIZE and peer.requests == [0]


def test_peer_without_ut_metadata_or_extension_protocol() -> None:
    for peer in (MetadataPeer(offer=False), MetadataPeer(reserved=bytes(8))):
        fetch = new_fetch()
        converse(fetch, peer)
        obs = fetch.observation()
        assert fetch.outcome is MetadataOutcome.NO_METADATA and obs.failure == NO_METADATA_FAILURE.value
        assert obs.tier is Tier.CONNECTED and peer.requests == []


def test_wrong_infohash_and_not_bittorrent() -> None:
    fetch = new_fetch()
    converse(fetch, MetadataPeer(infohash=hashlib.sha1(b"other").digest()))
    obs = fetch.observation()
    assert obs.failure == Failure.INFOHASH_MISMATCH.value and obs.tier is Tier.LISTED
    assert obs.remote_infohash == hashlib.sha1(b"other").hexdigest()
    junk = new_fetch()
    junk.connected(0)
    junk.received(b"HTTP/1.1 400 Bad Request\r\n\r\n", 5)
    assert junk.done and junk.observation().failure == Failure.HANDSHAKE_INVALID.value


def test_total_size_that_changes_is_a_protocol_error() -> None:
    fetch = new_fetch(pipeline=1)
    fetch.connected(0)
    fetch.received(MetadataPeer().opening(), 1)
    data = extension.encode_metadata_data(0, len(INFO) + 1, INFO[:METADATA_PIECE_LEN])
    fetch.received(pw.encode_message(pw.Extended(UT_METADATA_ID, data)), 2)
    obs = fetch.observation()
    assert fetch.done and obs.failure == Failure.PROTOCOL_ERROR.value and fetch.result is None
    assert obs.failure_detail is not None and "metadata size" in obs.failure_detail


@pytest.mark.parametrize(
    ("feed", "failure"),
    [
        (b"", Failure.HANDSHAKE_TIMEOUT),
        (pw.Handshake(bytes.fromhex("0000000000100005"), V1, LT_ID).encode(), NO_METADATA_FAILURE),
        (MetadataPeer().opening(), Failure.PIECE_TIMEOUT),
    ],
    ids=["no-handshake", "no-extension-handshake", "no-data"],
)
def test_timeouts(feed: bytes, failure: Failure) -> None:
    fetch = new_fetch()
    fetch.connected(0)
    if feed:
        fetch.received(feed, 1)
    assert fetch.deadline_us is not None
    assert fetch.timer(fetch.deadline_us - 1) == b"" and not fetch.done  # early timer: nothing
    fetch.timer(fetch.deadline_us)
    assert fetch.done and fetch.observation().failure == failure.value


def test_closed_and_stopped() -> None:
    fetch = new_fetch()
    fetch.connected(0)
    fetch.closed(3, "closed by peer")
    assert fetch.observation().failure == Failure.CLOSED_BY_PEER.value and fetch.observation().ended_us == 3
    stopped = new_fetch()
    stopped.connected(0)
    stopped.received(MetadataPeer().opening(), 1)
    stopped.stop(9)
    obs = stopped.observation()
    assert obs.failure == Failure.DEADLINE.value and obs.tier is Tier.CONNECTED
    assert stopped.received(b"more", 10) == b""  # done: ignored


def test_needs_an_infohash() -> None:
    with pytest.raises(ValueError, match="infohash"):
        new_fetch(None, None)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=64))
def test_arbitrary_bytes_after_the_opening_never_raise(junk: bytes, step: int) -> None:
    fetch = new_fetch()
    fetch.connected(0)
    fetch.received(MetadataPeer().opening(), 1)
    stream = pw.encode_message(pw.Extended(UT_METADATA_ID, junk)) + junk
    for i in range(0, len(stream), step):
        fetch.received(stream[i : i + step], 2)
    assert fetch.result is None
