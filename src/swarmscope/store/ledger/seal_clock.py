"""The evidence clock as a node's SIGNED seal times show it: a step back, or a clock behind and then
corrected forward, between two of its batches.

A node seals its batches in chain order, so a batch whose signed ``sealed_at_us`` (UTC µs) lies more than
:data:`swarmscope.evidence.seal.CLOCK_STEP_TOLERANCE_US` (2 s) before that of a batch EARLIER in its chain
proves that the evidence clock was set back: the times of the later batch's records are not trusted.

The earlier seal times come from signed data only. A ``ledger_batch`` row counts when its bytes decode
and its Ed25519 signature verifies under a key the caller trusts (the judged batch's own key: one key is
one node, ``node_key.fingerprint`` is unique); rows are grouped by that key and ordered by their SIGNED
first index, never by the ``node_id``, ``first_index`` or ``sealed_at_us`` columns a database writer can
edit. So a row no key signed (a bogus seal time a week ahead) blocks no honest evidence, and a genuine
batch re-numbered or moved to another node's rows still proves the step it shows. Signatures are checked
lazily, only for the earlier batches whose decoded time would make a step: an honest chain costs one
decode per batch and no extra signature check.

A batch sealed while the wall clock was BEHIND or AHEAD of the clock of the last batch of the same boot,
as the boot clock sealed beside both shows (:mod:`swarmscope.evidence.boot_clock`), is refused too
("clock behind", "clock ahead"; a step back between two batches of one boot that both carry the boot
reading is judged only so);
the later batch it is judged against must verify under the same key (a bogus row cannot make an honest
batch look behind), and removing rows only removes what they prove.

Limits: a batch row deleted outright takes its seal time with it (its entries are then covered by no
batch and refused for that); the tolerance is the same 2 s as the bundle verifier's; the limits of the
boot clock are :mod:`swarmscope.evidence.boot_clock`'s.

Source: README "Only proven evidence" (clock set back); RFC 8032 (Ed25519).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.boot_clock import behind_us, same_boot, steps_back
from swarmscope.evidence.records import us_to_iso
from swarmscope.evidence.seal import (
    CLOCK_STEP_TOLERANCE_US,
    Batch,
    SealedBatch,
    batch_from_bytes,
    key_fingerprint,
    verify_seal,
)
from swarmscope.store.ledger.schema import ledger_batch


@dataclass(frozen=True, slots=True)
class ClockStep:
    """A seal time that went back along a node's chain: node fingerprint, the batch sealed earlier than the
    one before it (``ledger_batch.id``, its first chain index) and both seal times (UTC µs)."""

    node: str
    batch: int
    first: int
    before_us: int
    sealed_at_us: int


@dataclass(frozen=True, slots=True)
class ClockBehind:
    """A batch sealed while the wall clock was behind: node fingerprint, the batch (``ledger_batch.id``,
    its first chain index, its seal time in UTC µs), how far behind (µs) and the later batch of the same
    boot whose clock shows it (``ledger_batch.id``, seal time)."""

    node: str
    batch: int
    first: int
    sealed_at_us: int
    behind_us: int
    later_batch: int
    later_sealed_at_us: int


def chain_clock_faults(
    node: str, signed: list[tuple[int, int, Batch]]
) -> tuple[list[ClockStep], list[ClockBehind]]:
    """The steps back and the batches sealed behind among one node's batches whose signatures verified,
    given as (signed first index, ``ledger_batch.id``, batch) in any order; judged in signed order."""
    ordered = sorted(signed, key=lambda item: (item[0], item[2].sealed_at_us))
    batches = [b for _first, _id, b in ordered]
    steps = [
        ClockStep(node, ordered[p][1], ordered[p][0], before, ordered[p][2].sealed_at_us)
        for p, before in sorted(steps_back(batches).items())
    ]
    flagged = behind_us(batches)
    behind = [
        ClockBehind(node, ordered[p][1], ordered[p][0], ordered[p][2].sealed_at_us, us, ordered[later][1],
                    ordered[later][2].sealed_at_us)
        for p, (us, later) in sorted(flagged.items())
    ]  # fmt: skip
    return steps, behind


def raw_bytes(value: Any) -> bytes:
    """Stored bytes (a value SQLite returns as text after tampering becomes its UTF-8 bytes)."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")


@dataclass(slots=True)
class _Seal:
    """One decoded batch row: its signed first index and seal time (UTC µs); ``signed`` once checked."""

    first: int
    at_us: int
    sealed: SealedBatch
    signed: bool | None = None


@dataclass(slots=True)
class _KeySeals:
    """A key's decoded batches in signed first-index order, with the running maximum of their times."""

    firsts: list[int]
    running_max: list[int]
    seals: list[_Seal]


