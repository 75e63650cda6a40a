"""The pure probe state machine against scripted peers: every tier, every failure, the interop rows about
the peer wire (PW-01, PW-03, PW-04, PW-06, PW-07, PW-08, PW-15) and the no-upload guarantee."""

from __future__ import annotations

import pytest

from swarmscope.evidence.probe.policy import Depth, ProbePolicy
from swarmscope.evidence.records import Failure, Tier
from swarmscope.wire import peer as pw
from tests.evidence.fakepeer import (
    IH,
    FakePeer,
    Pieces,
    bitfield,
    converse,
    ext_handshake,
    make_run,
    sent_messages,
)

N = 10
ALL = set(range(N))


def assert_never_uploads(sent: list[bytes]) -> None:
    """We never send piece data, never unchoke anyone and never claim a piece."""
    for msg in sent_messages(sent):
        assert not isinstance(msg, pw.Piece)
        assert msg != pw.Simple(pw.UNCHOKE)
        assert msg != pw.Simple(pw.HAVE_ALL)
        if isinstance(msg, pw.Bitfield):
            assert not any(msg.bits)
        assert not (isinstance(msg, pw.Have) and msg.msg_id == pw.HAVE)


def test_seed_is_verified() -> None:
    pieces = Pieces(N)
    peer = FakePeer(pieces, opening=ext_handshake() + bitfield(N, ALL))
    run = make_run(pieces, seed=3)
    sent = converse(run, peer)
    obs = run.observation()
    assert run.done
    assert obs.tier is Tier.VERIFIED and obs.failure is None
    assert obs.verified_pieces == (3,) and obs.failed_pieces == ()
    assert obs.bytes_received == pieces.piece_size(3)
    assert obs.completion == 1.0 and obs.pieces_have == N
    assert (obs.client, obs.client_version) == ("libtorrent", "2.1.1.0")
    assert obs.extension is not None and obs.extension.yourip == "127.0.0.1"
    assert obs.extension.m == {"ut_metadata": 2, "ut_pex": 1} and obs.extension.metadata_size == 1234
    assert obs.peer_id == peer.peer_id and obs.reserved == peer.reserved
    assert obs.payload_bytes_sent == 0
    assert obs.wire_bytes_out == sum(len(s) for s in sent)
    assert_never_uploads(sent)
    msgs = sent_messages(sent)
    assert msgs[0] == pw.Simple(pw.HAVE_NONE)  # BEP 6: fast peers get one of bitfield/have_all/have_none
    assert isinstance(msgs[1], pw.Extended) and msgs[1].ext_id == 0
    assert msgs[2] == pw.Simple(pw.INTERESTED)


def test_last_short_piece_and_multi_block_piece() -> None:
    pieces = Pieces(N, last=5000)
    peer = FakePeer(pieces, opening=bitfield(N, {N - 1}))
    run = make_run(pieces)
    converse(run, peer)
    assert run.observation().verified_pieces == (N - 1,)
    assert peer.requests_seen == [(N - 1, 0, 5000)]
    pieces2 = Pieces(N)
    peer2 = FakePeer(pieces2, opening=bitfield(N, {0}))
    run2 = make_run(pieces2)
    converse(run2, peer2)
    assert peer2.requests_seen == [(0, 0, 16384), (0, 16384, 16384)]
    assert run2.observation().tier is Tier.VERIFIED


def test_corrupt_peer_is_never_verified() -> None:
    pieces = Pieces(N)
    peer = FakePeer(pieces, opening=bitfield(N, ALL), corrupt=True)
    run = make_run(pieces, seed=5)
    converse(run, peer)
    obs = run.observation()
    assert obs.tier is Tier.HAS_PIECES
    assert obs.failure == Failure.HASH_MISMATCH.value
    assert obs.failed_pieces == (5, 6) and obs.verified_pieces == ()
    assert obs.bytes_received == 2 * pieces.piece_size(5)


def test_empty_leecher_sending_nothing() -> None:
    """PW-03: an empty leecher may send no bitfield at all; the claims timer concludes 'no pieces'."""
    pieces = Pieces(N)
    peer = FakePeer(pieces, reserved=bytes(8))
    run = make_run(pieces)
    sent = converse(run, peer)
    assert not run.done and run.deadline_us is not None
    run.timer(run.deadline_us)
    obs = run.observation()
    assert run.done and obs.tier is Tier.CONNECTED
    assert obs.failure == Failure.NO_PIECES.value and obs.completion == 0.0 and obs.bitfield is None
    assert any("PW-03" in q for q in obs.quirks)
    assert sent_messages(sent) == [pw.Simple(pw.INTERESTED)]  # no fast: no have_none, no ext handshake


