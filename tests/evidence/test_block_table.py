"""BlockTable: per-block SHA-256 of verified pieces, compact storage, deterministic spread of candidates."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.errors import ProtocolStateError
from swarmscope.evidence.probe import block_table
from swarmscope.evidence.probe.block_table import DIGEST_LEN, BlockTable, block_hashes
from swarmscope.evidence.records import BlockProof
from swarmscope.wire.types import BLOCK_SIZE


def piece(index: int, size: int) -> bytes:
    return bytes((index * 31 + j) % 253 for j in range(size))


def test_add_piece_gives_one_proof_per_block_the_last_shorter() -> None:
    table = BlockTable()
    data = piece(4, 2 * BLOCK_SIZE + 100)
    proofs = table.add_piece(4, data)
    assert [(p.piece, p.begin, p.length) for p in proofs] == [
        (4, 0, BLOCK_SIZE),
        (4, BLOCK_SIZE, BLOCK_SIZE),
        (4, 2 * BLOCK_SIZE, 100),
    ]
    for p in proofs:
        assert p.sha256 == hashlib.sha256(data[p.begin : p.begin + p.length]).digest()
    assert table.piece_blocks(4) == proofs
    assert table.piece_blocks(5) == ()
    assert len(table) == 1 and 4 in table and 5 not in table and "4" not in table
    assert table.block_count == 3
    assert list(table.pieces()) == [4]


def test_vectors_of_block_hashes() -> None:
    """Table of vectors: sizes at and around the 16 KiB boundary."""
    cases = [(1, 1), (BLOCK_SIZE - 1, 1), (BLOCK_SIZE, 1), (BLOCK_SIZE + 1, 2), (4 * BLOCK_SIZE, 4)]
    for size, blocks in cases:
        digests = block_hashes(bytes(size))
        assert len(digests) == blocks * DIGEST_LEN, size
    assert block_hashes(b"abc") == hashlib.sha256(b"abc").digest()
    assert block_hashes(b"") == b""


def test_storage_is_compact_bytes_not_objects() -> None:
    table = BlockTable()
    for i in range(50):
        table.add_piece(i, piece(i, 4 * BLOCK_SIZE))
    held = table._hashes  # the representation is the point of this test
    assert all(type(v) is bytes and len(v) == 4 * DIGEST_LEN for v in held.values())
    assert table.block_count == 200


def test_re_adding_a_piece_is_idempotent_but_conflicting_bytes_are_refused() -> None:
    table = BlockTable()
    data = piece(1, BLOCK_SIZE + 7)
    first = table.add_piece(1, data)
    assert table.add_piece(1, data) == first and len(table) == 1
    with pytest.raises(ProtocolStateError, match="piece 1 added twice"):
        table.add_piece(1, b"x" + data[1:])
    with pytest.raises(ProtocolStateError):
        table.add_piece(-1, data)
    with pytest.raises(ProtocolStateError):
        table.add_piece(2, b"")


def filled(n: int, size: int = 3 * BLOCK_SIZE) -> BlockTable:
    table = BlockTable()
    for i in range(n):
        table.add_piece(i * 2, piece(i, size))  # sparse indexes: 0, 2, 4, ...
    return table


def test_candidates_are_deterministic_distinct_and_spread() -> None:
    table = filled(40)
    a = table.candidates(seed=12345, count=8)
    assert a == table.candidates(seed=12345, count=8)
    assert len(a) == 8 and len({p.piece for p in a}) == 8
    for proof in a:
        assert proof in table.piece_blocks(proof.piece)
    # spread: consecutive candidates are 40/8 = 5 table entries apart (10 piece indexes)
    gaps = sorted((b.piece - a_.piece) % 80 for a_, b in itertools.pairwise(a))
    assert gaps == [10] * 7
    assert table.candidates(seed=12346, count=8) != a
    assert {p.begin for s in range(20) for p in table.candidates(s, 40)} == {0, BLOCK_SIZE, 2 * BLOCK_SIZE}


def test_candidates_edge_counts() -> None:
    table = filled(3)
    assert table.candidates(7, 0) == () and table.candidates(7, -1) == ()
    assert BlockTable().candidates(7, 5) == ()
    everything = table.candidates(7, 100)
    assert sorted(p.piece for p in everything) == [0, 2, 4]
    table.add_piece(100, piece(9, 10))  # a table that grows is re-sorted
    assert {p.piece for p in table.candidates(7, 100)} == {0, 2, 4, 100}
    assert table.candidates(-3, 2)  # negative seeds are fine (Python modulo)


@given(st.dictionaries(st.integers(0, 10_000), st.integers(1, 5 * BLOCK_SIZE), max_size=8), st.integers())
def test_proofs_tile_each_piece_exactly(sizes: dict[int, int], seed: int) -> None:
    """Property: a piece's proofs cover it without gap or overlap and hash its bytes; candidates come
    from the table, one per piece."""
    table = BlockTable()
    datas = {i: piece(i, n) for i, n in sizes.items()}
    for i, data in datas.items():
        proofs = table.add_piece(i, data)
        assert sum(p.length for p in proofs) == len(data)
        assert [p.begin for p in proofs] == list(range(0, len(data), BLOCK_SIZE))
        assert b"".join(p.sha256 for p in proofs) == block_hashes(data)
    cands = table.candidates(seed, 4)
    assert len(cands) == min(4, len(sizes)) and len({c.piece for c in cands}) == len(cands)
    for c in cands:
        data = datas[c.piece]
        assert c == BlockProof(
            c.piece, c.begin, c.length, hashlib.sha256(data[c.begin : c.begin + c.length]).digest()
        )


def _spread_as_hashed(seed: int, piece_index: int, blocks: int) -> int:
    """The spread as first written: SHA-256 of ``seed:piece``, first 8 bytes modulo the block count."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{piece_index}".encode()).digest()[:8], "big") % blocks


def test_candidates_made_once_are_the_proofs_the_spread_names() -> None:
    """Kept proofs (at most PROOFS_KEPT, one-block pieces not hashed) change no candidate: every seed gets
    exactly the proofs the hashed spread picks, before and after the kept set starts afresh."""
    table = BlockTable()
    sizes = {i: (BLOCK_SIZE if i % 2 else 3 * BLOCK_SIZE + 7) for i in range(0, 80, 2)}
    for index, size in sizes.items():
        table.add_piece(index, piece(index, size))
    order = sorted(sizes)
    for seed in itertools.chain(range(300), [2**40 + 3, 987654321]):
        got = table.candidates(seed, 4)
        start, n = seed % len(order), len(order)
        want = []
        for k in range(4):
            index = order[(start + (k * n) // 4) % n]
            block = _spread_as_hashed(seed, index, -(-sizes[index] // BLOCK_SIZE))
            want.append(table.piece_blocks(index)[block])
        assert got == tuple(want)
    assert len(table._proofs) <= block_table.PROOFS_KEPT
