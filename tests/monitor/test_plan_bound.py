"""The per-swarm bound of the probe plan (monitor/plan_bound.py): leads that never answer leave after
``max_failcount`` dials and come back only after the cool-down, a full swarm evicts the oldest lead never
reached (then the oldest never verified), never a verified peer nor one in flight (libtorrent
``max_peerlist_size``, ``max_failcount``; README "Resource bounds")."""

from __future__ import annotations

from swarmscope.evidence.records import Failure, Observation, Tier
from swarmscope.monitor.plan import PeerKey, PlanPolicy, ProbePlan

S = 1_000_000
SW = "ab" * 20


def _key(n: int, swarm: str = SW) -> PeerKey:
    return (swarm, f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 6881)


def _outcome(key: PeerKey, tier: Tier, failure: Failure | None = None) -> Observation:
    return Observation(key[0], key[1], key[2], "tracker", 0, 1, tier, failure.value if failure else None)


def _dead(key: PeerKey) -> Observation:
    return _outcome(key, Tier.LISTED, Failure.CONNECT_TIMEOUT)


def _dial_until_dropped(plan: ProbePlan, key: PeerKey, now: int) -> tuple[int, int]:
    """Dial ``key`` each time it is due, every dial failing, until it leaves the plan: (dials, now)."""
    dials = 0
    while key in plan.peers and dials < 100:
        now = plan.peers[key].due_us
        assert plan.due(now, 10) == [key]
        dials += 1
        left = plan.finished(key, _dead(key), now)
        assert left is (key not in plan.peers)
    return dials, now


def test_a_dead_tracker_lead_leaves_after_three_dials_and_returns_only_after_the_cooldown() -> None:
    dropped: list[PeerKey] = []
    plan = ProbePlan(PlanPolicy(retry_after_failure=60), on_drop=dropped.append)
    key = _key(1)
    assert plan.add(key, "tracker", 0)
    dials, gone_at = _dial_until_dropped(plan, key, 0)
    assert dials == 3 and dropped == [key]  # libtorrent's max_failcount
    for announce in range(1, 120):  # the tracker names it again every 30 s for the next hour
        assert not plan.add(key, "tracker", gone_at + announce * 30 * S)
        assert key not in plan.peers
    back = gone_at + 3_600 * S
    assert plan.add(key, "dht", back)  # the cool-down is over: it starts over
    again, _ = _dial_until_dropped(plan, key, back)
    assert again == 3 and dropped == [key, key]


def test_a_lead_that_answered_once_is_not_dropped_for_later_failures() -> None:
    plan = ProbePlan(PlanPolicy(retry_after_failure=1))
    key = _key(2)
    plan.add(key, "tracker", 0)
    plan.due(0, 10)
    plan.finished(key, _outcome(key, Tier.CONNECTED, Failure.NO_PIECES), 0)
    now = 0
    for _ in range(10):
        now = plan.peers[key].due_us
        assert plan.due(now, 10) == [key]
        assert not plan.finished(key, _dead(key), now)
    assert key in plan.peers


def test_a_verified_peer_is_never_evicted_by_a_flood_of_leads() -> None:
    """50 verified peers, then a DHT lookup's worth of fresh addresses (100 values x 256 replies) in the
    swarm, twice: the verified stay, and the plan holds at most the bound of peers not verified."""
    plan = ProbePlan(PlanPolicy(max_peers_per_swarm=300))
    honest = [_key(n) for n in range(50)]
    for key in honest:
        plan.add(key, "tracker", 0)
    for key in plan.due(0, 100):
        plan.finished(key, _outcome(key, Tier.VERIFIED), 1)
    for n in range(1_000, 1_000 + 2 * 25_600):
        plan.add(_key(n), "dht", 2)
    assert all(key in plan.peers for key in honest)
    assert len(plan.peers) == 50 + 300
    assert len(plan._heap) <= 2 * len(plan.peers) + 1024 + 1  # stale entries of evicted leads compacted


