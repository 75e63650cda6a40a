"""A fleet node with two probe processes (``swarmscope node --probe-processes 2``), in-process on the real
PostgreSQL: its coordinator (this test's event loop), a real probe process and a real writer process.

The swarm names no tracker; the test hands the coordinator peers on loopback's discard port (9, closed: a
probe fails at connect, and that attempt is an observation all the same), some of each shard. Each is
probed by its shard's process and committed through the one writer, fenced by the node's lease. Then the
node's lease rounds are held (as a paused node's are) while another node takes the swarm over: a batch the
probe process makes afterwards carries the old token, the database refuses it, nothing of it is stored,
and the node drops the swarm as a one-process node does when its own batch is refused.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cli.node import build_node
from swarmscope.evidence.records import Source
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.node import FleetNode, NodePlan
from swarmscope.monitor.probe_processes import ProbeProcesses
from swarmscope.monitor.shards import shard_of
from swarmscope.monitor.writer_process import WriterProcess
from swarmscope.store.database import Store, open_store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from swarmscope.store.ledger.queries import load_observations
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.testbed.content import build_content
from tests.pg_server import drop_schema

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
LEASE = 12.0  # seconds: no round is late enough to lose it on a loaded machine (the takeover is forced)
DISCARD = 9  # nothing listens there on loopback: every probe fails at connect, quickly


def _ips(shard: int, n: int, third: int) -> list[str]:
    """``n`` loopback addresses of ``shard`` (of 2) in 127.0.<third>.0/24."""
    return [ip for ip in (f"127.0.{third}.{i}" for i in range(2, 250)) if shard_of(ip, 2) == shard][:n]


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[str]:
    assert PG_URL is not None
    yield PG_URL
    drop_schema(PG_URL)  # the jobs worker applied procrastinate's schema: not undone by a downgrade


def _observed(store: Store, swarm: str) -> dict[tuple[str, int], int]:
    """Committed observations of ``swarm`` per peer."""
    counts: dict[tuple[str, int], int] = {}
    for obs in load_observations(store):
        if obs.infohash == swarm:
            counts[(obs.ip, obs.port)] = counts.get((obs.ip, obs.port), 0) + 1
    return counts


async def _until(check: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def test_every_peer_is_committed_once_and_a_probe_process_batch_after_a_takeover_is_refused(
    pg: str, tmp_path: Path
) -> None:
    content = build_content(tmp_path / "d", size=16384, piece_length=16384, seed=b"pp", announce=[])
    swarm = content.infohash_hex
    other = open_store(pg, node_key=Ed25519PrivateKey.generate())
    fleet = Fleet(other)
    fleet.add_swarm(FleetSwarm(swarm, content.name, content.torrent_path.read_bytes(), None, None, 1))
    assert other.node is not None
    fleet.start_node(NodeStart("b", other.node.fingerprint, "127.0.5.1", 0, 4))
    config = MonitorConfig(
        peer_id=b"-SS0001-" + b"p" * 12, bind_ip="127.0.4.3", listen=False, dht=False, flush_interval=0.1
    )
    plan = NodePlan(NodeStart("a", "", "127.0.4.3", 0, 2), LEASE)
    node = build_node(pg, plan, config, str(tmp_path / "a.pem"), probe_processes=2)
    events: list[str] = []
    node.on_event = events.append
    shards = node.monitor.shards
    assert isinstance(shards, ProbeProcesses)
    first = _ips(0, 2, 7) + _ips(1, 3, 7)
    late = _ips(1, 2, 8)  # handed to the probe process after the takeover
    held = threading.Event()

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        try:
            # the swarm handed to the probe processes too (its A frame sent: ``add_target`` awaits the store
            # first), so the leads below never reach a probe process that does not know the swarm yet
            await _until(
                lambda: swarm in node.leases and shards.children and swarm in shards._targets,
                60,
                "the lease and the swarm in the probe process",
            )
            node.monitor.discovered(swarm, [(ip, DISCARD, None) for ip in first], Source.TRACKER, "test")
            await _until(lambda: len(_observed(other, swarm)) == len(first), 60, "every peer committed")
            assert shards.started == 1 and node.monitor.evidence.ledger is not None
            entered = _hold_lease_rounds(node, held)
            await _until(entered.is_set, 60, "the lease rounds held")
            _take_over(fleet, swarm)
            shards.forward(swarm, [(ip, DISCARD) for ip in late], Source.TRACKER.value)
            await _until(lambda: swarm not in node.leases, 60, "the node drops the swarm")
        finally:
            held.set()
            stop.set()
            await asyncio.wait_for(running, 120)

    try:
        asyncio.run(scenario())
        counts = _observed(other, swarm)
        assert {peer for peer in counts} == {(ip, DISCARD) for ip in first}  # nothing of the late peers
        assert all(count == 1 for count in counts.values()), counts  # each probed and committed once
        assert any(f"dropped {swarm}: fencing refused" in line for line in events), events
        assert verify_ledger(other).ok
    finally:
        writer = node.monitor.evidence.ledger
        assert isinstance(writer, WriterProcess)
        writer.close()  # the writer process ends after its last answer (the CLI's run_node does this)
        node.fleet.store.close()
        other.close()


def _hold_lease_rounds(node: FleetNode, held: threading.Event) -> threading.Event:
    """The node's next lease round blocks (as a paused node's would) until ``held`` is set; the event
    returned is set once a round waits there (no renewal is under way any more)."""
    renew, entered = node.fleet.renew, threading.Event()

    def waiting(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        held.wait(120)
        return renew(*args, **kwargs)

    node.fleet.renew = waiting  # type: ignore[method-assign]
    return entered


def _take_over(fleet: Fleet, swarm: str) -> None:
    """Node a's lease of ``swarm`` runs out and node b takes it (a new token)."""
    with fleet.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE fleet_lease SET expires_us = 0 WHERE infohash = :h"), {"h": swarm})
    assert [lease.infohash for lease in fleet.take("b", 1, LEASE, "127.0.5.1")] == [swarm]
