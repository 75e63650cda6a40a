"""The coordinator's router: a shard whose probe process cannot run, and a swarm no probe process probes,
fall back to the coordinator.

A probe process that cannot be started (or was replaced too often) must not make its shard's peers
vanish: the coordinator plans every lead already handed to that shard and every later one itself, with one
warning line. ``_popen`` is made to fail the way a missing interpreter or an exhausted process table does.
A magnet's metainfo that arrives after the probe processes started is not theirs (they load their swarms at
start): the leads of that swarm found later stay with the coordinator, whatever their shard.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from swarmscope.monitor import probe_processes as pp
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.shards import shard_of
from swarmscope.monitor.writer_process import WriterProcess

SWARM = "ab" * 20


class _Coordinator:
    """What the router needs of the coordinator's Monitor: the run id, ``planned`` and the live counters."""

    run_id = 1

    def __init__(self) -> None:
        self.planned_peers: list[tuple[str, int, str]] = []
        self.namers: list[str] = []  # the PEX peer that named each lead planned ("" for other sources)
        self.targets = {SWARM: SimpleNamespace(meta=object())}  # a .torrent: its metainfo known at start
        self.stats: dict[str, object] = {}  # no verified peer counted yet

    def planned(self, swarm: str, peers: list[tuple[str, int]], source: str, via: str = "") -> None:
        self.planned_peers += [(ip, port, source) for ip, port in peers]
        self.namers += [via] * len(peers)


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


class _Pipe:
    """A probe process's frame pipe that keeps what it was sent (no process behind it)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    def send(self, channel: bytes, body: bytes) -> None:
        self.sent.append((channel, body))


def test_the_leads_of_a_magnet_the_probe_processes_do_not_probe_stay_with_the_coordinator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = pp.ProbeProcesses(
        2, cast(WriterProcess, None), "unused.db", [], MonitorConfig(peer_id=b"-SS0001-000000000000")
    )
    pipe = _Pipe()
    monkeypatch.setattr(router, "_spawn", lambda hello: pp._Child(1, cast(Any, None), cast(Any, pipe)))
    coordinator = _Coordinator()
    magnet = "cd" * 20
    coordinator.targets[magnet] = SimpleNamespace(meta=None)  # its metainfo came after the processes started
    theirs = _ips(1, 2)

    async def run() -> None:
        await router.start(coordinator)
        router.forward(SWARM, [(theirs[0], 1)], "tracker")
        router.forward(magnet, [(theirs[1], 2)], "tracker")

    asyncio.run(run())
    assert router.probed == {SWARM}
    assert [channel for channel, _body in pipe.sent] == [pp.pf.LEADS]  # only the .torrent's lead
    assert coordinator.planned_peers == [(theirs[1], 2, "tracker")]


def test_the_backlog_bound_is_shared_by_the_processes_of_one_run() -> None:
    """``--max-backlog`` bounds the run's memory: each of N processes (coordinator included) keeps 1/N."""
    config = MonitorConfig(peer_id=b"-SS0001-000000000000", max_backlog_bytes=300 * 1024 * 1024)
    router = pp.ProbeProcesses(3, cast(WriterProcess, None), "unused.db", [], config)
    assert config.max_backlog_bytes == 100 * 1024 * 1024 and router.config is config


def test_a_pex_lead_keeps_its_naming_peer_through_the_frames_a_replacement_and_the_coordinator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The naming host's PEX quota holds in every probe process (``monitor/plan.py``): the ``L`` frame to
    the lead's shard names the PEX peer, a replacement process is handed it again, and so is the
    coordinator when it takes the shard over."""
    router = pp.ProbeProcesses(
        2, cast(WriterProcess, None), "unused.db", [], MonitorConfig(peer_id=b"-SS0001-000000000000")
    )
    pipe = _Pipe()
    monkeypatch.setattr(router, "_spawn", lambda hello: pp._Child(1, cast(Any, None), cast(Any, pipe)))
    coordinator = _Coordinator()
    mine, theirs = _ips(0, 1), _ips(1, 2)
    namer = "203.0.113.5:6881"

    async def run() -> None:
        await router.start(coordinator)
        router.forward(SWARM, [(theirs[0], 1), (mine[0], 2)], "pex", namer)
        router.forward(SWARM, [(theirs[1], 3)], "tracker")
        router._replay(router.children[1])
        router._abandon(1, "probe process 1 ended")

    asyncio.run(run())
    sent = [pp.pf.read_leads(body) for channel, body in pipe.sent if channel == pp.pf.LEADS]
    first = [(SWARM, [(theirs[0], 1)], "pex", namer), (SWARM, [(theirs[1], 3)], "tracker", "")]
    assert sent == first + first  # the replacement is handed each lead again, with its namer
    assert router.shards == 2
    assert list(zip(coordinator.planned_peers, coordinator.namers, strict=True)) == [
        ((mine[0], 2, "pex"), namer), ((theirs[0], 1, "pex"), namer), ((theirs[1], 3, "tracker"), ""),
    ]  # fmt: skip