def test_have_none_then_timer() -> None:
    pieces = Pieces(N)
    run = make_run(pieces)
    converse(run, FakePeer(pieces, opening=pw.encode_message(pw.Simple(pw.HAVE_NONE))))
    assert run.deadline_us is not None
    run.timer(run.deadline_us)
    obs = run.observation()
    assert obs.tier is Tier.CONNECTED and obs.completion == 0.0 and obs.bitfield == bytes(2)


def test_have_after_have_none_makes_a_partial_peer() -> None:
    pieces = Pieces(N)
    opening = pw.encode_message(pw.Simple(pw.HAVE_NONE)) + pw.encode_message(pw.Have(pw.HAVE, 4))
    run = make_run(pieces)
    converse(run, FakePeer(pieces, opening=opening))
    obs = run.observation()
    assert obs.tier is Tier.VERIFIED and obs.verified_pieces == (4,) and obs.completion == 0.1


def test_infohash_mismatch_is_recorded_and_not_connected() -> None:
    pieces = Pieces(N)
    other = bytes(20)
    run = make_run(pieces)
    converse(run, FakePeer(pieces, infohash=other, opening=bitfield(N, ALL)))
    obs = run.observation()
    assert obs.tier is Tier.LISTED
    assert obs.failure == Failure.INFOHASH_MISMATCH.value and obs.remote_infohash == other.hex()
    assert obs.completion is None


def test_never_unchoked() -> None:
    pieces = Pieces(N)
    run = make_run(pieces)
    converse(run, FakePeer(pieces, opening=bitfield(N, ALL), unchoke_on_interested=False))
    assert run.deadline_us is not None
    run.timer(run.deadline_us)
    obs = run.observation()
    assert obs.tier is Tier.HAS_PIECES and obs.failure == Failure.CHOKED.value


def test_allowed_fast_piece_while_choked() -> None:
    """BEP 6: a piece in the allowed-fast set can be requested while choked."""
    pieces = Pieces(N)
    opening = bitfield(N, ALL) + pw.encode_message(pw.Have(pw.ALLOWED_FAST, 8))
    run = make_run(pieces)
    converse(run, FakePeer(pieces, opening=opening, unchoke_on_interested=False))
    obs = run.observation()
    assert obs.tier is Tier.VERIFIED and obs.verified_pieces == (8,)


def test_rejected_requests() -> None:
    pieces = Pieces(N)
    run = make_run(pieces, ProbePolicy(max_rejected_pieces=2))
    peer = FakePeer(pieces, opening=bitfield(N, ALL), reject_requests=True)
    converse(run, peer)
    obs = run.observation()
    assert obs.tier is Tier.HAS_PIECES and obs.failure == Failure.REJECTED.value
    assert len({r[0] for r in peer.requests_seen}) == 2


@pytest.mark.parametrize("chunk", [1, 3, 67, 69, 1000])
def test_any_segmentation_gives_the_same_observation(chunk: int) -> None:
    """PW-07: handshake and following messages in one segment, or split anywhere."""
    pieces = Pieces(N)
    whole = make_run(pieces)
    converse(whole, FakePeer(pieces, opening=bitfield(N, ALL) + ext_handshake()))
    split = make_run(pieces)
    converse(split, FakePeer(pieces, opening=bitfield(N, ALL) + ext_handshake()), chunk=chunk)
    a, b = whole.observation(), split.observation()
    assert (a.tier, a.verified_pieces, a.completion, a.client, a.wire_bytes_in) == (
        b.tier,
        b.verified_pieces,
        b.completion,
        b.client,
        b.wire_bytes_in,
    )


def test_spare_bits_are_masked() -> None:
    """PW-01: bits past num_pieces are cleared, recorded as a quirk, and the peer is still probed."""
    pieces = Pieces(N)
    run = make_run(pieces)
    converse(run, FakePeer(pieces, opening=bitfield(N, {1, 2}, spare=True)))
    obs = run.observation()
    assert obs.pieces_have == 2 and obs.completion == 0.2
    assert any("PW-01" in q for q in obs.quirks) and obs.tier is Tier.VERIFIED


