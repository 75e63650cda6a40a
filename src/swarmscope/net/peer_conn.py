"""asyncio driver for one outgoing probe: connect, move bytes, arm timers, close.

All protocol decisions are in a pure run object (:class:`swarmscope.evidence.probe.ProbeRun`, or a wrapper
with the same interface such as the MSE one); this module only turns socket callbacks into calls on it.
Network outcomes (refused, timeout, reset) become values on the Observation, never exceptions.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from typing import Protocol, cast

from swarmscope.evidence.records import Failure, Observation
from swarmscope.net.clock import Clock

_REFUSED = {errno.ECONNREFUSED}


class ProbeDriven(Protocol):
    """What the driver needs of a run: the pure probe interface (see ``evidence.probe.ProbeRun``)."""

    ip: str
    port: int

    @property
    def done(self) -> bool: ...
    @property
    def deadline_us(self) -> int | None: ...
    def connected(self, now_us: int) -> bytes: ...
    def received(self, data: bytes, now_us: int) -> bytes: ...
    def timer(self, now_us: int) -> bytes: ...
    def closed(self, now_us: int, detail: str = ...) -> None: ...
    def connect_failed(self, now_us: int, failure: Failure, detail: str) -> None: ...
    def stop(self, now_us: int) -> None: ...
    def observation(self) -> Observation: ...


class _ProbeProtocol(asyncio.Protocol):
    """Feeds socket events to a run; resolves ``finished`` when the connection is gone.

    Once :meth:`detach` is called (the driver gave up on the connection: connect timeout, cancellation)
    no socket callback or timer reaches the run any more. uvloop closes a transport whose
    ``create_connection`` was cancelled right after ``connection_made`` without ever calling
    ``connection_lost`` (uvloop ``UVBaseTransport``: ``_close()`` schedules no ``connection_lost``), so the
    timer armed in ``connection_made`` would otherwise fire into a run whose record (and capture) was
    already taken.
    """

    __slots__ = ("armed_us", "clock", "detached", "finished", "loop", "run", "timer", "transport")

    def __init__(self, run: ProbeDriven, clock: Clock, loop: asyncio.AbstractEventLoop) -> None:
        self.run, self.clock, self.loop = run, clock, loop
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.armed_us: int | None = None
        self.detached = False
        self.finished: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport, hence a cast and no isinstance check
        self.transport = cast(asyncio.Transport, transport)
        if self.detached:
            self.transport.abort()
            return
        self.transport.write(self.run.connected(self.clock.now_us()))
        self._arm()

    def data_received(self, data: bytes) -> None:
        run = self.run
        if self.detached:
            return
        out = run.received(data, self.clock.now_us())
        if out and self.transport is not None:
            self.transport.write(out)
        if run.done:
            self._close()
        elif run.deadline_us != self.armed_us:
            self._arm()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if not self.detached and not self.run.done:
            self.run.closed(self.clock.now_us(), f"closed by peer: {exc}" if exc else "closed by peer")
        if not self.finished.done():
            self.finished.set_result(None)

    def detach(self) -> None:
        """Stop the timer, drop the connection and never call the run again (it is over for the driver)."""
        self.detached = True
        self._close()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _arm(self) -> None:
        """(Re)arm the single timer at the run's deadline; only called when the deadline changed."""
        self._cancel_timer()
        deadline = self.armed_us = self.run.deadline_us
        if deadline is not None:
            delay = max(0.0, (deadline - self.clock.now_us()) / 1e6)
            self.timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self.armed_us = None
        if self.detached:
            return
        out = self.run.timer(self.clock.now_us())
        if out and self.transport is not None:
            self.transport.write(out)
        if self.run.done:
            self._close()
        else:
            self._arm()

    def _close(self) -> None:
        self._cancel_timer()
        if self.transport is not None:
            self.transport.abort()  # RST, no TIME_WAIT on our side; nothing more to say to this peer


async def probe(
    run: ProbeDriven,
    *,
    clock: Clock,
    connect_timeout: float = 5.0,
    bind_ip: str | None = None,
    tap: Callable[[ProbeDriven], ProbeDriven] | None = None,
) -> Observation:
    """Connect to ``run.ip:run.port``, drive the probe to its end and return the Observation.

    Args:
        run: a fresh ProbeRun (or wrapper). clock: evidence clock. connect_timeout: seconds for the TCP
        connect. bind_ip: local source address (None: the kernel picks).
        tap: wraps ``run`` before its first call (e.g. ``net.capture_tap.CaptureTap``: wire capture); the
            returned observation is the wrapper's. None: no wrapper, no cost.

    Returns:
        The observation; connection failures are recorded as ``Failure`` values, never raised. If the task
        is cancelled (the monitor is stopping) the run is stopped and the cancellation propagates.
    """
    if tap is not None:
        run = tap(run)
    loop = asyncio.get_running_loop()
    proto = _ProbeProtocol(run, clock, loop)
    try:
        await _connect(loop, proto, run, connect_timeout, bind_ip)
    except TimeoutError:
        proto.detach()
        run.connect_failed(clock.now_us(), Failure.CONNECT_TIMEOUT, f"no answer within {connect_timeout:g} s")
        return run.observation()
    except OSError as exc:
        proto.detach()
        failure = Failure.CONNECT_REFUSED if exc.errno in _REFUSED else Failure.CONNECT_ERROR
        run.connect_failed(clock.now_us(), failure, exc.strerror or str(exc))
        return run.observation()
    except asyncio.CancelledError:
        _give_up(proto, run, clock)
        raise
    try:
        await proto.finished
    except asyncio.CancelledError:
        _give_up(proto, run, clock)
        raise
    return run.observation()


async def _connect(
    loop: asyncio.AbstractEventLoop,
    proto: _ProbeProtocol,
    run: ProbeDriven,
    connect_timeout: float,
    bind_ip: str | None,
) -> None:
    """TCP connect to ``run.ip:run.port`` with ``proto`` (``bind_ip`` used for the same family only).

    Raises:
        TimeoutError: no connection within ``connect_timeout`` seconds. OSError: refused, unreachable, ...
    """
    local = (bind_ip, 0) if bind_ip and (":" in bind_ip) == (":" in run.ip) else None
    family = socket.AF_INET6 if ":" in run.ip else socket.AF_INET
    async with asyncio.timeout(connect_timeout):
        await loop.create_connection(lambda: proto, run.ip, run.port, local_addr=local, family=family)


def _give_up(proto: _ProbeProtocol, run: ProbeDriven, clock: Clock) -> None:
    """The caller cancelled the probe: record how far the run got, then cut the connection off from it."""
    if not run.done:
        run.stop(clock.now_us())
    proto.detach()
