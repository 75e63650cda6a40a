"""The running monitor's counters, sampled into the store for the web console's ``/metrics``.

The monitor and the console meet only through the store (README "Web console"): what lives only in this
process's memory (probes finished, records queued in the ledger writer, sealed batches and how long their
commits took, tracker announce and DHT lookup errors) is written every :data:`INTERVAL` seconds as one
``monitor_stat`` row (:mod:`swarmscope.store.console.stats`), and once more when the run stops.

A sample that cannot be written (a store refusing writes, a full disk) is dropped silently: statistics
never stop or slow the evidence path, and the ledger writer already reports a store that refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from swarmscope.store.console.stats import MonitorSample

if TYPE_CHECKING:
    from swarmscope.monitor.crawler import Monitor

INTERVAL = 5.0  # seconds between samples
log = logging.getLogger("swarmscope.monitor.live_stats")


def sample(monitor: Monitor, at_us: int) -> MonitorSample | None:
    """The monitor's counters at ``at_us`` (UTC µs); None before its run has started."""
    writer = getattr(monitor.evidence, "writer", None)
    if monitor.run_id is None or writer is None:
        return None
    dht = monitor._dht  # the DHT node of this run, when it runs
    return MonitorSample(
        run_id=monitor.run_id,
        at_us=at_us,
        probes=sum(s.probes for s in monitor.stats.values()),
        writer_queue=writer.pending,
        batches=writer.batches,
        commit_seconds_last=writer.commit_seconds_last,
        commit_seconds_total=writer.commit_seconds_total,
        tracker_errors=sum(s.tracker_errors for s in monitor.stats.values()),
        dht_errors=0 if dht is None else dht.errors,
    )


class LiveStats:
    """Writes :func:`sample` every ``interval`` seconds through ``write`` (run in a worker thread).

    Args:
        monitor: the running monitor. write: stores one sample (``write_monitor_sample`` bound to the
        store). interval: seconds between samples.
    """

    def __init__(
        self, monitor: Monitor, write: Callable[[MonitorSample], None], interval: float = INTERVAL
    ) -> None:
        self.monitor, self.write, self.interval = monitor, write, interval
        self.written = 0

    async def _write_one(self) -> None:
        found = sample(self.monitor, self.monitor.clock.now_us())
        if found is None:
            return
        try:
            await asyncio.to_thread(self.write, found)
            self.written += 1
        except Exception as exc:  # never stops monitoring (module docstring)
            log.debug("live stats sample not written: %s", exc)

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until ``stop`` is set, then write one last sample."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await stop.wait()
            await self._write_one()
