"""Duplicate captures: two sealed observations carrying one capture (the same hit sealed twice).

A capture is the SHA-256 of one probe's bytes, with every event's UTC µs stamp and the probe's own secrets
(:mod:`swarmscope.evidence.capture.recording`), so an honest run never records two observations of one
capture; a second one (a writer bug re-sealing a batch, or whoever holds the key) would count one hit
twice. The first observation in chain order carrying a capture is the hit; every later one is a
duplicate. ``verify DIR`` refuses a bundle disclosing both (:func:`swarmscope.evidence.bundle.proofs.
check_captures`), ``export`` leaves the later ones out and says so, ``verify --db`` lists them, and
``cases build`` counts them once (:mod:`swarmscope.store.ledger.proven`): one rule, this module.

Pure (no I/O): chain indices in, chain indices out.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import record_from_canonical
from swarmscope.evidence.records import Observation


class CaptureIndex:
    """The first chain index of each capture, fed observations in chain order (:meth:`add`)."""

    def __init__(self) -> None:
        self.first: dict[bytes, int] = {}

    def add(self, index: int, observation: Observation) -> int | None:
        """Record ``observation`` at chain ``index``; the chain index of the earlier observation carrying
        its capture when it is a duplicate, else None (also for an observation without a capture)."""
        sha = observation.capture_sha256
        if sha is None:
            return None
        if sha in self.first:
            return self.first[sha]
        self.first[sha] = index
        return None

    def add_entry(self, index: int, kind: str, canonical: bytes | None) -> int | None:
        """:meth:`add` for a ledger entry: its ``kind`` column and canonical bytes (None: redacted). Only
        observations count; bytes that do not decode are skipped (the ledger's row check names them)."""
        if kind != "observation" or canonical is None:
            return None
        try:
            record = record_from_canonical(canonical)
        except DecodeError:
            return None
        return self.add(index, record) if isinstance(record, Observation) else None


def duplicate_captures(observations: Iterable[tuple[int, Observation]]) -> dict[int, int]:
    """``{chain index of a duplicate: chain index of the first observation with its capture}``.

    Args:
        observations: (chain index, observation) pairs of ONE node's chain, in ascending index order.
    """
    seen = CaptureIndex()
    out: dict[int, int] = {}
    for index, observation in observations:
        first = seen.add(index, observation)
        if first is not None:
            out[index] = first
    return out


def drop_duplicate_captures(
    selected: MutableMapping[int, bytes], observations: MutableMapping[int, Observation]
) -> tuple[tuple[int, str], ...]:
    """Take the duplicates out of an export's selection (both maps keyed by chain index; changed in place),
    and say so: ``((count, why),)`` for the export's ``left out:`` lines, or ``()`` when there are none."""
    found = duplicate_captures(sorted(observations.items()))
    for index in found:
        del selected[index], observations[index]
    if not found:
        return ()
    shown = ", ".join(f"{index} (of {first})" for index, first in sorted(found.items())[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    return (
        (
            len(found),
            f"observations carrying the capture of an earlier one (duplicates, counted once: chain index "
            f"{shown}{more})",
        ),
    )
