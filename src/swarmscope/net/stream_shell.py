"""The connection shell: drives one pure run over one byte stream, in either direction.

Every peer connection we hold, dialled (``net.peer_conn``) or accepted (``net.listener``), is one
:class:`StreamShell`. All protocol decisions are in a pure run object (``evidence.probe.run.ProbeRun``,
``evidence.probe.metadata_fetch.MetadataFetch``, or an MSE wrapper around either: ``EncryptedProbeRun``,
``EncryptedInboundRun``); the shell only turns stream callbacks into calls on it. It is the one place for

* the timers: the run's own deadline (``run.deadline_us``, UTC µs: its handshake, claims and idle limits)
  on a single loop timer re-armed only when the deadline moves, and, for an accepted stream, the opening
  timeout (seconds from accept until its swarm is known);
* the close path: :meth:`StreamShell.close` (ours: RST, no TIME_WAIT), ``connection_lost`` (the peer's:
  ``run.closed``), :meth:`StreamShell.stop` (the caller gives up: ``run.stop``) and
  :meth:`StreamShell.connect_failed` (the stream never came up). After any of ours the run is detached: no
  byte, timer or close reaches it again;
* the capture tap hook: ``tap(run)`` wraps the run before its first call (``net.capture_tap.CaptureTap``).

The stream is an asyncio transport (TCP today; any transport with ``write``/``abort``/``is_closing`` and
the ``asyncio.Protocol`` callbacks, such as a later uTP one, fits). Network outcomes become values on the
run's record, never exceptions.

Interop quirk: uvloop closes a transport whose ``create_connection`` was cancelled right after
``connection_made`` without ever calling ``connection_lost`` (uvloop ``UVBaseTransport._close`` schedules
none), so a shell given up on is detached at once rather than when the stream reports its end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, cast

from swarmscope.evidence.records import Failure, Observation
from swarmscope.net.clock import Clock


class DrivenRun(Protocol):
    """What the shell needs of every run, dialled or accepted (see ``evidence.probe.run.ProbeRun``)."""

    @property
    def ip(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def done(self) -> bool: ...
    @property
    def deadline_us(self) -> int | None: ...
    def received(self, data: bytes, now_us: int) -> bytes: ...
    def timer(self, now_us: int) -> bytes: ...
    def closed(self, now_us: int, detail: str = ...) -> None: ...
    def stop(self, now_us: int) -> None: ...
    def observation(self) -> Observation: ...


class ProbeDriven(DrivenRun, Protocol):
    """A dialled run: it starts with ``connected`` and learns of a stream that never came up."""

    def connected(self, now_us: int) -> bytes: ...
    def connect_failed(self, now_us: int, failure: Failure, detail: str) -> None: ...


class InboundDriven(DrivenRun, Protocol):
    """An accepted run: it starts with ``accepted`` (BEP 3: the peer spoke first) instead of ``connected``."""

    def accepted(self, now_us: int) -> bytes: ...


class HoldsPayload(InboundDriven, Protocol):
    """An inbound run that holds the bytes which came with the handshake (MSE: IA and after)."""

    def payload(self, now_us: int) -> bytes: ...


Tap = Callable[[DrivenRun], DrivenRun]  # wraps a fresh run before its first call (wire capture)


class Opener(Protocol):
    """What an accepted stream needs before its run exists: find the swarm from the first bytes.

    ``opened`` admits the stream (False: it is closed at once); ``feed`` gets every chunk until the opener
    calls :meth:`StreamShell.hand_over` (or :meth:`StreamShell.send` / :meth:`StreamShell.close`);
    ``expired`` is called when the opening timeout passed (the shell closes the stream after it); ``ended``
    once, when the stream is gone (with or without a run).
    """

    def opened(self, shell: StreamShell) -> bool: ...
    def feed(self, data: bytes) -> None: ...
    def expired(self) -> None: ...
    def ended(self, shell: StreamShell) -> None: ...


class StreamShell(asyncio.Protocol):
    """One byte stream and the run it feeds (see the module docstring).

    Args:
        clock: the evidence clock (UTC µs for every run call). loop: the running loop (timers).
        run: the run of a dialled stream (``connected`` is called when the stream is up); None for an
            accepted stream, whose run comes from ``opener`` through :meth:`hand_over`.
        tap: wraps ``run`` before its first call (None: no wrapper, no cost).
        opener: an accepted stream's opening stage. open_timeout: seconds from accept until the opener
            hands over a run.

    Attributes:
        run: the driven run (the outermost wrapper, tap included) or None before hand-over.
        finished: resolved when the stream is gone. detached: True once we gave up on the stream.
    """

    __slots__ = (
        "armed_us",
        "clock",
        "detached",
        "finished",
        "loop",
        "open_timeout",
        "opener",
        "run",
        "timer",
        "transport",
    )

    def __init__(
        self,
        clock: Clock,
        loop: asyncio.AbstractEventLoop,
        run: ProbeDriven | None = None,
        *,
        tap: Tap | None = None,
        opener: Opener | None = None,
        open_timeout: float = 0.0,
    ) -> None:
        self.clock, self.loop, self.opener, self.open_timeout = clock, loop, opener, open_timeout
        self.run: DrivenRun | None = run if run is None or tap is None else tap(run)
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.armed_us: int | None = None
        self.detached = False
        self.finished: asyncio.Future[None] = loop.create_future()

    # --- stream callbacks ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport, hence a cast and no isinstance check
        self.transport = cast(asyncio.Transport, transport)
        if self.detached:
            self.transport.abort()
            return
        run = self.run
        if run is not None:
            self.send(cast(ProbeDriven, run).connected(self.clock.now_us()))
            self._arm()
        elif self.opener is not None and self.opener.opened(self):
            self.timer = self.loop.call_later(self.open_timeout, self._on_timer)
        else:
            self.close()

    def data_received(self, data: bytes) -> None:
        if self.detached:
            return
        run = self.run
        if run is None:
            if self.opener is not None:
                self.opener.feed(data)
            return
        self.send(run.received(data, self.clock.now_us()))
        self._step(run)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        run = self.run
        if not self.detached and run is not None and not run.done:
            run.closed(self.clock.now_us(), f"closed by peer: {exc}" if exc else "closed by peer")
        if self.opener is not None:
            self.opener.ended(self)
        if not self.finished.done():
            self.finished.set_result(None)

    # --- what openers and drivers call ---------------------------------------------------------------

    def hand_over(self, run: InboundDriven, pending: bytes | None, tap: Tap | None = None) -> None:
        """An accepted stream's swarm is known: ``run`` owns the stream from now on.

        Args:
            run: a fresh inbound run (or its MSE wrapper). pending: plaintext bytes that came after the
                peer's handshake started (fed to ``run.received``); None when the run holds them itself
                (MSE: ``EncryptedInboundRun.payload`` yields IA and after). tap: as for the constructor.
        """
        self._cancel_timer()
        driven = cast(InboundDriven, run if tap is None else tap(run))
        self.run = driven
        self.send(driven.accepted(self.clock.now_us()))
        if pending is None:
            self.send(cast(HoldsPayload, driven).payload(self.clock.now_us()))
        elif pending:
            self.send(driven.received(pending, self.clock.now_us()))
        self._step(driven)

    def send(self, data: bytes) -> None:
        """Write ``data`` to the stream (nothing when empty, not connected or already closing)."""
        transport = self.transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def close(self) -> None:
        """Our end of the stream: stop the timer, detach the run, abort (RST, no TIME_WAIT on our side)."""
        self.detached = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.abort()

    def stop(self, now_us: int) -> None:
        """The caller gives up (the monitor is stopping): record how far the run got, then close."""
        run = self.run
        if run is not None and not run.done:
            run.stop(now_us)
        self.close()

    def connect_failed(self, failure: Failure, detail: str) -> Observation:
        """The stream never came up (refused, timed out, unreachable): close, record it, return the record."""
        self.close()
        run = cast(ProbeDriven, self.run)  # only dialled shells connect
        run.connect_failed(self.clock.now_us(), failure, detail)
        return run.observation()

    # --- the one timer -------------------------------------------------------------------------------

    def _step(self, run: DrivenRun) -> None:
        """After a run call: close when the run is done, else follow its deadline if it moved."""
        if run.done:
            self.close()
        elif run.deadline_us != self.armed_us:
            self._arm()

    def _arm(self) -> None:
        """(Re)arm the single timer at the run's deadline; only called when the deadline changed."""
        self._cancel_timer()
        deadline = self.armed_us = cast(DrivenRun, self.run).deadline_us
        if deadline is not None:
            delay = max(0.0, (deadline - self.clock.now_us()) / 1e6)
            self.timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self.armed_us = None
        if self.detached:
            return
        run = self.run
        if run is None:  # the opening timeout: no swarm known in time
            if self.opener is not None:
                self.opener.expired()
            self.close()
            return
        self.send(run.timer(self.clock.now_us()))
        self._step(run)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
