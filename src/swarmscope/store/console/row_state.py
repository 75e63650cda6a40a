"""The ledger state of a few rows, read for those rows only (a peer's trail), not for the whole store.

Same states as :class:`swarmscope.store.ledger.seal_state.SealMap` (``quarantined``: listed by crash
recovery; ``sealed``: a sealed batch of its node covers its ledger index; ``unsealed``: anything else),
but each from an index read: the covering batch is the first of its node whose ``last_index`` is not
below the row's index (the unique ``(node_id, last_index)`` index), kept when its ``first_index`` is not
above it. ``SealMap`` reads every batch and every quarantined row once, which a page about one peer of a
ledger of many thousand batches cannot afford. The clock judgement likewise reads only the runs of the
peer's observations (:func:`clock_windows`, the rules of :func:`seal_state.clock_verdicts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from swarmscope.evidence.bundle.settings import run_clock_policy
from swarmscope.evidence.clock_policy import FlagWindow, flag_windows, flagged
from swarmscope.evidence.summary import QUARANTINED, SEALED, UNSEALED, ClockVerdict
from swarmscope.store.ledger.queries import clock_sample_from_row
from swarmscope.store.ledger.schema import clock_sample, ledger_batch, monitor_run, quarantined_row


class RowSeals:
    """States of rows of one table, their covering batches cached (``batch(row)``: the batch row)."""

    def __init__(self, conn: sa.Connection, table: str, row_ids: Iterable[int]) -> None:
        self.conn, self.table = conn, table
        q = quarantined_row.c
        ids = sorted(set(row_ids))
        query = sa.select(q.row_id).where(q.table_name == table, q.row_id.in_(ids))
        self.quarantined = {int(i) for i in conn.execute(query).scalars()} if ids else set()
        self._batches: dict[tuple[int, int], Any] = {}

    def batch(self, node: int | None, index: int | None) -> Any:
        """The sealed batch row covering (node, index), or None."""
        if node is None or index is None:
            return None
        key = (int(node), int(index))
        if key not in self._batches:
            b = ledger_batch.c
            query = sa.select(b.id, b.first_index, b.last_index, b.sealed_at_us, b.recovered).where(
                b.node_id == key[0], b.last_index >= key[1]
            )
            found = self.conn.execute(query.order_by(b.last_index).limit(1)).first()
            self._batches[key] = found if found is not None and int(found.first_index) <= key[1] else None
        return self._batches[key]

    def state(self, row: Any) -> str:
        """``quarantined``, ``sealed`` or ``unsealed`` for a row of this table."""
        if int(row.id) in self.quarantined:
            return QUARANTINED
        return SEALED if self.batch(row.ledger_node, row.ledger_index) is not None else UNSEALED


def clock_windows(conn: sa.Connection, run_ids: Iterable[int]) -> dict[int, tuple[FlagWindow, ...]]:
    """Flag windows of each run that has SEALED clock samples, under the run's sealed clock policy."""
    runs = sorted(set(run_ids))
    if not runs:
        return {}
    c = clock_sample.c
    rows = list(conn.execute(sa.select(clock_sample).where(c.run_id.in_(runs)).order_by(c.id)))
    seals = RowSeals(conn, "clock_sample", (int(r.id) for r in rows))
    samples: dict[int, list[Any]] = {}
    for r in rows:
        if seals.state(r) == SEALED:
            samples.setdefault(int(r.run_id), []).append(clock_sample_from_row(r))
    m = monitor_run.c
    settings = {
        int(i): s for i, s in conn.execute(sa.select(m.id, m.settings).where(m.id.in_(list(samples))))
    }
    return {
        run: flag_windows(found, run_clock_policy(s if isinstance(s := settings.get(run), dict) else {}))
        for run, found in samples.items()
    }


def clock_verdict(windows: dict[int, tuple[FlagWindow, ...]], run_id: int, started_us: int) -> ClockVerdict:
    """``unmeasured`` (the run has no sealed sample), ``flagged`` (started in a flag window) or ``ok``."""
    if run_id not in windows:
        return "unmeasured"
    return "flagged" if flagged(started_us, windows[run_id]) is not None else "ok"
