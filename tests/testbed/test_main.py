"""``python -m swarmscope.testbed`` holds the scenario up, describes it as JSON and stops it cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state or "\nState:\tX" in state


def test_runner_and_aria2_do_not_outlive_a_killed_parent(netns: bool, tmp_path: Path) -> None:
    pytest.importorskip("libtorrent")
    code = (
        "import os, sys\n"
        "from swarmscope.testbed.swarm import start_swarm\n"
        "cm = start_swarm(sys.argv[1], tracker_kind='builtin')\n"
        "swarm = cm.__enter__()\n"
        "pids = [swarm.runner.pid] + ([swarm.aria2.proc.pid] if swarm.aria2 else [])\n"
        "print(' '.join(map(str, pids)), flush=True)\n"
        "os._exit(0)  # die without any cleanup\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pids = [int(p) for p in proc.stdout.split()]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.2)
    assert all(_gone(p) for p in pids), pids
