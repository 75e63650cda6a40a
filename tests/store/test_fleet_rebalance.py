"""Rebalancing on the real PostgreSQL: a node that joins gets its fair share from the others by clean
handoffs; a node that left (stale heartbeat) gets no share."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.database import Store, open_store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.leases import NOW_US
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from swarmscope.store.migrate import alembic_config
from tests.store.factories import T0

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
SWARMS = [f"{i:02x}" * 20 for i in range(1, 7)]


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    assert PG_URL is not None
    stores: list[Store] = [
        open_store(PG_URL, node_key=Ed25519PrivateKey.generate(), now_us=T0) for _ in range(3)
    ]
    try:
        fleet = Fleet(stores[0])
        for infohash in SWARMS:
            fleet.add_swarm(FleetSwarm(infohash, infohash[:6], b"d4:infod", None, None, 1))
        for name, store in zip(("a", "b", "c"), stores, strict=True):
            assert store.node is not None
            fleet.start_node(NodeStart(name, store.node.fingerprint, None, 0, 6))
        yield fleet
    finally:
        with stores[0].engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        for store in stores:
            store.close()


def _held(fleet: Fleet) -> dict[str, int]:
    return {n.name: n.leases for n in fleet.status().nodes}


def test_a_joining_node_gets_its_share_by_clean_handoffs(fleet: Fleet) -> None:
    tokens = {name: [lease.token for lease in fleet.take(name, 6, 30, None)] for name in ("a", "b")}
    assert sorted(len(t) for t in tokens.values()) == [0, 6]  # a took everything (capacity 6)
    assert fleet.take("c", 6, 30, None) == []
    handed = fleet.rebalance(live_within=30)
    assert len(handed) == 4 and {node for node, _ in handed} == {"a"}  # 6 slots, 3 live nodes: 2 each
    renewed = fleet.renew("a", tokens["a"], 30)
    back = [lease.token for lease in renewed if lease.handoff]
    assert len(back) == 4
    assert fleet.take("b", 6, 30, None) == []  # the handed-off leases are live until released
    fleet.release("a", back)
    taken = {name: len(fleet.take(name, 6, 30, None)) for name in ("b", "c", "a")}
    assert taken == {"b": 2, "c": 2, "a": 0}  # each up to its share of 2; a keeps its 2
    assert _held(fleet) == {"a": 2, "b": 2, "c": 2}
    assert fleet.rebalance(live_within=30) == []  # balanced: nothing more to hand off


def test_a_node_without_a_fresh_heartbeat_gets_no_share(fleet: Fleet) -> None:
    fleet.take("a", 6, 30, None)
    with fleet.store.engine.begin() as conn:  # c's heartbeat is a minute old: it left
        conn.execute(sa.text("UPDATE fleet_node SET heartbeat_us = heartbeat_us - 60000000 WHERE name = 'c'"))
    fleet.rebalance(live_within=30)
    with fleet.store.engine.connect() as conn:
        shares = dict(conn.execute(sa.text("SELECT name, share FROM fleet_node")).all())
    assert shares == {"a": 3, "b": 3, "c": None}


def _round(fleet: Fleet, tokens: dict[str, list[int]], capacity: int) -> None:
    """One lease round of each node in ``tokens``, as :mod:`swarmscope.monitor.node` runs it: renew,
    release what the rebalancing job asked back, take up to capacity."""
    for name, held in tokens.items():
        renewed = fleet.renew(name, held, 30)
        back = [lease.token for lease in renewed if lease.handoff]
        fleet.release(name, back)
        held[:] = [lease.token for lease in renewed if not lease.handoff]
        held += [lease.token for lease in fleet.take(name, capacity - len(held), 30, None)]


def _coverage(fleet: Fleet) -> dict[str, tuple[str, ...]]:
    return {swarm.infohash: swarm.holders for swarm in fleet.status().swarms}


def test_over_share_nodes_hand_off_distinct_swarms_so_every_swarm_is_covered(fleet: Fleet) -> None:
    # 4 swarms x 2 vantages on three nodes of capacity 4, started one after the other (c, then b, then a)
    for infohash in SWARMS[4:]:
        fleet.remove_swarm(infohash)
    for infohash in SWARMS[:4]:
        fleet.add_swarm(FleetSwarm(infohash, infohash[:6], None, None, None, 2))
    with fleet.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE fleet_node SET capacity = 4"))
    tokens: dict[str, list[int]] = {}
    for name in ("c", "b", "a"):
        tokens[name] = []
        _round(fleet, tokens, 4)
    assert sorted(len(t) for t in tokens.values()) == [0, 4, 4]  # b and c hold every swarm; a joins late
    for _ in range(4):  # bounded: a few rebalancing rounds, each followed by every node's lease round
        fleet.rebalance(live_within=30)
        _round(fleet, tokens, 4)
    coverage = _coverage(fleet)
    assert all(len(holders) == 2 for holders in coverage.values()), coverage
    assert sorted(_held(fleet).values()) == [2, 3, 3]


def test_lowered_vantages_trim_the_surplus_holders(fleet: Fleet) -> None:
    tokens: dict[str, list[int]] = {name: [] for name in ("a", "b", "c")}
    for infohash in SWARMS:
        fleet.add_swarm(FleetSwarm(infohash, infohash[:6], None, None, None, 2))
    fleet.rebalance(live_within=30)
    _round(fleet, tokens, 6)
    assert all(len(holders) == 2 for holders in _coverage(fleet).values())
    fleet.add_swarm(FleetSwarm(SWARMS[0], "lowered", None, None, None, 1))
    assert [s.over_covered for s in fleet.status().swarms] == [True] + [False] * 5
    handed = fleet.rebalance(live_within=30)
    assert [infohash for _, infohash in handed] == [SWARMS[0]]
    _round(fleet, tokens, 6)
    coverage = _coverage(fleet)
    assert len(coverage[SWARMS[0]]) == 1 and all(len(h) == 2 for h in list(coverage.values())[1:]), coverage
    assert not any(s.over_covered for s in fleet.status().swarms)


def test_a_dead_nodes_swarms_are_taken_over_without_waiting_for_rebalancing(fleet: Fleet) -> None:
    fleet.rebalance(live_within=30)  # three live nodes, six swarms of one vantage: a share of 2 each
    held = {name: fleet.take(name, 6, 30, None) for name in ("a", "b", "c")}
    assert {name: len(leases) for name, leases in held.items()} == {"a": 2, "b": 2, "c": 2}
    with fleet.store.engine.begin() as conn:  # c was killed: its heartbeat and leases ran out
        conn.execute(sa.text("UPDATE fleet_node SET heartbeat_us = heartbeat_us - 60000000 WHERE name = 'c'"))
        conn.execute(sa.text(f"UPDATE fleet_lease SET expires_us = {NOW_US} - 1 WHERE node_name = 'c'"))
    taken = {name: len(fleet.take(name, 6, 30, None)) for name in ("a", "b")}  # their next lease rounds
    assert taken == {"a": 1, "b": 1}  # fair share among the two live nodes: 3 each, no rebalancing ran
    assert all(len(swarm.holders) == 1 for swarm in fleet.status().swarms)
