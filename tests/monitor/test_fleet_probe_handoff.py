"""A swarm handed off by a fleet node with probe processes keeps its lease until the probe processes'
records of it are committed too (``swarmscope node --probe-processes 2``), in-process on the real
PostgreSQL: the coordinator (this test's event loop), a real probe process and a real writer process.

``node._hand_off`` stops monitoring the swarm; what was queued for it must still commit under its lease,
or fencing refuses it once the lease is released. The node's own writer is looked at
(``LedgerWriter.pending_swarms``); the probe processes answer each drop (``D``) with ``F`` once their own
writer has nothing of the swarm left (``ProbeProcesses.pending_swarms``). The seam: the coordinator's relay
of the probe process's writer requests (``WriterProcess.relay``) refuses them for a while, as a store that
refuses the probe process's commits would (its records stay queued there, retried every round). A probe
process that dies is not waited for: what it had not committed is lost with it (module docstring of
``monitor/probe_processes.py``), and the lease is released.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cli.node import build_node
from swarmscope.evidence.records import Observation, Source
from swarmscope.monitor import writer_frames as frames
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.node import FleetNode, NodePlan
from swarmscope.monitor.probe_processes import ProbeProcesses
from swarmscope.monitor.writer_process import WriterProcess
from swarmscope.store.database import Store, open_store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.leases import Lease
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.testbed.content import build_content
from tests.monitor.test_fleet_probe_processes import DISCARD, _ips, _observed, _until
from tests.pg_server import drop_schema

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
LEASE = 9.0  # seconds: a lease round every 3 s, none late enough to lose a lease on a loaded machine
OURS = _ips(0, 2, 7)  # probed by the coordinator (shard 0 of 2)
THEIRS = _ips(1, 3, 7)  # probed by the probe process (shard 1)


@pytest.fixture
def pg() -> Iterator[str]:
    assert PG_URL is not None
    yield PG_URL
    drop_schema(PG_URL)  # the jobs worker applied procrastinate's schema: not undone by a downgrade


class _RefusingRelay:
    """The coordinator's relay of the probe processes' writer requests refuses them (the store refusing
    their commits) until ``go`` is set; ``refused``: the peers of the observations it refused."""

    def __init__(self, writer: WriterProcess) -> None:
        self.relay, self.go = writer.relay, threading.Event()
        self.refused: frozenset[tuple[str, int]] = frozenset()
        writer.relay = self  # type: ignore[method-assign]

    def __call__(self, body: bytes) -> bytes:
        if self.go.is_set():
            return self.relay(body)
        _kind, request = frames.read_request(body)
        peers = {(r.ip, r.port) for r in request.records if isinstance(r, Observation)}
        self.refused = self.refused | peers
        return frames.error_reply("the store refuses this commit (test)")


class _Rounds:
    """Counts the node's lease renewals (one per lease round, after its release of handed-off swarms)."""

    def __init__(self, node: FleetNode) -> None:
        self.count, self._renew = 0, node.fleet.renew
        node.fleet.renew = self  # type: ignore[method-assign]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        return self._renew(*args, **kwargs)


def _token(fleet: Fleet, swarm: str) -> int | None:
    """Node a's lease token of ``swarm``, or None."""
    with fleet.store.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT token FROM fleet_lease WHERE infohash = :h AND node_name = 'a'"), {"h": swarm}
        ).first()
    return None if row is None else int(row.token)


def _ask_back(fleet: Fleet, swarm: str) -> int:
    """Rebalancing asks node a to hand ``swarm`` off (as ``rebalance`` does); returns the lease's token."""
    with fleet.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE fleet_lease SET handoff = true WHERE infohash = :h"), {"h": swarm})
    token = _token(fleet, swarm)
    assert token is not None
    return token


def _setup(pg: str, tmp_path: Path) -> tuple[Store, str, FleetNode, list[str]]:
    """A registered swarm, node b's store (also to read with), node a with two probe processes (not
    running)."""
    content = build_content(tmp_path / "d", size=16384, piece_length=16384, seed=b"ho", announce=[])
    other = open_store(pg, node_key=Ed25519PrivateKey.generate())
    Fleet(other).add_swarm(
        FleetSwarm(content.infohash_hex, content.name, content.torrent_path.read_bytes(), None, None, 1)
    )
    assert other.node is not None
    Fleet(other).start_node(NodeStart("b", other.node.fingerprint, "127.0.5.1", 0, 4))
    config = MonitorConfig(
        peer_id=b"-SS0001-" + b"h" * 12, bind_ip="127.0.4.3", listen=False, dht=False, flush_interval=0.1
    )
    plan = NodePlan(NodeStart("a", "", "127.0.4.3", 0, 2), LEASE)
    node = build_node(pg, plan, config, str(tmp_path / "a.pem"), probe_processes=2)
    events: list[str] = []
    node.on_event = events.append
    return other, content.infohash_hex, node, events


