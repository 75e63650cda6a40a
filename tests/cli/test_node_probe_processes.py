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

NOWHERE = "postgresql+psycopg://nobody@/nowhere?host=/nonexistent"


def _refused_node(tmp_path: Path, option: str, value: str) -> str:
    """``swarmscope node`` with ``option value``: exit status 1, no key file created; returns stderr."""
    key = tmp_path / "n1.pem"
    proc = subprocess.run(
        [sys.executable, "-m", "swarmscope.cli", "node", "--db", NOWHERE, "--name", "n1", "--node-key",
         str(key), option, value],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not key.exists()
    return proc.stderr


@pytest.mark.parametrize("count", ["0", "65", "two"])
def test_a_node_probe_process_count_out_of_range_is_one_line(tmp_path: Path, count: str) -> None:
    stderr = _refused_node(tmp_path, "--probe-processes", count)
    assert stderr.startswith(f"error: --probe-processes {count}: ")


@pytest.mark.parametrize("mib", ["0", "nan", "-1", "inf", "65537"])
def test_a_node_backlog_bound_out_of_range_is_one_line(tmp_path: Path, mib: str) -> None:
    """``--max-backlog`` as the monitor's: finite, 1/16 to 65,536 MiB, checked before any key file."""
    assert _refused_node(tmp_path, "--max-backlog", mib).startswith(f"error: --max-backlog {mib}")


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
    key = str(tmp_path / "k.pem")
    args = ["node", "--db", NOWHERE, "--name", "n1", "--node-key", key, "--max-backlog", "8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen == [8 * 1024 * 1024]
