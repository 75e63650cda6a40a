"""A swarm's vantages are filled by nodes of distinct source networks, not by two nodes of one /24.

Issue scope "Vantage points": each swarm is watched from N nodes with distinct source addresses (distinct
/24s in production), and ``cases build --min-vantages`` counts a /24 once (``evidence/bundle/vantage``).
The lease query keeps only identical addresses apart, so two nodes of one /24 can fill a swarm's two
vantages while a node of another network stands idle, and ``fleet status`` calls the swarm covered.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from swarmscope.store.database import Store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from tests.store.factories import SWARM_A, node_stores

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
NODES = {"n1": "192.0.2.1", "n3": "192.0.2.9", "n5": "198.51.100.1"}  # n1, n3: one /24, two /30s


@pytest.fixture
def stores() -> Iterator[list[Store]]:
    """Three node stores (three keys) on one freshly migrated PostgreSQL database."""
    assert PG_URL is not None
    with node_stores(PG_URL, 3) as opened:
        yield opened


@pytest.mark.xfail(strict=True, reason="leases keep identical addresses apart, not vantage networks (/24)")
def test_a_second_vantage_is_not_a_node_of_the_first_ones_24(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    fleet.add_swarm(FleetSwarm(SWARM_A, "film", b"d4:infod", None, "film", 2))
    for store, (name, ip) in zip(stores, NODES.items(), strict=True):
        assert store.node is not None
        fleet.start_node(NodeStart(name, store.node.fingerprint, ip, 0, 4))
    assert len(fleet.take("n1", 4, 30, NODES["n1"])) == 1
    second = fleet.take("n3", 4, 30, NODES["n3"])  # 192.0.2.9: the same vantage as n1
    third = fleet.take("n5", 4, 30, NODES["n5"])  # 198.51.100.1: a vantage of its own, idle
    assert (len(second), len(third)) == (0, 1)
