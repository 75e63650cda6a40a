"""End to end: ``swarmscope monitor --probe-processes 2`` against a real swarm on loopback.

The testbed's real libtorrent 2.1.1 peers (aria2 when installed) and opentracker; the monitor runs as the
real CLI with two probe processes. The swarm's peers fall in both shards (CRC-32 of the IP), so the
coordinator probes some itself and hands the others, found by its tracker announces, to the second
process. Every peer that holds pieces is verified by whichever process owns its shard, each verified peer
is committed once, every ledger entry is chained once, and the database verifies.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("libtorrent")

from swarmscope.monitor.shards import shard_of
from swarmscope.testbed.swarm import Swarm, start_swarm
from tests.cli.test_monitor_cli import assert_cli_verifies
from tests.e2e.monitor_cli import monitor_command, report_rows, run_monitor

pytestmark = [pytest.mark.netns, pytest.mark.realclients]

MONITOR_IP = "127.0.0.1"
DURATION = 20.0  # seconds the monitor runs (re-probes come after 120 s: each peer is probed once)


@pytest.fixture(scope="module")
def run(netns: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("shards")
    db = workdir / "evidence.db"
    with start_swarm(workdir, monitor_ip=MONITOR_IP) as swarm:
        command = monitor_command(swarm.torrent_path, db, MONITOR_IP, DURATION, "--probe-processes", "2")
        monitor = run_monitor(command, DURATION + 120)
        rows = [r for r in report_rows(db) if r["infohash"] == swarm.infohash_hex]
        yield {"swarm": swarm, "db": db, "monitor": monitor, "rows": {(r["ip"], r["port"]): r for r in rows}}


def test_both_probe_processes_verify_the_peers_of_their_shard(run: dict[str, Any]) -> None:
    swarm: Swarm = run["swarm"]
    monitor: subprocess.CompletedProcess[str] = run["monitor"]
    assert "Traceback" not in monitor.stderr and "probe process" not in monitor.stderr, monitor.stderr
    holders = [p for p in swarm.peers if p.role in {"seed", "partial", "aria2"}]
    for peer in holders:
        row = run["rows"].get((peer.ip, peer.port))
        assert row is not None and row["tier"] == "verified", (peer.name, row)
    reached = {shard_of(ip, 2) for (ip, _port), row in run["rows"].items() if row["tier"] != "listed"}
    assert reached == {0, 1}, "peers of both shards were probed"


def test_each_verified_peer_is_committed_once_and_the_database_verifies(run: dict[str, Any]) -> None:
    db: Path = run["db"]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        verified = con.execute(
            "SELECT ip, port, COUNT(*) FROM observation WHERE tier = 'verified' AND ledger_index IS NOT NULL"
            " GROUP BY ip, port"
        ).fetchall()
        (twice,) = con.execute("SELECT COUNT(*) - COUNT(DISTINCT record_hash) FROM ledger_entry").fetchone()
        (runs,) = con.execute("SELECT COUNT(*) FROM ledger_entry WHERE kind = 'run_started'").fetchone()
    assert verified and all(count == 1 for _ip, _port, count in verified), verified
    assert twice == 0 and runs == 1
    assert_cli_verifies(db)
