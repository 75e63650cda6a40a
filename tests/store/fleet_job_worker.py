"""A procrastinate worker of the fleet's jobs in its own process, for the stalled-job test.

``python -m tests.store.fleet_job_worker URL DIR NAME``: runs :class:`FleetJobs` (sweeps and stalled-job
retries every second, a worker dead after 2 s without heartbeat) plus one test task, ``fleet.test_hold``,
that appends ``start`` to ``DIR/hold.log``, waits for ``DIR/release`` (bounded: 120 s), then appends
``done``. Stops on SIGTERM (procrastinate's graceful stop).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

from swarmscope.store.database import open_store
from swarmscope.store.fleet.jobs import FleetJobs


def fleet_jobs(url: str, directory: Path, name: str) -> FleetJobs:
    """The fleet's jobs with the test task registered (the deferring test process registers it too)."""
    store = open_store(url, create=False)
    jobs = FleetJobs(
        store,
        name,
        sweep_every=1,
        stalled_after=2.0,
        heartbeat=0.5,
        on_event=lambda line: print(line, flush=True),
    )

    @jobs.app.task(name="fleet.test_hold")
    async def hold() -> None:
        log = directory / "hold.log"
        with log.open("a") as out:
            out.write("start\n")
        deadline = time.monotonic() + 120
        while not (directory / "release").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        with log.open("a") as out:
            out.write("done\n")

    return jobs


async def main(url: str, directory: Path, name: str) -> None:
    jobs = fleet_jobs(url, directory, name)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await jobs.run(stop)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
