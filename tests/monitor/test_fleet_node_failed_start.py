"""A fleet node whose monitor fails to start after the fleet accepted its start (its listen port taken
between ``check_listen_port`` and ``open_listener``: monitor/channels.py says the port "could still be
taken in between") records its stop all the same: its ``fleet_node`` row is stopped, so a restart under
the name is not refused as "running already" and rebalancing gives it no share.

``FleetNode.run`` records the stop (``fleet.stop_node``) whatever the monitor did (not on ``kill -9``).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from swarmscope.errors import SwarmscopeError
from swarmscope.monitor.config import MonitorConfig
from swarmscope.store.database import Store
from tests.monitor.test_fleet_node import PG_URL, _fleet_of, _node
from tests.monitor.test_fleet_node import store as store  # the fixture

pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


def test_a_node_whose_monitor_cannot_start_is_recorded_stopped(store: Store, tmp_path: Path) -> None:
    fleet = _fleet_of(store, tmp_path, 1)
    held = socket.socket()  # another program holds the listen port
    held.bind(("127.0.0.1", 0))
    held.listen()
    try:
        port = held.getsockname()[1]
        config = MonitorConfig(
            peer_id=b"-SS0001-" + b"x" * 12, listen=True, listen_port=port, bind_ip="127.0.0.1",
            dht=False, flush_interval=0.1,
        )  # fmt: skip
        node = _node(store, fleet, [], config=config)
        with pytest.raises(SwarmscopeError):
            asyncio.run(asyncio.wait_for(node.run(asyncio.Event()), 30))
    finally:
        held.close()
    (row,) = [n for n in fleet.status().nodes if n.name == "a"]
    assert row.stopped, row
    assert node.name == "a" and fleet.start_node(node.plan.start, live_within=30) == 0  # restarts at once
