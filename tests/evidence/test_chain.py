"""The ledger hash chain: construction, golden vector, and detection of every kind of tampering."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.chain import (
    ENTRY_SIZE,
    GENESIS,
    ChainEntry,
    ChainProblem,
    ChainVerdict,
    append,
    entry_bytes,
    entry_from_bytes,
    verify_chain,
)
from swarmscope.evidence.records import Sighting


def records(n: int) -> list[bytes]:
    return [
        canonical_bytes(
            Sighting(
                infohash="ab" * 20,
                ip=f"127.0.0.{k + 2}",
                port=6881 + k,
                source="tracker",
                detail="http://127.0.0.1:6969/announce",
                seen_at_us=1_796_000_000_000_000 + k,
            )
        )
        for k in range(n)
    ]


def build(canonicals: list[bytes]) -> list[ChainEntry]:
    entries: list[ChainEntry] = []
    for canonical in canonicals:
        entries.append(append(entries[-1] if entries else None, canonical))
    return entries


CANONICALS = records(5)
ENTRIES = build(CANONICALS)


def test_golden_first_entries() -> None:
    first = append(None, b"abc")
    sha_abc = bytes.fromhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert first == ChainEntry(0, sha_abc, GENESIS, first.entry_hash)
    # re-derived from the formula by hand: SHA-256(32 zero bytes || 00..00 || SHA-256("abc"))
    assert first.entry_hash == hashlib.sha256(bytes(32) + bytes(8) + sha_abc).digest()
    assert first.entry_hash.hex() == "91155907000f12b55b884b322513f5b97f74ab6b55888dcba729f2e9bf17d739"
    second = append(first, b"")
    assert second.index == 1 and second.prev_hash == first.entry_hash
    assert (
        second.entry_hash
        == hashlib.sha256(first.entry_hash + (1).to_bytes(8, "big") + hashlib.sha256(b"").digest()).digest()
    )
    assert entry_bytes(second) == (1).to_bytes(8, "big") + second.record_hash + first.entry_hash + (
        second.entry_hash
    )


def test_valid_chain_verifies() -> None:
    assert verify_chain(ENTRIES, CANONICALS) == ChainVerdict(True)
    assert verify_chain([], []).ok
    assert verify_chain(ENTRIES, CANONICALS, head=(4, ENTRIES[4].entry_hash)).ok


def test_segment_verifies_from_an_anchor() -> None:
    assert verify_chain(ENTRIES[2:], CANONICALS[2:], anchor=ENTRIES[1]).ok
    wrong_anchor = verify_chain(ENTRIES[2:], CANONICALS[2:], anchor=ENTRIES[0])
    assert (wrong_anchor.position, wrong_anchor.problem) == (0, ChainProblem.GAP)
    assert not verify_chain(ENTRIES[2:], CANONICALS[2:]).ok


def _problem(entries: list[ChainEntry], canonicals: list[bytes], **kw: object) -> tuple[int | None, object]:
    verdict = verify_chain(entries, canonicals, **kw)  # type: ignore[arg-type]
    assert not verdict.ok and verdict.detail
    return verdict.position, verdict.problem


def test_reorder_is_detected() -> None:
    order = [0, 2, 1, 3, 4]
    entries = [ENTRIES[k] for k in order]
    canonicals = [CANONICALS[k] for k in order]
    assert _problem(entries, canonicals) == (1, ChainProblem.GAP)
    # a duplicated entry (index goes backwards)
    assert _problem([*ENTRIES[:3], ENTRIES[2]], [*CANONICALS[:3], CANONICALS[2]]) == (3, ChainProblem.REORDER)


def test_gap_is_detected() -> None:
    assert _problem(ENTRIES[:2] + ENTRIES[3:], CANONICALS[:2] + CANONICALS[3:]) == (2, ChainProblem.GAP)


def test_rebuilt_chain_without_a_record_breaks_the_sealed_head() -> None:
    forged = build(CANONICALS[:2] + CANONICALS[3:])  # consistent on its own, but not the sealed history
    assert verify_chain(forged, CANONICALS[:2] + CANONICALS[3:]).ok
    head = (4, ENTRIES[4].entry_hash)
    assert _problem(forged, CANONICALS[:2] + CANONICALS[3:], head=head) == (3, ChainProblem.HEAD)


def test_truncation_is_detected() -> None:
    head = (4, ENTRIES[4].entry_hash)
    assert _problem(ENTRIES[:3], CANONICALS[:3], head=head) == (2, ChainProblem.HEAD)
    assert _problem([], [], head=head) == (0, ChainProblem.HEAD)
    assert _problem(ENTRIES[1:], CANONICALS[1:]) == (0, ChainProblem.WRONG_GENESIS)
    assert _problem(ENTRIES, CANONICALS[:4]) == (4, ChainProblem.COUNT)
    assert _problem(ENTRIES[:4], CANONICALS) == (4, ChainProblem.COUNT)


def test_wrong_genesis_is_detected() -> None:
    other = ChainEntry(0, ENTRIES[0].record_hash, b"\x01" * 32, ENTRIES[0].entry_hash)
    assert _problem([other, *ENTRIES[1:]], CANONICALS) == (0, ChainProblem.WRONG_GENESIS)


def test_altered_record_is_detected() -> None:
    canonicals = [*CANONICALS]
    canonicals[3] = records(4)[3].replace(b"6884", b"6885")
    assert _problem(ENTRIES, canonicals) == (3, ChainProblem.RECORD_HASH)


def test_recomputed_record_hash_breaks_entry_hash() -> None:
    altered = records(5)[3].replace(b"6884", b"6885")
    forged = dataclasses.replace(ENTRIES[3], record_hash=hashlib.sha256(altered).digest())
    entries = [*ENTRIES[:3], forged, *ENTRIES[4:]]
    assert _problem(entries, [*CANONICALS[:3], altered, *CANONICALS[4:]]) == (3, ChainProblem.ENTRY_HASH)


def test_malformed_entries() -> None:
    short = dataclasses.replace(ENTRIES[0], record_hash=ENTRIES[0].record_hash[:31])
    assert _problem([short], CANONICALS[:1]) == (0, ChainProblem.MALFORMED)
    negative = dataclasses.replace(ENTRIES[0], index=-1)
    assert _problem([negative], CANONICALS[:1]) == (0, ChainProblem.MALFORMED)


def test_every_byte_flip_in_stored_entries_is_detected() -> None:
    stored = [entry_bytes(entry) for entry in ENTRIES]
    for which in range(len(stored)):
        for pos in range(ENTRY_SIZE):
            flipped = bytearray(stored[which])
            flipped[pos] ^= 0x01
            entries = [*ENTRIES]
            entries[which] = entry_from_bytes(bytes(flipped))
            head = (4, ENTRIES[4].entry_hash)
            verdict = verify_chain(entries, CANONICALS, head=head)
            assert not verdict.ok, f"entry {which} byte {pos}"
            assert verdict.position is not None and verdict.position == which


def test_every_byte_flip_in_records_is_detected() -> None:
    for which in (0, 4):
        for pos in range(len(CANONICALS[which])):
            canonicals = [*CANONICALS]
            flipped = bytearray(canonicals[which])
            flipped[pos] ^= 0x80
            canonicals[which] = bytes(flipped)
            assert _problem(ENTRIES, canonicals) == (which, ChainProblem.RECORD_HASH)


def test_entry_bytes_round_trip_and_truncations() -> None:
    data = entry_bytes(ENTRIES[3])
    assert len(data) == ENTRY_SIZE == 104
    assert entry_from_bytes(data) == ENTRIES[3]
    for end in range(len(data)):
        with pytest.raises(DecodeError):
            entry_from_bytes(data[:end])
    with pytest.raises(DecodeError):
        entry_from_bytes(data + b"\x00")


@given(st.binary(max_size=210))
def test_entry_from_bytes_decodes_or_raises_decode_error_only(data: bytes) -> None:
    try:
        entry = entry_from_bytes(data)
    except DecodeError:
        return
    assert entry_bytes(entry) == data


@given(st.lists(st.binary(max_size=64), max_size=12), st.data())
def test_any_single_swap_or_drop_is_detected(canonicals: list[bytes], data: st.DataObject) -> None:
    entries = build(canonicals)
    assert verify_chain(entries, canonicals).ok
    if len(canonicals) < 2:
        return
    i = data.draw(st.integers(min_value=0, max_value=len(canonicals) - 2))
    j = data.draw(st.integers(min_value=i + 1, max_value=len(canonicals) - 1))
    swapped_e = [*entries]
    swapped_c = [*canonicals]
    swapped_e[i], swapped_e[j] = swapped_e[j], swapped_e[i]
    swapped_c[i], swapped_c[j] = swapped_c[j], swapped_c[i]
    assert not verify_chain(swapped_e, swapped_c).ok
    head = (entries[-1].index, entries[-1].entry_hash)
    assert not verify_chain(
        entries[:i] + entries[i + 1 :], canonicals[:i] + canonicals[i + 1 :], head=head
    ).ok
