"""A fleet node's lease rounds on a fixed pace (fake clock): a slow round does not push the next one late,
overrun ticks are skipped, and no wait is negative; the watchdog fires at its deadline while the round it
guards stays blocked, and not before."""

from __future__ import annotations

import asyncio

from swarmscope.monitor.pacing import next_tick, paced, watch


def test_next_tick_skips_overrun_ticks() -> None:
    assert next_tick(10.0, 10.3, 1.0) == 11.0  # on time: one period after the previous start
    assert next_tick(10.0, 12.5, 1.0) == 13.0  # overran two ticks: skipped, not run back to back
    assert next_tick(10.0, 9.0, 1.0) == 11.0  # a clock read before the start: still one period on


def _run(durations: list[float], period: float) -> tuple[list[float], list[float]]:
    """Rounds taking ``durations`` (fake seconds); returns their start times and the waits asked."""
    now = [100.0]
    starts: list[float] = []
    waits: list[float] = []
    left = list(durations)

    async def step() -> None:
        starts.append(now[0])
        now[0] += left.pop(0)

    async def wait(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    asyncio.run(paced(step, period, lambda: bool(left), lambda: now[0], wait))
    return starts, waits


def test_a_slow_round_does_not_push_the_next_one_late() -> None:
    starts, waits = _run([0.25, 1.5, 0.25, 0.25], period=2.0)
    assert starts == [100.0, 102.0, 104.0, 106.0]  # not 100, 102.25, 105.75, 108 (a period after each end)
    assert waits == [1.75, 0.5, 1.75]


def test_an_overrun_skips_missed_ticks_and_never_waits_negative() -> None:
    starts, waits = _run([5.0, 0.5, 2.0], period=2.0)
    assert starts == [100.0, 106.0, 108.0]  # 102 and 104 were missed: next tick 106
    assert waits == [1.0, 1.5] and all(w >= 0 for w in waits)


def test_the_watchdog_fires_at_its_deadline_while_the_round_stays_blocked() -> None:
    async def scenario() -> tuple[list[float], bool]:
        loop = asyncio.get_running_loop()
        blocked = asyncio.Event()  # a round awaiting a database call that never answers
        round_ = asyncio.create_task(blocked.wait())
        start = loop.time()
        deadline: list[float | None] = [start + 0.3]
        fired: list[float] = []

        def fire() -> None:
            fired.append(loop.time() - start)
            deadline[0] = None  # what it guarded is gone: nothing more is due

        stop = asyncio.Event()
        dog = asyncio.create_task(watch(lambda: deadline[0], fire, lambda: True, stop, idle=0.1))
        await asyncio.sleep(0.8)
        stop.set()
        await asyncio.wait_for(dog, 2)
        still_blocked = not round_.done()
        round_.cancel()
        return fired, still_blocked

    fired, still_blocked = asyncio.run(scenario())
    assert still_blocked and len(fired) == 1, fired  # once, the round it guards still awaiting
    assert 0.3 <= fired[0] < 0.8, fired  # at its deadline, not before
