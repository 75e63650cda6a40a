"""The coordinator's router when a probe process cannot run: its shard falls back to the coordinator.

A probe process that cannot be started (or was replaced too often) must not make its shard's peers
vanish: the coordinator plans every lead already handed to that shard and every later one itself, with one
warning line. ``_popen`` is made to fail the way a missing interpreter or an exhausted process table does.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from swarmscope.monitor import probe_processes as pp
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.shards import shard_of
from swarmscope.monitor.writer_process import WriterProcess

SWARM = "ab" * 20


class _Coordinator:
    """What the router needs of the coordinator's Monitor: the run id and ``planned``."""

    run_id = 1

    def __init__(self) -> None:
        self.planned_peers: list[tuple[str, int, str]] = []

    def planned(self, swarm: str, peers: list[tuple[str, int]], source: str) -> None:
        assert swarm == SWARM
        self.planned_peers += [(ip, port, source) for ip, port in peers]


def _ips(shard: int, n: int) -> list[str]:
    return [ip for ip in (f"10.1.{i // 200}.{i % 200}" for i in range(400)) if shard_of(ip, 2) == shard][:n]


def test_a_probe_process_that_cannot_start_leaves_its_shard_to_the_coordinator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_process() -> Any:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(pp, "_popen", no_process)
    warnings: list[str] = []
    router = pp.ProbeProcesses(
        2,
        cast(WriterProcess, None),
        "unused.db",
        [],
        MonitorConfig(peer_id=b"-SS0001-000000000000"),
        warnings.append,
    )
    coordinator = _Coordinator()
    mine, theirs = _ips(0, 2), _ips(1, 2)

    async def run() -> None:
        await router.start(coordinator)
        router.forward(SWARM, [(mine[0], 1), (theirs[0], 2)], "tracker")
        router.forward(SWARM, [(theirs[1], 3), (mine[1], 4)], "dht")
        await router.stop()

    asyncio.run(run())
    assert router.abandoned == {1} and router.started == 0
    assert sorted(coordinator.planned_peers) == sorted(
        [(mine[0], 1, "tracker"), (theirs[0], 2, "tracker"), (theirs[1], 3, "dht"), (mine[1], 4, "dht")]
    )
    assert len(warnings) == 1 and "probe process 1 could not start" in warnings[0]
    assert "the coordinator probes its shard" in warnings[0]
