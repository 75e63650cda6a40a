"""Metadata assembly and verification (BEP 9 pieces, BEP 52 hashes), size caps (PW-12)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire import extension
from swarmscope.wire.extension import METADATA_PIECE_LEN, MetadataMessage
from swarmscope.wire.metadata import (
    MAX_METADATA_SIZE,
    MetadataAssembler,
    check_metadata_size,
    digest_metadata,
)

INFO = b"d4:name3:abc" + b"x" * 40_000 + b"e"  # 40,013 bytes: 3 pieces, the last 7,245 bytes


def pieces_of(info: bytes) -> list[MetadataMessage]:
    out = []
    for i in range(0, len(info), METADATA_PIECE_LEN):
        payload = extension.encode_metadata_data(
            i // METADATA_PIECE_LEN, len(info), info[i : i + METADATA_PIECE_LEN]
        )
        out.append(extension.decode_metadata_message(payload))
    return out


@pytest.mark.parametrize(
    ("size", "ok"),
    [(1, True), (MAX_METADATA_SIZE, True), (0, False), (-1, False), (MAX_METADATA_SIZE + 1, False)],
)
def test_check_metadata_size(size: int, ok: bool) -> None:
    if ok:
        assert check_metadata_size(size) == size
    else:
        with pytest.raises(DecodeError, match="metadata size"):
            check_metadata_size(size)


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1], [1, 2, 1, 0]])
def test_assembles_in_any_order_and_ignores_repeats(order: list[int]) -> None:
    msgs = pieces_of(INFO)
    asm = MetadataAssembler()
    assert asm.missing() == [0] and asm.piece_count is None  # PW-12: size unknown → ask piece 0
    new = [asm.add(msgs[i]) for i in order]
    assert new.count(True) == 3 and asm.complete and asm.assemble() == INFO and asm.missing() == []


def test_size_from_handshake_then_conflicting_data() -> None:
    asm = MetadataAssembler()
    asm.set_size(len(INFO))
    assert asm.missing() == [0, 1, 2]
    with pytest.raises(ValueError, match="not complete"):
        asm.assemble()
    other = extension.decode_metadata_message(
        extension.encode_metadata_data(0, 20_000, INFO[:METADATA_PIECE_LEN])
    )
    with pytest.raises(DecodeError, match="metadata size"):
        asm.add(other)
    with pytest.raises(DecodeError, match="total_size: missing"):
        asm.add(MetadataMessage(1, 0))
    with pytest.raises(DecodeError, match="outside"):
        asm.add(MetadataMessage(1, 3, len(INFO), b""))
    with pytest.raises(DecodeError, match="bytes, expected"):
        asm.add(MetadataMessage(1, 2, len(INFO), b"short"))
    asm.add(pieces_of(INFO)[0])
    asm.reset()
    assert asm.missing() == [0, 1, 2] and asm.size == len(INFO)


def test_cap_applies_to_data_messages() -> None:
    asm = MetadataAssembler(max_size=METADATA_PIECE_LEN)
    with pytest.raises(DecodeError, match="exceeds the cap"):
        asm.add(pieces_of(INFO)[0])
    assert asm.size is None and not asm.pieces


@pytest.mark.parametrize(
    ("v1", "v2", "matches"),
    [
        (hashlib.sha1(INFO).digest(), None, True),
        (None, hashlib.sha256(INFO).digest(), True),
        (hashlib.sha1(INFO).digest(), hashlib.sha256(INFO).digest(), True),
        (hashlib.sha1(INFO).digest(), hashlib.sha256(b"x").digest(), False),
        (hashlib.sha1(b"x").digest(), hashlib.sha256(INFO).digest(), False),
        (hashlib.sha1(b"x").digest(), None, False),
        (None, hashlib.sha256(INFO).digest()[:20] + bytes(12), False),  # a truncated hash is not the hash
    ],
)
def test_digest_metadata(v1: bytes | None, v2: bytes | None, matches: bool) -> None:
    d = digest_metadata(INFO, v1, v2)
    assert d.matches is matches and d.size == len(INFO)
    assert d.sha1 == hashlib.sha1(INFO).digest() and d.sha256 == hashlib.sha256(INFO).digest()


def test_digest_needs_a_hash() -> None:
    with pytest.raises(ValueError, match="v1 or a v2"):
        digest_metadata(INFO, None, None)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=-3, max_value=5),
    st.one_of(st.none(), st.integers(min_value=-5, max_value=3 * METADATA_PIECE_LEN)),
    st.binary(max_size=METADATA_PIECE_LEN + 10),
)
def test_add_stores_or_raises_decode_error(piece: int, total: int | None, data: bytes) -> None:
    asm = MetadataAssembler(max_size=2 * METADATA_PIECE_LEN)
    try:
        asm.add(MetadataMessage(1, piece, total, data))
    except DecodeError:
        return
    assert asm.pieces == {piece: data}
