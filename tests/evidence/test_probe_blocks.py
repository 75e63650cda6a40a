"""ProbeRun block mode (README "Blocks proving distribution") against scripted peers: a matching 16 KiB
block is proof, a wrong block never is, an unclaimed candidate falls back to the whole-piece path, BEP 6
rejects and allowed-fast pieces are handled like the piece path, and byte accounting stays exact (our
bytes_received equals what the peer served)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import ProtocolStateError
from swarmscope.evidence.probe.block_table import BlockTable
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.records import BlockProof, Failure, Tier
from swarmscope.wire import peer as pw
from swarmscope.wire.types import BLOCK_SIZE
from tests.evidence.fakepeer import FakePeer, Pieces, bitfield, converse, ext_handshake, make_run
from tests.evidence.test_probe import assert_never_uploads

N = 10
ALL = set(range(N))
UNCHOKE = pw.encode_message(pw.Simple(pw.UNCHOKE))


def table_of(pieces: Pieces) -> BlockTable:
    table = BlockTable()
    for i, data in enumerate(pieces.data):
        table.add_piece(i, data)
    return table


def proof(pieces: Pieces, index: int, block: int) -> BlockProof:
    return table_of(pieces).piece_blocks(index)[block]


def test_a_matching_block_verifies_the_peer() -> None:
    pieces = Pieces(N)
    want = proof(pieces, 3, 1)
    peer = FakePeer(pieces, opening=ext_handshake() + bitfield(N, ALL))
    run = make_run(pieces, seed=7, block_candidates=(want,))
    sent = converse(run, peer)
    obs = run.observation()
    assert run.done
    assert obs.tier is Tier.VERIFIED and obs.failure is None and obs.failure_detail is None
    assert obs.verified_blocks == (want,) and obs.failed_blocks == ()
    assert obs.verified_pieces == () and obs.failed_pieces == ()
    assert peer.requests_seen == [(3, BLOCK_SIZE, BLOCK_SIZE)]  # exactly that block, nothing more
    assert obs.bytes_received == BLOCK_SIZE == peer.uploaded
    assert run.verified_block_data == [(want, pieces.data[3][BLOCK_SIZE:])]
    assert run.verified_data == []
    assert obs.wire_bytes_out == sum(len(s) for s in sent)
    assert_never_uploads(sent)


def test_a_wrong_block_is_never_proof() -> None:
    pieces = Pieces(N)
    want = proof(pieces, 3, 0)
    peer = FakePeer(pieces, opening=bitfield(N, ALL), corrupt=True)
    run = make_run(pieces, ProbePolicy(max_hash_failures=1), block_candidates=(want,))
    converse(run, peer)
    obs = run.observation()
    assert obs.tier is Tier.HAS_PIECES and obs.verified_blocks == ()
    assert obs.failed_blocks == (want,)
    assert obs.failure == Failure.HASH_MISMATCH.value
    assert obs.failure_detail == "block piece 3 begin 0: sha256 mismatch"
    assert peer.requests_seen == [(3, 0, BLOCK_SIZE)]
    assert obs.bytes_received == peer.uploaded == BLOCK_SIZE
    assert run.verified_block_data == [] and run.verified_data == []


def test_a_wrong_block_then_the_piece_path_within_max_hash_failures() -> None:
    """Failures of blocks and pieces count together against max_hash_failures (default 2)."""
    pieces = Pieces(N)
    want = proof(pieces, 3, 1)
    peer = FakePeer(pieces, opening=bitfield(N, ALL), corrupt=True)
    run = make_run(pieces, seed=5, block_candidates=(want,))
    converse(run, peer)
    obs = run.observation()
    assert obs.tier is Tier.HAS_PIECES and obs.verified_blocks == () and obs.verified_pieces == ()
    assert obs.failed_blocks == (want,) and obs.failed_pieces == (5,)
    assert obs.failure_detail == (
        f"block piece 3 begin {BLOCK_SIZE}: sha256 mismatch; pieces [5] failed their hash check"
    )
    assert peer.requests_seen == [
        (3, BLOCK_SIZE, BLOCK_SIZE),
        (5, 0, BLOCK_SIZE),
        (5, BLOCK_SIZE, BLOCK_SIZE),
    ]
    assert obs.bytes_received == peer.uploaded == 3 * BLOCK_SIZE


def test_a_wrong_block_then_a_right_one_verifies_by_the_right_one_only() -> None:
    pieces = Pieces(N)
    bad, good = proof(pieces, 2, 0), proof(pieces, 6, 1)
    peer = FakePeer(pieces, opening=bitfield(N, ALL), corrupt_pieces={2})
    run = make_run(pieces, block_candidates=(bad, good))
    converse(run, peer)
    obs = run.observation()
    assert obs.tier is Tier.VERIFIED and obs.failure is None
    assert obs.verified_blocks == (good,) and obs.failed_blocks == (bad,)
    assert peer.requests_seen == [(2, 0, BLOCK_SIZE), (6, BLOCK_SIZE, BLOCK_SIZE)]
    assert obs.bytes_received == peer.uploaded == 2 * BLOCK_SIZE


def test_unclaimed_candidates_fall_back_to_the_whole_piece() -> None:
    pieces = Pieces(N)
    cands = (proof(pieces, 3, 0), proof(pieces, 4, 1))
    peer = FakePeer(pieces, opening=bitfield(N, {7}))
    run = make_run(pieces, block_candidates=cands)
    converse(run, peer)
    obs = run.observation()
    assert obs.tier is Tier.VERIFIED and obs.verified_pieces == (7,) and obs.verified_blocks == ()
    assert peer.requests_seen == [(7, 0, BLOCK_SIZE), (7, BLOCK_SIZE, BLOCK_SIZE)]
    assert run.verified_data == [(7, pieces.data[7])]
    assert obs.bytes_received == peer.uploaded == pieces.piece_size(7)


def test_the_first_claimed_candidate_is_asked_and_the_short_last_block() -> None:
    pieces = Pieces(N, last=5000)
    cands = (proof(pieces, 1, 0), proof(pieces, N - 1, 0))
    peer = FakePeer(pieces, opening=bitfield(N, {N - 1}))
    run = make_run(pieces, block_candidates=cands)
    converse(run, peer)
    obs = run.observation()
    assert obs.verified_blocks == (cands[1],) and cands[1].length == 5000
    assert peer.requests_seen == [(N - 1, 0, 5000)] and obs.bytes_received == 5000


def test_two_blocks_wanted() -> None:
    pieces = Pieces(N)
    cands = table_of(pieces).candidates(seed=3, count=4)
    peer = FakePeer(pieces, opening=bitfield(N, ALL))
    run = make_run(pieces, ProbePolicy(blocks_to_verify=2), block_candidates=cands)
    converse(run, peer)
    obs = run.observation()
    assert obs.verified_blocks == cands[:2] and len(peer.requests_seen) == 2
    assert obs.bytes_received == peer.uploaded == sum(c.length for c in cands[:2])


def test_fewer_candidates_than_wanted_still_ends_verified_without_a_piece() -> None:
    pieces = Pieces(N)
    want = proof(pieces, 4, 0)
    peer = FakePeer(pieces, opening=bitfield(N, ALL))
    run = make_run(pieces, ProbePolicy(blocks_to_verify=3), block_candidates=(want,))
    converse(run, peer)
    obs = run.observation()
    assert obs.tier is Tier.VERIFIED and obs.failure is None and obs.verified_blocks == (want,)
    assert peer.requests_seen == [(4, 0, BLOCK_SIZE)]


def test_rejected_block_requests() -> None:
    pieces = Pieces(N)
    cands = (proof(pieces, 3, 1), proof(pieces, 8, 0))
    peer = FakePeer(pieces, opening=bitfield(N, ALL), reject_requests=True)
    run = make_run(pieces, ProbePolicy(max_rejected_pieces=2), block_candidates=cands)
    converse(run, peer)
    obs = run.observation()
    assert obs.tier is Tier.HAS_PIECES and obs.failure == Failure.REJECTED.value
    assert obs.failure_detail == "2 pieces rejected"
    assert peer.requests_seen == [(3, BLOCK_SIZE, BLOCK_SIZE), (8, 0, BLOCK_SIZE)]
    assert obs.bytes_received == 0 and obs.verified_blocks == () and obs.failed_blocks == ()


def test_rejected_block_then_whole_piece() -> None:
    """After one rejected block the probe moves on (soft failure is overwritten by success)."""
    pieces = Pieces(N)
    run = make_run(pieces, block_candidates=(proof(pieces, 3, 1),))
    run.connected(0)
    run.received(FakePeer(pieces).handshake() + bitfield(N, {3, 4}), 1)
    out = run.received(pw.encode_message(pw.Simple(pw.UNCHOKE)), 2)
    assert out == pw.encode_request(3, BLOCK_SIZE, BLOCK_SIZE)
    out = run.received(pw.encode_reject(3, BLOCK_SIZE, BLOCK_SIZE), 3)
    assert out == pw.encode_request(4, 0, BLOCK_SIZE) + pw.encode_request(4, BLOCK_SIZE, BLOCK_SIZE)
    assert run.failure_detail == f"block piece 3 begin {BLOCK_SIZE} request rejected"
    run.received(pw.encode_message(pw.Piece(4, 0, pieces.data[4][:BLOCK_SIZE])), 4)
    run.received(pw.encode_message(pw.Piece(4, BLOCK_SIZE, pieces.data[4][BLOCK_SIZE:])), 5)
    obs = run.observation()
    assert run.done and obs.tier is Tier.VERIFIED and obs.failure is None and obs.verified_pieces == (4,)


def test_allowed_fast_candidate_while_choked() -> None:
    """BEP 6: a block of an allowed-fast piece may be requested while choked; other candidates wait."""
    pieces = Pieces(N)
    cands = (proof(pieces, 2, 0), proof(pieces, 8, 1))
    opening = bitfield(N, ALL) + pw.encode_message(pw.Have(pw.ALLOWED_FAST, 8))
    peer = FakePeer(pieces, opening=opening, unchoke_on_interested=False)
    run = make_run(pieces, block_candidates=cands)
    converse(run, peer)
    obs = run.observation()
    assert obs.tier is Tier.VERIFIED and obs.verified_blocks == (cands[1],)
    assert peer.requests_seen == [(8, BLOCK_SIZE, BLOCK_SIZE)]


def test_choked_with_a_claimed_candidate_waits_for_unchoke_instead_of_an_allowed_fast_piece() -> None:
    """One 16 KiB block after unchoke is cheaper than a whole allowed-fast piece right away."""
    pieces = Pieces(N)
    want = proof(pieces, 2, 1)
    run = make_run(pieces, block_candidates=(want,))
    run.connected(0)
    fast = pw.encode_message(pw.Have(pw.ALLOWED_FAST, 8))
    out = run.received(FakePeer(pieces).handshake() + bitfield(N, ALL) + fast, 1)
    assert b"\x00\x00\x00\x0d\x06" not in out  # no request while choked
    assert run.received(UNCHOKE, 2) == pw.encode_request(2, BLOCK_SIZE, BLOCK_SIZE)
    run.received(pw.encode_message(pw.Piece(2, BLOCK_SIZE, pieces.data[2][BLOCK_SIZE:])), 3)
    obs = run.observation()
    assert run.done and obs.verified_blocks == (want,) and obs.bytes_received == BLOCK_SIZE


def test_never_unchoked_falls_back_to_the_allowed_fast_piece_at_the_unchoke_timeout() -> None:
    pieces = Pieces(N)
    run = make_run(pieces, block_candidates=(proof(pieces, 2, 1),))
    run.connected(0)
    fast = pw.encode_message(pw.Have(pw.ALLOWED_FAST, 8))
    run.received(FakePeer(pieces).handshake() + bitfield(N, ALL) + fast, 1)
    assert run.deadline_us is not None
    wire_out = run.wire_out
    out = run.timer(run.deadline_us)
    assert out == pw.encode_request(8, 0, BLOCK_SIZE) + pw.encode_request(8, BLOCK_SIZE, BLOCK_SIZE)
    assert run.wire_out == wire_out + len(out) and not run.done
    run.received(pw.encode_message(pw.Piece(8, 0, pieces.data[8][:BLOCK_SIZE])), 2)
    run.received(pw.encode_message(pw.Piece(8, BLOCK_SIZE, pieces.data[8][BLOCK_SIZE:])), 3)
    obs = run.observation()
    assert (
        run.done and obs.tier is Tier.VERIFIED and obs.verified_pieces == (8,) and obs.verified_blocks == ()
    )
    # without an allowed-fast piece the same timeout is "choked"
    run2 = make_run(pieces, block_candidates=(proof(pieces, 2, 1),))
    run2.connected(0)
    run2.received(FakePeer(pieces).handshake() + bitfield(N, ALL), 1)
    assert run2.deadline_us is not None
    assert run2.timer(run2.deadline_us) == b""
    assert run2.done and run2.observation().failure == Failure.CHOKED.value


def test_candidates_that_fit_no_block_are_refused() -> None:
    pieces = Pieces(N, last=5000)
    good = proof(pieces, 1, 0)
    bad = [
        BlockProof(N, 0, BLOCK_SIZE, good.sha256),  # piece out of range
        BlockProof(1, 100, BLOCK_SIZE, good.sha256),  # not on a block boundary
        BlockProof(1, 0, 100, good.sha256),  # wrong length
        BlockProof(N - 1, 0, BLOCK_SIZE, good.sha256),  # the short last piece has a 5000-byte block
        BlockProof(1, 2 * BLOCK_SIZE, BLOCK_SIZE, good.sha256),  # past the piece end
        BlockProof(1, 0, BLOCK_SIZE, b"short"),
    ]
    for proof_ in bad:
        with pytest.raises(ProtocolStateError, match="fits no block"):
            make_run(pieces, block_candidates=(good, proof_))


def test_choke_before_the_block_arrives_rerequests_it_once() -> None:
    """BEP 3 (no fast extension): a choke drops our request; after unchoke the same block is asked again."""
    pieces = Pieces(N)
    want = proof(pieces, 5, 1)
    run = make_run(pieces, block_candidates=(want,))
    run.connected(0)
    run.received(FakePeer(pieces, reserved=bytes(8)).handshake() + bitfield(N, ALL), 1)
    assert run.received(pw.encode_message(pw.Simple(pw.UNCHOKE)), 2) == pw.encode_request(
        5, BLOCK_SIZE, BLOCK_SIZE
    )
    assert run.received(pw.encode_message(pw.Simple(pw.CHOKE)), 3) == b""
    assert run.received(pw.encode_message(pw.Simple(pw.UNCHOKE)), 4) == pw.encode_request(
        5, BLOCK_SIZE, BLOCK_SIZE
    )
    run.received(pw.encode_message(pw.Piece(5, BLOCK_SIZE, pieces.data[5][BLOCK_SIZE:])), 5)
    obs = run.observation()
    assert run.done and obs.verified_blocks == (want,) and obs.bytes_received == BLOCK_SIZE


def test_silence_after_the_block_request_is_a_piece_timeout_naming_the_block() -> None:
    pieces = Pieces(N)
    run = make_run(pieces, block_candidates=(proof(pieces, 5, 1),))
    run.connected(0)
    run.received(FakePeer(pieces).handshake() + bitfield(N, ALL), 1)
    run.received(pw.encode_message(pw.Simple(pw.UNCHOKE)), 2)
    assert run.deadline_us is not None
    run.timer(run.deadline_us)
    obs = run.observation()
    assert obs.failure == Failure.PIECE_TIMEOUT.value
    assert obs.failure_detail == f"block piece 5 begin {BLOCK_SIZE}: no answer"


@pytest.mark.parametrize("chunk", [1, 5, 68, 1000])
@pytest.mark.parametrize("corrupt", [False, True])
def test_any_segmentation_gives_the_same_observation(chunk: int, corrupt: bool) -> None:
    """Byte-by-byte (and other) feeding re-derives the same record: the probe is replayable."""
    pieces = Pieces(N)
    cands = table_of(pieces).candidates(seed=11, count=3)

    def run_with(chunk_: int | None) -> tuple[object, ...]:
        peer = FakePeer(pieces, opening=ext_handshake() + bitfield(N, ALL), corrupt=corrupt)
        run = make_run(pieces, block_candidates=cands)
        converse(run, peer, chunk=chunk_)
        obs = run.observation()
        assert obs.bytes_received == peer.uploaded
        return (
            obs.tier,
            obs.failure_detail,
            obs.verified_blocks,
            obs.failed_blocks,
            obs.wire_bytes_in,
            obs.wire_bytes_out,
            obs.bytes_received,
            obs.verified_pieces,
            obs.failed_pieces,
        )

    assert run_with(chunk) == run_with(None)


@settings(max_examples=200, deadline=None)
@given(head=st.binary(max_size=64), flip=st.integers(0, BLOCK_SIZE * 8 - 1))
def test_property_a_block_is_proof_only_when_its_sha256_matches(head: bytes, flip: int) -> None:
    """Whatever 16 KiB a peer answers (the true block with any head, or one bit flipped), it is a proof
    exactly when it is the true block."""
    pieces = Pieces(N)
    want = proof(pieces, 4, 0)
    true_block = pieces.data[4][:BLOCK_SIZE]
    flipped = bytearray(true_block)
    flipped[flip // 8] ^= 1 << (flip % 8)
    for answer in (head + true_block[len(head) :], bytes(flipped), true_block):
        run = make_run(pieces, ProbePolicy(max_hash_failures=1), block_candidates=(want,))
        run.connected(0)
        run.received(FakePeer(pieces).handshake() + bitfield(N, ALL), 1)
        assert run.received(UNCHOKE, 2) == pw.encode_request(4, 0, BLOCK_SIZE)
        run.received(pw.encode_message(pw.Piece(4, 0, answer)), 3)
        obs = run.observation()
        assert run.done and obs.bytes_received == BLOCK_SIZE
        if answer == true_block:
            assert obs.verified_blocks == (want,) and obs.tier is Tier.VERIFIED and obs.failed_blocks == ()
        else:
            assert obs.verified_blocks == () and obs.tier is Tier.HAS_PIECES and obs.failed_blocks == (want,)


@settings(max_examples=100, deadline=None)
@given(noise=st.binary(max_size=300), cut=st.integers(1, 64))
def test_property_garbage_after_the_claims_never_raises_nor_proves(noise: bytes, cut: int) -> None:
    """Arbitrary peer bytes in block mode end in an observation or a protocol error, never an exception
    and never a block proof (no byte string but the true block can match its SHA-256)."""
    pieces = Pieces(N)
    run = make_run(pieces, block_candidates=(proof(pieces, 4, 0),))
    run.connected(0)
    stream = (
        FakePeer(pieces).handshake() + bitfield(N, ALL) + pw.encode_message(pw.Simple(pw.UNCHOKE)) + noise
    )
    for i in range(0, len(stream), cut):
        run.received(stream[i : i + cut], 10 + i)
    run.stop(10_000)
    obs = run.observation()
    assert run.done and obs.verified_blocks == () and obs.tier is not Tier.VERIFIED
