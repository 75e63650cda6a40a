"""A magnet still without metadata: the leads its discovery channels repeat are held once, not once per
announce (README "Resource bounds": memory stays bounded whatever a tracker repeats)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from swarmscope.evidence.records import Source
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.metadata import MAX_CANDIDATES, lead_queue
from swarmscope.monitor.plan import PlanPolicy


def _magnet_phase(swarm: str, policy: PlanPolicy | None = None) -> Any:
    """A monitor with only what :meth:`Monitor.discovered` reads while a magnet waits for its metadata."""
    monitor: Any = object.__new__(Monitor)
    monitor.clock = SimpleNamespace(now_us=lambda: 1_000_000)
    monitor.stats = {swarm: SimpleNamespace(sighted=lambda *_a: None)}
    monitor.evidence = SimpleNamespace(add=lambda _s: None)
    monitor._own, monitor.router, monitor.sources, monitor._held = set(), None, {}, {}
    monitor.config = MonitorConfig(peer_id=b"-SS0001-000000000000", plan=policy or PlanPolicy())
    monitor._metadata_leads = {swarm: lead_queue()}  # as the monitor makes it
    return monitor


def test_a_magnet_phase_holds_each_repeated_lead_once() -> None:
    swarm = "ab" * 20
    monitor = _magnet_phase(swarm)
    peers = [(f"10.0.0.{i + 1}", 6881, None) for i in range(200)]  # one reply, cut to numwant (200)
    for _announce in range(120):  # an hour of re-announces at the 30 s floor, the same 200 peers
        Monitor.discovered(monitor, swarm, peers, Source.TRACKER, "http://127.0.0.1:1/announce")
    held, queued = len(monitor._held[swarm]), monitor._metadata_leads[swarm].qsize()
    # each lead held once; the queue re-offers leads for later fetch attempts, never past its bound
    assert held == 200 and queued == MAX_CANDIDATES, (held, queued)


def test_a_magnet_phase_holds_at_most_the_plans_bound_of_fresh_leads_the_newest() -> None:
    """A tracker naming 200 fresh addresses at every announce for an hour (24,000) while the metadata is
    fetched: at most ``max_peers_per_swarm`` are held (the plan they go to holds no more), the newest."""
    swarm = "ab" * 20
    monitor = _magnet_phase(swarm, PlanPolicy(max_peers_per_swarm=500))
    for announce in range(120):
        peers = [(f"10.{announce}.{i // 250}.{i % 250 + 1}", 6881, None) for i in range(200)]
        Monitor.discovered(monitor, swarm, peers, Source.TRACKER, "http://127.0.0.1:1/announce")
    held = monitor._held[swarm]
    assert len(held) == 500 and monitor.sources == {}
    assert all((swarm, f"10.119.{i // 250}.{i % 250 + 1}", 6881) in held for i in range(200))
    assert set(held.values()) == {"tracker"}