class SealClock:
    """The signed seal times of every batch under the trusted keys (module docstring), read once."""

    def __init__(self, conn: sa.Connection, trusted: frozenset[str]) -> None:
        self.conn, self.trusted = conn, trusted
        self._keys: dict[bytes, _KeySeals] | None = None
        self._behind: dict[bytes, dict[Batch, tuple[int, Batch]]] = {}  # key → batch → (µs, later batch)

    def _load(self) -> dict[bytes, _KeySeals]:
        grouped: dict[bytes, list[_Seal]] = {}
        c = ledger_batch.c
        for row in self.conn.execute(sa.select(c.batch_bytes, c.signature, c.public_key)):
            key = raw_bytes(row.public_key)
            if key_fingerprint(key) not in self.trusted:
                continue
            try:
                sealed = SealedBatch(
                    batch_from_bytes(raw_bytes(row.batch_bytes)), raw_bytes(row.signature), key
                )
            except DecodeError:
                continue
            grouped.setdefault(key, []).append(
                _Seal(sealed.batch.first_index, sealed.batch.sealed_at_us, sealed)
            )
        out = {}
        for key, seals in grouped.items():
            seals.sort(key=lambda s: (s.first, s.at_us))
            running, top = [], None
            for s in seals:
                top = s.at_us if top is None else max(top, s.at_us)
                running.append(top)
            out[key] = _KeySeals([s.first for s in seals], running, seals)
        return out

    def _signed(self, seal: _Seal) -> bool:
        if seal.signed is None:
            seal.signed = verify_seal(seal.sealed, seal.sealed.public_key_bytes)
        return seal.signed

    def earlier_ahead_us(self, sealed: SealedBatch) -> int | None:
        """The latest signed seal time (UTC µs) of a batch of ``sealed``'s key EARLIER in its chain (signed
        first index below ``sealed``'s) that lies over the tolerance after ``sealed``'s own, or None."""
        if self._keys is None:
            self._keys = self._load()
        found = self._keys.get(sealed.public_key_bytes)
        b = sealed.batch
        limit = b.sealed_at_us + CLOCK_STEP_TOLERANCE_US
        position = 0 if found is None else bisect.bisect_left(found.firsts, b.first_index)
        if found is None or position == 0 or found.running_max[position - 1] <= limit:
            return None  # the honest case: no decoded earlier time is ahead, nothing to verify
        ahead = [
            s.at_us
            for s in found.seals[:position]
            if s.at_us > limit and not same_boot(s.sealed.batch, b) and self._signed(s)
        ]  # a step within one boot, both batches carrying the reading, is judged by the boot clock
        return max(ahead, default=None)

    def step_back(self, sealed: SealedBatch) -> str | None:
        """``clock set back: ...`` when a signed earlier batch of ``sealed``'s node was sealed over the
        tolerance after it (module docstring), else None."""
        ahead = self.earlier_ahead_us(sealed)
        if ahead is None:
            return None
        earlier = f"before a batch earlier in the chain ({us_to_iso(ahead)})"
        return f"clock set back: its batch was sealed {us_to_iso(sealed.batch.sealed_at_us)}, {earlier}"

    def _behind_of(self, key: bytes) -> dict[Batch, tuple[int, Batch]]:
        """Batch → (µs behind, the later batch showing it) among ``key``'s batches (signed order); every
        later batch named is signed: one that is not is left out and the rest judged again."""
        if key not in self._behind:
            found = self._keys.get(key) if self._keys is not None else None
            seals = [] if found is None else list(found.seals)
            while True:
                flagged = behind_us([s.sealed.batch for s in seals])
                unsigned = {flagged[p][1] for p in flagged if not self._signed(seals[flagged[p][1]])}
                if not unsigned:
                    break
                seals = [s for i, s in enumerate(seals) if i not in unsigned]
            batches = [s.sealed.batch for s in seals]
            self._behind[key] = {batches[p]: (us, batches[later]) for p, (us, later) in flagged.items()}
        return self._behind[key]

    def behind(self, sealed: SealedBatch) -> str | None:
        """``clock behind: ...`` when ``sealed`` (signature already verified by the caller) was sealed while
        the wall clock was behind that of a later signed batch of its key and boot, else None."""
        if self._keys is None:
            self._keys = self._load()
        found = self._behind_of(sealed.public_key_bytes).get(sealed.batch)
        if found is None:
            return None
        us, later = found
        way, at = ("behind", "behind") if us > 0 else ("ahead", "ahead of")
        return (
            f"clock {way}: its batch was sealed {us_to_iso(sealed.batch.sealed_at_us)}, "
            f"{abs(us) / 1e6:.3f} s {at} the node's clock at the last batch of the same boot (sealed "
            f"{us_to_iso(later.sealed_at_us)}; the clock was corrected in between)"
        )
