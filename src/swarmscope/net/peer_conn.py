"""asyncio driver for one outgoing probe: connect, move bytes, arm timers, close.

All protocol decisions are in the pure :class:`swarmscope.evidence.probe.ProbeRun`; this module only turns
socket callbacks into calls on it. Network outcomes (refused, timeout, reset) become values on the
Observation, never exceptions.
"""

from __future__ import annotations

import asyncio
import errno
import socket

from swarmscope.evidence.probe import ProbeRun
from swarmscope.evidence.records import Failure, Observation
from swarmscope.net.clock import Clock

_REFUSED = {errno.ECONNREFUSED}
READ_LIMIT = 1 << 20  # bytes buffered from one peer before we stop reading (the framer caps messages)


class _ProbeProtocol(asyncio.Protocol):
    """Feeds socket events to a ProbeRun; resolves ``finished`` when the connection is gone."""

    __slots__ = ("clock", "finished", "loop", "run", "timer", "transport")

    def __init__(self, run: ProbeRun, clock: Clock, loop: asyncio.AbstractEventLoop) -> None:
        self.run, self.clock, self.loop = run, clock, loop
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.finished: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.run.connected(self.clock.now_us()))
        self._arm()

    def data_received(self, data: bytes) -> None:
        run = self.run
        out = run.received(data, self.clock.now_us())
        if out and self.transport is not None:
            self.transport.write(out)
        if run.done:
            self._close()
        else:
            self._arm()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.run.done:
            self.run.closed(self.clock.now_us(), f"closed by peer: {exc}" if exc else "closed by peer")
        if not self.finished.done():
            self.finished.set_result(None)

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        deadline = self.run.deadline_us
        if deadline is not None:
            delay = max(0.0, (deadline - self.clock.now_us()) / 1e6)
            self.timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        out = self.run.timer(self.clock.now_us())
        if out and self.transport is not None:
            self.transport.write(out)
        if self.run.done:
            self._close()
        else:
            self._arm()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # RST, no TIME_WAIT on our side; nothing more to say to this peer


async def probe(
    run: ProbeRun,
    *,
    clock: Clock,
    connect_timeout: float = 5.0,
    bind_ip: str | None = None,
) -> Observation:
    """Connect to ``run.ip:run.port``, drive the probe to its end and return the Observation.

    Args:
        run: a fresh ProbeRun. clock: evidence clock. connect_timeout: seconds for the TCP connect.
        bind_ip: local source address (None: the kernel picks).

    Returns:
        The observation; connection failures are recorded as ``Failure`` values, never raised.
    """
    loop = asyncio.get_running_loop()
    proto = _ProbeProtocol(run, clock, loop)
    local = (bind_ip, 0) if bind_ip else None
    family = socket.AF_INET6 if ":" in run.ip else socket.AF_INET
    try:
        await asyncio.wait_for(
            loop.create_connection(lambda: proto, run.ip, run.port, local_addr=local, family=family),
            connect_timeout,
        )
    except TimeoutError:
        run.connect_failed(clock.now_us(), Failure.CONNECT_TIMEOUT, f"no answer within {connect_timeout:g} s")
        return run.observation()
    except OSError as exc:
        failure = Failure.CONNECT_REFUSED if exc.errno in _REFUSED else Failure.CONNECT_ERROR
        run.connect_failed(clock.now_us(), failure, exc.strerror or str(exc))
        return run.observation()
    try:
        await proto.finished
    except asyncio.CancelledError:
        run.stop(clock.now_us())
        proto._close()
        raise
    return run.observation()
