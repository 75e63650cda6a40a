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
