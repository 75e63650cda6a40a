"""Proof of evidence rows of any tier, one row at a time, for readers that show every row (``report``).

The rules are those of :mod:`swarmscope.store.ledger.proven` (README "Only proven evidence"): a row is
sealed evidence only when it rebuilds into a record whose canonical bytes hash to its ledger entry, that
entry's batch is sealed under a trusted node key and its chain holds.
"""

from __future__ import annotations

import bisect
import hashlib
import sys
from typing import Any

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.records import Observation, Sighting
from swarmscope.store.ledger.proven import EvidenceTrust, _Batch, _Prover
from swarmscope.store.ledger.queries import sighting_from_row
from swarmscope.store.ledger.schema import ledger_batch

_ROW_ERRORS = (DecodeError, KeyError, TypeError, ValueError, AttributeError)  # columns of a wrong type


class _LastBatchProver(_Prover):
    """A :class:`_Prover` that first tries the trusted batch it proved the previous row with: rows read in
    id order mostly lie in one batch, and any trusted batch covering an index proves it."""

    def __init__(self, conn: sa.Connection, trusted: frozenset[str], now_us: int) -> None:
        super().__init__(conn, trusted, now_us)
        self.last: dict[int, _Batch] = {}  # node id → the trusted batch found last

    def _batch_for(self, node: int, index: int) -> _Batch | str:
        last = self.last.get(node)
        if last is not None and last.first <= index <= last.last:
            return last
        found = super()._batch_for(node, index)
        if not isinstance(found, str):
            self.last[node] = found
        return found


class _Entries(dict[int, tuple[str, bytes]]):
    """A proven batch's entries read back from a :class:`ProvenBatches` record (index → kind, hash)."""

    def __init__(self, first: int, kinds: tuple[str, ...], hashes: bytes) -> None:
        super().__init__()
        self.first, self.kinds, self.hashes = first, kinds, hashes

    def __missing__(self, index: int) -> tuple[str, bytes]:
        at = index - self.first
        if not 0 <= at < len(self.kinds):
            raise KeyError(index)
        return self.kinds[at], self.hashes[32 * at : 32 * at + 32]


class ProvenBatches:
    """Batches already proven (sealed under a trusted key, chain holding), kept across requests of one
    process: a reader of a few rows at a time (the web console's peer pages) checks each batch once.

    Sound because what is kept is what the trusted seal signed: the record hash at each chain index of the
    batch (32 bytes each, with its kind). A row is still rebuilt and hashed against it every time, so a row
    edited after its batch was kept is ``altered`` all the same; an entry or batch row edited afterwards
    changes nothing the seal signed. Kept for one set of trusted keys; at most ``max_entries`` entries
    (about 40 bytes each), the oldest batch dropped first.
    """

    def __init__(self, trusted: frozenset[str], max_entries: int = 2_000_000) -> None:
        self.trusted, self.max_entries = trusted, max_entries
        self._kept: dict[int, tuple[_Batch, int, int]] = {}  # ledger_batch.id → (verdict, entries, node)
        self._firsts: dict[int, list[tuple[int, int]]] = {}  # node → sorted (first index, batch id)
        self._size = 0

    def get(self, batch_id: int) -> _Batch | None:
        """The kept verdict of batch ``batch_id``, or None."""
        found = self._kept.get(batch_id)
        return None if found is None else found[0]

    def covering(self, node: int, index: int) -> _Batch | None:
        """A kept batch of ``node`` whose range holds chain index ``index``, or None."""
        firsts = self._firsts.get(node, [])
        at = bisect.bisect_right(firsts, (index, sys.maxsize)) - 1
        if at < 0:
            return None
        found = self.get(firsts[at][1])
        return found if found is not None and found.first <= index <= found.last else None

    def keep(self, batch_id: int, node: int, verdict: _Batch) -> None:
        """Keep a batch proven under ``trusted`` (a verdict with a problem is never kept)."""
        if verdict.problem is not None or batch_id in self._kept:
            return
        ordered = sorted(verdict.entries.items())
        kinds = tuple(sys.intern(kind) for _, (kind, _) in ordered)
        hashes = b"".join(digest for _, (_, digest) in ordered)
        entries = _Entries(verdict.first, kinds, hashes)
        compact = _Batch(
            None,
            verdict.sealed_at_us,
            verdict.first,
            verdict.last,
            entries,
            verdict.signer,
            clock_problem=verdict.clock_problem,
        )
        self._kept[batch_id] = (compact, len(kinds), node)
        bisect.insort(self._firsts.setdefault(node, []), (verdict.first, batch_id))
        self._size += len(kinds)
        while self._size > self.max_entries and self._kept:
            oldest = next(iter(self._kept))
            dropped, n, its_node = self._kept.pop(oldest)
            self._firsts[its_node].remove((dropped.first, oldest))
            self._size -= n


