"""Smoke run of the memory benchmark (bench/memory.py) at a small N: it feeds the monitor's per-peer
structures, prints both phases and its last line. No size is asserted here beyond the line's shape (the
per-peer bound is tests/monitor/test_peer_memory.py's; the goal is benchmarked, bench/README.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_memory_benchmark_runs_and_prints_its_last_line() -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "memory.py"), "--swarms", "10", "--peers", "3000"]
    p = subprocess.run([*cmd, "--breakdown-peers", "1000"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    rss, breakdown = json.loads(lines[0]), json.loads(lines[1])
    assert (rss["phase"], rss["peers"], rss["discovered"], rss["probed"]) == ("rss", 3000, 3000, 3000)
    assert (breakdown["phase"], breakdown["peers"]) == ("breakdown", 1000)
    assert any("swarmscope/monitor/plan.py" in line["where"] for line in breakdown["top"])
    assert re.fullmatch(
        r"memory: bytes_per_peer=-?\d+ goal=1024 met=(yes|no) peers=3000 swarms=10 rss_growth_mib=-?[\d.]+",
        lines[-1],
    )


def test_memory_benchmark_refuses_fewer_peers_than_swarms() -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "memory.py"), "--swarms", "10", "--peers", "5"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
