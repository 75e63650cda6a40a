"""A fleet node with two probe processes (``swarmscope node --probe-processes 2``) on the real PostgreSQL,
against a real libtorrent swarm on loopback.

Private network namespace, loopback only: nodes on 127.0.3.1 and .5 (one /30 each), the testbed swarm on
its own 127.x addresses (its peers fall in both shards), a scratch PostgreSQL of the module's own on a
Unix socket. Every process is stopped by its PID; every wait is bounded.

1. n1 (two probe processes, one writer process) leases the swarm; every peer holding pieces is verified,
   peers of both shards are reached, each verified peer is committed once, no record is chained twice.
2. ``kill -9`` of n1's probe process: a new one takes the shard and its peers are verified again; ``kill
   -9`` of n1's writer process: a new one takes over and n1 goes on sealing.
3. ``SIGSTOP`` of n1 past its lease, then ``SIGCONT`` (as for a one-process node in
   test_fleet_failover.py): n2 takes the swarm over; n1 seals nothing more for it (fencing), says so,
   drops it and goes on heartbeating.
4. Both stopped cleanly: leases released, the database verifies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

pytest.importorskip("libtorrent")

from swarmscope.monitor.shards import shard_of
from swarmscope.store.database import open_store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.testbed.process import free_port, stop_process
from swarmscope.testbed.swarm import Swarm, start_swarm
from tests.e2e.monitor_cli import CLI
from tests.e2e.test_fleet_failover import (
    Node,
    _fresh,
    _holders,
    _last_batch,
    _records_sealed_after,
    _wait,
)

pytestmark = [pytest.mark.netns, pytest.mark.realclients]

LEASE = 4.0  # seconds (the default is 30; short so the test is short)
NODE_IPS = {"n1": "127.0.3.1", "n2": "127.0.3.5"}  # one /30 each
STOP_SECONDS = 60.0  # a clean stop: the probe process commits, then the coordinator, on a loaded machine


def _start_node(url: str, name: str, work: Path) -> Node:
    ip = NODE_IPS[name]
    log = work / f"{name}.log"
    command = [
        *CLI, "node", "--db", url, "--name", name, "--bind", ip, "--listen-port", str(free_port(ip)),
        "--capacity", "2", "--lease-seconds", str(LEASE), "--max-peers", "20", "--no-dht",
        "--node-key", str(work / f"{name}.pem"), "--probe-processes", "2",
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    return Node(name, proc, log)


def _child(pid: int, module: str) -> int | None:
    """The process id of the child of ``pid`` running ``python -m module``, or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and module.encode() in cmdline:
            return int(entry.name)
    return None


def _verified(fleet: Fleet, infohash: str, node: str) -> dict[tuple[str, int], int]:
    """Verified observations of ``infohash`` sealed by ``node``, per peer."""
    query = sa.text("""
        SELECT o.ip, o.port, count(*) FROM observation o
          JOIN node_key k ON k.id = o.ledger_node JOIN fleet_node n ON n.fingerprint = k.fingerprint
         WHERE o.infohash = :h AND n.name = :node AND o.tier = 'verified' GROUP BY o.ip, o.port""")
    with fleet.store.engine.connect() as conn:
        rows = conn.execute(query, {"h": infohash, "node": node}).all()
    return {(ip, port): int(count) for ip, port, count in rows}


def _probed(fleet: Fleet, infohash: str, node: str) -> set[tuple[str, int]]:
    """The peers of ``infohash`` that ``node`` sealed an observation of (any tier)."""
    query = sa.text("""
        SELECT DISTINCT o.ip, o.port FROM observation o
          JOIN node_key k ON k.id = o.ledger_node JOIN fleet_node n ON n.fingerprint = k.fingerprint
         WHERE o.infohash = :h AND n.name = :node""")
    with fleet.store.engine.connect() as conn:
        return {(ip, port) for ip, port in conn.execute(query, {"h": infohash, "node": node}).all()}


def _chained_twice(fleet: Fleet) -> int:
    with fleet.store.engine.connect() as conn:
        query = "SELECT count(*) - count(DISTINCT record_hash) FROM ledger_entry"
        return int(conn.execute(sa.text(query)).scalar_one())


