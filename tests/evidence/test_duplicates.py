"""One rule for duplicate captures (:mod:`swarmscope.evidence.duplicates`): the first observation in chain
order carrying a capture is the hit, every later one a duplicate; observations without a capture never are.
"""

from __future__ import annotations

from dataclasses import replace

from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.duplicates import CaptureIndex, drop_duplicate_captures, duplicate_captures
from swarmscope.evidence.records import Observation, Source, Tier

IH = "ab" * 20
BASE = Observation(IH, "127.0.0.2", 6881, Source.TRACKER.value, 1_000, 2_000, Tier.VERIFIED,
                   verified_pieces=(0,), bytes_received=16_384)  # fmt: skip
A, B = replace(BASE, capture_sha256=b"a" * 32), replace(BASE, capture_sha256=b"b" * 32)


def test_later_copies_are_duplicates_of_the_first() -> None:
    chain = [(3, A), (5, BASE), (7, B), (9, A), (11, BASE), (12, replace(A, port=51413))]
    assert duplicate_captures(chain) == {9: 3, 12: 3}


def test_an_export_selection_loses_the_duplicates_and_says_which() -> None:
    observations = {3: A, 7: B, 9: A}
    selected = {i: canonical_bytes(o) for i, o in observations.items()} | {1: b"run"}
    ((count, why),) = drop_duplicate_captures(selected, observations)
    assert count == 1 and "chain index 9 (of 3)" in why
    assert sorted(observations) == [3, 7] and sorted(selected) == [1, 3, 7]
    assert drop_duplicate_captures(selected, observations) == ()


def test_ledger_entries_count_only_decodable_observations() -> None:
    seen = CaptureIndex()
    assert seen.add_entry(0, "observation", canonical_bytes(A)) is None
    assert seen.add_entry(1, "observation", None) is None  # redacted by a purge
    assert seen.add_entry(2, "observation", b"not canonical") is None
    assert seen.add_entry(3, "clock_sample", canonical_bytes(A)) is None
    assert seen.add_entry(4, "observation", canonical_bytes(A)) == 0
