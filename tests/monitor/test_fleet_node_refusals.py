"""A fleet node on the real PostgreSQL: what it gives back and what a late refusal may drop.

- A refusal by fencing names the token its batch was fenced by; the node drops the swarm only while it holds
  that token: one judged before the node leased the swarm again (a newer token) leaves the new lease, and
  its queued records, alone (README "A fleet", Fencing: tokens only grow).
- A swarm leased but never watched is given back at once, whichever step failed: its stored source cannot
  be read ("cannot monitor ...; lease given back"), or the monitor could not start on it ("could not start
  monitoring it"); given back, the node may lease it again at a later round (it holds no row of it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swarmscope.errors import SwarmscopeError
from swarmscope.monitor.targets import Target
from swarmscope.store.database import Store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.registry import FleetSwarm
from tests.monitor.test_fleet_node import PG_URL, _fleet_of, _node, _until
from tests.monitor.test_fleet_node import store as store  # the fixture

pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


def test_a_refusal_of_an_earlier_token_leaves_the_lease_held_now(store: Store, tmp_path: Path) -> None:
    fleet = _fleet_of(store, tmp_path, 1)
    events: list[str] = []
    node = _node(store, fleet, events)

    async def scenario() -> tuple[bool, bool, bool]:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        try:
            await _until(lambda: len(node.monitor.targets) == 1, 20)
            ((swarm, lease),) = node.leases.items()
            node._fenced({swarm: lease.token - 1})  # judged before this lease was taken: an older token
            node._fenced({swarm: None})  # its batch named no token: made while the node held none
            kept = swarm in node.leases and swarm in node.monitor.targets
            node._fenced({swarm: lease.token})  # the lease held now is refused: lost
            dropped = swarm not in node.leases and swarm not in node.monitor.targets
            said = any(e.startswith(f"dropped {swarm}: fencing refused") for e in events)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
        return kept, dropped, said

    assert asyncio.run(scenario()) == (True, True, True), events


def _gives_back(store: Store, fleet: Fleet, events: list[str], line: str, failing: bool = False) -> None:
    """Run a node until ``line`` was said twice (given back, leased again: no row of it was left)."""
    node = _node(store, fleet, events)
    if failing:

        async def refuse(target: Target) -> None:
            raise SwarmscopeError("no room for it")

        node.monitor.add_target = refuse  # type: ignore[method-assign]

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        try:
            await _until(lambda: sum(line in e for e in events) >= 2, 20)
            assert not node.monitor.targets and not node.leases
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)

    asyncio.run(scenario())


def test_a_swarm_whose_torrent_cannot_be_read_is_given_back(store: Store) -> None:
    fleet = Fleet(store)
    fleet.add_swarm(FleetSwarm("ab" * 20, "broken", b"d4:infod", None, None, 1))  # no name, no pieces
    events: list[str] = []
    _gives_back(store, fleet, events, f"cannot monitor {'ab' * 20}")
    assert all("lease given back" in e for e in events if e.startswith("cannot monitor")), events


def test_a_swarm_the_monitor_cannot_start_on_is_given_back(store: Store, tmp_path: Path) -> None:
    fleet = _fleet_of(store, tmp_path, 1)
    events: list[str] = []
    _gives_back(store, fleet, events, "could not start monitoring it (no room for it)", failing=True)
    assert events[-1] == "stopped: 0 leases released", events[-3:]
