"""The evidence ledger's append-only hash chain over canonical record bytes.

Entry ``k`` (counting from 0) commits to its record and to every entry before it::

    record_hash = SHA-256(canonical bytes of record k)              (32 bytes)
    prev_hash   = entry_hash of entry k-1, or GENESIS (32 zero bytes) for k = 0
    entry_hash  = SHA-256(prev_hash || k as 8 bytes big-endian || record_hash)

An entry's stored form (:func:`entry_bytes`) is 104 bytes: index (8, big-endian), record_hash,
prev_hash, entry_hash. Changing, dropping, inserting or reordering any record changes every later
entry_hash, so a signed head (:mod:`swarmscope.evidence.seal`) fixes the whole history up to it.

Source: README "Sealed ledger" (append-only hash chain); SHA-256 per FIPS 180-4.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from swarmscope.errors import DecodeError

GENESIS = bytes(32)
HASH_SIZE = 32
ENTRY_SIZE = 8 + 3 * HASH_SIZE


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One link of the chain.

    Args:
        index: position in the ledger, from 0. record_hash: SHA-256 of the record's canonical bytes.
        prev_hash: the previous entry's entry_hash (GENESIS for index 0). entry_hash: this link's hash.
    """

    index: int
    record_hash: bytes
    prev_hash: bytes
    entry_hash: bytes


class ChainProblem(enum.StrEnum):
    """Why a chain does not verify."""

    MALFORMED = "malformed"  # a hash is not 32 bytes or the index is out of range
    WRONG_GENESIS = "wrong_genesis"  # the first entry is not index 0 on GENESIS (or not on the anchor)
    GAP = "gap"  # an index was skipped
    REORDER = "reorder"  # an index repeats or goes backwards
    BROKEN_LINK = "broken_link"  # prev_hash differs from the previous entry_hash
    RECORD_HASH = "record_hash"  # record_hash differs from SHA-256 of the canonical bytes
    ENTRY_HASH = "entry_hash"  # entry_hash differs from the recomputed value
    COUNT = "count"  # entries and canonical records differ in number
    HEAD = "head"  # the chain does not end at the expected (sealed) head: truncated or extended


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """Outcome of :func:`verify_chain`.

    Args:
        ok: True when every check held. position: 0-based position in the given sequence of the first
            bad entry (None when ok). problem: a :class:`ChainProblem` (None when ok). detail: text.
    """

    ok: bool
    position: int | None = None
    problem: ChainProblem | None = None
    detail: str = ""


def link_hash(prev_hash: bytes, index: int, record_hash: bytes) -> bytes:
    """SHA-256(prev_hash || index as 8 bytes big-endian || record_hash).

    Raises:
        OverflowError: index outside 0..2**64-1.

    Source: README "Sealed ledger".
    """
    return hashlib.sha256(prev_hash + index.to_bytes(8, "big") + record_hash).digest()


def append(prev: ChainEntry | None, canonical: bytes) -> ChainEntry:
    """The entry that follows ``prev`` for a record with these canonical bytes.

    Args:
        prev: the current head, or None to start the chain at GENESIS.
        canonical: the record's canonical bytes (:func:`swarmscope.evidence.canonical.canonical_bytes`).

    Returns:
        The new :class:`ChainEntry` (index ``prev.index + 1`` or 0).

    Source: README "Sealed ledger".
    """
    index = 0 if prev is None else prev.index + 1
    prev_hash = GENESIS if prev is None else prev.entry_hash
    record_hash = hashlib.sha256(canonical).digest()
    return ChainEntry(index, record_hash, prev_hash, link_hash(prev_hash, index, record_hash))


def entry_bytes(entry: ChainEntry) -> bytes:
    """The 104-byte stored form: index (8 bytes big-endian), record_hash, prev_hash, entry_hash."""
    return entry.index.to_bytes(8, "big") + entry.record_hash + entry.prev_hash + entry.entry_hash


