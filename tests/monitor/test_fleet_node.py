"""A fleet node in-process on the real PostgreSQL: leases up to its capacity, hands swarms off when
rebalancing asks (stops monitoring them, then releases them), and releases everything on a clean stop;
with a DHT node it finds the peers of a leased swarm that names no tracker through the Mainline DHT, as
``monitor`` does (a bootstrap node of ours on loopback, never the public routers).

No peer is contacted in the first test: the swarms announce to a closed loopback port (the announcer
warns and goes on).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cli.fleet import status_lines
from swarmscope.evidence.bundle.clock_judgement import judge_clock
from swarmscope.evidence.bundle.settings import RunIndex
from swarmscope.evidence.records import ClockSample
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.fleet_monitor import FleetMonitor
from swarmscope.monitor.node import FleetNode, NodePlan
from swarmscope.net.clock import Clock
from swarmscope.net.dht_node import DhtNode
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.fleet.fencing import FencedStore
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.leases import NodeReplaced
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from swarmscope.store.ledger.proven import store_trust
from swarmscope.store.ledger.proven_records import proven_clock
from swarmscope.store.ledger.queries import load_observations
from swarmscope.store.legal import cases as case_rows
from swarmscope.store.legal.schema import work
from swarmscope.testbed.content import build_content
from swarmscope.wire.types import Endpoint
from tests.pg_server import drop_schema

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


@pytest.fixture
def store() -> Iterator[Store]:
    assert PG_URL is not None
    opened = open_store(PG_URL, node_key=Ed25519PrivateKey.generate())
    try:
        yield opened
    finally:
        opened.close()
        drop_schema(PG_URL)  # not a downgrade: a sealed workflow event (a work) pins revision 0008


def _node(
    store: Store,
    fleet: Fleet,
    events: list[str],
    config: MonitorConfig | None = None,
    references: dict[int, str] | None = None,
    clock: Clock | None = None,
) -> FleetNode:
    assert store.node is not None
    config = config or MonitorConfig(
        peer_id=b"-SS0001-" + b"x" * 12, listen=False, dht=False, flush_interval=0.1
    )
    holder: list[FleetNode] = []
    fenced = FencedStore(store, lambda: holder[0].tokens(), lambda: holder[0].identity())
    monitor = FleetMonitor(fenced, config, clock or Clock(), events.append)
    plan = NodePlan(NodeStart("a", store.node.fingerprint, None, 0, 4), lease_seconds=1.5)
    holder.append(FleetNode(fleet, monitor, plan, events.append, references=references))
    return holder[0]


def _fleet_of(store: Store, tmp_path: Path, count: int) -> Fleet:
    """The fleet of ``store`` with ``count`` one-piece swarms registered, announcing to a closed port."""
    fleet = Fleet(store)
    for i in range(count):
        content = build_content(tmp_path / str(i), size=16384, piece_length=16384, seed=bytes([i]),
                                announce=["http://127.0.0.1:9/announce"])  # fmt: skip
        raw = content.torrent_path.read_bytes()
        fleet.add_swarm(FleetSwarm(content.infohash_hex, content.name, raw, None, None, 1))
    return fleet


async def _until(check: object, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


def test_lease_hand_off_and_release_on_stop(store: Store, tmp_path: Path) -> None:
    fleet = _fleet_of(store, tmp_path, 4)
    events: list[str] = []
    node = _node(store, fleet, events)

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        await _until(lambda: len(node.monitor.targets) == 4, 20)
        assert PG_URL is not None  # a second live node (its own key) joins: the share becomes 2 each
        with open_store(PG_URL, node_key=Ed25519PrivateKey.generate()) as other:
            assert other.node is not None
            fleet.start_node(NodeStart("b", other.node.fingerprint, None, 0, 4))
        handed = fleet.rebalance(live_within=10)
        assert len(handed) == 2 and {name for name, _ in handed} == {"a"}
        await _until(lambda: len(node.monitor.targets) == 2, 10)  # stops monitoring them first
        await _until(lambda: {n.name: n.leases for n in fleet.status().nodes}["a"] == 2, 10)  # then releases
        assert len(fleet.take("b", 4, 30, None)) == 2  # b takes what a gave back
        await asyncio.sleep(1.0)
        assert len(node.monitor.targets) == 2  # a stays at its share
        lag = {n.name: n.writer_lag for n in fleet.status().nodes}["a"]  # reported with its heartbeat
        assert lag is not None and lag < 1.0, lag  # nothing waits long in its writer (flushed every 0.1 s)
        stop.set()
        await asyncio.wait_for(running, 30)

    asyncio.run(scenario())
    assert sum(e.startswith("leased ") for e in events) == 4
    assert sum(e.startswith("handing ") for e in events) == 2
    assert events[-1] == "stopped: 2 leases released"
    nodes = {n.name: n for n in fleet.status().nodes}
    assert nodes["a"].stopped and nodes["a"].leases == 0 and nodes["b"].leases == 2


def test_a_replaced_node_stops_and_takes_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    fleet = _fleet_of(store, tmp_path, 2)
    events: list[str] = []
    node = _node(store, fleet, events)
    assert store.node is not None
    newer_start = NodeStart("a", store.node.fingerprint, None, 0, 4)

    async def scenario() -> list[int]:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        await _until(lambda: len(node.monitor.targets) == 2, 20)
        # the process is "paused" (its stored lease length and live_within 0: its heartbeat counts as
        # stale; liveness is judged by the longer of the two): a newer one starts
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE fleet_node SET lease_us = 0 WHERE name = 'a'"))
        newer = fleet.register(newer_start, live_within=0)
        assert newer.dropped == 2 and newer.incarnation == node.incarnation + 1  # type: ignore[operator]
        taken = fleet.take("a", 4, 30, None, newer.incarnation)
        with pytest.raises(NodeReplaced, match="replaced by a newer process under a"):
            await asyncio.wait_for(running, 30)  # the old one resumes its rounds: refused, it stops
        return sorted(lease.token for lease in taken)

    tokens = asyncio.run(scenario())
    assert node.monitor.targets == {} and node.tokens() == {}
    assert not any("commit failed" in e or "NOT committed" in e for e in events), events  # nothing retried
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT node_name, token FROM fleet_lease ORDER BY token")).all()
        batches = conn.execute(sa.text("SELECT count(*) FROM ledger_batch")).scalar_one()
    assert [(r.node_name, r.token) for r in rows] == [("a", t) for t in tokens]  # the newer one's, untouched
    (status,) = fleet.status().nodes
    assert not status.stopped  # the old process did not record a stop of the newer one
    run = store.start_run({}, "0.1.0")
    late = FencedStore(store, dict, node.identity)
    with pytest.raises(NodeReplaced):  # a late batch of the old process, even one with no swarm
        late.commit_evidence(run, records=[ClockSample("127.0.0.1:123", 1, 5)], sealed_at_us=1)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ledger_batch")).scalar_one() == batches


HOURS_3_US = 3 * 3600 * 1_000_000


def test_a_node_clock_hours_behind_the_database_is_sealed_flagged_and_shown(
    store: Store, tmp_path: Path
) -> None:
    fleet = Fleet(store)
    content = build_content(tmp_path / "c", size=16384, piece_length=16384, seed=b"c",
                            announce=["http://127.0.0.1:9/announce"])  # fmt: skip
    fleet.add_swarm(FleetSwarm(content.infohash_hex, content.name, content.torrent_path.read_bytes(),
                               None, None, 1))  # fmt: skip
    events: list[str] = []
    behind = Clock(offset_us=-HOURS_3_US)
    node = _node(store, fleet, events, clock=behind)

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        await _until(lambda: any(n.clock_offset is not None for n in fleet.status().nodes), 20)
        await asyncio.sleep(1.0)  # a round or two: the samples are committed by the writer
        stop.set()
        await asyncio.wait_for(running, 30)

    asyncio.run(scenario())
    (status,) = fleet.status().nodes
    assert status.clock_offset is not None and 10_799 < status.clock_offset < 10_801, status
    assert status.clock_off and status.clock_threshold == 0.1
    assert status.last_batch_age is not None and 0 <= status.last_batch_age < 60  # not "-10800 s ago"
    line = status_lines(fleet.status())[1]
    assert " clock 10800." in line and "s behind database CLOCK OFF (> 100 ms" in line, line
    assert any("clock: time server fleet-database" in e and "exceeds 100 ms" in e for e in events), events
    assert store.node is not None
    (clock,) = proven_clock(store, store_trust(store, None), {store.node.id}).values()
    samples = [sample for _index, sample in clock.samples]
    assert samples and {s.server for s in samples} == {"fleet-database"}
    judgement = judge_clock(RunIndex(clock.runs), samples)  # the rule cases build and export apply
    assert judgement.flag_of(behind.now_us()) is not None  # a hit of this node now would be flagged


DHT_PEER = Endpoint("127.0.4.2", 9)  # named by the DHT only (the discard port: the probe fails, it is found)


def test_a_leased_swarm_is_looked_up_in_the_dht_and_its_peers_probed(store: Store, tmp_path: Path) -> None:
    fleet = Fleet(store)
    content = build_content(tmp_path / "d", size=16384, piece_length=16384, seed=b"dht", announce=[])
    fleet.add_swarm(FleetSwarm(content.infohash_hex, content.name, content.torrent_path.read_bytes(), None,
                               None, 1))  # fmt: skip
    wire = bytes.fromhex(content.infohash_hex)
    events: list[str] = []

    async def scenario() -> None:
        bootstrap = DhtNode(bind=("127.0.4.1", 0), query_timeout=1.0)
        await bootstrap.start()
        bootstrap.store.add(wire, DHT_PEER, True, Clock.monotonic())
        try:
            config = MonitorConfig(
                peer_id=b"-SS0001-" + b"d" * 12, bind_ip="127.0.4.3", listen=False, dht=True,
                dht_bootstrap=[bootstrap.address], flush_interval=0.1,
            )  # fmt: skip
            node = _node(store, fleet, events, config)
            stop = asyncio.Event()
            running = asyncio.create_task(node.run(stop))
            await _until(lambda: _probed(store), 30)  # the DHT named it, the node probed it and sealed that
            assert wire in node.monitor.dht_swarms
            assert fleet.remove_swarm(content.infohash_hex)  # the lease goes with it: so does the lookup
            await _until(lambda: wire not in node.monitor.dht_swarms, 10)
            stop.set()
            await asyncio.wait_for(running, 30)
        finally:
            bootstrap.stop()

    asyncio.run(scenario())
    (probe,) = [o for o in load_observations(store) if (o.ip, o.port) == (DHT_PEER.host, DHT_PEER.port)]
    assert probe.source == "dht" and probe.infohash == content.infohash_hex


def _probed(store: Store) -> bool:
    return any((o.ip, o.port) == (DHT_PEER.host, DHT_PEER.port) for o in load_observations(store))


def test_reading_a_large_reference_copy_does_not_hold_up_the_lease_rounds(
    store: Store, tmp_path: Path
) -> None:
    """A film's copy takes longer to hash than a lease lasts: the node keeps renewing meanwhile."""
    lt = pytest.importorskip("libtorrent")
    size, piece = 3 << 30, 4 << 20  # bytes: a 3 GiB single-file torrent (its piece hashes match nothing)
    info = {
        b"name": b"big.bin",
        b"piece length": piece,
        b"length": size,
        b"pieces": b"\1" * 20 * (size // piece),
    }
    infohash = hashlib.sha1(lt.bencode(info)).hexdigest()
    big = tmp_path / "big.bin"
    with big.open("wb") as sparse:
        sparse.truncate(size)  # zeros, read from no disk
    film = case_rows.add_work(store, "Studio", "Big", None, None, 1)
    with store.engine.begin() as conn:  # registered on another machine (hashing 3 GiB here is not the point)
        conn.execute(sa.update(work).values(reference_path="/elsewhere/big.bin", reference_sha256="00" * 32))
    fleet = Fleet(store)
    fleet.add_swarm(FleetSwarm(infohash, "big.bin", lt.bencode({b"info": info}), None, "Big", 1))
    events: list[str] = []
    node = _node(store, fleet, events, references={film: str(big)})
    ages: list[float] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        await _until(lambda: any(e.startswith("leased ") for e in events), 20)
        while not any(e.startswith("reference copy of work") for e in events):
            assert len(ages) < 1500, events  # 300 s
            ages.extend(n.heartbeat_age for n in (await asyncio.to_thread(fleet.status)).nodes)
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(running, 30)

    asyncio.run(scenario())
    assert (
        f"reference copy of work {film} (Big) at {big}: 0 pieces back block proofs of {infohash}"
        in " ".join(events)
    )
    assert len(ages) >= 5 and max(ages) < 1.5, ages  # renewed every 0.5 s all along, never past the lease
    assert not any(e.startswith("dropped") for e in events), events


def test_a_magnets_reference_copy_is_read_once_its_metainfo_arrives(store: Store, tmp_path: Path) -> None:
    """Leased before any peer serves its info dict; BEP 9 then gets it from the magnet's own x.pe peer (a
    libtorrent seed on loopback started only now), and the node's copy is read against it."""
    from tests.net.lt_seed import make_torrent, seed

    torrent = make_torrent(tmp_path)
    copy = tmp_path / "node" / "film.bin"
    copy.parent.mkdir()
    copy.write_bytes((tmp_path / "content.bin").read_bytes())
    film = case_rows.add_work(store, "Studio", "Film", None, None, 1)
    with store.engine.begin() as conn:  # registered on another machine: only its identity matters here
        conn.execute(sa.update(work).values(reference_path="/elsewhere/film.bin", reference_sha256="00" * 32))
    infohash = hashlib.sha1(lt_info(torrent)).hexdigest()
    magnet = f"magnet:?xt=urn:btih:{infohash}&dn=film&x.pe=127.0.7.1:6881"
    Fleet(store).add_swarm(FleetSwarm(infohash, "film", None, magnet, "Film", 1))
    config = MonitorConfig(
        peer_id=b"-SS0001-" + b"m" * 12, bind_ip="127.0.7.2", listen=False, dht=False, flush_interval=0.1,
        metadata_timeout=2.0,
    )  # fmt: skip
    events: list[str] = []
    node = _node(store, Fleet(store), events, config, references={film: str(copy)})
    waits = f"reference copy of work {film} (Film) waits for magnet {infohash}'s metainfo (BEP 9)"

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        await _until(lambda: waits in events, 30)
        serving = seed(torrent, tmp_path, "127.0.7.1", 6881)
        await asyncio.to_thread(serving.__enter__)
        try:
            await _until(lambda: any("back block proofs" in e for e in events), 60)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
            serving.__exit__(None, None, None)

    asyncio.run(scenario())
    loaded = f"reference copy of work {film} (Film) at {copy}: 12 pieces back block proofs of {infohash}"
    assert any(e.startswith(loaded) for e in events), events


def lt_info(torrent: Path) -> bytes:
    """The bencoded info dict of ``torrent`` (its SHA-1 is the v1 infohash)."""
    lt = pytest.importorskip("libtorrent")
    return bytes(lt.bencode(lt.bdecode(torrent.read_bytes())[b"info"]))


def test_a_node_cut_off_from_the_database_stops_watching_when_its_leases_expire(
    store: Store, tmp_path: Path
) -> None:
    """Renewals fail (the database out of reach): once a lease length has passed since the last renewal
    began, the node stops watching its swarms (others may hold them by now: no swarm is watched by more
    nodes than asked) and discards what it queued; when renewals succeed again it leases anew."""
    fleet = _fleet_of(store, tmp_path, 2)
    events: list[str] = []
    node = _node(store, fleet, events)
    renew = fleet.renew

    def unreachable(*_args: object) -> object:
        raise StoreError("fleet: database refused: connection refused")

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        await _until(lambda: len(node.monitor.targets) == 2, 20)
        fleet.renew = unreachable  # type: ignore[method-assign]
        await _until(lambda: not node.monitor.targets, 10)
        assert not node.leases and not node.tokens()
        fleet.renew = renew  # type: ignore[method-assign]
        await _until(lambda: len(node.monitor.targets) == 2, 20)  # leased again, under new tokens
        stop.set()
        await asyncio.wait_for(running, 30)

    asyncio.run(scenario())
    dropped = [e for e in events if "no lease renewal for a lease length" in e]
    assert len(dropped) == 2 and any(e.startswith("lease round failed") for e in events)
    assert sum(e.startswith("leased ") for e in events) == 4
