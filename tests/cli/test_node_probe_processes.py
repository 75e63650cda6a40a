"""`swarmscope node --probe-processes N`: a count outside 1..64 is one line and exit status 1, before
anything is created (no key file, nothing in the database: the option is checked before the store is
opened). The node with two probe processes runs in tests/monitor/test_fleet_probe_processes.py and
tests/e2e/test_fleet_probe_processes.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("count", ["0", "65", "two"])
def test_a_node_probe_process_count_out_of_range_is_one_line(tmp_path: Path, count: str) -> None:
    key = tmp_path / "n1.pem"
    args = ["node", "--db", "postgresql+psycopg://nobody@/nowhere?host=/nonexistent", "--name", "n1"]
    proc = subprocess.run(
        [sys.executable, "-m", "swarmscope.cli", *args, "--node-key", str(key), "--probe-processes", count],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"error: --probe-processes {count}: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert not key.exists()


@pytest.mark.parametrize("mib", ["0", "nan", "-1", "inf", "65537"])
def test_a_node_backlog_bound_out_of_range_is_one_line(tmp_path: Path, mib: str) -> None:
    """``--max-backlog`` as the monitor's: finite, 1/16 to 65,536 MiB, checked before any key file."""
    key = tmp_path / "n1.pem"
    args = ["node", "--db", "postgresql+psycopg://nobody@/nowhere?host=/nonexistent", "--name", "n1"]
    proc = subprocess.run(
        [sys.executable, "-m", "swarmscope.cli", *args, "--node-key", str(key), "--max-backlog", mib],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"error: --max-backlog {mib}") and proc.stderr.count("\n") == 1
    assert not key.exists()


def test_the_node_backlog_bound_reaches_its_monitor_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound in bytes is in the config the node's monitor (and its probe processes, 1/N each) gets."""
    from typer.testing import CliRunner

    from swarmscope.cli import node as node_cli
    from swarmscope.cli.app import app

    seen: list[int] = []
    monkeypatch.setattr(
        node_cli, "run_node", lambda _db, _plan, config, *_a: seen.append(config.max_backlog_bytes)
    )
    db = "postgresql+psycopg://nobody@/nowhere?host=/nonexistent"
    args = ["node", "--db", db, "--name", "n1", "--node-key", str(tmp_path / "k.pem"), "--max-backlog", "8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen == [8 * 1024 * 1024]
