"""The coordinator's copy of the leads it handed each probe process (kept to replay to a replacement,
``ProbeProcesses._replay``) must stay bounded: issue "hostile input" asks that memory stay bounded
whatever trackers, DHT nodes and PEX peers send, and a tracker repeats its list at every announce
(numwant 200 every ``announce_floor`` = 30 s at the most).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from swarmscope.monitor import probe_processes as pp
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.writer_process import WriterProcess

SWARM = "ab" * 20


@pytest.mark.xfail(
    strict=True, reason="rev12a14: ProbeProcesses._leads keeps every lead forwarded, repeats too"
)
def test_a_tracker_repeating_its_list_does_not_grow_the_replay_copy() -> None:
    """1,000 announces naming the same 200 peers: the coordinator holds each lead once (≤ 200), not
    one copy per announce (99,000 before)."""
    router = pp.ProbeProcesses(
        2, cast(WriterProcess, None), "unused.db", [], MonitorConfig(peer_id=b"-SS0001-000000000000")
    )
    router._monitor = SimpleNamespace(planned=lambda *_args: None)
    router.probed.add(SWARM)
    peers = [(f"10.0.{i // 250}.{i % 250 + 1}", 6881) for i in range(200)]
    for _announce in range(1000):
        router.forward(SWARM, peers, "tracker")
    held = sum(len(leads) for leads in router._leads.values())
    assert 0 < held <= len(peers)
