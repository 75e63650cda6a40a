"""Smoke run of the DHT benchmark (bench/dht.py) for a fraction of a second on loopback: it measures the
codec, the UDP echo ceiling and our node in the same run and prints the goal beside them. No speed is
asserted (the goal is benchmarked, bench/README.md "DHT"); only that every server answered and reported."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dht_benchmark_measures_codec_echo_and_node_and_prints_the_goal() -> None:
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "dht.py"),
        "--seconds",
        "0.3",
        "--runs",
        "1",
        "--loop",
        "asyncio",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    run = json.loads(lines[0])
    for key in ("codec_cpu", "codec_general_cpu", "echo_cpu", "echo_wall", "node_cpu", "node_wall"):
        assert run[key] > 0, (key, run)
    assert any(line.startswith("goal 3: DHT >= 30,000 KRPC msg/s per core") for line in lines)
    assert re.fullmatch(
        r"dht: node_per_core=\d+ echo_per_core=\d+ node_wall=\d+ echo_wall=\d+ goal=30000 met=(yes|no)",
        lines[-1],
    )
