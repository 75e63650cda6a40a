"""Wire captures (pure): record a probe against scripted peers, replay it to the same canonical record.

Covers the format round trip, block lifting and dedupe, every driver event kind, tampering (sent bytes,
blocks, any single byte), and the decoder three ways (whole, every truncation, trailing bytes) plus the
hypothesis property "decodes or raises DecodeError — nothing else".
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.capture.format import (
    MAGIC,
    VERSION,
    CaptureEvent,
    CaptureHeader,
    EventKind,
    MseSecrets,
    encode_capture,
    lift_blocks,
)
from swarmscope.evidence.capture.recording import (
    Capture,
    CaptureRecorder,
    ReplayError,
    capture_header,
    replay,
)
from swarmscope.evidence.probe.block_table import BlockTable
from swarmscope.evidence.probe.encrypted import ResponderSecrets
from swarmscope.evidence.probe.policy import Depth, ProbePolicy
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import BlockProof, Failure, Observation, Tier
from swarmscope.wire import bencode
from tests.evidence.fakepeer import IH, FakePeer, Pieces, bitfield, ext_handshake, make_run

N = 10
ALL = set(range(N))


def recorded_converse(
    run: ProbeRun, peer: FakePeer, *, chunk: int | None = None, max_rounds: int = 200
) -> Capture:
    """fakepeer.converse with every driver call recorded (as ``net.capture_tap.TappedRun`` records)."""
    rec = CaptureRecorder(capture_header(run))
    now, mono = 2_000_000, 77
    out = run.connected(now)
    rec.event("connected", now, mono, sent=out)
    to_peer, to_probe = out, peer.handshake()
    for _ in range(max_rounds):
        if run.done:
            break
        to_probe += peer.feed(to_peer)
        to_peer = b""
        if not to_probe:
            break
        now, mono = now + 1000, mono + 999
        step = chunk or len(to_probe)
        parts = [to_probe[i : i + step] for i in range(0, len(to_probe), step)]
        to_probe = b""
        for part in parts:
            out = run.received(part, now)
            rec.event(EventKind.RECEIVED, now, mono, part, sent=out)
            to_peer += out
            if run.done:
                break
    if not run.done:  # the scripted peer went quiet: the timer ends it, as the driver would
        now = run.deadline_us or now
        rec.event("timer", now, mono + 5, sent=run.timer(now))
    if not run.done:
        run.closed(now + 1, "closed by peer")
        rec.event("closed", now + 1, mono + 6, detail="closed by peer")
    return rec.finish()


def live(capture: Capture, run: ProbeRun) -> Observation:
    return dataclasses.replace(run.observation(), capture_sha256=capture.sha256)


def seed_capture(seed: int = 3, chunk: int | None = None) -> tuple[Pieces, Capture, Observation]:
    pieces = Pieces(N)
    run = make_run(pieces, seed=seed)
    cap = recorded_converse(run, FakePeer(pieces, opening=ext_handshake() + bitfield(N, ALL)), chunk=chunk)
    return pieces, cap, live(cap, run)


@pytest.mark.parametrize("chunk", [None, 1, 7, 1000, 16397])
def test_seed_capture_replays_to_the_same_record(chunk: int | None) -> None:
    pieces, cap, obs = seed_capture(chunk=chunk)
    assert obs.tier is Tier.VERIFIED
    again = replay(cap.data, pieces, cap.blobs.get)
    assert canonical_bytes(again) == canonical_bytes(obs)
    assert again.capture_sha256 == hashlib.sha256(cap.data).digest() == cap.sha256
    blocks = [pieces.data[3][0:16384], pieces.data[3][16384:]]
    assert set(cap.blobs) == {hashlib.sha256(b).digest() for b in blocks}  # lifted, whatever the chunking
    if chunk is None or chunk > 1000:  # byte-by-byte delivery costs one event per byte (still compressed)
        assert len(cap.data) < 1500  # the 32 KiB of piece payload are referenced, not stored


def scenario_runs() -> dict[str, tuple[Pieces, ProbeRun, FakePeer]]:
    pieces = Pieces(N)
    full = bitfield(N, ALL)
    return {
        "corrupt": (pieces, make_run(pieces, seed=5), FakePeer(pieces, opening=full, corrupt=True)),
        "mismatch": (pieces, make_run(pieces), FakePeer(pieces, infohash=b"\x01" * 20)),
        "empty_leecher": (pieces, make_run(pieces), FakePeer(pieces)),
        "choked": (pieces, make_run(pieces), FakePeer(pieces, opening=full, unchoke_on_interested=False)),
        "rejected": (pieces, make_run(pieces), FakePeer(pieces, opening=full, reject_requests=True)),
        "has_pieces": (
            pieces,
            make_run(pieces, policy=ProbePolicy(depth=Depth.HAS_PIECES, claims_wait=1.25, pex_wait=0.5)),
            FakePeer(pieces, opening=bitfield(N, {1, 4})),
        ),
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(scenario_runs()))
def test_every_outcome_replays(name: str) -> None:
    pieces, run, peer = scenario_runs()[name]
    cap = recorded_converse(run, peer, chunk=5)
    obs = live(cap, run)
    assert canonical_bytes(replay(cap.data, pieces, cap.blobs.get)) == canonical_bytes(obs)


def test_connect_failed_and_stop_replay() -> None:
    pieces = Pieces(N)
    run = make_run(pieces)
    rec = CaptureRecorder(capture_header(run))
    run.connect_failed(5, Failure.CONNECT_REFUSED, "Connection refused")
    rec.event("connect_failed", 5, 1, failure="connect_refused", detail="Connection refused")
    cap = rec.finish()
    assert replay(cap.data, pieces, cap.blobs.get) == live(cap, run)
    run2 = make_run(pieces)
    rec2 = CaptureRecorder(capture_header(run2))
    rec2.event("connected", 9, 1, sent=run2.connected(9))
    run2.stop(10)
    rec2.event(EventKind.STOP, 10, 2)
    cap2 = rec2.finish()
    obs2 = replay(cap2.data, pieces, cap2.blobs.get)
    assert obs2 == live(cap2, run2) and obs2.failure == "deadline"


def test_blocks_dedupe_across_peers_and_missing_or_wrong_blocks_fail() -> None:
    pieces, cap_a, _ = seed_capture(seed=3)
    _, cap_b, _ = seed_capture(seed=3, chunk=999)
    assert cap_a.blobs == cap_b.blobs and cap_a.data != cap_b.data
    missing = sorted(cap_a.blobs)[0]
    with pytest.raises(ReplayError, match=missing.hex()):
        replay(cap_a.data, pieces, lambda h: None if h == missing else cap_a.blobs[h])
    with pytest.raises(ReplayError, match=missing.hex()):
        replay(cap_a.data, pieces, lambda h: b"x" * 16384 if h == missing else cap_a.blobs[h])


def test_different_sent_bytes_name_the_event() -> None:
    pieces, cap, _ = seed_capture()
    doc = decode_capture(cap.data)
    stream = b"".join(pieces_of(cap))
    events, pos = [], 0
    for i, (e, n_in, n_out) in enumerate(
        zip(doc.events, doc.received_lengths, doc.sent_lengths, strict=True)
    ):
        data = stream[pos : pos + n_in]
        pos += n_in
        sent = doc.sent[sum(doc.sent_lengths[:i]) :][:n_out]
        if i == 2 and sent:
            sent = sent[:-1] + bytes([sent[-1] ^ 1])
        events.append(dataclasses.replace(e, data=data, sent=sent))
    forged = encode_capture(doc.header, events, [stream])
    with pytest.raises(ReplayError, match="event 2"):
        replay(forged, pieces, cap.blobs.get)


def pieces_of(cap: Capture) -> list[bytes]:
    doc = decode_capture(cap.data)
    return [s if isinstance(s, bytes) else cap.blobs[s[0]] for s in doc.received]


def test_every_single_byte_flip_is_refused() -> None:
    pieces, cap, _ = seed_capture()
    for i in range(len(cap.data)):
        bad = bytearray(cap.data)
        bad[i] ^= 0x01
        with pytest.raises((DecodeError, ReplayError)):
            replay(bytes(bad), pieces, cap.blobs.get)


def test_header_round_trips_every_field() -> None:
    policy = ProbePolicy(depth=Depth.HAS_PIECES, pipeline_blocks=3, claims_wait=0.1, pex_wait=2.5)
    header = CaptureHeader(
        swarm="ab" * 20,
        wire_infohash=IH,
        peer_id=b"-SS0100-xxxxxxxxxxxx",
        ip="::1",
        port=51413,
        source="inbound",
        started_us=-5,
        policy=policy,
        piece_seed=123456789012,
        extension_handshake=b"d1:md6:ut_pexi1eee",
        inbound=True,
        pex_id=1,
        block_candidates=(BlockProof(2, 16384, 16384, b"\x07" * 32),),
        mse=MseSecrets(b"k" * 20, b"p" * 300, 3),
    )
    events = [CaptureEvent(EventKind.PAYLOAD, 1, 2, sent=b"abc")]
    assert decode_capture(encode_capture(header, events, [])).header == header
    inbound = dataclasses.replace(header, mse=None, mse_responder=ResponderSecrets(b"r" * 20, b"", 2, 2))
    assert decode_capture(encode_capture(inbound, events, [])).header == inbound
    both = dataclasses.replace(inbound, mse=header.mse)
    with pytest.raises(DecodeError, match="both"):
        decode_capture(encode_capture(both, events, []))
    assert [f.name for f in dataclasses.fields(ProbePolicy)]  # every field is serialised generically


def test_decoder_three_ways() -> None:
    _, cap, _ = seed_capture()
    doc = decode_capture(cap.data)
    assert len(doc.events) > 3 and doc.header.swarm == IH.hex()
    for cut in range(len(cap.data)):
        with pytest.raises(DecodeError):
            decode_capture(cap.data[:cut])
    for tail in (b"\x00", b"x" * 50):
        with pytest.raises(DecodeError, match="CRC"):
            decode_capture(cap.data + tail)
        with pytest.raises(DecodeError, match="trailing"):  # extra bytes inside a consistent frame
            decode_capture(framed(cap.data[7:-4] + tail))


def framed(deflated: bytes) -> bytes:
    """Magic, version, the given zlib bytes and a correct CRC-32 (to reach the checks past the CRC)."""
    out = MAGIC + bytes([VERSION]) + deflated
    return out + zlib.crc32(out).to_bytes(4, "big")


BAD_BODIES = [
    (b"not bencode", "bencode"),
    (bencode.encode({b"h": {}, b"e": [], b"i": [], b"o": b""}), "header lacks"),
    (b"d1:hdee", "exactly"),
]


@pytest.mark.parametrize(("body", "why"), BAD_BODIES)
def test_bad_bodies_are_named(body: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode_capture(framed(zlib.compress(body)))


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        (b"e", 0, "events is not a list"),
        (b"o", b"x", "sent stream has 1 bytes"),
        (b"i", [b"x"], "received stream has"),
        (b"i", [[b"x" * 31, 5]], r"received\[0\].sha256 has 31 bytes"),
    ],
)
def test_bad_parts_of_a_real_capture_are_named(key: bytes, value: object, why: str) -> None:
    _, cap, _ = seed_capture()
    body = bencode.decode(zlib.decompress(cap.data[7:-4]))
    body[key] = value
    with pytest.raises(DecodeError, match=why):
        decode_capture(framed(zlib.compress(bencode.encode(body))))


def test_bad_magic_version_and_bomb() -> None:
    with pytest.raises(DecodeError, match="magic"):
        decode_capture(b"PCAP" + b"\x00" * 20)
    with pytest.raises(DecodeError, match="version"):
        decode_capture(MAGIC + b"\x02" + zlib.compress(b"de"))
    with pytest.raises(DecodeError, match="larger"):
        decode_capture(framed(zlib.compress(b"\x00" * (257 << 20), 9)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_decode_property_raw(data: bytes) -> None:
    for blob in (data, framed(data), framed(zlib.compress(data))):
        with contextlib.suppress(DecodeError):
            decode_capture(blob)


bencode_values = st.recursive(
    st.integers(-(2**40), 2**40) | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=3), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_replay_property_mutated_structures(data: st.DataObject) -> None:
    """A valid body with one part replaced by arbitrary bencode: replays, or DecodeError/ReplayError."""
    pieces, cap, _ = seed_capture()
    body = bencode.decode(zlib.decompress(cap.data[7:-4]))
    key = data.draw(st.sampled_from([b"h", b"e", b"i", b"o"]))
    if key == b"e" and body[b"e"]:
        idx = data.draw(st.integers(0, len(body[b"e"]) - 1))
        body[b"e"][idx] = data.draw(st.lists(st.integers(-3, 2**20), min_size=3, max_size=6))
    elif key == b"h":
        field = data.draw(st.sampled_from(sorted(body[b"h"])))
        body[b"h"][field] = data.draw(bencode_values)
    else:
        body[key] = data.draw(bencode_values)
    with contextlib.suppress(DecodeError, ReplayError):
        replay(framed(zlib.compress(bencode.encode(body))), pieces, cap.blobs.get)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.integers(0, 3))
def test_lift_blocks_is_lossless(noise: bytes, pieces_in: int) -> None:
    frames = b"".join(
        (9 + 100 + k).to_bytes(4, "big") + b"\x07" + bytes(8) + bytes([k]) * (100 + k)
        for k in range(pieces_in)
    )
    stream = b"\x13" + bytes(67) + frames + noise
    segments, blobs = lift_blocks(stream)
    assert b"".join(s if isinstance(s, bytes) else blobs[s[0]] for s in segments) == stream
    assert len(blobs) >= pieces_in


@pytest.mark.parametrize("corrupt", [False, True])
def test_block_mode_probe_replays_with_its_candidates(corrupt: bool) -> None:
    pieces = Pieces(N)
    table = BlockTable()
    for i in ALL:
        table.add_piece(i, pieces.data[i])
    candidates = table.candidates(seed=11, count=3)
    run = make_run(pieces, seed=2, block_candidates=candidates)
    cap = recorded_converse(run, FakePeer(pieces, opening=bitfield(N, ALL), corrupt=corrupt))
    obs = live(cap, run)
    assert (obs.tier is Tier.VERIFIED) is not corrupt and (bool(obs.failed_blocks) is corrupt)
    header = decode_capture(cap.data).header
    assert isinstance(header, CaptureHeader) and header.block_candidates == candidates
    assert canonical_bytes(replay(cap.data, pieces, cap.blobs.get)) == canonical_bytes(obs)
