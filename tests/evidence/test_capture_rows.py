"""The capture recorder keeps each event in its encoded form: the same capture bytes as before.

The recorder no longer builds a ``CaptureEvent`` per driver call; it appends the event's ``e`` list
(``format.event_row``) and the bytes the run returned. These tests pin that the capture bytes did not move:
a fixed capture's SHA-256 as the recorder of ``CaptureEvent`` objects wrote it, the same bytes as
``encode_capture`` over the equivalent events for every event kind, and the observation's
``capture_sha256`` set in its one construction equal to the copied record it replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.capture.format import (
    CaptureEvent,
    CaptureHeader,
    EventKind,
    encode_capture,
    lift_blocks,
)
from swarmscope.evidence.capture.recording import (
    CaptureRecorder,
    capture_header,
    captured_observation,
    verified_blocks,
)
from swarmscope.evidence.probe.block_table import BlockTable
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.records import BlockProof
from tests.evidence.fakepeer import FakePeer, Pieces, bitfield, converse, ext_handshake, make_run

HEADER = CaptureHeader(
    swarm="ab" * 20, wire_infohash=bytes(range(20)), peer_id=b"-SS0001-" + bytes(12), ip="127.1.0.7",
    port=6881, source="tracker", started_us=1_700_000_000_000_000, policy=ProbePolicy(), piece_seed=77,
    extension_handshake=b"d1:md6:ut_pexi1eee", pex_id=1,
    block_candidates=(BlockProof(piece=3, begin=0, length=16384, sha256=bytes(range(32))),),
)  # fmt: skip
BLOCK = bytes(range(256)) * 64  # one 16 KiB block
PIECE_MSG = (9 + len(BLOCK)).to_bytes(4, "big") + b"\x07" + (3).to_bytes(4, "big") + bytes(4) + BLOCK
HANDSHAKE = b"\x13BitTorrent protocol" + bytes(48)
REQUEST = b"\x00\x00\x00\x0d\x06" + bytes(12)
T, M = 1_700_000_000_000_000, 5_000_000
# every event kind, with and without bytes returned: (kind, utc, mono, data, sent, detail, failure)
EVENTS = [
    (EventKind.CONNECTED, T + 10, M + 10, b"", HANDSHAKE, None, None),
    (EventKind.RECEIVED, T + 20, M + 20, HANDSHAKE, b"", None, None),
    (EventKind.RECEIVED, T + 30, M + 30, b"\x00\x00\x00\x01\x01", REQUEST, None, None),
    (EventKind.RECEIVED, T + 40, M + 40, PIECE_MSG, b"", None, None),
    (EventKind.TIMER, T + 50, M + 50, b"", b"\x00\x00\x00\x00", None, None),
    (EventKind.PAYLOAD, T + 55, M + 55, b"", b"", None, None),
    (EventKind.ACCEPTED, T + 56, M + 56, b"", b"", None, None),
    (EventKind.CLOSED, T + 60, M + 60, b"", b"", "closed by peer", None),
    (EventKind.CONNECT_FAILED, T + 61, M + 61, b"", b"", None, "connect_refused"),
    (EventKind.STOP, T + 70, M + 70, b"", b"", None, None),
]  # fmt: skip
# SHA-256 of this capture as written by the recorder that kept CaptureEvent objects (main at 47d49b2)
PINNED_SHA256 = "e51b51548b786632d7dc0140a7d93d7dec2c47c5d04000fd84810fa89e6a25ee"


def _recorded() -> CaptureRecorder:
    rec = CaptureRecorder(HEADER)
    for kind, utc, mono, data, sent, detail, failure in EVENTS:
        if kind is EventKind.ACCEPTED:
            continue  # not in the pinned capture (kept for the encode_capture comparison below)
        rec.event(kind.name.lower() if kind is EventKind.TIMER else kind, utc, mono, data, sent=sent,
                  detail=detail, failure=failure)  # fmt: skip
    return rec


def test_a_fixed_capture_keeps_its_bytes() -> None:
    cap = _recorded().finish()
    assert cap.sha256.hex() == PINNED_SHA256 == hashlib.sha256(cap.data).hexdigest()
    assert list(cap.blobs) == [hashlib.sha256(BLOCK).digest()]


def test_the_recorder_writes_what_encode_capture_writes_for_every_event_kind() -> None:
    rec = CaptureRecorder(HEADER)
    events = []
    for kind, utc, mono, data, sent, detail, failure in EVENTS:
        rec.event(kind, utc, mono, data, sent=sent, detail=detail, failure=failure)
        events.append(CaptureEvent(kind, utc, mono, data, sent, detail, failure))
    segments, _ = lift_blocks(b"".join(e.data for e in events))
    assert rec.finish().data == encode_capture(HEADER, events, segments)


def test_the_observation_gets_its_capture_hash_in_one_construction() -> None:
    pieces = Pieces(10)
    run = make_run(pieces, seed=3)
    rec = CaptureRecorder(capture_header(run))
    converse(run, FakePeer(pieces, opening=ext_handshake() + bitfield(10, set(range(10)))))
    digest = hashlib.sha256(b"capture").digest()
    once = captured_observation(run, digest)
    copied = dataclasses.replace(run.observation(), capture_sha256=digest)
    assert once == copied and canonical_bytes(once) == canonical_bytes(copied)
    assert once.capture_sha256 == digest and rec.capture is None


def test_known_blocks_lift_under_the_same_digests_and_only_when_equal() -> None:
    other = bytes(reversed(BLOCK))  # same length, other bytes: must be hashed, never take a known digest
    stream = HANDSHAKE + PIECE_MSG + PIECE_MSG[:13] + other + b"\x00\x00\x00\x00"
    plain = lift_blocks(stream)
    wrong_length = (hashlib.sha256(b"x").digest(), BLOCK[:-1])
    assert lift_blocks(stream, [(hashlib.sha256(BLOCK).digest(), BLOCK)]) == plain
    assert lift_blocks(stream, [wrong_length]) == plain
    assert set(plain[1]) == {hashlib.sha256(BLOCK).digest(), hashlib.sha256(other).digest()}


@pytest.mark.parametrize("corrupt", [False, True])
def test_a_block_probe_captures_the_same_bytes_with_its_verified_blocks(corrupt: bool) -> None:
    pieces = Pieces(10)
    table = BlockTable()
    for i in range(10):
        table.add_piece(i, pieces.data[i])
    run = make_run(pieces, seed=2, block_candidates=table.candidates(seed=11, count=3))
    recorders = [CaptureRecorder(capture_header(run)), CaptureRecorder(capture_header(run))]
    now = 2_000_000
    out = run.connected(now)
    for rec in recorders:
        rec.event(EventKind.CONNECTED, now, 1, sent=out)
    peer = FakePeer(pieces, opening=bitfield(10, set(range(10))), corrupt=corrupt)
    to_peer, to_probe = out, peer.handshake()
    for _ in range(50):  # as fakepeer.converse, each chunk recorded twice
        to_probe += peer.feed(to_peer)
        if run.done or not to_probe:
            break
        now += 1000
        to_peer = run.received(to_probe, now)
        for rec in recorders:
            rec.event(EventKind.RECEIVED, now, 2, to_probe, sent=to_peer)
        to_probe = b""
    known = verified_blocks(run)
    assert bool(known) is not corrupt and run.done
    assert all(hashlib.sha256(block).digest() == digest for digest, block in known)
    with_known, hashed = recorders[0].finish(known), recorders[1].finish()
    assert with_known == hashed and with_known.blobs  # data, SHA-256 and blobs alike
