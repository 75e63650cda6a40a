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

from swarmscope.cli.fleet import status_lines
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


def test_with_no_node_of_another_vantage_free_a_node_of_the_first_ones_24_still_takes_it(
    stores: list[Store],
) -> None:
    """The choice documented in ``leases.take_leases``: a second watcher rather than none, when every
    node of another vantage is full; it corroborates nothing, so ``fleet status`` still says UNDER-COVERED."""
    fleet = Fleet(stores[0])
    fleet.add_swarm(FleetSwarm("bb" * 20, "other", b"d4:infod", None, "film", 1))
    fleet.add_swarm(FleetSwarm(SWARM_A, "film", b"d4:infod", None, "film", 2))
    for store, (name, ip) in zip(stores, NODES.items(), strict=True):
        assert store.node is not None
        fleet.start_node(NodeStart(name, store.node.fingerprint, ip, 0, 1))  # capacity 1 each
    assert [lease.infohash for lease in fleet.take("n5", 1, 30, NODES["n5"])] == ["bb" * 20]  # n5 full
    assert [lease.infohash for lease in fleet.take("n1", 1, 30, NODES["n1"])] == [SWARM_A]
    assert [lease.infohash for lease in fleet.take("n3", 1, 30, NODES["n3"])] == [SWARM_A]
    (film,) = [s for s in fleet.status().swarms if s.infohash == SWARM_A]
    assert film.holders == ("n1", "n3") and film.distinct_vantages == 1 and film.under_covered
    assert f"  {SWARM_A} film 2/2 [n1,n3] UNDER-COVERED: 2 holders on 1 vantage(s) (192.0.2.0/24)" in (
        status_lines(fleet.status())
    )


def test_status_marks_a_node_bound_behind_nat_without_a_public_ip(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    for store, (name, ip) in zip(
        stores, {"a": "10.0.1.5", "b": "198.51.100.9", "c": "100.64.2.5"}.items(), strict=True
    ):
        assert store.node is not None
        fleet.start_node(NodeStart(name, store.node.fingerprint, ip, 0, 1))
    marked = {line.split()[0]: line for line in status_lines(fleet.status())[1:4]}
    for name in ("a", "c"):
        assert marked[name].endswith(
            " BEHIND NAT (no --public-ip): no vantage, its hits corroborate no other node's"
        )
    assert "BEHIND NAT" not in marked["b"] and "ONE VANTAGE" not in marked["b"], marked["b"]