def test_have_all_then_bitfield_replaces_state() -> None:
    """PW-03: a later bitfield replaces an earlier have_all."""
    pieces = Pieces(N)
    opening = pw.encode_message(pw.Simple(pw.HAVE_ALL)) + bitfield(N, {7})
    run = make_run(pieces, ProbePolicy(depth=Depth.HAS_PIECES))
    peer = FakePeer(pieces, opening=opening)
    converse(run, peer)
    # depth has_pieces stops at the first claim, but the snapshot is the last one in the segment
    assert run.done and run.observation().pieces_have == 1
    run2 = make_run(pieces)
    converse(run2, FakePeer(pieces, opening=opening))
    obs = run2.observation()
    assert obs.pieces_have == 1 and obs.verified_pieces == (7,)
    assert any("PW-03" in q for q in obs.quirks)


def test_have_out_of_range_is_a_quirk_not_a_crash() -> None:
    """PW-04."""
    pieces = Pieces(N)
    opening = bitfield(N, {0}) + pw.encode_message(pw.Have(pw.HAVE, 0xFFFFFFFF))
    run = make_run(pieces)
    converse(run, FakePeer(pieces, opening=opening))
    obs = run.observation()
    assert obs.tier is Tier.VERIFIED and any("PW-04" in q for q in obs.quirks)


def test_extension_handshake_before_bitfield_and_keepalives() -> None:
    """PW-08 and PW-06: extended handshake first, keep-alives before the bitfield."""
    pieces = Pieces(N)
    opening = ext_handshake() + b"\x00\x00\x00\x00" * 2 + bitfield(N, ALL)
    run = make_run(pieces)
    converse(run, FakePeer(pieces, opening=opening))
    obs = run.observation()
    assert obs.tier is Tier.VERIFIED and obs.client == "libtorrent"


def test_oversized_message_is_a_protocol_error() -> None:
    """PW-06: a hostile length prefix ends the probe with a precise reason."""
    pieces = Pieces(N)
    run = make_run(pieces)
    converse(run, FakePeer(pieces, opening=b"\xff\xff\xff\xf0"))
    obs = run.observation()
    assert obs.tier is Tier.CONNECTED and obs.failure == Failure.PROTOCOL_ERROR.value
    assert "exceeds" in (obs.failure_detail or "")


def test_not_bittorrent_at_all() -> None:
    pieces = Pieces(N)
    run = make_run(pieces)
    run.connected(0)
    run.received(b"HTTP/1.1 400 Bad Request\r\n", 1)
    obs = run.observation()
    assert run.done and obs.failure == Failure.HANDSHAKE_INVALID.value and obs.tier is Tier.LISTED


def test_requests_to_us_are_rejected_with_fast_and_ignored_without() -> None:
    pieces = Pieces(N)
    request = pw.encode_request(0, 0, 16384)
    run = make_run(pieces, ProbePolicy(depth=Depth.CONNECTED))
    run.connected(0)
    run.received(FakePeer(pieces).handshake(), 1)  # depth=connected: done after the handshake
    assert run.done
    run = make_run(pieces)
    run.connected(0)
    run.received(FakePeer(pieces).handshake(), 1)
    out = run.received(request, 2)
    assert out == pw.encode_reject(0, 0, 16384)
    run = make_run(pieces)
    run.connected(0)
    run.received(FakePeer(pieces, reserved=bytes(8)).handshake(), 1)
    assert run.received(request, 2) == b""


def test_choke_during_download_rerequests_after_unchoke() -> None:
    """BEP 3: a choke drops outstanding requests (no fast extension); we ask again after unchoke."""
    pieces = Pieces(N)
    run = make_run(pieces)
    run.connected(0)
    hs = FakePeer(pieces, reserved=bytes.fromhex("0000000000100000")).handshake()
    run.received(hs + bitfield(N, {0}), 1)
    out = run.received(pw.encode_message(pw.Simple(pw.UNCHOKE)), 2)
    assert out.count(b"\x00\x00\x00\x0d\x06") == 2  # both blocks of piece 0
    block0 = pieces.data[0][:16384]
    run.received(pw.encode_message(pw.Piece(0, 0, block0)), 3)
    run.received(pw.encode_message(pw.Simple(pw.CHOKE)), 4)
    out = run.received(pw.encode_message(pw.Simple(pw.UNCHOKE)) + pw.encode_message(pw.Simple(pw.UNCHOKE)), 5)
    assert out == pw.encode_request(0, 16384, 16384)
    run.received(pw.encode_message(pw.Piece(0, 16384, pieces.data[0][16384:])), 6)
    obs = run.observation()
    assert obs.tier is Tier.VERIFIED and any("PW-15" in q for q in obs.quirks)


