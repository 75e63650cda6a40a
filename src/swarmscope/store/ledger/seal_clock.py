"""The evidence clock as a node's SIGNED seal times show it: a step back between two of its batches.

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

Limits: a batch row deleted outright takes its seal time with it (its entries are then covered by no
batch and refused for that); the tolerance is the same 2 s as the bundle verifier's.

Source: README "Only proven evidence" (clock set back); RFC 8032 (Ed25519).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.records import us_to_iso
from swarmscope.evidence.seal import (
    CLOCK_STEP_TOLERANCE_US,
    SealedBatch,
    batch_from_bytes,
    key_fingerprint,
    verify_seal,
)
from swarmscope.store.ledger.schema import ledger_batch


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
        ahead = [s.at_us for s in found.seals[:position] if s.at_us > limit and self._signed(s)]
        return max(ahead, default=None)

    def step_back(self, sealed: SealedBatch) -> str | None:
        """``clock set back: ...`` when a signed earlier batch of ``sealed``'s node was sealed over the
        tolerance after it (module docstring), else None."""
        ahead = self.earlier_ahead_us(sealed)
        if ahead is None:
            return None
        earlier = f"before a batch earlier in the chain ({us_to_iso(ahead)})"
        return f"clock set back: its batch was sealed {us_to_iso(sealed.batch.sealed_at_us)}, {earlier}"
