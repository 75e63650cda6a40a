"""The lease loop's pace: rounds on a fixed grid (a slow round skips the ticks it overran instead of
pushing every later round late), a sleep that a stop cuts short, and a watchdog that acts at a deadline
whether or not the round in flight ever returns.

Source: README "A fleet", Failover (lease rounds keep a fixed pace of a third of the lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable


def next_tick(previous: float, now: float, period: float) -> float:
    """The next round's deadline: ``previous + k * period`` for the least k >= 1 past ``now`` (seconds on
    one monotonic clock); ticks a slow round overran are skipped, never run late back to back."""
    return previous + (max(0, math.floor((now - previous) / period)) + 1) * period


async def paced(
    step: Callable[[], Awaitable[None]],
    period: float,
    going: Callable[[], bool],
    clock: Callable[[], float],
    wait: Callable[[float], Awaitable[None]],
) -> None:
    """Run ``step`` every ``period`` seconds while ``going()``: each start on a fixed grid from the first
    (:func:`next_tick`), so the time a step takes does not add to the interval; ``wait(seconds)`` sleeps
    (or returns early on a stop) and is never given a negative time."""
    tick = clock()
    while going():
        await step()
        tick = next_tick(tick, clock(), period)
        if going():
            await wait(max(0.0, tick - clock()))


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def watch(
    due: Callable[[], float | None],
    fire: Callable[[], None],
    going: Callable[[], bool],
    stop: asyncio.Event,
    idle: float,
) -> None:
    """Call ``fire()`` once the loop's clock (seconds) reaches ``due()``, checked again at that time,
    else every ``idle`` seconds (``due()`` None: nothing due), until ``going()`` is false or ``stop`` is
    set; independent of whatever the lease round awaits (a blocked database call never delays it).
    ``fire`` must make ``due()`` None or later, or it fires again at every check (at least 50 ms apart)."""
    loop = asyncio.get_running_loop()
    while going() and not stop.is_set():
        when = due()
        if when is not None and loop.time() >= when:
            fire()
            when = due()
        await wait_or_stop(stop, max(0.05, idle if when is None else when - loop.time()))
