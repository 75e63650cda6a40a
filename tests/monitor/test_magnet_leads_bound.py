"""A magnet still without metadata: the leads its discovery channels repeat are held once, not once per
announce (README "Resource bounds": memory stays bounded whatever a tracker repeats)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from swarmscope.evidence.records import Source
from swarmscope.monitor.crawler import Monitor


@pytest.mark.xfail(
    strict=True,
    reason="Monitor.discovered appends every repeated lead of a magnet phase to _held and its leads queue: "
    "one tracker re-announcing the same 200 peers for an hour holds 24,000",
)
def test_a_magnet_phase_holds_each_repeated_lead_once() -> None:
    monitor: Any = object.__new__(Monitor)
    swarm = "ab" * 20
    monitor.clock = SimpleNamespace(now_us=lambda: 1_000_000)
    monitor.stats = {swarm: SimpleNamespace(sighted=lambda *_a: None)}
    monitor.evidence = SimpleNamespace(add=lambda _s: None)
    monitor._own, monitor.router, monitor.sources, monitor._held = set(), None, {}, {}
    monitor._metadata_leads = {swarm: asyncio.Queue()}
    peers = [(f"10.0.0.{i + 1}", 6881, None) for i in range(200)]  # one reply, cut to numwant (200)
    for _announce in range(120):  # an hour of re-announces at the 30 s floor, the same 200 peers
        Monitor.discovered(monitor, swarm, peers, Source.TRACKER, "http://127.0.0.1:1/announce")
    held, queued = len(monitor._held[swarm]), monitor._metadata_leads[swarm].qsize()
    assert held <= 200 and queued <= 200, (held, queued)
