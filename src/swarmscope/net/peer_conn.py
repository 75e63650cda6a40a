"""Outgoing probes: dial the peer over TCP and hand the stream to the connection shell.

All protocol decisions are in a pure run object (:class:`swarmscope.evidence.probe.run.ProbeRun`, or a wrapper
with the same interface such as the MSE one); timers, the close path and the capture tap are the shell's
(:class:`swarmscope.net.stream_shell.StreamShell`). This module only dials. Network outcomes (refused,
timeout, reset) become values on the Observation, never exceptions.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import cast

from swarmscope.evidence.records import Failure, Observation
from swarmscope.net.clock import Clock
from swarmscope.net.stream_shell import ProbeDriven, StreamShell, Tap

_REFUSED = {errno.ECONNREFUSED}


async def probe(
    run: ProbeDriven,
    *,
    clock: Clock,
    connect_timeout: float = 5.0,
    bind_ip: str | None = None,
    tap: Tap | None = None,
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
    loop = asyncio.get_running_loop()
    shell = StreamShell(clock, loop, run, tap=tap)
    try:
        await _connect(loop, shell, run.ip, run.port, connect_timeout, bind_ip)
    except TimeoutError:
        return shell.connect_failed(Failure.CONNECT_TIMEOUT, f"no answer within {connect_timeout:g} s")
    except OSError as exc:
        failure = Failure.CONNECT_REFUSED if exc.errno in _REFUSED else Failure.CONNECT_ERROR
        return shell.connect_failed(failure, exc.strerror or str(exc))
    except asyncio.CancelledError:
        shell.stop(clock.now_us())
        raise
    try:
        await shell.finished
    except asyncio.CancelledError:
        shell.stop(clock.now_us())
        raise
    return cast(ProbeDriven, shell.run).observation()  # built with a run: never None


async def _connect(
    loop: asyncio.AbstractEventLoop,
    shell: StreamShell,
    ip: str,
    port: int,
    connect_timeout: float,
    bind_ip: str | None,
) -> None:
    """TCP connect to ``ip:port`` for ``shell`` (``bind_ip`` used for the same family only).

    Raises:
        TimeoutError: no connection within ``connect_timeout`` seconds. OSError: refused, unreachable, ...
    """
    local = (bind_ip, 0) if bind_ip and (":" in bind_ip) == (":" in ip) else None
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    async with asyncio.timeout(connect_timeout):
        await loop.create_connection(lambda: shell, ip, port, local_addr=local, family=family)
