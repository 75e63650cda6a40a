"""``swarmscope demo``: runs the real scenario end to end, cleans up, and explains missing prerequisites."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.monitor_cli import CLI, report_rows

pytestmark = [pytest.mark.netns, pytest.mark.realclients]


def test_demo_runs_the_scenario_and_reports(netns: bool, tmp_path: Path) -> None:
    pytest.importorskip("libtorrent")
    db, workdir = tmp_path / "demo.db", tmp_path / "work"
    proc = subprocess.run(
        [*CLI, "demo", "--duration", "12", "--db", str(db), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "the scenario (ground truth)" in proc.stdout
    assert "hash_mismatch" in proc.stdout and "connect_refused" in proc.stdout
    assert "received 0 from it" in proc.stdout
    assert "VERIFIED: every check holds" in proc.stdout  # the exported bundle verifies
    tiers = sorted(row["tier"] for row in report_rows(db, timeout=60))
    assert tiers.count("verified") >= 3 and "listed" in tiers
    assert list(workdir.iterdir()) == []  # the scenario's directory was removed


def test_demo_without_opentracker_or_aria2_uses_the_builtin_tracker(netns: bool, tmp_path: Path) -> None:
    pytest.importorskip("libtorrent")
    env = {**os.environ, "PATH": str(tmp_path), "COLUMNS": "200"}  # neither opentracker nor aria2c on PATH
    db = tmp_path / "demo.db"
    proc = subprocess.run(
        [*CLI, "demo", "--duration", "8", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "apt-get install -y opentracker" in proc.stdout and "built-in minimal HTTP tracker" in proc.stdout
    assert "aria2c not installed" in proc.stdout
    assert "verified" in {row["tier"] for row in report_rows(db, timeout=60)}


def test_demo_names_the_missing_libtorrent() -> None:
    code = (
        "import sys; sys.modules['libtorrent'] = None; sys.argv = ['swarmscope', 'demo', '--duration', '1'];"
        "from swarmscope.cli import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "pip install 'swarmscope[demo]'" in proc.stdout
