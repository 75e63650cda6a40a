"""A swarm handed off by rebalancing keeps its lease until its queued evidence is committed.

monitor/node.py ``_hand_off``: what is queued for a handed-off swarm still commits under its lease. On a
loaded machine the writer's commit may not be over by the next lease round; releasing the lease then
makes the database refuse that batch by fencing (trigger ``lease_fence_current``) and its records are
dropped: evidence lost to a routine rebalancing. So the lease is kept, and renewed, while the writer has
records of the swarm queued or in the commit under way (``LedgerWriter.pending_swarms``), and released at
the first round that finds none.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from swarmscope.monitor.ledger_writer import LedgerWriter
from swarmscope.monitor.node import FleetNode, NodePlan
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from tests.store.factories import SWARM_A, node_stores, observation, sighting

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
needs_pg = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
SWARM_C = "cc" * 20


class _SlowStore:
    """An evidence ledger whose commit waits until ``go`` is set (a loaded database)."""

    def __init__(self) -> None:
        self.go = threading.Event()

    def commit_evidence(self, *_args: Any, **_kw: Any) -> None:
        assert self.go.wait(10)


def test_pending_swarms_are_the_queued_ones_and_those_of_the_commit_under_way() -> None:
    store = _SlowStore()
    writer = LedgerWriter(store, 1, Clock())  # type: ignore[arg-type]
    assert writer.pending_swarms() == set()
    writer.add(observation())
    writer.add(sighting(infohash=SWARM_C))
    assert writer.pending_swarms() == {SWARM_A, SWARM_C}

    async def scenario() -> None:
        flushing = asyncio.create_task(writer.flush())
        await asyncio.sleep(0.2)
        assert writer.pending == 0 and writer.pending_swarms() == {SWARM_A, SWARM_C}  # in the commit
        store.go.set()
        await flushing

    asyncio.run(scenario())
    assert writer.pending_swarms() == set() and writer.committed == 2


@pytest.fixture
def store() -> Iterator[Store]:
    assert PG_URL is not None
    with node_stores(PG_URL, 1) as opened:
        yield opened[0]


def _leases(fleet: Fleet) -> dict[str, int]:
    with fleet.store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT infohash, token FROM fleet_lease WHERE node_name = 'a'"))
        return {row.infohash: int(row.token) for row in rows}


@needs_pg
def test_a_handed_off_swarm_keeps_its_lease_renewed_while_its_evidence_is_pending(store: Store) -> None:
    assert store.node is not None
    fleet = Fleet(store)
    fleet.add_swarm(FleetSwarm(SWARM_C, "c", b"d4:infod", None, None, 1))
    registered = fleet.register(NodeStart("a", store.node.fingerprint, None, 0, 4), 1.5)
    (lease,) = fleet.take("a", 1, 1.5, None, registered.incarnation)
    pending: set[str] = {SWARM_C}
    writer = SimpleNamespace(pending_swarms=lambda: set(pending), waiting_seconds=lambda: 0.0)
    monitor = SimpleNamespace(
        evidence=SimpleNamespace(writer=writer, on_fenced=None), on_metadata=None, fleet_addresses=set(),
        leases_changed=lambda _fence: None, clock=Clock(), pending_swarms=writer.pending_swarms,
    )  # fmt: skip
    node = FleetNode(fleet, monitor, NodePlan(NodeStart("a", store.node.fingerprint, None, 0, 4), 1.5),
                     print)  # type: ignore[arg-type]  # fmt: skip
    node.incarnation, node._handing = registered.incarnation, {SWARM_C: lease}  # handed off last round

    async def no_clock() -> None:
        return None

    node._measure_clock = no_clock  # type: ignore[method-assign]

    async def rounds() -> None:
        for _ in range(3):  # 3 rounds over 2.25 s: past the 1.5 s lease, kept by renewal
            await node._renew()
            assert _leases(fleet) == {SWARM_C: lease.token} and node.tokens() == {SWARM_C: lease.token}
            await asyncio.sleep(0.75)
        pending.clear()  # committed: released at the next round, and fenced without it from then on
        await node._renew()
        assert _leases(fleet) == {} and node.tokens() == {} and node._handing == {}

    asyncio.run(rounds())
