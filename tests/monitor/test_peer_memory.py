"""The monitor's per-peer state stays small (the 1 KiB per tracked peer goal, bench/memory.py), and the
packed live counters answer what the live view asks exactly as before."""

from __future__ import annotations

import gc
import tracemalloc

from swarmscope.evidence.records import Observation, Tier
from swarmscope.monitor.plan import PlanPolicy, ProbePlan
from swarmscope.monitor.stats import SwarmStats

SW = "cd" * 20
N = 20_000


def _obs(
    ip: str,
    port: int,
    tier: Tier,
    completion: float | None = None,
    client: str | None = None,
    version: str | None = None,
    source: str = "tracker",
) -> Observation:
    return Observation(
        SW, ip, port, source, 0, 1, tier, completion=completion, client=client, client_version=version
    )


def test_plan_and_live_stats_keep_under_half_a_kib_per_peer() -> None:
    """Plan entry, heap entry and live counters of a peer named by two sources and probed once: the
    bytes allocated per peer, keys and addresses excluded (they are the caller's)."""
    plan, stats = ProbePlan(PlanPolicy(max_peers_per_swarm=N)), SwarmStats(SW, "x")  # all N in one swarm
    keys = [(SW, f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}", 6881) for i in range(N)]
    outcomes = [
        _obs(ip, port, Tier.VERIFIED, (i % 3) / 2, "Transmission", f"3.0{i % 4}")
        for i, (_, ip, port) in enumerate(keys)
    ]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for key in keys:
            plan.add(key, "tracker", 0)
            plan.add(key, "dht", 0)
            stats.sighted(key[1], key[2], "tracker")
            stats.sighted(key[1], key[2], "dht")
        due = plan.due(0, N)
        for key, obs in zip(due, outcomes, strict=True):
            stats.observed(obs)
            plan.finished(key, obs, 1_000_000 + len(due))
        gc.collect()
        per_peer = (tracemalloc.get_traced_memory()[0] - before) / N
    finally:
        tracemalloc.stop()
    assert len(due) == N and len(stats.best) == N
    assert per_peer <= 512, f"{per_peer:.0f} bytes per tracked peer"


def test_packed_counters_fold_tiers_completion_clients_and_sources() -> None:
    stats = SwarmStats(SW, "x")
    stats.sighted("10.0.0.1", 1, "tracker")
    stats.observed(_obs("10.0.0.1", 1, Tier.VERIFIED, 1.0, "Transmission", "3.00", source="tracker"))
    stats.observed(_obs("10.0.0.1", 1, Tier.CONNECTED, None, None, source="pex"))  # best tier stays
    stats.observed(_obs("10.0.0.2", 1, Tier.HAS_PIECES, 0.9999, "Transmission", "3.00", source="dht"))
    stats.observed(_obs("10.0.0.3", 1, Tier.CONNECTED, 0.0, "qBittorrent", None, source="inbound"))
    stats.sighted("10.0.0.4", 1, "dht")
    assert stats.best == {
        ("10.0.0.1", 1): Tier.VERIFIED,
        ("10.0.0.2", 1): Tier.HAS_PIECES,
        ("10.0.0.3", 1): Tier.CONNECTED,
        ("10.0.0.4", 1): Tier.LISTED,
    }
    counts = stats.counts()
    assert (counts["listed"], counts["connected"], counts["has_pieces"], counts["verified"]) == (4, 3, 2, 1)
    assert (counts["seeds"], counts["leechers"]) == (1, 2)  # 99.99 % is a leecher, as before
    assert stats.top_clients() == [("Transmission 3.00", 2), ("qBittorrent", 1)]
    assert stats.clients == ["Transmission 3.00", "qBittorrent"]  # each label kept once
    assert stats.by_source() == {"tracker": 1, "pex": 1, "dht": 2, "inbound": 1}
    assert (stats.probes, stats.bytes_in) == (4, 0)


def test_a_later_client_label_replaces_the_earlier_one() -> None:
    stats = SwarmStats(SW, "x")
    stats.observed(_obs("10.0.0.1", 1, Tier.CONNECTED, 0.5, "Transmission", "3.00"))
    stats.observed(_obs("10.0.0.1", 1, Tier.CONNECTED, 0.5, "Transmission", "4.00"))
    assert stats.top_clients() == [("Transmission 4.00", 1)]
    assert stats.counts()["leechers"] == 1
