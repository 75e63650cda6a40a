"""A fleet node in-process on the real PostgreSQL: leases up to its capacity, hands swarms off when
rebalancing asks (stops monitoring them, then releases them), and releases everything on a clean stop.

No peer is contacted: the swarms announce to a closed loopback port (the announcer warns and goes on).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.fleet_monitor import FleetMonitor
from swarmscope.monitor.node import FleetNode, NodePlan
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store, alembic_config, open_store
from swarmscope.store.fleet.fencing import FencedStore
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from swarmscope.testbed.content import build_content

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


@pytest.fixture
def store() -> Iterator[Store]:
    assert PG_URL is not None
    opened = open_store(PG_URL, node_key=Ed25519PrivateKey.generate())
    try:
        yield opened
    finally:
        with opened.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        opened.close()


def _node(store: Store, fleet: Fleet, events: list[str]) -> FleetNode:
    assert store.node is not None
    config = MonitorConfig(peer_id=b"-SS0001-" + b"x" * 12, listen=False, dht=False, flush_interval=0.1)
    holder: list[FleetNode] = []
    fenced = FencedStore(store, lambda: holder[0].tokens())
    monitor = FleetMonitor(fenced, config, Clock(), events.append)
    plan = NodePlan(NodeStart("a", store.node.fingerprint, None, 0, 4), lease_seconds=1.5)
    holder.append(FleetNode(fleet, monitor, plan, events.append))
    return holder[0]


async def _until(check: object, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


def test_lease_hand_off_and_release_on_stop(store: Store, tmp_path: Path) -> None:
    fleet = Fleet(store)
    for i in range(4):
        content = build_content(tmp_path / str(i), size=16384, piece_length=16384, seed=bytes([i]),
                                announce=["http://127.0.0.1:9/announce"])  # fmt: skip
        raw = content.torrent_path.read_bytes()
        fleet.add_swarm(FleetSwarm(content.infohash_hex, content.name, raw, None, None, 1))
    events: list[str] = []
    node = _node(store, fleet, events)

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        await _until(lambda: len(node.monitor.targets) == 4, 20)
        assert store.node is not None  # a second live node joins: the share becomes 2 each
        fleet.start_node(NodeStart("b", store.node.fingerprint, None, 0, 4))
        handed = fleet.rebalance(live_within=10)
        assert len(handed) == 2 and {name for name, _ in handed} == {"a"}
        await _until(lambda: len(node.monitor.targets) == 2, 10)  # stops monitoring them first
        await _until(lambda: {n.name: n.leases for n in fleet.status().nodes}["a"] == 2, 10)  # then releases
        assert len(fleet.take("b", 4, 30, None)) == 2  # b takes what a gave back
        await asyncio.sleep(1.0)
        assert len(node.monitor.targets) == 2  # a stays at its share
        stop.set()
        await asyncio.wait_for(running, 30)

    asyncio.run(scenario())
    assert sum(e.startswith("leased ") for e in events) == 4
    assert sum(e.startswith("handing ") for e in events) == 2
    assert events[-1] == "stopped: 2 leases released"
    nodes = {n.name: n for n in fleet.status().nodes}
    assert nodes["a"].stopped and nodes["a"].leases == 0 and nodes["b"].leases == 2
