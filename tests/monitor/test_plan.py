"""The pure probing policy: due order, politeness per IP, re-probe and backoff timing."""

from __future__ import annotations

import pytest

from swarmscope.evidence.records import Failure, Observation, Tier
from swarmscope.monitor.plan import PlanPolicy, ProbePlan, unusable_address

S = 1_000_000
SW = "ab" * 20


def obs(ip: str, tier: Tier, failure: Failure | None = None) -> Observation:
    return Observation(SW, ip, 6881, "tracker", 0, 1, tier, failure.value if failure else None)


def test_new_peers_are_due_at_once_and_only_once() -> None:
    plan = ProbePlan()
    assert plan.add((SW, "127.0.0.2", 6881), "tracker", 10 * S)
    assert not plan.add((SW, "127.0.0.2", 6881), "dht", 11 * S)
    assert plan.peers[(SW, "127.0.0.2", 6881)].sources == {"tracker", "dht"}
    assert plan.due(9 * S, 10) == []
    assert plan.due(10 * S, 10) == [(SW, "127.0.0.2", 6881)]
    assert plan.due(20 * S, 10) == []  # in flight
    assert plan.in_flight == 1


def test_limit_and_per_ip_politeness() -> None:
    plan = ProbePlan(PlanPolicy(per_ip=1))
    for port in (1, 2, 3):
        plan.add((SW, "127.0.0.9", port), "tracker", 0)
    plan.add((SW, "127.0.0.8", 1), "tracker", 0)
    first = plan.due(0, 10)
    assert sorted(k[1] for k in first) == ["127.0.0.8", "127.0.0.9"]
    assert plan.due(0, 10) == []  # the other two ports of .9 wait for the first probe
    done = next(k for k in first if k[1] == "127.0.0.9")
    plan.finished(done, obs("127.0.0.9", Tier.VERIFIED), 1 * S)
    assert [k[1] for k in plan.due(1 * S, 10)] == ["127.0.0.9"]


def test_reprobe_after_interval_and_backoff_after_failures() -> None:
    policy = PlanPolicy(reprobe_interval=100, retry_after_failure=10, max_backoff=35)
    plan = ProbePlan(policy)
    ok, bad = (SW, "127.0.0.2", 6881), (SW, "127.0.0.3", 6881)
    plan.add(ok, "tracker", 0)
    plan.add(bad, "tracker", 0)
    plan.due(0, 10)
    plan.finished(ok, obs("127.0.0.2", Tier.VERIFIED), 0)
    plan.finished(bad, obs("127.0.0.3", Tier.LISTED, Failure.CONNECT_REFUSED), 0)
    assert plan.due(9 * S, 10) == []
    assert plan.due(10 * S, 10) == [bad]
    plan.finished(bad, obs("127.0.0.3", Tier.LISTED, Failure.CONNECT_REFUSED), 10 * S)
    assert plan.due(29 * S, 10) == [] and plan.due(30 * S, 10) == [bad]  # 20 s: doubled
    plan.finished(bad, obs("127.0.0.3", Tier.LISTED, Failure.CONNECT_REFUSED), 30 * S)
    assert plan.due(64 * S, 10) == [] and plan.due(65 * S, 10) == [bad]  # capped at 35 s
    assert plan.due(99 * S, 10) == [] and plan.due(100 * S, 10) == [ok]


def test_unreachable_peers_can_be_dropped() -> None:
    plan = ProbePlan(PlanPolicy(retry_after_failure=1, max_attempts_unreachable=2))
    key = (SW, "127.0.0.4", 6881)
    plan.add(key, "tracker", 0)
    for t in range(2):
        assert plan.due(t * 10 * S, 10) == [key]
        plan.finished(key, obs("127.0.0.4", Tier.LISTED, Failure.CONNECT_TIMEOUT), t * 10 * S)
    assert plan.due(10_000 * S, 10) == []


def test_live_stats_count_peers_by_source() -> None:
    from swarmscope.monitor.stats import SwarmStats

    stats = SwarmStats(SW, "x")
    stats.sighted("127.0.0.2", 1, "tracker")
    stats.sighted("127.0.0.2", 1, "dht")
    stats.sighted("127.0.0.3", 1, "pex")
    stats.observed(Observation(SW, "127.0.0.4", 1, "inbound", 0, 1, Tier.CONNECTED))
    assert stats.by_source() == {"tracker": 1, "dht": 1, "pex": 1, "inbound": 1}
    assert stats.counts()["listed"] == 3 and stats.counts()["connected"] == 1


@pytest.mark.parametrize(
    ("ip", "unusable"),
    [
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("239.255.255.250", True),
        ("::", True),
        ("ff02::1", True),
        ("FF02::1", True),
        ("127.0.0.1", False),
        ("223.255.255.255", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", True),  # link-local: libtorrent and Transmission drop it (docs/tolerances.md T-18)
        ("FEBF::1", True),
        ("fec0::1", False),
        ("2001:db8::1", False),
    ],
)
def test_unspecified_and_multicast_addresses_are_never_peers(ip: str, unusable: bool) -> None:
    assert unusable_address(ip) is unusable


def test_a_forgotten_swarm_leaves_no_due_peer_and_frees_its_slots() -> None:
    plan = ProbePlan(PlanPolicy(per_ip=1))
    plan.add(("a" * 40, "10.0.0.1", 1), "tracker", 0)
    plan.add(("b" * 40, "10.0.0.2", 1), "tracker", 0)
    plan.add(("a" * 40, "10.0.0.3", 1), "tracker", 0)
    assert len(plan.due(0, 1)) == 1  # one in flight
    assert plan.forget("a" * 40) == 2
    assert plan.due(0, 10) == [("b" * 40, "10.0.0.2", 1)]
    plan.finished(("a" * 40, "10.0.0.1", 1), obs("10.0.0.1", Tier.CONNECTED), 1)  # late outcome: ignored
    assert plan.in_flight == 1 and set(plan.peers) == {("b" * 40, "10.0.0.2", 1)}
