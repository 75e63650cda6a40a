"""The monitor samples its in-memory counters into the store (``monitor_stat``) for the web's /metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from swarmscope.monitor.live_stats import sample
from swarmscope.store.console.schema import monitor_stat
from swarmscope.store.database import open_store
from tests.cli.test_monitor_cli import tiny_torrent


def test_a_run_leaves_samples_with_its_tracker_errors_and_commits(tmp_path: Path, netns: bool) -> None:
    torrent = tiny_torrent(tmp_path / "t.torrent", "http://127.0.0.1:9/announce")  # nothing listens there
    db = tmp_path / "e.db"
    options = ["--db", str(db), "--duration", "2", "--no-live", "--no-dht", "--listen-port", "0"]
    args = [sys.executable, "-m", "swarmscope.cli", "monitor", str(torrent), *options]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    store = open_store(str(db), create=False)
    try:
        with store.engine.connect() as conn:
            rows = list(conn.execute(sa.select(monitor_stat).order_by(monitor_stat.c.id)))
    finally:
        store.close()
    assert rows, "no sample written"
    last = rows[-1]  # the one written when the run stopped
    assert last.run_id == 1 and last.tracker_errors >= 1 and last.writer_queue == 0
    assert last.batches >= 1 and last.commit_seconds_total >= last.commit_seconds_last > 0
    assert last.dht_errors == 0 and last.probes == 0


def test_no_sample_before_the_run_started() -> None:
    class NotStarted:
        run_id = None
        evidence = object()

    assert sample(NotStarted(), 0) is None  # type: ignore[arg-type]
