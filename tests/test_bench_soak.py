"""The soak (bench/soak.py): its bound check on made-up sample series, and a one-minute smoke run.

The smoke run checks that the soak runs the real monitor against the stub farm, samples it and prints its
lines; it asserts no memory figure (the 30-minute run in bench/README.md "Soak" is the measurement).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
# the stub farm sources: $SWARMSCOPE_BENCH_REFS, else the shared folder's bench/ (../shared beside the
# project, or $SWARMSCOPE_SHARED: tests/conftest.py), as bench/farm.py finds them
REFS = Path(os.environ.get("SWARMSCOPE_BENCH_REFS", SHARED / "bench"))
SAMPLE_KEYS = {"t_s", "rss_kib", "threads", "fds", "sockets", "files", "tasks", "committed", "pending"}
LAST_LINE = re.compile(
    r"soak: minutes=1 rss_start_mib=\d+\.\d rss_end_mib=\d+\.\d fds_start=\d+ fds_end=\d+ verdict=(ok|grew)"
)


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module("soak")
    finally:
        sys.path.remove(str(ROOT / "bench"))


def series(
    rss_mib: list[float], files: int = 7, sockets: int = 2, step_s: float = 60.0
) -> list[dict[str, Any]]:
    """Samples one ``step_s`` apart with the given RSS (MiB) and fds."""
    return [
        {
            "t_s": i * step_s,
            "rss_kib": int(r * 1024),
            "files": files,
            "sockets": sockets,
            "fds": files + sockets,
        }
        for i, r in enumerate(rss_mib)
    ]


def test_steady_memory_and_fds_are_within_the_bound(soak: ModuleType) -> None:
    base, broke = soak.verdict(series([80, 90, 91, 92, 91, 92, 93]), warmup_s=300, k=100)
    assert base["t_s"] == 300 and broke == []


def test_growth_during_warmup_only_is_not_counted(soak: ModuleType) -> None:
    _, broke = soak.verdict(series([50, 70, 90, 110, 120, 121, 122]), warmup_s=240, k=100)
    assert broke == []


def test_rss_growing_past_both_allowances_is_reported(soak: ModuleType) -> None:
    # baseline 100 MiB at 5 min: 10 % is 10 MiB, so 20 MiB applies; 100 -> 121 MiB breaks it
    _, broke = soak.verdict(series([90, 95, 98, 99, 99, 100, 110, 121]), warmup_s=300, k=100)
    assert len(broke) == 1 and broke[0].startswith("RSS grew 21.0 MiB > 20.0")
    _, broke = soak.verdict(series([90, 95, 98, 99, 99, 100, 110, 120]), warmup_s=300, k=100)
    assert broke == []


def test_ten_percent_applies_above_200_mib(soak: ModuleType) -> None:
    _, broke = soak.verdict(series([300, 300, 329]), warmup_s=0, k=100)
    assert broke == []
    _, broke = soak.verdict(series([300, 300, 331]), warmup_s=0, k=100)
    assert len(broke) == 1 and "RSS grew 31.0 MiB > 30.0" in broke[0]


def test_leaking_files_and_too_many_sockets_are_reported(soak: ModuleType) -> None:
    samples = series([90] * 4)
    samples[-1]["files"] += 11
    _, broke = soak.verdict(samples, warmup_s=0, k=100)
    assert broke == ["non-socket fds left 7 ± 10"]
    samples = series([90] * 4)
    samples[1]["sockets"] = 111
    _, broke = soak.verdict(samples, warmup_s=0, k=100)
    assert broke == ["sockets above K + 10 = 110"]


@pytest.mark.netns
@pytest.mark.skipif(os.geteuid() != 0, reason="the soak needs root for unshare -n")
@pytest.mark.skipif(not (REFS / "stubfarm.c").is_file(), reason=f"stub farm sources not found at {REFS}")
@pytest.mark.skipif(
    shutil.which("cc") is None or shutil.which("unshare") is None, reason="needs cc and unshare"
)
def test_one_minute_soak_samples_the_monitor_and_prints_the_verdict() -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "soak.py"), "--minutes", "1", "--sample", "2"]
    cmd += ["--M", "300", "--K", "20", "--reprobe", "5", "--warmup", "0.25"]
    env = {**os.environ, "SWARMSCOPE_BENCH_REFS": str(REFS)}  # the references the skip checked
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    lines = p.stdout.strip().splitlines()
    assert lines and LAST_LINE.fullmatch(lines[-1]), p.stdout[-2000:] + p.stderr[-2000:]
    assert p.returncode == (0 if lines[-1].endswith("verdict=ok") else 1)
    rows = [json.loads(x) for x in lines if x.startswith("{")]
    samples = [r for r in rows if "t_s" in r]
    assert 25 <= len(samples) <= 32, len(samples)
    for s in samples:
        assert s.keys() >= SAMPLE_KEYS and s["rss_kib"] > 0 and s["files"] > 0
    times = [s["t_s"] for s in samples]
    assert times == sorted(times) and times[-1] <= 61
    committed = [s["committed"] for s in samples]
    assert committed == sorted(committed) and committed[-1] >= 300  # every peer probed, most more than once
    final = next(r for r in rows if r.get("final"))
    assert final["lost"] == 0 and final["committed"] >= committed[-1]
    farm = next(r for r in rows if "farm" in r)
    assert farm["monitor_exit"] == 0 and farm["farm"]["hs_ok"] >= 300
    assert "| t (min) | RSS MiB | fds (sockets) |" in p.stdout
