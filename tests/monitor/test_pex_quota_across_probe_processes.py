"""A PEX liar's quota must hold when the monitor runs several probe processes (``--probe-processes``).

README "Resource bounds": one naming host holds at most ``PlanPolicy.pex_per_source`` (50) pending PEX
leads per swarm. With several probe processes, ``Monitor.discovered`` hands the leads of other shards on
through ``LeadRouter.forward`` with their naming peer (the ``L`` frame's ``via``), and each process holds
its share of the quota (``ProbePlan.pex_quota``). Without the naming peer, ``Monitor.planned`` admitted
them with ``via=""``, so only the swarm's cap (1,000) applied: one PEX message of 10,000 addresses from one
host filled the other process's whole ``pex_pending_per_swarm`` and honest PEX leads were refused.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from swarmscope.evidence.records import Source
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.plan import PlanPolicy, ProbePlan
from swarmscope.monitor.targets import target_from_metainfo
from swarmscope.wire import bencode

NAMER = "203.0.113.5:6881"


class _Split:
    """Two shards: this process probes addresses with an even last octet; the others go to ``other``."""

    shards = 2

    def __init__(self, other: Monitor | None, mine_even: bool) -> None:
        self.other, self.mine_even = other, mine_even

    def mine(self, ip: str) -> bool:
        return (int(ip.rsplit(".", 1)[1]) % 2 == 0) == self.mine_even

    def forward(self, swarm: str, peers: list[tuple[str, int]], source: str, via: str = "") -> None:
        assert self.other is not None
        self.other.planned(swarm, peers, source, via)


def _monitor(router: _Split) -> Monitor:
    info = {b"name": b"t", b"piece length": 16384, b"length": 1, b"pieces": b"\0" * 20}
    target = target_from_metainfo(bencode.encode({b"info": info}), "test")
    config = MonitorConfig(peer_id=b"-SS0100-aaaaaaaaaaaa")
    monitor = Monitor([target], cast(Any, None), config, router=cast(Any, router))
    monitor.evidence.add = lambda _record: None  # type: ignore[method-assign]  # sightings: no ledger here
    return monitor


def test_one_pex_liar_holds_at_most_its_quota_in_every_probe_process() -> None:
    other = _monitor(_Split(None, mine_even=False))
    this = _monitor(_Split(other, mine_even=True))
    swarm = next(iter(this.targets))
    liars = [(f"198.51.{i // 250}.{i % 250 + 1}", 80, None) for i in range(10_000)]
    this.discovered(swarm, liars, Source.PEX, NAMER)
    quota = PlanPolicy().pex_per_source
    assert this.plan.pex_pending <= quota
    assert other.plan.pex_pending <= quota, f"{other.plan.pex_pending} leads of one PEX liar held"


def test_one_pex_liar_holds_its_quota_in_the_node_as_a_whole() -> None:
    """Each of the N probe processes holds ``ceil(quota / N)`` of one naming host's leads of its shard, so
    the node holds at most ``N * ceil(quota / N)`` <= quota + N - 1 (``ProbePlan``), however the host's
    addresses fall into the shards."""
    other = _monitor(_Split(None, mine_even=False))
    this = _monitor(_Split(other, mine_even=True))
    swarm = next(iter(this.targets))
    liars = [(f"198.51.{i // 250}.{i % 250 + 1}", 80, None) for i in range(10_000)]
    this.discovered(swarm, liars, Source.PEX, NAMER)
    this.discovered(swarm, liars, Source.PEX, "203.0.113.5:7000")  # the same host on another port
    quota = PlanPolicy().pex_per_source
    assert this.plan.pex_quota == other.plan.pex_quota == 25
    assert this.plan.pex_pending + other.plan.pex_pending == quota
    honest = [(f"192.0.2.{i}", 80, None) for i in range(1, 21)]
    this.discovered(swarm, honest, Source.PEX, "198.18.0.1:6881")  # another naming host: its own quota
    assert this.plan.pex_pending + other.plan.pex_pending == quota + 20


def test_the_plan_refuses_no_shards() -> None:
    assert ProbePlan(PlanPolicy(pex_per_source=50), shards=3).pex_quota == 17
    with pytest.raises(ValueError, match="0 shards"):
        ProbePlan(shards=0)
