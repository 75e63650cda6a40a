"""``python -m swarmscope`` runs the same command line as the ``swarmscope`` script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_python_dash_m_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "swarmscope", "verify", "--help"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Usage: python -m swarmscope verify" in done.stdout, done.stdout
