"""A fleet node whose lease round hangs on the database (not fails) while its leases run out.

A renewal blocked on a row lock (or on a TCP connection to a database across a network partition: no
error until the kernel gives up, minutes later) never raises, so the round's "no lease renewal for a lease
length" rule (``monitor.node.FleetNode._round``) never runs; the node's watchdog applies it instead: past
the lapse the node stops watching every swarm (README "A fleet": no swarm is watched by more nodes than
asked; a node cut off from the database for a lease length stops watching), ignores the blocked round's
late answer, and leases anew once the database answers. The fleet here has no statement or lock timeout
(``Fleet(store)``), so the watchdog alone is tested.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from swarmscope.store.database import Store
from tests.monitor.test_fleet_node import PG_URL, _fleet_of, _node, _until
from tests.monitor.test_fleet_node import store as store  # the fixture

pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
LEASE = 1.5  # seconds: the lease length of the test node (tests.monitor.test_fleet_node._node)


def test_a_node_whose_renewals_hang_stops_watching_when_its_leases_expire(
    store: Store, tmp_path: Path
) -> None:
    fleet = _fleet_of(store, tmp_path, 2)
    events: list[str] = []
    node = _node(store, fleet, events)
    live = sa.text("SELECT count(*) FROM fleet_lease WHERE expires_us > swarmscope_now_us()")

    async def scenario() -> tuple[int, int, int]:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        await _until(lambda: len(node.monitor.targets) == 2, 20)
        blocker = store.engine.connect()
        hold = blocker.begin()  # another session holds the node's row: its renewals wait on it
        blocker.execute(sa.text("SELECT 1 FROM fleet_node WHERE name = 'a' FOR UPDATE"))
        try:
            await asyncio.sleep(3 * LEASE)  # two lease lengths past the last renewal
            with store.engine.connect() as conn:
                expired_leases_live = int(conn.execute(live).scalar_one())
            watched = len(node.monitor.targets)
        finally:
            hold.rollback()
            blocker.close()
        await _until(lambda: len(node.monitor.targets) == 2, 20)  # the database answers: leased anew
        tokens = set(node.tokens().values())
        stop.set()
        await asyncio.wait_for(running, 30)
        return expired_leases_live, watched, len(tokens)

    live_leases, watched, released = asyncio.run(scenario())
    assert live_leases == 0  # in database time every lease of the node has expired
    assert watched == 0, f"still watching {watched} swarms whose leases expired; events: {events[-5:]}"
    assert sum("lease round blocked on the database" in line for line in events) == 1, events
    assert released == 2 and events[-1] == "stopped: 2 leases released", events[-3:]
