"""verify_chain over redacted records (bytes purged under a retention rule): links still checked."""

from __future__ import annotations

import dataclasses

from swarmscope.evidence.chain import ChainEntry, ChainProblem, append, verify_chain

RECORDS = [f"record {n}".encode() for n in range(5)]


def chain() -> list[ChainEntry]:
    entries: list[ChainEntry] = []
    for data in RECORDS:
        entries.append(append(entries[-1] if entries else None, data))
    return entries


def test_redacted_records_verify_with_their_links() -> None:
    entries = chain()
    canonicals: list[bytes | None] = [RECORDS[0], None, RECORDS[2], None, None]
    assert verify_chain(entries, canonicals, head=(4, entries[-1].entry_hash)).ok


def test_a_redacted_entry_with_an_altered_record_hash_is_still_caught() -> None:
    entries = chain()
    entries[1] = dataclasses.replace(entries[1], record_hash=bytes(32))
    verdict = verify_chain(entries, [RECORDS[0], None, *RECORDS[2:]])
    assert (verdict.ok, verdict.position, verdict.problem) == (False, 1, ChainProblem.ENTRY_HASH)


def test_a_redacted_entry_out_of_place_is_still_caught() -> None:
    entries = chain()
    swapped = [entries[0], entries[2], entries[1], *entries[3:]]
    verdict = verify_chain(swapped, [RECORDS[0], None, None, *RECORDS[3:]])
    assert (verdict.ok, verdict.position, verdict.problem) == (False, 1, ChainProblem.GAP)
    unredacted = verify_chain(entries, [RECORDS[0], RECORDS[2], *RECORDS[2:]])  # wrong bytes are not skipped
    assert (unredacted.ok, unredacted.position, unredacted.problem) == (False, 1, ChainProblem.RECORD_HASH)
