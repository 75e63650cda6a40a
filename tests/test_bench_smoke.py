"""Smoke run of the probe-rate benchmark (bench/probe.py): it runs and prints its JSON lines and table.

No speed is asserted (speed is benchmarked, never asserted in tests); only that every tool completed every
probe against the stub farm and reported the fields the README documents.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stub_farm import REFS, STUB_FARM_MARKS

ROOT = Path(__file__).resolve().parents[1]
M = 200
KEYS = {
    "tool",
    "loop",
    "mode",
    "M",
    "K",
    "claims_wait",
    "run",
    "probes_per_s",
    "completed",
    "elapsed_s",
    "cpu_s",
    "cpu_user_s",
    "vmhwm_kb",
    "rss_growth_kb",
    "outcomes",
    "farm",
}

pytestmark = STUB_FARM_MARKS


@pytest.fixture(scope="module")
def bench_output() -> tuple[list[dict[str, object]], str]:
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "probe.py"),
        "--M",
        str(M),
        "--K",
        "20",
        "--runs",
        "1",
        "--loops",
        "asyncio",
        "--claims-wait",
        "0.2",
    ]
    env = {**os.environ, "SWARMSCOPE_BENCH_REFS": str(REFS)}  # the references the skip checked
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    return rows, p.stdout


def test_every_measurement_prints_its_json_keys(bench_output: tuple[list[dict[str, object]], str]) -> None:
    rows, _ = bench_output
    tools = {(r["tool"], r["mode"]) for r in rows}
    assert {
        ("raw", "hs"),
        ("raw", "block"),
        ("swarmscope", "hs"),
        ("swarmscope", "block"),
        ("monitor", "hs"),
        ("monitor", "block"),
    } <= tools
    for row in rows:
        assert "error" not in row, row
        assert row.keys() >= KEYS, sorted(KEYS - row.keys())
        assert row["M"] == M


def test_every_probe_of_the_farm_completes(bench_output: tuple[list[dict[str, object]], str]) -> None:
    rows, _ = bench_output
    for row in rows:
        assert row["completed"] == M, row
        assert not row.get("aborted"), row


def test_swarmscope_reaches_the_tiers_the_farm_offers(
    bench_output: tuple[list[dict[str, object]], str],
) -> None:
    rows, _ = bench_output
    holding = sum(1 for i in range(M) if (0x7F010001 + i) % 3 != 2)  # addr % 3 == 2: the peer has no piece
    for row in rows:
        if row["tool"] not in ("swarmscope", "monitor"):
            continue
        outcomes = row["outcomes"]
        assert isinstance(outcomes, dict)
        top = "has_pieces" if row["mode"] == "hs" else "verified"
        assert outcomes.get(top) == holding, row
        assert outcomes.get("connected") == M - holding, row
        assert outcomes.get("failure:no_pieces") == M - holding, row


def test_the_table_reports_ratios_to_the_ceilings(bench_output: tuple[list[dict[str, object]], str]) -> None:
    _, stdout = bench_output
    assert "| tool | loop | mode | runs | probes/s" in stdout
    assert "probes/s ÷ raw (same loop)" in stdout
    assert "| swarmscope (claims_wait 0.2 s) | asyncio | block |" in stdout
