"""The monitor's live counters as stored samples (``monitor_stat``), and the store's disk use.

A running monitor keeps its probe count, writer queue, commit latency and tracker/DHT error counts in
memory; the web console never talks to the monitor, so the monitor writes a sample every few seconds
(:mod:`swarmscope.monitor.live_stats`) and ``/metrics`` reads the newest ones. Counters are cumulative per
run (a new run starts from 0), as Prometheus counters expect; rates are computed from the last two samples
of a run. Samples older than :data:`KEEP_US` are deleted by the writer of a newer one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.store.console.schema import monitor_stat
from swarmscope.store.database import sqlite_file

if TYPE_CHECKING:
    from swarmscope.store.database import Store

KEEP_US = 24 * 3600 * 1_000_000  # samples are kept one day (UTC µs)


@dataclass(frozen=True, slots=True)
class MonitorSample:
    """One sample of a running monitor: run id, time (UTC µs), probes finished, records queued in the
    writer, sealed batches committed, the last and the summed batch commit durations (seconds), tracker
    announce errors and DHT lookup errors; all but the queue cumulative over the run."""

    run_id: int
    at_us: int
    probes: int
    writer_queue: int
    batches: int
    commit_seconds_last: float
    commit_seconds_total: float
    tracker_errors: int
    dht_errors: int


@dataclass(frozen=True, slots=True)
class RunRate:
    """A live run's newest sample and its probes per second since the sample before (None: one sample)."""

    latest: MonitorSample
    probes_per_second: float | None


def write_monitor_sample(store: Store, sample: MonitorSample) -> None:
    """Store one sample and drop the run's samples older than :data:`KEEP_US` before it."""
    values = {f.name: getattr(sample, f.name) for f in fields(MonitorSample)}
    c = monitor_stat.c
    with store.engine.begin() as conn:
        conn.execute(monitor_stat.insert().values(**values))
        conn.execute(monitor_stat.delete().where(c.run_id == sample.run_id, c.at_us < sample.at_us - KEEP_US))


def live_runs(store: Store, *, since_us: int) -> list[RunRate]:
    """Every run with a sample at or after ``since_us`` (UTC µs): its newest sample and probe rate."""
    c = monitor_stat.c
    newest = sa.select(c.run_id, sa.func.max(c.at_us)).where(c.at_us >= since_us).group_by(c.run_id)
    out: list[RunRate] = []
    with store.engine.connect() as conn:
        for run_id, at_us in list(conn.execute(newest)):
            query = sa.select(*(c[f.name] for f in fields(MonitorSample))).where(
                c.run_id == run_id, c.at_us <= at_us
            )
            rows = [
                MonitorSample(*r) for r in conn.execute(query.order_by(c.at_us.desc(), c.id.desc()).limit(2))
            ]
            rate = None
            if len(rows) == 2 and rows[0].at_us > rows[1].at_us:
                rate = (rows[0].probes - rows[1].probes) / ((rows[0].at_us - rows[1].at_us) / 1_000_000)
            out.append(RunRate(rows[0], rate))
    return sorted(out, key=lambda r: r.latest.run_id)


def store_disk_bytes(store: Store) -> int:
    """Bytes the store takes on disk: an SQLite file with its ``-wal`` and ``-shm`` files, or PostgreSQL's
    ``pg_database_size`` of the current database; 0 for an in-memory database."""
    url = store.engine.url
    if url.get_backend_name() == "postgresql":
        with store.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())
    path = sqlite_file(url)
    if path is None:
        return 0
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal", f"{path}-shm") if os.path.exists(p))
