"""Two fleet nodes that lease one swarm at once both add its ``swarm`` row, on the real PostgreSQL.

Each node's monitor adds the swarm it starts watching (``store.ledger.writer.add_swarm``: select, then
insert). When both select before either commits, the second insert meets the first's row (the unique
infohash) and must take that row, not fail: a failed add left the node holding a lease on a swarm it never
started to watch (its lease round failed with "duplicate key value violates unique constraint").
"""

from __future__ import annotations

import os
import threading

import pytest

from swarmscope.store.ledger import writer
from tests.store.factories import T0, node_stores

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


def test_a_swarm_added_by_two_nodes_at_once_is_one_row_and_neither_fails() -> None:
    assert PG_URL is not None
    info = writer.SwarmInfo("dd" * 20, "dd" * 20, None, "delta", 3, 16384, 40000, b"d4:infoe", None, T0)
    with node_stores(PG_URL, 2) as (a, b):
        first_inserted, ids, errors = threading.Event(), {}, []

        def second() -> None:
            try:
                first_inserted.wait(10)
                with b.engine.begin() as conn:  # sees no row yet: the first is not committed
                    ids["b"] = writer.add_swarm(conn, info)  # blocks on the index until the first commits
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        with a.engine.begin() as conn:
            ids["a"] = writer.add_swarm(conn, info)
            first_inserted.set()
            thread.join(1.0)  # the second is waiting on our uncommitted row
            assert thread.is_alive()
        thread.join(20)
        assert not errors, errors
        assert ids["a"] == ids["b"]
