"""The connection shell (net.stream_shell): one driver for a pure run over any byte stream, either direction.

Scripted runs over an in-memory transport pin down the timer, close and detach rules and the opening
stage of an accepted stream; two real ProbeRuns talk to each other through two shells over an AF_UNIX
socket pair (a byte stream that is not TCP), are captured by the shells' tap hook and replay exactly.
Runs on asyncio's loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any, cast

import pytest

from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.capture.recording import replay
from swarmscope.evidence.probe.pieces import MetainfoPieces
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Failure, Observation, Source
from swarmscope.net.capture_tap import CaptureTap
from swarmscope.net.clock import Clock
from swarmscope.net.stream_shell import DrivenRun, StreamShell
from swarmscope.wire import bencode, extension
from swarmscope.wire.metainfo import Metainfo, parse_metainfo
from tests.net.test_listener import loop_factories

SRC = Path(__file__).resolve().parents[2] / "src" / "swarmscope" / "net"


class FakeStream:
    """An in-memory transport: records what is written and whether it was aborted."""

    def __init__(self, shell: StreamShell) -> None:
        self.shell, self.written, self.aborts = shell, bytearray(), 0

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborts += 1

    def is_closing(self) -> bool:
        return self.aborts > 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.7", 7007) if name == "peername" else default


class ScriptedRun:
    """A run that logs every call; ``done_after`` received chunks end it; ``deadline_us`` is settable."""

    def __init__(self, clock: Clock, *, done_after: int = 99, deadline_s: float | None = None) -> None:
        self.ip, self.port, self.done = "127.0.0.7", 7007, False
        self.calls: list[str] = []
        self.done_after = done_after
        self.deadline_us = None if deadline_s is None else clock.now_us() + int(deadline_s * 1e6)

    def connected(self, now_us: int) -> bytes:
        self.calls.append("connected")
        return b"hello"

    def accepted(self, now_us: int) -> bytes:
        self.calls.append("accepted")
        return b"welcome"

    def payload(self, now_us: int) -> bytes:
        self.calls.append("payload")
        return b"held"

    def received(self, data: bytes, now_us: int) -> bytes:
        self.calls.append(f"received {data.decode()}")
        self.done_after -= 1
        self.done = self.done_after <= 0
        return b"ack:" + data

    def timer(self, now_us: int) -> bytes:
        self.calls.append("timer")
        self.deadline_us = None
        return b"tick"

    def closed(self, now_us: int, detail: str = "connection closed") -> None:
        self.calls.append(f"closed {detail}")
        self.done = True

    def connect_failed(self, now_us: int, failure: Failure, detail: str) -> None:
        self.calls.append(f"connect_failed {failure.value}")
        self.done = True

    def stop(self, now_us: int) -> None:
        self.calls.append("stop")
        self.done = True

    def observation(self) -> Observation:
        return cast(Observation, ("record of", tuple(self.calls)))  # a marker: the shell passes it on


class Opening:
    """A scripted opener: admits or not; hands over the run when it sees b"go" (payload held or not)."""

    def __init__(self, run: ScriptedRun, *, admit: bool = True, held: bool = False) -> None:
        self.run, self.admit, self.held = run, admit, held
        self.log: list[str] = []
        self.shell: StreamShell | None = None

    def opened(self, shell: StreamShell) -> bool:
        self.shell = shell
        self.log.append("opened")
        return self.admit

    def feed(self, data: bytes) -> None:
        self.log.append(f"feed {data.decode()}")
        if data.startswith(b"go") and self.shell is not None:
            self.shell.hand_over(self.run, None if self.held else data[2:])

    def expired(self) -> None:
        self.log.append("expired")

    def ended(self, shell: StreamShell) -> None:
        self.log.append(f"ended detached={shell.detached}")


def _run(loop_factory: Any, body: Any) -> Any:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(body())


def _attach(shell: StreamShell) -> FakeStream:
    stream = FakeStream(shell)
    shell.connection_made(stream)  # type: ignore[arg-type]
    return stream


@pytest.mark.parametrize("loop_factory", loop_factories())
def test_a_dialled_run_is_driven_and_closed_once(loop_factory: Any) -> None:
    async def body() -> None:
        clock = Clock()
        run = ScriptedRun(clock, done_after=2)
        shell = StreamShell(clock, asyncio.get_running_loop(), run)
        stream = _attach(shell)
        shell.data_received(b"a")
        shell.data_received(b"b")  # the run is done: we close
        assert bytes(stream.written) == b"helloack:aack:b" and stream.aborts == 1 and shell.detached
        shell.data_received(b"late")  # nothing reaches a finished run
        shell.connection_lost(None)
        await asyncio.wait_for(shell.finished, 1)
        assert run.calls == ["connected", "received a", "received b"]

    _run(loop_factory, body)


@pytest.mark.parametrize("loop_factory", loop_factories())
def test_the_peer_closing_reaches_the_run(loop_factory: Any) -> None:
    async def body() -> None:
        clock = Clock()
        run = ScriptedRun(clock)
        shell = StreamShell(clock, asyncio.get_running_loop(), run)
        stream = _attach(shell)
        shell.connection_lost(ConnectionResetError("reset"))
        assert run.calls == ["connected", "closed closed by peer: reset"] and stream.aborts == 0
        assert shell.finished.done()

    _run(loop_factory, body)


@pytest.mark.parametrize("loop_factory", loop_factories())
def test_one_timer_follows_the_run_deadline(loop_factory: Any) -> None:
    async def body() -> None:
        clock = Clock()
        run = ScriptedRun(clock, deadline_s=0.05)
        shell = StreamShell(clock, asyncio.get_running_loop(), run)
        stream = _attach(shell)
        assert shell.armed_us == run.deadline_us and shell.timer is not None
        await asyncio.sleep(0.2)
        assert run.calls == ["connected", "timer"] and bytes(stream.written) == b"hellotick"
        assert shell.timer is None  # the run's deadline is gone: nothing armed
        run.deadline_us = clock.now_us() + 50_000
        shell.data_received(b"x")  # the deadline moved: re-armed
        assert shell.armed_us == run.deadline_us and shell.timer is not None

    _run(loop_factory, body)


@pytest.mark.parametrize("loop_factory", loop_factories())
def test_a_stopped_shell_is_detached_even_without_connection_lost(loop_factory: Any) -> None:
    """uvloop can close a transport without connection_lost: after stop nothing reaches the run."""

    async def body() -> None:
        clock = Clock()
        run = ScriptedRun(clock, deadline_s=0.05)
        shell = StreamShell(clock, asyncio.get_running_loop(), run)
        stream = _attach(shell)
        shell.stop(clock.now_us())
        await asyncio.sleep(0.15)  # past the deadline the timer was armed for
        shell.data_received(b"late")
        shell.connection_lost(None)
        assert run.calls == ["connected", "stop"] and stream.aborts == 1

    _run(loop_factory, body)


@pytest.mark.parametrize("loop_factory", loop_factories())
def test_a_stream_that_never_came_up_is_recorded_and_refused_later(loop_factory: Any) -> None:
    async def body() -> None:
        clock = Clock()
        run = ScriptedRun(clock)
        shell = StreamShell(clock, asyncio.get_running_loop(), run)
        record = shell.connect_failed(Failure.CONNECT_TIMEOUT, "no answer")
        assert cast(object, record) == ("record of", ("connect_failed connect_timeout",))
        stream = _attach(shell)  # the connect completes after all (cancelled create_connection)
        assert run.calls == ["connect_failed connect_timeout"] and stream.aborts == 1

    _run(loop_factory, body)


@pytest.mark.parametrize("held", [False, True], ids=["plaintext", "held"])
@pytest.mark.parametrize("loop_factory", loop_factories())
def test_an_accepted_stream_is_opened_then_handed_to_its_run(loop_factory: Any, held: bool) -> None:
    async def body() -> None:
        clock = Clock()
        run = ScriptedRun(clock, deadline_s=60.0)
        opening = Opening(run, held=held)
        shell = StreamShell(clock, asyncio.get_running_loop(), opener=opening, open_timeout=60.0)
        stream = _attach(shell)
        shell.data_received(b"hi")
        shell.data_received(b"go+rest")
        shell.data_received(b"more")
        first = ["accepted", "payload"] if held else ["accepted", "received +rest"]
        assert run.calls == [*first, "received more"]
        assert shell.armed_us == run.deadline_us  # the opening timeout gave way to the run's deadline
        shell.connection_lost(None)
        assert opening.log == ["opened", "feed hi", "feed go+rest", "ended detached=False"]
        assert run.calls[-1] == "closed closed by peer" and stream.aborts == 0

    _run(loop_factory, body)


@pytest.mark.parametrize("loop_factory", loop_factories())
def test_an_accepted_stream_times_out_or_is_refused_by_its_opener(loop_factory: Any) -> None:
    async def body() -> None:
        clock, loop = Clock(), asyncio.get_running_loop()
        slow = Opening(ScriptedRun(clock))
        shell = StreamShell(clock, loop, opener=slow, open_timeout=0.05)
        stream = _attach(shell)
        await asyncio.sleep(0.15)
        assert slow.log == ["opened", "expired"] and stream.aborts == 1
        shell.connection_lost(None)
        assert slow.log[-1] == "ended detached=True"  # we closed it: not the peer leaving early
        refused = Opening(ScriptedRun(clock), admit=False)
        other = StreamShell(clock, loop, opener=refused, open_timeout=60.0)
        assert _attach(other).aborts == 1 and other.timer is None

    _run(loop_factory, body)


def _meta() -> Metainfo:
    """A 3-piece v1 torrent built in memory (pieces that no peer here serves)."""
    info = {b"length": 40_000, b"name": b"x.bin", b"piece length": 16_384, b"pieces": b"\x01" * 60}
    return parse_metainfo(bencode.encode({b"info": info}))


def _probe_run(meta: Metainfo, clock: Clock, *, inbound: bool, listen_port: int | None = None) -> ProbeRun:
    return ProbeRun(
        swarm=meta.swarm_id.hex,
        wire_infohash=meta.wire_infohash,
        peer_id=(b"-SS0100-inbound00000" if inbound else b"-SS0100-outgoing0000"),
        pieces=MetainfoPieces(meta),
        ip="127.0.0.7",
        port=40_001 if inbound else 6881,
        source=Source.INBOUND.value if inbound else Source.TRACKER.value,
        started_us=clock.now_us(),
        policy=ProbePolicy(claims_wait=0.05, handshake_timeout=5.0),
        extension_handshake=extension.encode_handshake({}, v=b"swarmscope-test", p=listen_port),
        inbound=inbound,
        record_listen_port=inbound,
    )


class _Direct:
    """An opener that knows its run at once (the listener's swarm lookup, minus the handshake parse)."""

    def __init__(self, run: ProbeRun, tap: CaptureTap) -> None:
        self.run, self.tap = run, tap
        self.shell: StreamShell | None = None

    def opened(self, shell: StreamShell) -> bool:
        self.shell = shell
        return True

    def feed(self, data: bytes) -> None:
        assert self.shell is not None
        self.shell.hand_over(self.run, data, self.tap)

    def expired(self) -> None:
        raise AssertionError("the test peer speaks at once")

    def ended(self, shell: StreamShell) -> None:
        pass


@pytest.mark.parametrize("loop_factory", loop_factories())
def test_two_runs_talk_over_a_unix_socket_pair_and_their_captures_replay(loop_factory: Any) -> None:
    meta = _meta()

    async def body() -> tuple[Observation, Observation, CaptureTap]:
        clock, loop = Clock(), asyncio.get_running_loop()
        tap = CaptureTap(clock)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        dial = StreamShell(clock, loop, _probe_run(meta, clock, inbound=False, listen_port=6999), tap=tap)
        opener = _Direct(_probe_run(meta, clock, inbound=True), tap)
        accept = StreamShell(clock, loop, opener=opener, open_timeout=5.0)
        await loop.connect_accepted_socket(lambda: accept, theirs)
        await loop.create_connection(lambda: dial, sock=ours)
        await asyncio.wait_for(asyncio.gather(dial.finished, accept.finished), 10)
        runs: list[DrivenRun] = [r for r in (dial.run, accept.run) if r is not None]
        return runs[0].observation(), runs[1].observation(), tap

    out_obs, in_obs, tap = _run(loop_factory, body)
    assert out_obs.peer_id == b"-SS0100-inbound00000" and in_obs.peer_id == b"-SS0100-outgoing0000"
    assert in_obs.port == 6999  # recorded under the BEP 10 listen port by the pure run itself
    assert out_obs.failure == Failure.NO_PIECES.value, out_obs
    assert len(tap.captures) == 2
    pieces = MetainfoPieces(meta)
    by_dir = {c.sha256: c for c in tap.captures}
    for obs in (out_obs, in_obs):
        cap = by_dir[obs.capture_sha256]
        assert canonical_bytes(replay(cap.data, pieces, cap.blobs.get)) == canonical_bytes(obs)


def test_only_the_shell_drives_runs_and_arms_their_timers() -> None:
    """Dialling and accepting modules hold no asyncio protocol and no timer of their own."""
    for name in ("peer_conn.py", "listener.py"):
        text = (SRC / name).read_text()
        assert "asyncio.Protocol" not in text and "call_later" not in text, name
        assert ".timer(" not in text and ".received(" not in text, name
