"""The CLI invocations the end-to-end tests share: a tracker-only ``monitor`` run and ``report`` as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "swarmscope.cli"]


def monitor_command(torrent: Path, db: Path, bind: str, duration: float, *extra: str) -> list[str]:
    """``swarmscope monitor`` on a loopback testbed: bound to ``bind``, 20 peers, no live view, no DHT.

    ``--no-dht`` keeps every run tracker-only: never reach for public DHT routers. ``extra`` is appended.
    """
    return [
        *CLI, "monitor", str(torrent), "--db", str(db), "--duration", str(duration),
        "--max-peers", "20", "--bind", bind, "--no-live", "--no-dht", *extra,
    ]  # fmt: skip


def run_monitor(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a ``monitor_command`` to its end (at most ``timeout`` s); fails the test unless it exits 0."""
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, (
        f"monitor exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def report_rows(db: Path, timeout: float = 120) -> list[dict[str, Any]]:
    """The rows of ``swarmscope report --db DB --format json``; fails the test when the report fails."""
    report = subprocess.run(
        [*CLI, "report", "--db", str(db), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert report.returncode == 0, report.stderr
    rows: list[dict[str, Any]] = json.loads(report.stdout)
    return rows
