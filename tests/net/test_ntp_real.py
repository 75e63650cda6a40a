"""SNTP against real chronyd servers on loopback: a good one, one skewed +0.75 s, an unsynchronised one,
over IPv4 and IPv6; ClockWatch rounds; the policy flags a skewed server and a skewed local clock."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator

import pytest

from swarmscope.evidence.clock_policy import ClockPolicy, clock_status, flag_windows, flagged
from swarmscope.evidence.records import ClockSample
from swarmscope.net.clock import Clock
from swarmscope.net.ntp_clock import ClockWatch, sample
from swarmscope.testbed.chrony import ChronyServer, free_udp_port, start_chrony, start_skewed_chrony

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(
        shutil.which("chronyd") is None, reason="chronyd not installed (apt-get install chrony)"
    ),
]
SKEW_S = 0.75


@pytest.fixture(scope="module")
def good(netns: bool) -> Iterator[ChronyServer]:
    server = start_chrony("127.0.0.1")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def skewed(netns: bool) -> Iterator[ChronyServer]:
    server = start_skewed_chrony(SKEW_S, "127.0.0.3")
    try:
        yield server
    finally:
        server.stop()


async def test_good_server(good: ChronyServer) -> None:
    got = await sample(good.server, clock=Clock(), timeout=5)
    assert got.error is None, got
    assert got.server == good.server and got.stratum == 8 and got.leap == 0
    assert got.offset_us is not None and abs(got.offset_us) < 50_000
    assert got.delay_us is not None and got.delay_us >= 0


async def test_good_server_over_ipv6(netns: bool) -> None:
    server = start_chrony("::1")
    try:
        got = await sample(server.server, clock=Clock(), timeout=5)
    finally:
        server.stop()
    assert server.server.startswith("[::1]:")
    assert got.error is None and got.stratum == 8
    assert got.offset_us is not None and abs(got.offset_us) < 50_000


async def test_skewed_server_offset_and_policy(skewed: ChronyServer, good: ChronyServer) -> None:
    clock = Clock()
    before = await sample(good.server, clock=clock, timeout=5)
    bad = await sample(skewed.server, clock=clock, timeout=5)
    after = await sample(good.server, clock=clock, timeout=5)
    assert bad.error is None and bad.stratum == 9  # one below its hidden stratum-8 reference
    assert bad.offset_us is not None and abs(bad.offset_us - SKEW_S * 1e6) < 100_000
    windows = flag_windows([before, bad, after], ClockPolicy())
    assert windows, "a 0.75 s offset must flag a window"
    assert flagged(before.measured_at_us, windows) is None
    assert flagged(bad.measured_at_us, windows) is not None
    assert skewed.server in windows[0].reason and "exceeds 100000 us" in windows[0].reason


async def test_unsynchronised_server_is_an_error_sample(netns: bool) -> None:
    server = start_chrony("127.0.0.4", synchronised=False)
    try:
        got = await sample(server.server, clock=Clock(), timeout=5)
    finally:
        server.stop()
    assert got.error == "server unsynchronised (leap 3, stratum 0)"
    assert (got.offset_us, got.leap) == (None, 3)


async def test_nothing_listening_is_an_error_sample(netns: bool) -> None:
    got = await sample(f"127.0.0.5:{free_udp_port('127.0.0.5')}", clock=Clock(), timeout=2)
    assert got.error is not None and got.offset_us is None
    assert got.error.startswith(("no reply", "timeout"))


async def test_skewed_local_clock_is_flagged(good: ChronyServer) -> None:
    """The evidence clock itself 300 ms ahead: measured against a real server, flagged by both presets;
    60 ms ahead: flagged only by the 40 ms commercial-anchor preset."""
    honest = await sample(good.server, clock=Clock(), timeout=5)
    ahead = await sample(good.server, clock=Clock(offset_us=300_000), timeout=5)
    slight = await sample(good.server, clock=Clock(offset_us=60_000), timeout=5)
    assert ahead.offset_us is not None and abs(ahead.offset_us + 300_000) < 50_000
    for policy in (ClockPolicy.default(), ClockPolicy.strict()):
        assert flag_windows([honest, ahead], policy)
    assert slight.offset_us is not None and abs(slight.offset_us + 60_000) < 15_000
    assert flag_windows([honest, slight], ClockPolicy.default()) == ()
    assert flag_windows([honest, slight], ClockPolicy.strict())


async def test_clock_watch_rounds(good: ChronyServer, skewed: ChronyServer) -> None:
    seen: list[ClockSample] = []
    watch = ClockWatch(
        [good.server, skewed.server],
        clock=Clock(),
        interval=0.05,
        on_sample=seen.append,
        timeout=5,
        max_rounds=3,
    )
    assert watch.latest() is None
    rounds = await asyncio.wait_for(watch.run(asyncio.Event()), 30)
    assert rounds == 3 and len(seen) == 6
    assert {s.server for s in seen} == {good.server, skewed.server}
    latest = watch.latest()
    assert latest is not None and latest["server"] == skewed.server  # largest |offset| of the round
    assert (latest["round_servers"], latest["round_replies"]) == (2, 2)
    assert set(latest) >= {"server", "measured_at_us", "offset_us", "delay_us", "stratum", "leap", "error"}
    assert len(watch.latest_samples()) == 2
    status = clock_status(seen, ClockPolicy())
    assert status.servers == tuple(sorted((good.server, skewed.server)))
    # the skewed server disagrees in every round: flagged from (at latest) the first round on, open-ended
    assert status.state in ("flagged", "unverified") and status.windows[-1].end_us is None
    assert status.windows[0].start_us <= min(s.measured_at_us for s in seen) + 1


async def test_clock_watch_stops_and_cancels(good: ChronyServer) -> None:
    watch = ClockWatch([good.server], clock=Clock(), interval=60.0, timeout=5)
    stop = asyncio.Event()
    task = asyncio.create_task(watch.run(stop))
    for _ in range(100):  # bounded: wait for the first round
        if watch.rounds:
            break
        await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(task, 5) == 1  # the 60 s wait ends at once
    again = asyncio.create_task(watch.run(asyncio.Event()))
    await asyncio.sleep(0.3)
    again.cancel()
    with pytest.raises(asyncio.CancelledError):
        await again
    assert watch.rounds == 2


async def test_failed_server_in_a_round_does_not_stop_the_watch(good: ChronyServer) -> None:
    dead = f"127.0.0.6:{free_udp_port('127.0.0.6')}"
    watch = ClockWatch([dead, good.server], clock=Clock(), interval=0.05, timeout=1, max_rounds=1)
    await watch.run(asyncio.Event())
    latest = watch.latest()
    assert latest is not None and latest["server"] == good.server and latest["round_replies"] == 1
    failed = [s for s in watch.latest_samples() if s.server == dead]
    assert failed and failed[0].error is not None