def test_peer_closing_and_monitor_stop() -> None:
    pieces = Pieces(N)
    run = make_run(pieces)
    run.connected(0)
    run.received(FakePeer(pieces).handshake() + bitfield(N, ALL), 1)
    run.closed(2, "reset")
    obs = run.observation()
    assert obs.failure == Failure.CLOSED_BY_PEER.value and obs.tier is Tier.HAS_PIECES and obs.ended_us == 2
    run = make_run(pieces)
    run.connected(0)
    run.stop(5)
    assert run.observation().failure == Failure.DEADLINE.value
    assert IH.hex() == run.observation().infohash


def test_explicit_empty_claim_ends_the_probe_without_waiting() -> None:
    """have_none / an all-zero bitfield is a definite answer: no claims_wait (it would cap the probe rate)."""
    pieces = Pieces(N)
    run = make_run(pieces)
    converse(run, FakePeer(pieces, opening=ext_handshake() + bitfield(N, set())))
    obs = run.observation()
    assert run.done and obs.tier is Tier.CONNECTED and obs.failure == Failure.NO_PIECES.value
    assert obs.completion == 0.0 and obs.client == "libtorrent" and obs.ended_us < 3_000_000
    run = make_run(pieces)
    converse(run, FakePeer(pieces, reserved=bytes(8), opening=bitfield(N, set())))
    assert run.done and run.observation().failure == Failure.NO_PIECES.value


def test_empty_claim_waits_briefly_for_the_extension_handshake() -> None:
    pieces = Pieces(N)
    run = make_run(pieces, ProbePolicy(ext_grace=0.5, claims_wait=3.0))
    run.connected(0)
    run.received(FakePeer(pieces).handshake() + pw.encode_message(pw.Simple(pw.HAVE_NONE)), 1_000)
    assert not run.done and run.deadline_us == 1_000 + 500_000
    run.received(ext_handshake(), 2_000)
    obs = run.observation()
    assert run.done and obs.client == "libtorrent" and obs.ended_us == 2_000


def test_inbound_probe_answers_the_peers_handshake() -> None:
    """A peer that dialled us sends its handshake first; we answer with ours, then probe as usual."""
    pieces = Pieces(N)
    run = make_run(pieces)
    assert run.accepted(0) == b"" and not run.done
    peer = FakePeer(pieces, opening=bitfield(N, ALL))
    out = run.received(peer.handshake(), 1_000)
    assert out[:20] == pw.PROTOCOL_STRING and out[28:48] == IH
    reply = peer.feed(out)  # the peer reads our handshake, then interested → unchoke
    for _ in range(10):
        if run.done or not reply:
            break
        out = run.received(reply, 2_000)
        reply = peer.feed(out)
    obs = run.observation()
    assert obs.tier is Tier.VERIFIED and obs.verified_pieces


def test_pex_is_collected_while_lingering_after_the_outcome() -> None:
    """BEP 11: with pex_wait, the probe stays until the peer's first ut_pex message (PW-13 tolerant)."""
    from swarmscope.wire import bencode
    from swarmscope.wire.pex import encode_pex
    from swarmscope.wire.types import Endpoint

    pieces = Pieces(N)
    run = make_run(pieces, ProbePolicy(pex_wait=1.0))
    run.pex_id = 1
    converse(run, FakePeer(pieces, opening=ext_handshake() + bitfield(N, ALL)))
    assert run.observation().tier is Tier.VERIFIED
    assert not run.done and run.deadline_us is not None  # lingering for PEX
    payload = encode_pex(added=[Endpoint("127.0.9.1", 6881), Endpoint("127.0.9.2", 51413)])
    run.received(pw.encode_message(pw.Extended(1, payload)), 3_000_000)
    assert run.done and run.observation().failure is None
    assert [e.host for m in run.pex for e in m.added] == ["127.0.9.1", "127.0.9.2"]
    assert bencode.decode(payload)  # a real bencoded dict went over the wire
    # without PEX arriving the linger ends at its deadline with the same outcome
    run2 = make_run(pieces, ProbePolicy(pex_wait=1.0))
    run2.pex_id = 1
    converse(run2, FakePeer(pieces, opening=ext_handshake() + bitfield(N, ALL)))
    assert run2.deadline_us is not None
    run2.timer(run2.deadline_us)
    assert run2.done and run2.observation().tier is Tier.VERIFIED and run2.pex == []


