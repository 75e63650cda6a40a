"""`swarmscope monitor --probe-processes N`: the run is sealed once, by the one writer, as with one process.

The real CLI runs for 2 s on a torrent whose tracker is dead (loopback port 9) with two probe processes: the
run's sealed configuration (``RunStarted``) is the coordinator's alone (a probe process joins the run, it
starts none), the chain verifies, and the coordinator, its probe process and the writer all end (exit
status 0). A count outside 1..64 is one line and exit status 1, before anything is created.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from swarmscope.store.database import open_store
from swarmscope.store.ledger.entries import load_ledger
from swarmscope.store.ledger.queries import run_rows
from tests.cli.test_monitor_cli import assert_cli_verifies, tiny_torrent


def _monitor(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    torrent = tiny_torrent(tmp_path / "t.torrent", "http://127.0.0.1:9/announce")
    args = [
        "monitor",
        str(torrent),
        "--db",
        str(tmp_path / "e.db"),
        "--duration",
        "2",
        "--no-live",
        "--no-dht",
    ]
    return subprocess.run(
        [sys.executable, "-m", "swarmscope.cli", *args, *extra], capture_output=True, text=True, timeout=120
    )


def test_two_probe_processes_seal_one_run_through_the_one_writer(tmp_path: Path, netns: bool) -> None:
    proc = _monitor(tmp_path, "--probe-processes", "2")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "probe process" not in proc.stderr
    db = tmp_path / "e.db"
    store = open_store(str(db), create=False)
    try:
        kinds = [kind for _entry, kind, _canonical in load_ledger(store)]
        runs = run_rows(store)
    finally:
        store.close()
    assert kinds.count("run_started") == 1
    assert len(runs) == 1
    assert_cli_verifies(db)


def test_a_probe_process_count_out_of_range_is_one_line(tmp_path: Path) -> None:
    proc = _monitor(tmp_path, "--probe-processes", "0")
    assert proc.returncode == 1
    assert "--probe-processes" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "e.db").exists()
