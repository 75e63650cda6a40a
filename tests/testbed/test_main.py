"""``python -m swarmscope.testbed`` holds the scenario up, describes it as JSON and stops it cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.netns, pytest.mark.realclients]


def test_standalone_scenario_describes_itself_and_cleans_up(netns: bool, tmp_path: Path) -> None:
    pytest.importorskip("libtorrent")
    proc = subprocess.run(
        [sys.executable, "-m", "swarmscope.testbed", "--hold", "2", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    names = {p["name"] for p in first["peers"]}
    assert {"seed1", "seed2", "partial", "leecher", "corrupt", "dead"} <= names
    assert first["tracker_http"].startswith("http://127.0.0.2:")
    final = {p["name"]: p for p in last["final_stats"]["peers"]}
    assert (
        final["leecher"]["num_pieces"] == 0 and final["seed1"]["num_pieces"] == final["seed1"]["total_pieces"]
    )
    assert list(tmp_path.iterdir()) == []
