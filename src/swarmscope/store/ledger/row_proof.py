"""Proof of evidence rows of any tier, one row at a time, for readers that show every row (``report``).

The rules are those of :mod:`swarmscope.store.ledger.proven` (README "Only proven evidence"): a row is
sealed evidence only when it rebuilds into a record whose canonical bytes hash to its ledger entry, that
entry's batch is sealed under a trusted node key and its chain holds.
"""

from __future__ import annotations

import hashlib
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


class _CoveringBatchProver(_LastBatchProver):
    """A :class:`_LastBatchProver` that reads only the batches covering the wanted index (the unique
    ``(node_id, last_index)`` index), not every batch of the node: for readers of a few rows (one peer's
    trail) in a ledger of many batches."""

    def _node_batches(self, node: int) -> tuple[list[int], list[Any]]:
        raise AssertionError("not used: _batch_for reads the covering batches only")

    def _batch_for(self, node: int, index: int) -> _Batch | str:
        last = self.last.get(node)
        if last is not None and last.first <= index <= last.last:
            return last
        b = ledger_batch.c
        covering = (b.node_id == node, b.last_index >= index, b.first_index <= index)
        query = sa.select(ledger_batch).where(*covering)
        problem = "no sealed batch covers its ledger index"
        for row in self.conn.execute(query.order_by(b.first_index.desc())):
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

    def __init__(self, conn: sa.Connection, trust: EvidenceTrust, *, few_rows: bool = False) -> None:
        """``few_rows``: read only the batches covering each row's index (a reader of one peer's rows),
        not every batch of its node once (a reader of the whole table)."""
        prover = _CoveringBatchProver if few_rows else _LastBatchProver
        self._prover = prover(conn, frozenset(f.lower() for f in trust.fingerprints), trust.now_us)

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
