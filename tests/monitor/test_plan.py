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
    # max_failcount 0: the dead lead is kept (by default it leaves after 3 failed dials, tested below)
    policy = PlanPolicy(reprobe_interval=100, retry_after_failure=10, max_backoff=35, max_failcount=0)
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


def cycle(plan: ProbePlan, key: tuple[str, str, int], outcome: Observation, now: int) -> int | None:
    """Probe ``key`` once at ``now`` (it must be due) with ``outcome``; returns when it is due next (µs)."""
    assert key in plan.due(now, 100)
    plan.finished(key, outcome, now)
    state = plan.peers.get(key)
    return None if state is None else state.due_us


def test_peers_whose_probes_end_in_junk_back_off_until_verified() -> None:
    """protocol_error, hash_mismatch: 120 s doubled per such probe up to 6 h; a verified probe resets it.

    A no_pieces probe in between keeps the count (it would otherwise be a cheap reset for an attacker).
    """
    plan = ProbePlan()
    key = (SW, "127.0.0.5", 6881)
    plan.add(key, "tracker", 0)
    junk = Observation(SW, "127.0.0.5", 6881, "tracker", 0, 1, Tier.CONNECTED, Failure.PROTOCOL_ERROR.value)
    bad = Observation(SW, "127.0.0.5", 6881, "tracker", 0, 1, Tier.HAS_PIECES, Failure.HASH_MISMATCH.value)
    now, waits = 0, []
    for outcome in (junk, bad, junk, obs("127.0.0.5", Tier.CONNECTED, Failure.NO_PIECES), junk):
        due = cycle(plan, key, outcome, now)
        assert due is not None
        waits.append((due - now) // S)
        now = due
    assert waits == [240, 480, 960, 960, 1920]
    for _ in range(20):
        due = cycle(plan, key, junk, now)
        assert due is not None and due - now <= 21_600 * S
        now = due
    assert cycle(plan, key, junk, now) == now + 21_600 * S  # capped at 6 h
    now += 21_600 * S
    assert cycle(plan, key, obs("127.0.0.5", Tier.VERIFIED), now) == now + 120 * S  # reset


def test_probes_a_hostile_peer_gets_in_a_day_are_bounded() -> None:
    """The bound the README states: at most 10 probes in the first day, then 4 a day."""
    plan = ProbePlan()
    key = (SW, "127.0.0.6", 6881)
    plan.add(key, "tracker", 0)
    junk = Observation(SW, "127.0.0.6", 6881, "tracker", 0, 1, Tier.CONNECTED, Failure.PROTOCOL_ERROR.value)
    now, times = 0, []
    while now < 3 * 86_400 * S:
        times.append(now)
        due = cycle(plan, key, junk, now)
        assert due is not None
        now = due
    assert sum(t < 86_400 * S for t in times) <= 10
    assert sum(86_400 * S <= t < 2 * 86_400 * S for t in times) <= 4
    assert sum(2 * 86_400 * S <= t < 3 * 86_400 * S for t in times) <= 4


def pex_obs(ip: str, port: int, tier: Tier, failure: Failure | None = None) -> Observation:
    return Observation(SW, ip, port, "pex", 0, 1, tier, failure.value if failure else None)


def test_pex_leads_are_capped_per_source_and_per_swarm() -> None:
    """50 pending leads per naming peer, 1,000 per swarm; a lead named by a tracker too is not PEX-only."""
    plan = ProbePlan(PlanPolicy(pex_pending_per_swarm=120))
    accepted = [plan.add((SW, f"127.100.0.{i}", 7000), "pex", 0, "127.0.0.7:6881") for i in range(200)]
    assert accepted.count(True) == 50 and plan.pex_pending == 50
    assert plan.add((SW, "127.100.0.1", 7000), "tracker", 0) is False  # known; now tracker-named too
    assert plan.pex_pending == 49
    assert plan.add((SW, "127.101.0.1", 7000), "pex", 0, "127.0.0.7:6881")  # its slot came back
    for n in range(1, 5):
        for i in range(50):
            plan.add((SW, f"127.10{1 + n}.0.{i}", 7000), "pex", 0, f"127.0.0.{8 + n}:6881")
    assert plan.pex_pending == 120  # the swarm's cap
    assert not plan.add((SW, "127.200.0.1", 7000), "pex", 0, "127.0.0.99:6881")
    assert (SW, "127.200.0.1", 7000) not in plan.peers
    assert plan.add((SW, "127.200.0.1", 7000), "tracker", 0)  # other sources are never capped


def test_unreachable_pex_leads_are_dropped_after_three_failed_dials_and_keep_the_liars_quota() -> None:
    """libtorrent's peer list drops a peer at max_failcount (3) failures; a liar's slot stays spent."""
    plan = ProbePlan(PlanPolicy(retry_after_failure=1))
    liar = "127.0.0.7:6881"
    leads = [(SW, f"127.100.0.{i}", 7000) for i in range(50)]
    for key in leads:
        assert plan.add(key, "pex", 0, liar)
    now, dials = 0, 0
    while plan.peers and now < 3_600 * S:
        for key in plan.due(now, 100):
            dials += 1
            assert plan.finished(key, pex_obs(key[1], 7000, Tier.LISTED, Failure.CONNECT_REFUSED), now) is (
                plan.peers.get(key) is None
            )
        now += S
    assert plan.peers == {} and plan.pex_pending == 0 and dials == 150
    assert not plan.add((SW, "127.100.1.1", 7000), "pex", now, liar)  # 50 dead addresses were its quota
    assert plan.add((SW, "127.100.1.1", 7000), "pex", now, "127.0.0.8:6881")


def test_a_pex_lead_that_connects_is_kept_and_frees_its_slots() -> None:
    plan = ProbePlan(PlanPolicy(retry_after_failure=1, pex_per_source=1))
    key = (SW, "127.100.0.1", 7000)
    assert plan.add(key, "pex", 0, "127.0.0.7:6881")
    assert not plan.add((SW, "127.100.0.2", 7000), "pex", 0, "127.0.0.7:6881")
    plan.due(0, 10)
    plan.finished(key, pex_obs("127.100.0.1", 7000, Tier.LISTED, Failure.CONNECT_TIMEOUT), 0)
    plan.due(S, 10)
    plan.finished(key, pex_obs("127.100.0.1", 7000, Tier.CONNECTED, Failure.NO_PIECES), S)
    assert plan.pex_pending == 0
    assert plan.add((SW, "127.100.0.2", 7000), "pex", S, "127.0.0.7:6881")
    for t in range(2, 10):  # no longer pending: failures never drop it (max_attempts_unreachable 0)
        plan.due(10_000 * t * S, 10)
        plan.finished(key, pex_obs("127.100.0.1", 7000, Tier.LISTED, Failure.CONNECT_TIMEOUT), 10_000 * t * S)
    assert key in plan.peers
    assert plan.forget(SW) == 2 and plan.pex_pending == 0