class _CoveringBatchProver(_LastBatchProver):
    """A :class:`_LastBatchProver` that reads only the batches covering the wanted index (the unique
    ``(node_id, last_index)`` index), not every batch of the node: for readers of a few rows (one peer's
    trail) in a ledger of many batches. Proven batches come from and go to ``kept`` when given."""

    def __init__(
        self, conn: sa.Connection, trusted: frozenset[str], now_us: int, kept: ProvenBatches | None
    ) -> None:
        super().__init__(conn, trusted, now_us)
        self.kept = kept if kept is not None and kept.trusted == trusted else None

    def _node_batches(self, node: int) -> tuple[list[int], list[Any]]:
        raise AssertionError("not used: _batch_for reads the covering batches only")

    def _verdict(self, row: Any) -> _Batch:
        found = None if self.kept is None else self.kept.get(int(row.id))
        if found is not None:
            return found
        verdict = super()._verdict(row)
        if self.kept is not None:
            self.kept.keep(int(row.id), int(row.node_id), verdict)
        return verdict

    def _batch_for(self, node: int, index: int) -> _Batch | str:
        last = self.last.get(node)
        if last is not None and last.first <= index <= last.last:
            return last
        kept = None if self.kept is None else self.kept.covering(node, index)
        if kept is not None:
            return kept
        b = ledger_batch.c
        # The first batches ending at or after the index (the unique (node_id, last_index) index): a
        # covering batch is among them; an ORDER BY first_index would walk every later batch.
        query = sa.select(ledger_batch).where(b.node_id == node, b.last_index >= index)
        problem = "no sealed batch covers its ledger index"
        for row in self.conn.execute(query.order_by(b.last_index).limit(4)):
            if int(row.first_index) > index:
                continue
            verdict = self._verdict(row)
            if verdict.problem is None and verdict.first <= index <= verdict.last:
                self.last[node] = verdict
                return verdict
            problem = verdict.problem or problem
        return problem


class RowProof:
    """Proves evidence rows of ANY tier against the trusted ledger, one row at a time, for readers that show
    every row (``report``) rather than only the hits the workflow counts (:func:`proven_observations`).

    An observation row is checked by rules 1-4 and 6 of the module docstring; a duplicate (rule 5) equals
    its sealed record, so here it counts as proven. A sighting row by rules 1-4 (its entry of kind
    ``sighting``). Each batch's seal and chain are checked once (cached).
    """

    def __init__(
        self,
        conn: sa.Connection,
        trust: EvidenceTrust,
        *,
        few_rows: bool = False,
        kept: ProvenBatches | None = None,
    ) -> None:
        """``few_rows``: read only the batches covering each row's index (a reader of one peer's rows),
        not every batch of its node once (a reader of the whole table); ``kept``: batches proven by earlier
        readers of this process (used with ``few_rows``, for the same trusted keys only)."""
        trusted = frozenset(f.lower() for f in trust.fingerprints)
        if few_rows:
            self._prover: _LastBatchProver = _CoveringBatchProver(conn, trusted, trust.now_us, kept)
        else:
            self._prover = _LastBatchProver(conn, trusted, trust.now_us)

    def observation(self, row: Any) -> tuple[Observation | None, str | None]:
        """(the record rebuilt from ``row``, None when it does not rebuild; why it is not proven, or None)."""
        self._prover.record = None
        problem = self._prover.check(row)
        reason = problem if isinstance(problem, str) else None
        return self._prover.record, reason

    def sighting(self, row: Any) -> tuple[Sighting | None, str | None]:
        """As :meth:`observation`, for a ``sighting`` row."""
        try:
            record: Sighting = sighting_from_row(row)
            rebuilt = canonical_bytes(record)
        except _ROW_ERRORS as exc:
            return None, f"row altered: it no longer rebuilds into a record ({type(exc).__name__})"
        if row.ledger_node is None or row.ledger_index is None:
            return record, "not sealed in the ledger"
        batch = self._prover._batch_for(int(row.ledger_node), int(row.ledger_index))
        if isinstance(batch, str):
            return record, batch
        kind, record_hash = batch.entries[int(row.ledger_index)]
        if kind != "sighting":
            return record, f"its ledger entry is a {kind}, not a sighting"
        if hashlib.sha256(rebuilt).digest() != record_hash:
            return record, "row altered: it differs from its sealed record"
        return record, None
