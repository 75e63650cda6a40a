"""A PEX liar's quota must hold when the monitor runs several probe processes (``--probe-processes``).

README "Resource bounds": one naming host holds at most ``PlanPolicy.pex_per_source`` (50) pending PEX
leads per swarm. With several probe processes, ``Monitor.discovered`` hands the leads of other shards on
through ``LeadRouter.forward`` without their naming peer, and ``Monitor.planned`` admits them with
``via=""``, so only the swarm's cap (1,000) applies: one PEX message of 10,000 addresses from one host
fills the other process's whole ``pex_pending_per_swarm`` and honest PEX leads of that swarm are refused.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from swarmscope.evidence.records import Source
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.plan import PlanPolicy
from swarmscope.monitor.targets import target_from_metainfo
from swarmscope.wire import bencode

NAMER = "203.0.113.5:6881"


class _Split:
    """Two shards: this process probes addresses with an even last octet; the others go to ``other``."""

    def __init__(self, other: Monitor | None, mine_even: bool) -> None:
        self.other, self.mine_even = other, mine_even

    def mine(self, ip: str) -> bool:
        return (int(ip.rsplit(".", 1)[1]) % 2 == 0) == self.mine_even

    def forward(self, swarm: str, peers: list[tuple[str, int]], source: str) -> None:
        assert self.other is not None
        self.other.planned(swarm, peers, source)


def _monitor(router: _Split) -> Monitor:
    info = {b"name": b"t", b"piece length": 16384, b"length": 1, b"pieces": b"\0" * 20}
    target = target_from_metainfo(bencode.encode({b"info": info}), "test")
    config = MonitorConfig(peer_id=b"-SS0100-aaaaaaaaaaaa")
    monitor = Monitor([target], cast(Any, None), config, router=cast(Any, router))
    monitor.evidence.add = lambda _record: None  # type: ignore[method-assign]  # sightings: no ledger here
    return monitor


@pytest.mark.xfail(
    strict=True, reason="forwarded PEX leads lose their naming host: only the swarm cap applies"
)
def test_one_pex_liar_holds_at_most_its_quota_in_every_probe_process() -> None:
    other = _monitor(_Split(None, mine_even=False))
    this = _monitor(_Split(other, mine_even=True))
    swarm = next(iter(this.targets))
    liars = [(f"198.51.{i // 250}.{i % 250 + 1}", 80, None) for i in range(10_000)]
    this.discovered(swarm, liars, Source.PEX, NAMER)
    quota = PlanPolicy().pex_per_source
    assert this.plan.pex_pending <= quota
    assert other.plan.pex_pending <= quota, f"{other.plan.pex_pending} leads of one PEX liar held"
