"""A second start under a live node's name is refused whatever lease length the newcomer asks for.

README "A fleet" (Failover): a start under the name of a node that is still running is refused. The
running node's liveness is judged by its own lease length (stored with it, ``fleet_node.lease_us``), not by
the newcomer's ``--lease-seconds``: otherwise ``--lease-seconds 1`` replaces a healthy node that renews
every 10 s (30 s leases), which stops and discards the evidence it has not committed yet.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from swarmscope.store.database import Store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.registry import FleetError, NodeStart
from tests.store.factories import node_stores

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


@pytest.fixture
def store() -> Iterator[Store]:
    """One node store on a freshly migrated PostgreSQL database."""
    assert PG_URL is not None
    with node_stores(PG_URL, 1) as opened:
        yield opened[0]


@pytest.mark.xfail(strict=True, reason="liveness is judged by the newcomer's --lease-seconds, not the node's")
def test_a_short_lease_start_does_not_replace_a_live_node(store: Store) -> None:
    assert store.node is not None
    fleet = Fleet(store)
    start = NodeStart("a", store.node.fingerprint, "127.0.3.1", 0, 4)
    fleet.start_node(start, live_within=30)  # heartbeat now; it renews every 10 s
    time.sleep(1.5)  # well within its 30 s lease
    with pytest.raises(FleetError, match="node 'a' is running already"):
        fleet.start_node(start, live_within=1)  # same name and key, --lease-seconds 1
