"""Fleet leases and fencing on the real PostgreSQL (``SWARMSCOPE_TEST_PG_URL``, started by tests/conftest.py).

Concurrent takers on separate connections, takeovers that grow the token, the vantages limit enforced by
the database, and fenced batches: a node whose lease expired or was taken over cannot seal evidence for
that swarm (nothing of its batch is written).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.records import ClockSample
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.fleet import registry
from swarmscope.store.fleet.fencing import FencedStore, FencingRefused
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.leases import NodeReplaced
from swarmscope.store.fleet.registry import FleetError, FleetSwarm, NodeStart
from tests.store.factories import SWARM_A, SWARM_B, T0, node_stores, observation, sighting

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
SWARMS = [f"{i:02x}" * 20 for i in range(1, 7)]


@pytest.fixture
def stores() -> Iterator[list[Store]]:
    """Three node stores (three keys) on one freshly migrated PostgreSQL database."""
    assert PG_URL is not None
    with node_stores(PG_URL, 3) as opened:
        yield opened


def _start(fleet: Fleet, store: Store, name: str, ip: str | None = None, capacity: int = 4) -> None:
    assert store.node is not None
    fleet.start_node(NodeStart(name, store.node.fingerprint, ip, 0, capacity))


def _register(fleet: Fleet, hashes: list[str], vantages: int = 2) -> None:
    for infohash in hashes:
        fleet.add_swarm(FleetSwarm(infohash, infohash[:8], b"d4:infod", None, "film", vantages))


def _crash(fleet: Fleet, name: str) -> None:
    """Make node ``name`` look killed: its heartbeat a minute old (the process stopped renewing)."""
    with fleet.store.engine.begin() as conn:
        query = "UPDATE fleet_node SET heartbeat_us = heartbeat_us - 60000000 WHERE name = :n"
        conn.execute(sa.text(query), {"n": name})


def _lease_rows(store: Store) -> list[sa.Row[tuple[str, str, int]]]:
    with store.engine.connect() as conn:
        query = "SELECT infohash, node_name, token FROM fleet_lease ORDER BY infohash, node_name"
        return list(conn.execute(sa.text(query)).all())


def test_concurrent_takers_cover_every_swarm_by_its_vantages(stores: list[Store]) -> None:
    fleets = [Fleet(s) for s in stores]
    _register(fleets[0], SWARMS)
    for i, (fleet, store) in enumerate(zip(fleets, stores, strict=True)):
        _start(fleet, store, f"n{i}", f"127.0.0.{10 + 4 * i}", capacity=5)  # one /30 each
    barrier = threading.Barrier(3)
    taken: dict[str, list[str]] = {}

    def take(i: int) -> None:
        barrier.wait()
        got: list[str] = []
        for _ in range(6):  # several rounds, as a node's lease loop does
            got += [
                lease.infohash for lease in fleets[i].take(f"n{i}", 5 - len(got), 30, f"127.0.0.{10 + 4 * i}")
            ]
            time.sleep(0.01)
        taken[f"n{i}"] = got

    threads = [threading.Thread(target=take, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    rows = _lease_rows(stores[0])
    per_swarm = {h: [r.node_name for r in rows if r.infohash == h] for h in SWARMS}
    # 12 slots for 3 x 5 capacity: with that slack the least-covered-first greedy covers every swarm
    assert all(len(set(holders)) == 2 for holders in per_swarm.values()), per_swarm
    assert sum(len(v) for v in taken.values()) == 12 and max(len(v) for v in taken.values()) <= 5
    assert len({r.token for r in rows}) == len(rows)
    assert all(s.holders and not s.under_covered for s in fleets[0].status().swarms)


def test_takeover_grows_the_token_and_the_old_holder_loses_it(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    _register(fleet, [SWARM_A], vantages=1)
    _start(fleet, stores[0], "a")
    _start(fleet, stores[1], "b")
    (first,) = fleet.take("a", 1, 0.2, None)
    assert fleet.take("b", 1, 30, None) == []  # one vantage, held and live
    time.sleep(0.3)
    (second,) = fleet.take("b", 1, 30, None)
    assert second.infohash == SWARM_A and second.token > first.token
    assert fleet.renew("a", [first.token], 30) == []  # lost: a's renewal finds nothing
    assert [r.node_name for r in _lease_rows(stores[0])] == ["b"]


def test_the_database_refuses_more_leases_than_vantages(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    _register(fleet, [SWARM_A], vantages=1)
    for name, store in zip("abc", stores, strict=True):
        _start(fleet, store, name)
    fleet.take("a", 1, 30, None)
    insert = (
        "INSERT INTO fleet_lease (infohash, node_name, token, taken_us, expires_us)"
        " VALUES (:h, 'b', nextval('fleet_lease_token'), 0, swarmscope_now_us() + 30000000)"
    )
    refused = pytest.raises(sa.exc.DBAPIError, match="already has 1 of 1 wanted leases")
    with refused, stores[0].engine.begin() as conn:
        conn.execute(sa.text(insert), {"h": SWARM_A})


def test_nodes_on_one_source_address_are_not_two_vantages(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    _register(fleet, [SWARM_A], vantages=2)
    _start(fleet, stores[0], "a", "127.0.0.10")
    with pytest.raises(FleetError, match=r"shares the range 127\.0\.0\.8/30 with node 'a'"):
        _start(fleet, stores[1], "b", "127.0.0.10")  # refused at registration already
    _start(fleet, stores[1], "b")  # registered without address: the lease query still keeps vantages apart
    assert len(fleet.take("a", 1, 30, "127.0.0.10")) == 1
    assert fleet.take("b", 1, 30, "127.0.0.10") == []


@pytest.mark.parametrize(
    ("first", "second", "other_range", "neighbour"),
    [
        ("127.0.3.1", "127.0.3.2", "127.0.3.5", "127.0.3.6"),  # /30s: 127.0.3.0-3, 127.0.3.4-7
        ("fd00:1::1", "fd00:1::ffff:1", "fd00:2::1", "fd00:2::2"),  # /64s: fd00:1::/64, fd00:2::/64
    ],
)
def test_nodes_of_one_ban_range_are_refused_at_registration(
    stores: list[Store], first: str, second: str, other_range: str, neighbour: str
) -> None:
    fleet = Fleet(stores[0])
    _start(fleet, stores[0], "a", first)
    with pytest.raises(FleetError, match=f"node 'b' at {second} shares the range .* with node 'a'"):
        _start(fleet, stores[1], "b", second)
    assert {r.name for r in fleet.status().nodes} == {"a"}  # nothing of b stored
    _start(fleet, stores[1], "b", other_range)
    _crash(fleet, "a")
    _start(fleet, stores[0], "a", first)  # a restart under its own name keeps its address
    fleet.stop_node("b", [])  # a cleanly stopped node frees its range...
    _start(fleet, stores[2], "c", neighbour)
    with pytest.raises(FleetError, match="shares the range"):
        _start(fleet, stores[1], "b", other_range)  # ...and is checked again when it restarts


def _batches(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM ledger_batch")).scalar_one())


def test_a_late_write_of_a_taken_over_swarm_is_refused_whole(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    _register(fleet, [SWARM_A, SWARM_B], vantages=1)
    _start(fleet, stores[0], "a")
    _start(fleet, stores[1], "b")
    held_a = {lease.infohash: lease.token for lease in fleet.take("a", 2, 0.3, None)}
    fenced_a = FencedStore(stores[0], lambda: held_a)
    run_a = stores[0].start_run({}, "0.1.0", T0)
    fenced_a.commit_evidence(run_a, records=[observation(), sighting()], sealed_at_us=T0)  # held: sealed
    before = _batches(stores[0])
    time.sleep(0.4)  # a "pauses" past its lease; b takes SWARM_A over, SWARM_B stays expired
    assert [lease.infohash for lease in fleet.take("b", 1, 30, None)] == [SWARM_A]
    with pytest.raises(FencingRefused) as refused:
        fenced_a.commit_evidence(run_a, records=[observation(ip="127.0.0.9")], sealed_at_us=T0 + 1)
    assert refused.value.swarms == {SWARM_A}
    assert str(refused.value).endswith(
        f"lease token {held_a[SWARM_A]} of swarm {SWARM_A} is not held by this node"
    )
    with pytest.raises(FencingRefused) as expired:  # nobody took SWARM_B, but the lease expired
        fenced_a.commit_evidence(run_a, records=[observation(infohash=SWARM_B)], sealed_at_us=T0 + 2)
    assert expired.value.swarms == {SWARM_B}
    assert _batches(stores[0]) == before  # nothing of the refused batches was written
    (lease_b,) = fleet.renew("b", [r.token for r in _lease_rows(stores[0]) if r.node_name == "b"], 30)
    held_b = {SWARM_A: lease_b.token}
    run_b = stores[1].start_run({}, "0.1.0", T0)
    FencedStore(stores[1], lambda: held_b).commit_evidence(
        run_b, records=[observation()], sealed_at_us=T0 + 3
    )
    assert _batches(stores[0]) == before + 1


def test_a_record_of_a_swarm_without_lease_is_refused_before_the_database(stores: list[Store]) -> None:
    run = stores[0].start_run({}, "0.1.0", T0)
    with pytest.raises(FencingRefused, match="holds no lease") as refused:
        FencedStore(stores[0], dict).commit_evidence(run, records=[sighting()], sealed_at_us=T0)
    assert refused.value.swarms == {SWARM_A}


def test_a_name_keeps_its_key_and_a_restart_drops_old_leases(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    _register(fleet, [SWARM_A])
    _start(fleet, stores[0], "a")
    fleet.take("a", 1, 30, None)
    with pytest.raises(FleetError, match="registered with key"):
        _start(fleet, stores[1], "a")
    assert stores[0].node is not None
    _crash(fleet, "a")
    assert fleet.start_node(NodeStart("a", stores[0].node.fingerprint, None, 0, 4)) == 1
    assert _lease_rows(stores[0]) == []


def test_an_ipv4_mapped_address_is_in_its_ipv4_ban_range(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    _start(fleet, stores[0], "a", "127.0.3.5")
    with pytest.raises(FleetError, match=r"shares the range 127\.0\.3\.4/30 with node 'a'"):
        _start(fleet, stores[1], "b", "::ffff:127.0.3.6")


def test_a_dead_node_is_labelled_and_retired_which_frees_its_range(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    _register(fleet, [SWARM_A])
    _start(fleet, stores[0], "a", "127.0.3.29")  # lease length 30 s (start_node's default)
    (held,) = fleet.take("a", 1, 30, "127.0.3.29")
    with pytest.raises(FleetError, match="holds 1 live lease"):
        fleet.retire_node("a")
    fleet.release("a", [held.token])
    with pytest.raises(FleetError, match="not dead"):
        fleet.retire_node("a")
    _crash(fleet, "a")  # silent 60 s: two lease periods, not yet dead
    assert not fleet.status().nodes[0].dead
    _crash(fleet, "a")  # 120 s: more than 3 lease periods
    assert fleet.status().nodes[0].dead
    with pytest.raises(FleetError, match="shares the range"):
        _start(fleet, stores[1], "b", "127.0.3.30")
    assert fleet.retire_node("a") == 0
    with pytest.raises(FleetError, match="no node named 'a'"):
        fleet.retire_node("a")
    _start(fleet, stores[1], "b", "127.0.3.30")  # the range is free
    assert [n.name for n in fleet.status().nodes] == ["b"]


def test_a_name_registered_again_after_retire_never_reuses_an_incarnation(stores: list[Store]) -> None:
    """A paused process of a retired node holds the incarnation of its start; the name registered again
    (``fleet retire`` deleted its row) must get another number, else the paused process passes every
    incarnation check when it resumes. Fails when a new row starts counting at 1 again."""
    fleet = Fleet(stores[0])
    _register(fleet, [SWARM_A])
    assert stores[0].node is not None
    old = fleet.register(NodeStart("a", stores[0].node.fingerprint, "127.0.3.41", 0, 4), live_within=30)
    _crash(fleet, "a")
    _crash(fleet, "a")  # dead: more than 3 lease periods silent
    assert fleet.retire_node("a") == 0
    new = fleet.register(NodeStart("a", stores[0].node.fingerprint, "127.0.3.45", 0, 4), live_within=30)
    assert new.incarnation != old.incarnation
    with pytest.raises(NodeReplaced):
        fleet.take("a", 1, 30, "127.0.3.41", old.incarnation)  # the paused old process resumes
    assert len(fleet.take("a", 1, 30, "127.0.3.45", new.incarnation)) == 1


def test_two_starts_of_one_key_at_once_without_bind_register_one(stores: list[Store]) -> None:
    """Two starts with one key under two names, neither with ``--bind``, overlapping in time: the second
    must see the first's uncommitted row (registrations are serialised) and be refused. Fails when only
    a start with ``--bind`` takes the registration lock: both names register on one key."""
    fleet = Fleet(stores[0])
    assert stores[0].node is not None
    key = stores[0].node.fingerprint
    outcome: list[str] = []

    def second() -> None:
        try:
            fleet.register(NodeStart("b", key, None, 0, 4), live_within=30)
            outcome.append("registered")
        except FleetError as exc:
            outcome.append(str(exc))

    with fleet.store.engine.begin() as conn:  # the first start, its transaction still open
        registry.register_node(conn, NodeStart("a", key, None, 0, 4), 30)
        racer = threading.Thread(target=second)
        racer.start()
        time.sleep(1.0)  # the second start runs its checks now (or waits for the lock)
    racer.join(30)
    assert not racer.is_alive()
    assert len(outcome) == 1 and "is registered already under node 'a'" in outcome[0], outcome
    assert [n.name for n in fleet.status().nodes] == ["a"]


def test_one_key_is_refused_under_a_second_name(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    _start(fleet, stores[0], "a", "127.0.3.1")
    with pytest.raises(FleetError, match="is registered already under node 'a'"):
        _start(fleet, stores[0], "b", "127.0.3.9")  # a's key, another name and address
    assert [n.name for n in fleet.status().nodes] == ["a"]
    _start(fleet, stores[1], "b", "127.0.3.9")  # its own key: accepted


def test_a_second_process_under_a_live_nodes_name_is_refused(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    _register(fleet, [SWARM_A])
    _start(fleet, stores[0], "a", "127.0.3.1")
    (held,) = fleet.take("a", 1, 30, "127.0.3.1")
    with pytest.raises(FleetError, match="node 'a' is running already"):
        _start(fleet, stores[0], "a", "127.0.3.13", capacity=10)  # same name and key, another address
    assert [lease.token for lease in fleet.renew("a", [held.token], 30)] == [held.token]  # still a's
    (node,) = fleet.status().nodes
    assert (node.source_ip, node.capacity, node.stopped, node.leases) == ("127.0.3.1", 4, False, 1)
    with pytest.raises(FleetError, match="shares the range"):  # a's /30 stays taken
        _start(fleet, stores[1], "b", "127.0.3.2")
    _crash(fleet, "a")  # killed: its heartbeat goes stale, and a restart rejoins
    assert fleet.start_node(NodeStart("a", node.fingerprint, "127.0.3.1", 0, 4), live_within=30) == 1


def test_the_fleet_refuses_sqlite(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    store = open_store(str(tmp_path / "x.db"), node_key=key, now_us=T0)
    with store, pytest.raises(FleetError, match="needs PostgreSQL"):
        Fleet(store)
    assert key_fingerprint(public_key_raw(key))


def test_a_fleet_node_cannot_write_around_its_leases(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    _register(fleet, [SWARM_A], vantages=1)
    _start(fleet, stores[0], "a")
    fleet.take("a", 1, 30, None)
    run = stores[0].start_run({}, "0.1.0", T0)
    before = _batches(stores[0])
    with pytest.raises(StoreError, match="names no lease of swarm " + SWARM_A):
        stores[0].commit_evidence(run, records=[observation()], sealed_at_us=T0)  # the plain store: no fence
    assert _batches(stores[0]) == before
    stores[0].commit_evidence(run, records=[ClockSample("127.0.0.1:123", T0, 5)], sealed_at_us=T0)  # no swarm
    other = stores[2].start_run({}, "0.1.0", T0)  # a key that is no fleet node: a plain monitor, unfenced
    stores[2].commit_evidence(other, records=[observation()], sealed_at_us=T0)
    assert _batches(stores[0]) == before + 2


def test_status_shows_the_writer_lag_the_heartbeat_reported_and_the_last_batch_apart(
    stores: list[Store],
) -> None:
    fleet = Fleet(stores[0])
    _register(fleet, [SWARM_A], vantages=1)
    _start(fleet, stores[0], "a")
    held = {lease.infohash: lease.token for lease in fleet.take("a", 1, 30, None)}
    run = stores[0].start_run({}, "0.1.0", T0)
    FencedStore(stores[0], lambda: held).commit_evidence(run, records=[observation()], sealed_at_us=T0)
    fleet.renew("a", list(held.values()), 30, 0.0)  # idle: nothing pending in its writer
    node = fleet.status().nodes[0]
    assert node.writer_lag == 0.0  # not "now minus its last batch": an idle writer does not lag
    assert node.last_batch_age is not None and node.last_batch_age > 1000  # sealed at T0, days ago
    fleet.renew("a", list(held.values()), 30, 2.5)  # its oldest uncommitted record waited 2.5 s
    assert fleet.status().nodes[0].writer_lag == 2.5
