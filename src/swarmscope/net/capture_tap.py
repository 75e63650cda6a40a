"""The capture tap: a driver-side wrapper that records every call on a run into a CaptureRecorder.

Wrap the OUTERMOST run the driver sees (the ``EncryptedProbeRun`` for MSE), so the capture holds the raw
wire bytes. Each call's UTC microseconds come from the driver and are passed on unchanged (one clock
reading, never two); the tap adds a monotonic stamp and the bytes the run returned.

Usage: ``probe(run, clock=clock, tap=CaptureTap(clock, on_capture))`` — or ``TappedRun`` directly. The
connection shell (``net.stream_shell.StreamShell``) applies the tap, dialled or accepted, at its one hook.

Source: README "Wire captures" (every byte both ways, each driver event with its UTC and monotonic time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from swarmscope.evidence.capture.format import EventKind
from swarmscope.evidence.capture.recording import (
    Capture,
    CaptureRecorder,
    capture_header,
    captured_observation,
    verified_blocks,
)
from swarmscope.evidence.records import Failure, Observation
from swarmscope.net.clock import Clock

_CONNECTED, _ACCEPTED, _RECEIVED = EventKind.CONNECTED, EventKind.ACCEPTED, EventKind.RECEIVED
_TIMER, _CLOSED, _FAILED, _STOP = EventKind.TIMER, EventKind.CLOSED, EventKind.CONNECT_FAILED, EventKind.STOP


class TappedRun:
    """A ProbeDriven wrapper recording every driver call (and ``accepted`` for inbound runs).

    Args:
        run: a fresh run (ProbeRun or EncryptedProbeRun). recorder: the sink (its header describes ``run``).
        clock: for the monotonic stamps (UTC µs come from the driver's calls).
    """

    def __init__(self, run: Any, recorder: CaptureRecorder, clock: Clock) -> None:
        self.run, self.recorder, self._mono = run, recorder, clock.monotonic
        self.ip: str = run.ip
        self.port: int = run.port

    @property
    def done(self) -> bool:
        """True once the inner run finished."""
        return bool(self.run.done)

    @property
    def deadline_us(self) -> int | None:
        """The inner run's deadline (UTC µs)."""
        deadline: int | None = self.run.deadline_us
        return deadline

    def _mono_us(self) -> int:
        return int(self._mono() * 1_000_000)

    def connected(self, now_us: int) -> bytes:
        """Record and forward ``connected``."""
        out: bytes = self.run.connected(now_us)
        self.recorder.event(_CONNECTED, now_us, self._mono_us(), sent=out)
        return out

    def accepted(self, now_us: int) -> bytes:
        """Record and forward ``accepted`` (inbound runs)."""
        out: bytes = self.run.accepted(now_us)
        self.recorder.event(_ACCEPTED, now_us, self._mono_us(), sent=out)
        return out

    def received(self, data: bytes, now_us: int) -> bytes:
        """Record and forward received bytes."""
        out: bytes = self.run.received(data, now_us)
        self.recorder.event(_RECEIVED, now_us, self._mono_us(), data, sent=out)
        return out

    def timer(self, now_us: int) -> bytes:
        """Record and forward a timer expiry."""
        out: bytes = self.run.timer(now_us)
        self.recorder.event(_TIMER, now_us, self._mono_us(), sent=out)
        return out

    def closed(self, now_us: int, detail: str = "connection closed") -> None:
        """Record and forward ``closed``."""
        self.run.closed(now_us, detail)
        self.recorder.event(_CLOSED, now_us, self._mono_us(), detail=detail)

    def connect_failed(self, now_us: int, failure: Failure, detail: str) -> None:
        """Record and forward a failed connect."""
        self.run.connect_failed(now_us, failure, detail)
        self.recorder.event(_FAILED, now_us, self._mono_us(), failure=failure.value, detail=detail)

    def stop(self, now_us: int) -> None:
        """Record and forward ``stop``."""
        self.run.stop(now_us)
        self.recorder.event(_STOP, now_us, self._mono_us())

    def prelude(self, chunks: Sequence[tuple[int, int, bytes, int]], replies: bytes) -> None:
        """Record the raw chunks that arrived before the run existed (inbound MSE), before any run call.

        Args:
            chunks: (UTC µs, monotonic µs, bytes, offset into ``replies`` when the chunk arrived), in order.
            replies: every byte our MSE responder sent meanwhile.
        """
        ends = [c[3] for c in chunks[1:]] + [len(replies)]
        for (utc, mono, data, mark), end in zip(chunks, ends, strict=True):
            self.recorder.event(_RECEIVED, utc, mono, data, sent=replies[mark:end])

    def payload(self, now_us: int) -> bytes:
        """Record and forward ``payload`` (an ``EncryptedInboundRun`` after the MSE handshake)."""
        out: bytes = self.run.payload(now_us)
        self.recorder.event(EventKind.PAYLOAD, now_us, self._mono_us(), sent=out)
        return out

    @property
    def capture(self) -> Capture:
        """The finished capture (finishing it on first access; later calls are refused by the recorder);
        the blocks the run verified are lifted under the digests it computed, not hashed again."""
        return self.recorder.finish(verified_blocks(self.run))

    def observation(self) -> Observation:
        """The inner observation with ``capture_sha256``."""
        return captured_observation(self.run, self.capture.sha256)


class CaptureTap:
    """A tap factory for the drivers: ``tap(run)`` → TappedRun; ``on_capture`` gets each finished capture.

    Args:
        clock: the evidence clock (monotonic stamps). on_capture: called once per probe with the run's
            Capture when its observation is taken (None: keep them in :attr:`captures`).
    """

    def __init__(self, clock: Clock, on_capture: Callable[[Capture], None] | None = None) -> None:
        self.clock, self.on_capture = clock, on_capture
        self.captures: list[Capture] = []

    def __call__(self, run: Any) -> TappedRun:
        """Wrap a fresh run (ProbeRun or EncryptedProbeRun) in a TappedRun reporting to this tap."""
        return _ReportingRun(run, CaptureRecorder(capture_header(run)), self.clock, self)

    def _report(self, capture: Capture) -> None:
        if self.on_capture is None:
            self.captures.append(capture)
        else:
            self.on_capture(capture)


class _ReportingRun(TappedRun):
    def __init__(self, run: Any, recorder: CaptureRecorder, clock: Clock, tap: CaptureTap) -> None:
        super().__init__(run, recorder, clock)
        self._tap: CaptureTap | None = tap

    def observation(self) -> Observation:
        obs = super().observation()
        if self._tap is not None:
            tap, self._tap = self._tap, None
            tap._report(self.capture)
        return obs