@pytest.fixture(scope="module")
def swarm(netns: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    with start_swarm(tmp_path_factory.mktemp("pp-swarm"), with_aria2=False) as running:
        yield running


def test_a_node_with_two_probe_processes_commits_once_recovers_and_is_fenced(
    swarm: Swarm, fleet_db: str, tmp_path: Path
) -> None:
    added = subprocess.run(
        [*CLI, "fleet", "add", str(swarm.torrent_path), "--db", fleet_db, "--vantages", "1"],
        capture_output=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    nodes = {"n1": _start_node(fleet_db, "n1", tmp_path)}
    store = open_store(fleet_db, create=False)
    try:
        fleet = Fleet(store)
        _verify_every_peer_once(fleet, nodes["n1"], swarm)
        _kill_probe_process_and_writer(fleet, nodes["n1"], swarm)
        nodes["n2"] = _start_node(fleet_db, "n2", tmp_path)
        _wait("n2 heartbeats", lambda: _fresh(fleet, "n2"), 60)
        _pause_past_lease(fleet, nodes, swarm.infohash_hex)
    finally:
        for node in nodes.values():
            if node.proc.poll() is None:
                os.kill(node.proc.pid, signal.SIGCONT)
            stop_process(node.proc, STOP_SECONDS)  # type: ignore[arg-type]
        store.close()
    for node in nodes.values():
        print(f"--- {node.name}\n{node.text()[-3000:]}")  # shown with -s, and on failure
        assert "stopped:" in node.text() and "leases released" in node.text(), node.text()[-2000:]
        assert "Traceback" not in node.text(), node.text()[-4000:]
    with open_store(fleet_db, create=False) as final:
        report = verify_ledger(final)
        assert report.ok, report
        assert all(n.leases == 0 and n.stopped for n in Fleet(final).status().nodes)
        assert _chained_twice(Fleet(final)) == 0


def _verify_every_peer_once(fleet: Fleet, node: Node, swarm: Swarm) -> None:
    h = swarm.infohash_hex
    _wait("n1 leases the swarm", lambda: _holders(fleet.status()).get(h) == {"n1"}, 90)
    holders = {(p.ip, p.port) for p in swarm.peers if p.role in {"seed", "partial"}}
    assert any(shard_of(ip, 2) == 1 for ip, _port in holders), holders  # the probe process verifies some
    _wait("every peer holding pieces verified", lambda: holders <= set(_verified(fleet, h, "n1")), 120)
    reached = {shard_of(ip, 2) for ip, _port in _probed(fleet, h, "n1")}
    assert reached == {0, 1}, "peers of both shards were probed"
    counts = _verified(fleet, h, "n1")
    assert all(count == 1 for count in counts.values()), counts  # each verified peer committed once
    assert _chained_twice(fleet) == 0
    assert "probe process" not in node.text(), node.text()[-3000:]  # no warning from the probe side


def _kill_probe_process_and_writer(fleet: Fleet, node: Node, swarm: Swarm) -> None:
    h = swarm.infohash_hex
    theirs = [(p.ip, p.port) for p in swarm.peers if p.role in {"seed", "partial"} and shard_of(p.ip, 2)]
    probe = _child(node.proc.pid, "swarmscope.monitor.probe_main")
    assert probe is not None
    before = _last_batch(fleet)
    os.kill(probe, signal.SIGKILL)
    replaced = lambda: _child(node.proc.pid, "swarmscope.monitor.probe_main") not in (None, probe)  # noqa: E731
    _wait("a new probe process", replaced, 60)
    assert "a new one takes its shard" in node.text()
    for ip, port in theirs:  # the new process is handed the shard's leads again and verifies them again
        again = lambda ip=ip, port=port: _peer_since(fleet, h, ip, port, before)  # noqa: E731
        _wait(f"{ip}:{port} verified again", again, 90)
    writer = _child(node.proc.pid, "swarmscope.monitor.writer_main")
    assert writer is not None
    os.kill(writer, signal.SIGKILL)
    after_writer = _last_batch(fleet)
    _wait("n1 seals again after its writer died", lambda: _batches_since(fleet, "n1", after_writer), 60)
    assert _child(node.proc.pid, "swarmscope.monitor.writer_main") not in (None, writer)


def _batches_since(fleet: Fleet, node: str, batch_after: int) -> int:
    """Batches ``node`` sealed after batch ``batch_after`` (its lease rounds seal a clock sample each)."""
    query = sa.text("""
        SELECT count(*) FROM ledger_batch b JOIN node_key k ON k.id = b.node_id
          JOIN fleet_node n ON n.fingerprint = k.fingerprint WHERE n.name = :node AND b.id > :after""")
    with fleet.store.engine.connect() as conn:
        return int(conn.execute(query, {"node": node, "after": batch_after}).scalar_one())


def _peer_since(fleet: Fleet, infohash: str, ip: str, port: int, batch_after: int) -> bool:
    query = sa.text("""
        SELECT count(*) FROM observation o
          JOIN ledger_entry e ON e.node_id = o.ledger_node AND e.idx = o.ledger_index
         WHERE o.infohash = :h AND o.ip = :ip AND o.port = :port AND o.tier = 'verified'
           AND e.batch_id > :after""")
    with fleet.store.engine.connect() as conn:
        found = conn.execute(query, {"h": infohash, "ip": ip, "port": port, "after": batch_after})
        return int(found.scalar_one()) > 0


def _pause_past_lease(fleet: Fleet, nodes: dict[str, Node], h: str) -> None:
    paused = nodes["n1"]
    os.kill(paused.proc.pid, signal.SIGSTOP)  # the coordinator: its probe and writer processes go on
    try:
        _wait("n2 takes the swarm over", lambda: _holders(fleet.status()).get(h) == {"n2"}, 4 * LEASE)
        taken_over = _last_batch(fleet)
    finally:
        os.kill(paused.proc.pid, signal.SIGCONT)
    _wait(f"n1 drops {h}", lambda: f"dropped {h}" in paused.text(), 30)
    time.sleep(2 * LEASE / 3)
    assert paused.proc.poll() is None, paused.text()[-2000:]  # it goes on
    assert _wait("the resumed node heartbeats", lambda: _fresh(fleet, "n1"), 30)
    assert _records_sealed_after(fleet, h, "n1", taken_over) == 0  # fencing: nothing sealed after