def entry_from_bytes(data: bytes) -> ChainEntry:
    """Inverse of :func:`entry_bytes` (no hash is checked here; use :func:`verify_chain`).

    Raises:
        DecodeError: ``data`` is not exactly 104 bytes.

    Source: README "Sealed ledger".
    """
    if len(data) != ENTRY_SIZE:
        raise DecodeError(f"chain entry: expected {ENTRY_SIZE} bytes, got {len(data)}")
    h = HASH_SIZE
    return ChainEntry(
        int.from_bytes(data[:8], "big"), data[8 : 8 + h], data[8 + h : 8 + 2 * h], data[8 + 2 * h :]
    )


def _check_entry(
    entry: ChainEntry, expected_index: int, prev_hash: bytes, canonical: bytes | None
) -> ChainVerdict:
    """Check one entry against its expected index, predecessor hash and record bytes (position unset).

    ``canonical`` None: a redacted record (purged under a retention rule); everything but the record
    hash against the record's bytes is still checked.
    """
    hashes = (entry.record_hash, entry.prev_hash, entry.entry_hash)
    if any(len(h) != HASH_SIZE for h in hashes) or not 0 <= entry.index < 2**64:
        return ChainVerdict(False, problem=ChainProblem.MALFORMED, detail="hash length or index range")
    if entry.index != expected_index:
        problem = ChainProblem.GAP if entry.index > expected_index else ChainProblem.REORDER
        if expected_index == 0:
            problem = ChainProblem.WRONG_GENESIS
        return ChainVerdict(False, problem=problem, detail=f"index {entry.index}, expected {expected_index}")
    if entry.prev_hash != prev_hash:
        problem = ChainProblem.WRONG_GENESIS if expected_index == 0 else ChainProblem.BROKEN_LINK
        return ChainVerdict(False, problem=problem, detail=f"prev_hash of index {entry.index} does not match")
    if canonical is not None and entry.record_hash != hashlib.sha256(canonical).digest():
        return ChainVerdict(False, problem=ChainProblem.RECORD_HASH, detail=f"record {entry.index} altered")
    if entry.entry_hash != link_hash(entry.prev_hash, entry.index, entry.record_hash):
        return ChainVerdict(False, problem=ChainProblem.ENTRY_HASH, detail=f"entry_hash of {entry.index}")
    return ChainVerdict(True)


def verify_chain(
    entries: Sequence[ChainEntry],
    canonicals: Sequence[bytes | None],
    *,
    anchor: ChainEntry | None = None,
    head: tuple[int, bytes] | None = None,
) -> ChainVerdict:
    """Check a run of chain entries against the canonical bytes of their records.

    Args:
        entries: consecutive entries, in ledger order. canonicals: the records' canonical bytes, same order;
            None for a redacted record (its bytes were purged): its index, links and entry hash are still
            checked, only the record hash cannot be recomputed.
        anchor: the (trusted) entry just before ``entries[0]``; None means the run starts at GENESIS.
        head: the expected ``(last index, entry_hash)`` of the run, e.g. a sealed batch's
            ``(last_index, head_hash)``; catches truncation and extension.

    Returns:
        A :class:`ChainVerdict` naming the first bad position and why.

    Source: README "Sealed ledger".
    """
    if len(entries) != len(canonicals):
        position = min(len(entries), len(canonicals))
        detail = f"{len(entries)} entries for {len(canonicals)} records"
        return ChainVerdict(False, position, ChainProblem.COUNT, detail)
    expected = 0 if anchor is None else anchor.index + 1
    prev_hash = GENESIS if anchor is None else anchor.entry_hash
    for position, (entry, canonical) in enumerate(zip(entries, canonicals, strict=True)):
        verdict = _check_entry(entry, expected, prev_hash, canonical)
        if not verdict.ok:
            return ChainVerdict(False, position, verdict.problem, verdict.detail)
        expected, prev_hash = entry.index + 1, entry.entry_hash
    if head is not None and (expected - 1, prev_hash) != head:
        position = max(len(entries) - 1, 0)
        detail = f"chain ends at index {expected - 1}, sealed head is index {head[0]}"
        return ChainVerdict(False, position, ChainProblem.HEAD, detail)
    return ChainVerdict(True)