def test_peer_closing_right_after_the_handshake_is_not_called_empty() -> None:
    """Review finding: only an explicit empty claim is `no_pieces`; a close before any claim is a close."""
    pieces = Pieces(N)
    run = make_run(pieces)
    run.connected(0)
    run.received(FakePeer(pieces).handshake(), 1)
    run.closed(2, "closed by peer")
    obs = run.observation()
    assert obs.failure == Failure.CLOSED_BY_PEER.value and obs.tier is Tier.CONNECTED


def test_have_none_precedes_rejects_of_requests_in_the_same_segment() -> None:
    """BEP 6: have_all/have_none/bitfield comes right after the handshake, before anything else we send."""
    pieces = Pieces(N)
    run = make_run(pieces)
    run.connected(0)
    out = run.received(FakePeer(pieces).handshake() + pw.encode_request(0, 0, 16384) * 3, 1)
    msgs = [pw.decode_message(b) for b in pw.MessageFramer().feed(out)]
    assert msgs[0] == pw.Simple(pw.HAVE_NONE)
    assert msgs[-3:] == [pw.BlockRef(pw.REJECT, 0, 0, 16384)] * 3


def test_a_flood_besides_requested_blocks_ends_the_probe_at_the_cap() -> None:
    """A peer that floods `request`s (each answered by a reject) ends with protocol_error at the cap;
    the blocks we requested do not count against it, so a 64 KiB cap still verifies a 32 KiB piece."""
    pieces = Pieces()
    policy = ProbePolicy(max_overhead_bytes=64 * 1024)
    run = make_run(pieces, policy)
    run.connected(1_000_000)
    run.received(FakePeer(pieces).handshake(), 1_000_100)
    flood = pw.encode_request(0, 0, 16384) * 1024  # 17 KiB a chunk
    for step in range(8):
        run.received(flood, 1_000_200 + step)
        if run.done:
            break
    obs = run.observation()
    assert obs.failure == "protocol_error" and "besides requested blocks" in (obs.failure_detail or ""), obs
    assert obs.wire_bytes_in <= 64 * 1024 + 2 * len(flood)

    honest = make_run(pieces, policy)
    converse(honest, FakePeer(pieces, opening=bitfield(10, set(range(10))) + ext_handshake()))
    assert honest.observation().tier is Tier.VERIFIED and honest.observation().bytes_received >= 32 * 1024


def test_blocks_trickling_in_cannot_outlast_download_timeout() -> None:
    """Each block moves the piece_timeout deadline, but never past download_timeout from our first request."""
    pieces = Pieces()
    run = make_run(pieces, ProbePolicy(piece_timeout=1.0, download_timeout=1.5))
    run.connected(1_000_000)
    opening = FakePeer(pieces).handshake() + pw.encode_message(pw.Simple(pw.HAVE_ALL))
    run.received(opening + pw.encode_message(pw.Simple(pw.UNCHOKE)), 1_000_100)
    assert run.session.outstanding, "the probe asked for blocks"
    index, begin, length = sorted(run.session.outstanding)[0]
    block = pieces.data[index][begin : begin + length]
    run.received(pw.encode_message(pw.Piece(index, begin, block)), 1_900_100)  # 0.9 s later: in time
    assert run.deadline_us == 1_000_100 + 1_500_000  # not 1_900_100 + 1 s
    run.timer(2_500_100)
    obs = run.observation()
    assert obs.failure == Failure.PIECE_TIMEOUT.value and "download_timeout" in (obs.failure_detail or ""), (
        obs
    )
    assert obs.tier is Tier.HAS_PIECES
