"""The coordinator's copy of the leads it handed each probe process (kept to replay to a replacement,
``ProbeProcesses._replay``) must stay bounded: issue "hostile input" asks that memory stay bounded
whatever trackers, DHT nodes and PEX peers send, and a tracker repeats its list at every announce
(numwant 200 every ``announce_floor`` = 30 s at the most).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from swarmscope.evidence.records import Observation, Tier
from swarmscope.monitor import probe_frames as pf
from swarmscope.monitor import probe_processes as pp
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.plan import PlanPolicy
from swarmscope.monitor.stats import SwarmStats
from swarmscope.monitor.writer_process import WriterProcess

SWARM = "ab" * 20


def test_a_tracker_repeating_its_list_does_not_grow_the_replay_copy() -> None:
    """1,000 announces naming the same 200 peers: the coordinator holds each lead once (≤ 200), not
    one copy per announce (99,000 before)."""
    router = pp.ProbeProcesses(
        2, cast(WriterProcess, None), "unused.db", [], MonitorConfig(peer_id=b"-SS0001-000000000000")
    )
    router._monitor = SimpleNamespace(planned=lambda *_args: None, stats={})
    router.probed.add(SWARM)
    peers = [(f"10.0.{i // 250}.{i % 250 + 1}", 6881) for i in range(200)]
    for _announce in range(1000):
        router.forward(SWARM, peers, "tracker")
    held = sum(len(leads) for leads in router._leads.values())
    assert 0 < held <= len(peers)


def _router(cap: int) -> pp.ProbeProcesses:
    config = MonitorConfig(peer_id=b"-SS0001-000000000000", plan=PlanPolicy(max_peers_per_swarm=cap))
    router = pp.ProbeProcesses(2, cast(WriterProcess, None), "unused.db", [], config)
    router._monitor = SimpleNamespace(planned=lambda *_args: None, stats={})
    router.probed.add(SWARM)
    return router


def _replayed(router: pp.ProbeProcesses, shard: int) -> list[tuple[str, str, int, str, str]]:
    """The leads a new probe process of ``shard`` is handed (``_replay``), one tuple per lead sent."""
    sent: list[tuple[bytes, bytes]] = []
    child = SimpleNamespace(shard=shard, pipe=SimpleNamespace(send=lambda ch, body: sent.append((ch, body))))
    router._replay(cast(Any, child))
    out = []
    for channel, body in sent:
        assert channel == pf.LEADS
        swarm, peers, source, via = pf.read_leads(body)
        out += [(swarm, ip, port, source, via) for ip, port in peers]
    return out


def test_a_replacement_is_handed_each_lead_once_with_the_source_that_counts() -> None:
    """Tracker, DHT and PEX name the same peers again and again; a replaced probe process is handed each
    (swarm, ip, port) once: a tracker's or the DHT's lead as such even when PEX named it too (its PEX
    quota no longer holds it in the plan), a PEX-only lead with its naming peer."""
    router = _router(3_000)
    peers = [(f"10.1.{i // 250}.{i % 250 + 1}", 6881) for i in range(300)]
    pex_only = [(f"10.2.0.{i + 1}", 7000) for i in range(40)]
    for _round in range(50):
        router.forward(SWARM, peers[:200], "tracker")
        router.forward(SWARM, peers[100:], "dht")
        router.forward(SWARM, peers[:50] + pex_only, "pex", "10.3.0.1:6881")
    named = {(SWARM, ip, port) for ip, port in peers + pex_only if pp.shard_of(ip, 2) == 1}
    leads = _replayed(router, 1)
    assert len(leads) == len(named) and {lead[:3] for lead in leads} == named
    for _swarm, ip, port, source, via in leads:
        assert (source == "pex") is ((ip, port) in pex_only)
        assert via == ("10.3.0.1:6881" if source == "pex" else "")


def test_fresh_leads_keep_the_newest_up_to_the_plans_bound() -> None:
    """A tracker naming 200 fresh addresses per announce: the copy keeps the newest ``max_peers_per_swarm``
    of the shard (what its plan may hold not verified), and the replay hands exactly those."""
    router = _router(500)
    for announce in range(100):
        router.forward(
            SWARM, [(f"10.{announce}.{i // 250}.{i % 250 + 1}", 6881) for i in range(200)], "tracker"
        )
    leads = _replayed(router, 1)
    assert len(leads) == 500 == len(router._leads[1])
    last = {(f"10.99.{i // 250}.{i % 250 + 1}", 6881) for i in range(200)}
    assert {(ip, port) for _s, ip, port, _src, _via in leads} >= {
        p for p in last if pp.shard_of(p[0], 2) == 1
    }


def test_verified_peers_outlive_a_flood_of_leads_in_the_replay() -> None:
    """Peers verified after PEX, the DHT or an inbound connection named them, then a tracker naming 200
    fresh addresses per announce pushes them out of the copy: a replacement (and the coordinator taking an
    abandoned shard over) is still handed them, from the live counters, each once, under a source that is
    not PEX when another named it."""
    router = _router(300)
    stats = SwarmStats(SWARM, "film")
    router._monitor.stats[SWARM] = stats
    found = {"pex": ("10.200.0.1", 7001), "dht": ("10.200.0.2", 7002), "inbound": ("10.200.0.3", 7003)}
    assert all(pp.shard_of(ip, 2) == 1 for ip, _port in found.values())  # all three in shard 1
    for source, (ip, port) in found.items():
        router.forward(SWARM, [(ip, port)], source, "10.9.9.9:6881" if source == "pex" else "")
        stats.observed(Observation(SWARM, ip, port, source, 0, 1, Tier.VERIFIED, None))
    stats.sighted("10.200.0.1", 7001, "dht")  # the PEX peer was named by the DHT later
    for announce in range(20):
        router.forward(SWARM, [(f"10.{announce}.0.{i + 1}", 6881) for i in range(200)], "tracker")
    ours = found
    assert not any(router._leads[1].holds(SWARM, peer) for peer in ours.values())
    leads = _replayed(router, 1)
    for source, (ip, port) in ours.items():
        assert [lead for lead in leads if lead[1:3] == (ip, port)] == [
            (SWARM, ip, port, "dht" if source == "pex" else source, "")
        ]
    taken: list[tuple[str, list[tuple[str, int]], str, str]] = []
    router._monitor.planned = lambda *args: taken.append(args)
    router._abandon(1, "gone")
    for ip, port in ours.values():
        assert sum((ip, port) in peers for _s, peers, _src, _via in taken) == 1
