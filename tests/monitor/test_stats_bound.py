"""The live view's per-swarm counters keep at most ``MAX_UNREACHED`` never-reached addresses: a tracker or
DHT node naming fresh addresses at every announce must not grow them without end (monitor/stats.py)."""

from __future__ import annotations

import pytest

from swarmscope.evidence.records import Failure, Observation, Tier
from swarmscope.monitor import stats as stats_module
from swarmscope.monitor.stats import SwarmStats

SW = "ab" * 20


def _obs(ip: str, tier: Tier, failure: Failure | None = None) -> Observation:
    return Observation(SW, ip, 6881, "tracker", 0, 1, tier, failure.value if failure else None)


@pytest.fixture(autouse=True)
def _small_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_module, "MAX_UNREACHED", 100)


def test_fresh_sightings_past_the_bound_are_counted_not_kept() -> None:
    stats = SwarmStats(SW, "film")
    for n in range(250):
        stats.sighted(f"10.0.{n // 250}.{n % 250}", 6881)
    assert len(stats.peers) == 100 and stats.unreached == 100 and stats.over_bound == 150
    stats.sighted("10.0.0.7", 6881, "pex")  # a kept address named again: still one entry, its source added
    assert len(stats.peers) == 100 and stats.over_bound == 150
    assert stats.by_source() == {"tracker": 100, "pex": 1}


def test_failed_dials_of_fresh_addresses_stay_under_the_bound() -> None:
    stats = SwarmStats(SW, "film")
    for n in range(300):
        stats.observed(_obs(f"10.1.{n // 250}.{n % 250}", Tier.LISTED, Failure.CONNECT_TIMEOUT))
    assert len(stats.peers) == 100 and stats.probes == 300


def test_reached_and_verified_peers_are_always_kept_and_free_their_place() -> None:
    stats = SwarmStats(SW, "film")
    for n in range(100):
        stats.sighted(f"10.2.0.{n}", 6881)
    for n in range(40):  # reached: no longer never-reached, their places free up
        stats.observed(_obs(f"10.2.0.{n}", Tier.VERIFIED if n % 2 else Tier.CONNECTED))
    stats.observed(_obs("10.3.0.1", Tier.VERIFIED))  # a new verified peer at the bound: kept
    assert stats.unreached == 60 and stats.counts()["verified"] == 21
    for n in range(50):
        stats.sighted(f"10.4.0.{n}", 6881)
    assert stats.unreached == 100 and stats.over_bound == 10 and len(stats.peers) == 141


def test_a_probe_process_snapshot_merges_under_the_same_bound() -> None:
    worker = SwarmStats(SW, "film")
    for n in range(120):
        worker.sighted(f"10.5.0.{n}", 6881)
    worker.observed(_obs("10.6.0.1", Tier.VERIFIED))
    coordinator = SwarmStats(SW, "film")
    for n in range(50):
        coordinator.sighted(f"10.7.0.{n}", 6881)
    coordinator.merge(worker.snapshot())
    assert coordinator.unreached == 100 and coordinator.counts()["verified"] == 1
    assert coordinator.over_bound == 20 + 50  # the worker's own 20, and 50 of its kept ones not kept here
