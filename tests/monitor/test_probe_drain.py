"""The drain of a dropped swarm between a fleet node's coordinator and its probe processes (``D`` then
``F``, ``monitor/probe_frames.py``), without processes: the coordinator's bookkeeping
(``ProbeProcesses.pending_swarms``) and the probe side's poll of its ledger writer
(``probe_main.FleetState``). The real processes: tests/monitor/test_fleet_probe_handoff.py.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from swarmscope.errors import DecodeError
from swarmscope.monitor import probe_frames as pf
from swarmscope.monitor import probe_main
from swarmscope.monitor import probe_processes as pp
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.writer_process import WriterProcess

SWARM, OTHER = "ab" * 20, "cd" * 20


class _Pipe:
    """A frame pipe that keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    def send(self, channel: bytes, body: bytes) -> None:
        self.sent.append((channel, body))


def _router() -> tuple[pp.ProbeProcesses, pp._Child, _Pipe]:
    """A fleet router with one running probe process (shard 1) that was handed ``SWARM``."""
    router = pp.ProbeProcesses(
        2, cast(WriterProcess, None), "unused.db", [], MonitorConfig(peer_id=b"-SS0001-000000000000"),
        fleet=True,
    )  # fmt: skip
    pipe = _Pipe()
    child = pp._Child(1, cast(Any, SimpleNamespace(pid=1)), cast(pf.FramePipe, pipe))
    router.children[1] = child
    router._targets[SWARM] = b"metainfo"
    return router, child, pipe


def test_a_drop_is_pending_until_its_own_answer_comes_back() -> None:
    router, child, pipe = _router()
    router.remove_target(SWARM)
    assert pipe.sent == [(pf.DROP, f"{SWARM} 1".encode())] and router.pending_swarms() == {SWARM}
    router._drained(child, f"{SWARM} 0".encode())  # an answer to an earlier drop of it: not this one
    router._drained(child, b"not a drop")  # malformed: ignored
    assert router.pending_swarms() == {SWARM}
    router._drained(child, pf.drop(SWARM, 1))
    assert router.pending_swarms() == set()


def test_a_lost_lease_and_an_ended_process_are_not_waited_for() -> None:
    router, child, _pipe = _router()
    router._targets[OTHER] = b"metainfo"
    router.remove_target(SWARM)
    router.remove_target(OTHER)
    router.discard_queued(SWARM)  # the lease was lost: its records are dropped, nothing to wait for
    assert router.pending_swarms() == {OTHER}
    child.done.set()  # the process died: what it had not committed is lost with it
    assert router.pending_swarms() == set()


def test_drop_bodies_round_trip_and_malformed_ones_are_refused() -> None:
    assert pf.read_drop(pf.drop(SWARM, 42)) == (SWARM, 42)
    for body in (SWARM.encode(), f"{SWARM} x".encode(), f"{SWARM} 1 2".encode(), b"a-b 1", b" 1"):
        with pytest.raises(DecodeError):
            pf.read_drop(body)


def _fleet_state(pending: set[str], warnings: list[str]) -> tuple[probe_main.FleetState, _Pipe]:
    writer = SimpleNamespace(pending_swarms=lambda: set(pending))
    monitor = SimpleNamespace(
        evidence=SimpleNamespace(writer=writer), stopping=False, on_warning=warnings.append,
        remove_target=lambda _swarm: None,
    )  # fmt: skip
    pipe = _Pipe()
    ledger = SimpleNamespace(pipe=pipe)
    return probe_main.FleetState(cast(Any, monitor), cast(Any, ledger)), pipe


def test_the_probe_process_answers_a_drop_once_its_writer_has_nothing_of_the_swarm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(probe_main, "DRAIN_POLL_SECONDS", 0.01)
    pending, warnings = {SWARM}, []
    state, pipe = _fleet_state(pending, warnings)

    async def scenario() -> None:
        state.handle("drop", pf.drop(SWARM, 3))
        await asyncio.sleep(0.1)
        assert pipe.sent == []  # still queued (or in a commit under way) there
        pending.clear()
        await asyncio.sleep(0.1)
        assert pipe.sent == [(pf.DRAINED, pf.drop(SWARM, 3))]

    asyncio.run(scenario())
    assert warnings == []


def test_the_probe_process_gives_up_waiting_after_its_bound_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(probe_main, "DRAIN_POLL_SECONDS", 0.01)
    monkeypatch.setattr(probe_main, "DRAIN_SECONDS", 0.05)
    warnings: list[str] = []
    state, pipe = _fleet_state({SWARM}, warnings)

    async def scenario() -> None:
        state.handle("drop", pf.drop(SWARM, 1))
        await asyncio.sleep(0.3)

    asyncio.run(scenario())
    assert pipe.sent == [(pf.DRAINED, pf.drop(SWARM, 1))]
    assert len(warnings) == 1 and SWARM in warnings[0] and "may be released" in warnings[0]
