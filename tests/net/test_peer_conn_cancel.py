"""A probe cancelled the instant its TCP connection comes up: nothing reaches the run after its record.

The BEP 9 metadata search stops every other fetch as soon as one peer served verified metadata, and takes
each stopped fetch's record (which finishes its wire capture). When the stop lands between
``connection_made`` and the end of ``create_connection``, uvloop closes the transport without ever calling
``connection_lost``, so the handshake timer armed in ``connection_made`` used to fire into the finished
capture (``ProtocolStateError: capture: event after finish()`` in the loop's exception handler) and the
record said nothing of the stop. The cancellation is made deterministic here: the run's ``connected`` itself
cancels the probe task. Loopback only; runs on asyncio's loop and on uvloop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.capture.recording import replay
from swarmscope.evidence.probe.metadata_fetch import MetadataFetch, MetadataPolicy
from swarmscope.evidence.records import Failure, Observation
from swarmscope.net.capture_tap import CaptureTap, TappedRun
from swarmscope.net.clock import Clock
from swarmscope.net.peer_conn import probe
from tests.net.test_listener import loop_factories

DEADLINE_S = 0.2  # the fetch's handshake timeout: the timer connection_made arms


class _CancelOnConnect:
    """Forwards every driver call to the tapped run; ``connected`` first cancels the probe task."""

    def __init__(self, tapped: TappedRun, task: Callable[[], asyncio.Task[Any]]) -> None:
        self.tapped, self.task = tapped, task

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tapped, name)

    def connected(self, now_us: int) -> bytes:
        self.task().cancel()
        return self.tapped.connected(now_us)


async def _cancelled_fetch() -> tuple[TappedRun, Observation, list[dict[str, Any]]]:
    """Fetch from a silent loopback peer, cancelled at connect; then wait past the fetch's deadline."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clock = Clock()
    fetch = MetadataFetch(
        swarm="ab" * 20,
        v1=bytes.fromhex("ab" * 20),
        v2=None,
        peer_id=b"-SS0100-cancelcancel",
        ip="127.0.0.1",
        port=port,
        source="dht",
        started_us=clock.now_us(),
        policy=MetadataPolicy(handshake_timeout=DEADLINE_S),
    )
    tap, tapped = CaptureTap(clock), []

    def wrap(run: Any) -> Any:
        tapped.append(tap(run))
        return _CancelOnConnect(tapped[0], lambda: task)

    task = asyncio.create_task(probe(fetch, clock=clock, tap=wrap))
    with pytest.raises(asyncio.CancelledError):
        await task
    obs = tapped[0].observation()  # as the metadata search records a stopped fetch
    await asyncio.sleep(DEADLINE_S * 3)  # the armed handshake timer would have fired by now
    server.close()
    await server.wait_closed()
    return tapped[0], obs, errors


@pytest.mark.parametrize("loop_factory", loop_factories())
def test_a_probe_cancelled_at_connect_gets_no_late_event(loop_factory: Any) -> None:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        tapped, obs, errors = runner.run(_cancelled_fetch())
    assert not errors, [(e.get("message"), repr(e.get("exception"))) for e in errors]
    assert obs.failure == Failure.DEADLINE.value, obs  # the stop is recorded, not left open
    capture = tapped.capture
    kinds = [e.kind.name for e in decode_capture(capture.data).events]
    assert kinds == ["CONNECTED", "STOP"], kinds
    again = replay(capture.data, None, capture.blobs.get)
    assert canonical_bytes(again) == canonical_bytes(obs)