async def _handed_off_with_records_queued(node: FleetNode, swarm: str, relay: _RefusingRelay,
                                          other: Store, rounds: _Rounds) -> int:  # fmt: skip
    """Lease the swarm, probe every peer (the probe process's records refused, the coordinator's
    committed), hand it off; returns the lease's token once two more rounds kept it."""
    shards = node.monitor.shards
    assert isinstance(shards, ProbeProcesses)
    await _until(lambda: swarm in node.leases and shards.children and swarm in shards._targets, 60, "lease")
    node.monitor.discovered(swarm, [(ip, DISCARD, None) for ip in OURS + THEIRS], Source.TRACKER, "test")
    await _until(lambda: relay.refused >= {(ip, DISCARD) for ip in THEIRS}, 60, "the probe process's records")
    await _until(lambda: set(_observed(other, swarm)) == {(ip, DISCARD) for ip in OURS}, 60, "ours committed")
    node.fleet.take = lambda *_args, **_kw: []  # type: ignore[method-assign]  # a is at its share now
    token = _ask_back(node.fleet, swarm)
    await _until(lambda: swarm in node._handing, 30, "the hand-off")
    seen = rounds.count
    await _until(lambda: rounds.count >= seen + 2, 30, "two more lease rounds")
    assert _token(node.fleet, swarm) == token and swarm in node._handing  # its lease kept (renewed)...
    writer = node.monitor.evidence.writer
    assert writer is not None and swarm not in writer.pending_swarms()  # ... with nothing of it left here
    assert swarm in shards.pending_swarms()  # ... because the probe process has records of it
    return token


def _b_takes(other: Store) -> list[Lease]:
    """Node b takes what is free (the swarm a handed off)."""
    return Fleet(other).take("b", 1, LEASE, "127.0.5.1")


def _close(node: FleetNode, other: Store) -> None:
    writer = node.monitor.evidence.ledger
    assert isinstance(writer, WriterProcess)
    writer.close()  # the writer process ends after its last answer (the CLI's run_node does this)
    node.fleet.store.close()
    other.close()


def test_a_handed_off_lease_waits_for_the_probe_process_records_then_is_released(
    pg: str, tmp_path: Path
) -> None:
    other, swarm, node, events = _setup(pg, tmp_path)
    writer = node.monitor.evidence.ledger
    assert isinstance(writer, WriterProcess)
    relay, rounds = _RefusingRelay(writer), _Rounds(node)

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        try:
            token = await _handed_off_with_records_queued(node, swarm, relay, other, rounds)
            relay.go.set()  # the store takes the probe process's commits again
            everyone = {(ip, DISCARD) for ip in OURS + THEIRS}
            await _until(lambda: set(_observed(other, swarm)) == everyone, 60, "every record committed")
            await _until(lambda: _token(node.fleet, swarm) is None, 30, "the handed-off lease released")
            assert [lease.infohash for lease in _b_takes(other)] == [swarm]  # b gets it
            assert token not in node.tokens().values()  # a's later batches are fenced without it
        finally:
            relay.go.set()
            stop.set()
            await asyncio.wait_for(running, 120)

    try:
        asyncio.run(scenario())
        counts = _observed(other, swarm)
        assert set(counts) == {(ip, DISCARD) for ip in OURS + THEIRS}  # nothing lost
        assert all(count == 1 for count in counts.values()), counts
        assert f"handing {swarm} off (rebalancing)" in events, events
        assert not any("fencing refused" in line for line in events), events
        assert verify_ledger(other).ok
    finally:
        _close(node, other)


def test_a_probe_process_that_dies_does_not_keep_a_handed_off_lease(pg: str, tmp_path: Path) -> None:
    other, swarm, node, events = _setup(pg, tmp_path)
    writer = node.monitor.evidence.ledger
    assert isinstance(writer, WriterProcess)
    relay, rounds = _RefusingRelay(writer), _Rounds(node)
    shards = node.monitor.shards
    assert isinstance(shards, ProbeProcesses)

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        try:
            token = await _handed_off_with_records_queued(node, swarm, relay, other, rounds)
            dying = shards.children[1]
            os.kill(dying.proc.pid, signal.SIGKILL)  # its records, never acknowledged, die with it
            await _until(dying.done.is_set, 30, "the probe process ended")
            assert swarm not in shards.pending_swarms()
            await _until(lambda: _token(node.fleet, swarm) is None, 30, "the handed-off lease released")
            assert swarm not in node._handing and token not in node.tokens().values()
        finally:
            relay.go.set()
            stop.set()
            await asyncio.wait_for(running, 120)

    try:
        asyncio.run(scenario())
        assert set(_observed(other, swarm)) == {(ip, DISCARD) for ip in OURS}  # the dead one's are lost
        assert f"handing {swarm} off (rebalancing)" in events, events
        assert verify_ledger(other).ok
    finally:
        _close(node, other)