def test_a_full_swarm_evicts_the_oldest_never_reached_then_the_oldest_never_verified() -> None:
    dropped: list[PeerKey] = []
    plan = ProbePlan(PlanPolicy(max_peers_per_swarm=3, per_ip=1), on_drop=dropped.append)
    a, b, c, d, e = (_key(n) for n in range(5))
    for key in (a, b, c):
        plan.add(key, "tracker", 0)
    assert sorted(plan.due(0, 2)) == sorted([a, b])  # a and b in flight
    plan.finished(b, _outcome(b, Tier.CONNECTED, Failure.NO_PIECES), 1)  # b reached, not verified
    assert plan.add(d, "tracker", 2) and dropped == [c]  # a is in flight: c is the oldest never reached
    assert plan.add(e, "tracker", 3) and dropped == [c, d]
    assert plan.due(4, 10) == [e]  # all three in flight or reached: a, e in flight, b reached
    assert plan.add(_key(5), "tracker", 5) and dropped == [c, d, b]  # then the oldest never verified
    assert plan.due(6, 10) == [_key(5)]
    assert not plan.add(_key(6), "tracker", 7)  # every peer not verified is in flight: refused
    assert _key(6) not in plan.peers and set(plan.peers) == {a, e, _key(5)}


def test_swarms_are_bounded_apart_and_a_forgotten_swarm_is_dropped_whole() -> None:
    dropped: list[PeerKey] = []
    plan = ProbePlan(PlanPolicy(max_peers_per_swarm=10), on_drop=dropped.append)
    for n in range(100):
        plan.add(_key(n), "tracker", 0)
        plan.add(_key(n, "cd" * 20), "tracker", 0)
    assert len(plan.peers) == 20 and len(dropped) == 180
    assert plan.forget("cd" * 20) == 10 and len(dropped) == 190
    assert plan.add(_key(5, "cd" * 20), "tracker", 1)


def test_pex_leads_dropped_after_failed_dials_cool_down_too() -> None:
    plan = ProbePlan(PlanPolicy(retry_after_failure=1))
    key = _key(7)
    assert plan.add(key, "pex", 0, "10.9.9.9:6881")
    dials, gone_at = _dial_until_dropped(plan, key, 0)
    assert dials == 3
    assert not plan.add(key, "pex", gone_at + S, "10.8.8.8:6881")  # another namer: still cooling
    assert not plan.add(key, "tracker", gone_at + S)
    assert plan.add(key, "tracker", gone_at + 3_600 * S)


def test_a_monitor_forgets_the_source_of_each_lead_its_plan_drops() -> None:
    """``Monitor.sources`` (each planned peer's first source) leaves with the peer: a flood of fresh
    tracker leads keeps it at the plan's bound."""
    from swarmscope.evidence.records import Source
    from swarmscope.monitor.config import MonitorConfig
    from swarmscope.monitor.crawler import Monitor
    from swarmscope.monitor.targets import target_from_metainfo
    from swarmscope.wire.bencode import encode

    info = {b"name": b"bound", b"piece length": 16384, b"length": 16384, b"pieces": bytes(20)}
    target = target_from_metainfo(encode({b"info": info}), "bound")
    config = MonitorConfig(peer_id=b"-SS0001-000000000000", plan=PlanPolicy(max_peers_per_swarm=100))
    store: object = None  # never touched: run() is not called
    monitor = Monitor([target], store, config, leads_from_caller=True)  # type: ignore[arg-type]
    monitor.evidence.add = lambda _record: None  # type: ignore[method-assign]
    for announce in range(50):
        peers = [(f"10.{announce}.0.{i + 1}", 6881, None) for i in range(200)]
        monitor.discovered(target.swarm, peers, Source.TRACKER, "http://127.0.0.1:1/announce")
    assert len(monitor.plan.peers) == 100 and set(monitor.sources) == set(monitor.plan.peers)
    assert monitor.plan.forget(target.swarm) == 100 and monitor.sources == {}
