"""The live view's per-swarm counters keep at most ``MAX_UNREACHED`` never-reached addresses: a tracker or
DHT node naming fresh addresses at every announce must not grow them without end (monitor/stats.py)."""

from __future__ import annotations

from dataclasses import replace

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


def test_client_labels_are_bounded_per_swarm(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer claiming another BEP 10 ``v`` on every probe adds at most MAX_CLIENT_LABELS labels; past it
    every new label reads OTHER_CLIENTS, known labels keep their own, and a merged snapshot obeys the same."""
    monkeypatch.setattr(stats_module, "MAX_CLIENT_LABELS", 8)
    stats = SwarmStats(SW, "film")
    for n in range(50):
        obs = _obs("10.2.0.1", Tier.VERIFIED)
        stats.observed(replace(obs, client="Evil", client_version=f"1.{n}"))
    assert len(stats.clients) == 9 and stats.clients[-1] == stats_module.OTHER_CLIENTS
    assert stats.top_clients(1) == [(stats_module.OTHER_CLIENTS, 1)]
    stats.observed(replace(_obs("10.2.0.2", Tier.VERIFIED), client="Evil", client_version="1.3"))
    assert ("Evil 1.3", 1) in stats.top_clients(3) and len(stats.clients) == 9
    other = SwarmStats(SW, "film")
    other.merge({**stats.snapshot(), "peers": [[f"10.3.0.{n}", 1, 3, f"X {n}"] for n in range(20)]})
    assert len(other.clients) == 9 and other.top_clients(1) == [(stats_module.OTHER_CLIENTS, 12)]
