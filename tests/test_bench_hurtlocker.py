"""The Hurt Locker benchmark (bench/hurtlocker.py): its verdict line on made-up results, and a small run.

The small run (300 farm peers) checks that the C ceiling, libtorrent and the monitor all run, that every
peer is verified and committed, that the database verifies, and that the last line has its documented
form. No speed is asserted (speed is benchmarked, never asserted in tests).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SWARMSCOPE_SHARED", ROOT.parent / "shared"))
REFS = Path(os.environ.get("SWARMSCOPE_BENCH_REFS", SHARED / "bench"))


def farm_test(test: Callable[..., None]) -> Callable[..., None]:
    """The marks of a test that runs the stub farm: private network namespace, root, its C sources, cc."""
    no_tools = shutil.which("cc") is None or shutil.which("unshare") is None
    no_farm = not (REFS / "stubfarm.c").is_file()
    for mark in (
        pytest.mark.skipif(no_tools, reason="needs cc and unshare"),
        pytest.mark.skipif(no_farm, reason=f"stub farm sources not found at {REFS}"),
        pytest.mark.skipif(os.geteuid() != 0, reason="the benchmark needs root for unshare -n"),
        pytest.mark.netns,
    ):
        test = mark(test)
    return test


M = 300
LAST_LINE = re.compile(
    r"hurtlocker: vs_c=(\d+\.\d{3}|-) vs_libtorrent=(\d+\.\d{3}|-) committed=(\d+)/(\d+) "
    r"verify=(ok|failed) seconds=(\d+\.\d\d|-)"
)


@pytest.fixture(scope="module")
def hurtlocker() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module("hurtlocker")
    finally:
        sys.path.remove(str(ROOT / "bench"))


def results(mon: float, c: float, lt: float, verified: int, verify: str = "ok") -> dict[str, dict[str, Any]]:
    """One run's results as run_once returns them (rates in peers/s, monitor elapsed = M / rate)."""
    return {
        "c": {"probes_per_s": c, "completed": 1000, "cpu_s": 0.08},
        "libtorrent": {"probes_per_s": lt, "completed": 1000, "t_all_farm_s": 1.0},
        "monitor": {
            "probes_per_s": mon,
            "completed": 1000,
            "cpu_s": 0.64,
            "elapsed_s": round(1000 / mon, 3),
            "verified_peers": verified,
            "verify": verify,
        },
    }


def test_the_last_line_gives_the_ratios_and_the_monitors_figures(hurtlocker: ModuleType) -> None:
    line = hurtlocker.last_line([hurtlocker.summary(results(500.0, 2000.0, 100.0, 1000), 1000)])
    assert line == "hurtlocker: vs_c=0.250 vs_libtorrent=5.000 committed=1000/1000 verify=ok seconds=2.00"
    assert LAST_LINE.fullmatch(line)


def test_several_runs_give_medians_the_fewest_committed_and_ok_only_when_all_verified(
    hurtlocker: ModuleType,
) -> None:
    runs = [
        results(500.0, 2000.0, 100.0, 1000),
        results(400.0, 2000.0, 100.0, 998, verify="failed"),
        results(250.0, 1000.0, 50.0, 1000),
    ]
    line = hurtlocker.last_line([hurtlocker.summary(r, 1000) for r in runs])
    assert line == "hurtlocker: vs_c=0.250 vs_libtorrent=5.000 committed=998/1000 verify=failed seconds=2.50"


def test_libtorrent_stalled_short_of_m_is_compared_at_its_rate_up_to_the_plateau(
    hurtlocker: ModuleType,
) -> None:
    run = results(600.0, 2000.0, 100.0, 1000)
    run["libtorrent"] = {"probes_per_s": 100.0, "probes_per_s_until_plateau": 300.0, "t_all_farm_s": None}
    assert hurtlocker.summary(run, 1000)["vs_libtorrent"] == pytest.approx(2.0)


def test_a_tool_that_failed_gives_no_ratio(hurtlocker: ModuleType) -> None:
    run = results(600.0, 2000.0, 100.0, 1000)
    run["c"] = {"error": "namespace run timed out"}
    line = hurtlocker.last_line([hurtlocker.summary(run, 1000)])
    assert line.startswith("hurtlocker: vs_c=- vs_libtorrent=6.000 ")


@pytest.fixture(scope="module")
def small_run() -> tuple[list[dict[str, Any]], str]:
    cmd = [sys.executable, str(ROOT / "bench" / "hurtlocker.py"), "--M", str(M), "--lt-window", "15"]
    env = {**os.environ, "SWARMSCOPE_BENCH_REFS": str(REFS)}
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    return rows, p.stdout


@farm_test
@pytest.mark.skipif(importlib.util.find_spec("libtorrent") is None, reason="lt_monitor.py needs libtorrent")
def test_a_small_run_verifies_and_commits_every_peer(small_run: tuple[list[dict[str, Any]], str]) -> None:
    rows, stdout = small_run
    assert {r["tool"] for r in rows} == {"c", "libtorrent", "monitor"}
    for row in rows:
        assert "error" not in row, row
    monitor = next(r for r in rows if r["tool"] == "monitor")
    assert monitor["verify"] == "ok" and monitor["verify_problems"] == 0
    assert monitor["verified_peers"] == monitor["committed_peers"] == M
    assert monitor["outcomes"].get("verified", 0) >= M
    last = LAST_LINE.fullmatch(stdout.strip().splitlines()[-1])
    assert last is not None, stdout[-500:]
    assert last.group(3, 4, 5) == (str(M), str(M), "ok")


@farm_test
def test_a_monitor_killed_mid_run_leaves_a_database_that_verifies() -> None:
    # killed once 10,000 observations are committed: mid-run however fast or loaded the machine is (a fixed
    # 5 s let a loaded machine kill the monitor before it had created its database)
    row, stdout = _monitor_row(["--kill-at-peers", "10000"])
    assert row["killed_at_peers"] >= 10_000 and row["returncode"] == -9
    assert row["verify"] == "ok" and row["verify_problems"] == 0
    assert row["verified_peers"] == row["committed_peers"] < 50_000
    last = LAST_LINE.fullmatch(stdout.strip().splitlines()[-1])
    assert last is not None and last.group(5) == "ok"


def _monitor_row(args: list[str]) -> tuple[dict[str, Any], str]:
    """Run hurtlocker.py with the monitor alone and ``args``; its JSON row and its output."""
    cmd = [sys.executable, str(ROOT / "bench" / "hurtlocker.py"), "--tools", "monitor", *args]
    env = {**os.environ, "SWARMSCOPE_BENCH_REFS": str(REFS)}
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    row = next(json.loads(line) for line in p.stdout.splitlines() if line.startswith("{"))
    assert "error" not in row, row
    return row, p.stdout


@farm_test
def test_a_writer_process_killed_mid_run_is_replaced_and_every_peer_is_committed_once() -> None:
    m = 3000
    args = ["--M", str(m), "--writer-process", "--writer-cpus", "--kill-writer-after", "1"]
    row, stdout = _monitor_row(args)
    assert row["writer_process"] and row["writer_killed"] and row["writers_started"] == 2
    assert row["verify"] == "ok" and row["verify_problems"] == 0
    assert row["verified_peers"] == row["committed_peers"] == m and row["chained_twice"] == 0
    last = LAST_LINE.fullmatch(stdout.strip().splitlines()[-1])
    assert last is not None and last.group(3, 4, 5) == (str(m), str(m), "ok")


@farm_test
def test_a_monitor_killed_mid_run_beside_its_writer_process_leaves_a_database_that_verifies() -> None:
    # killed once 10,000 observations are committed: mid-run however fast or loaded the machine is (a fixed
    # time let a quiet machine finish all 50,000 before the kill)
    row, stdout = _monitor_row(["--writer-process", "--writer-cpus", "--kill-at-peers", "10000"])
    assert row["killed_at_peers"] >= 10_000 and row["returncode"] == -9
    assert row["writer_ended"], "the writer ends by itself once the monitor is gone"
    assert row["verify"] == "ok" and row["verify_problems"] == 0
    assert row["verified_peers"] == row["committed_peers"] < 50_000 and row["chained_twice"] == 0
    last = LAST_LINE.fullmatch(stdout.strip().splitlines()[-1])
    assert last is not None and last.group(5) == "ok"


@farm_test
def test_two_probe_processes_commit_every_farm_peer_once_through_the_one_writer() -> None:
    m = 3000
    row, stdout = _monitor_row(["--M", str(m), "--probe-processes", "2"])
    assert row["probe_processes"] == 2 and row["probe_processes_started"] == 1
    assert row["probe_processes_cpu_s"] > 0, "the second probe process probed its shard"
    assert row["writers_started"] == 1
    assert row["verify"] == "ok" and row["verify_problems"] == 0
    assert row["verified_peers"] == row["committed_peers"] == m
    assert row["observation_rows"] == m and row["chained_twice"] == 0  # each peer committed once
    assert row["verify_counts"]["entries"] == 2 * m + 1  # m sightings, m observations, one RunStarted
    assert row["acked_batches"] > 0 and row["acked_missing"] == 0
    last = LAST_LINE.fullmatch(stdout.strip().splitlines()[-1])
    assert last is not None and last.group(3, 4, 5) == (str(m), str(m), "ok")


@farm_test
def test_a_probe_process_killed_mid_run_is_replaced_and_nothing_acknowledged_is_lost() -> None:
    m = 3000
    row, _stdout = _monitor_row(["--M", str(m), "--probe-processes", "2", "--kill-probe-after", "2"])
    assert row["probe_killed"] and row["probe_processes_started"] == 2
    assert row["verify"] == "ok" and row["verify_problems"] == 0
    assert row["verified_peers"] == row["committed_peers"] == m and row["chained_twice"] == 0
    assert row["acked_batches"] > 0 and row["acked_missing"] == 0


@farm_test
def test_the_writer_killed_beside_two_probe_processes_is_replaced_and_nothing_is_chained_twice() -> None:
    m = 3000
    args = ["--M", str(m), "--probe-processes", "2", "--writer-cpus", "--kill-writer-after", "1"]
    row, _stdout = _monitor_row(args)
    assert row["writer_killed"] and row["writers_started"] == 2
    assert row["verify"] == "ok" and row["verify_problems"] == 0
    assert row["verified_peers"] == row["committed_peers"] == m and row["chained_twice"] == 0
    assert row["acked_batches"] > 0 and row["acked_missing"] == 0


@farm_test
def test_a_coordinator_killed_mid_run_leaves_processes_that_end_and_a_database_that_verifies() -> None:
    # killed once 10,000 observations are committed (at a fixed 45 s a quiet machine had committed all 50,000)
    row, stdout = _monitor_row(["--probe-processes", "2", "--writer-cpus", "--kill-at-peers", "10000"])
    assert row["killed_at_peers"] >= 10_000 and row["returncode"] == -9
    assert row["writer_ended"] and row["probes_ended"], "they end by themselves once the coordinator is gone"
    assert row["verify"] == "ok" and row["verify_problems"] == 0
    assert row["verified_peers"] == row["committed_peers"] < 50_000 and row["chained_twice"] == 0
    last = LAST_LINE.fullmatch(stdout.strip().splitlines()[-1])
    assert last is not None and last.group(5) == "ok"


def test_the_deflate_trial_keeps_the_formats_bytes_and_times_every_variant() -> None:
    """bench/deflate_ab: the capture gets ``zlib.compress(body, 9)``'s bytes whatever the variants do; each
    variant runs once per capture and goes first once per round."""
    path = ROOT / "bench" / "deflate_ab" / "sitecustomize.py"
    spec = importlib.util.spec_from_file_location("deflate_ab_site", path)
    assert spec is not None and spec.loader is not None
    site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site)
    trial = site.Trial()
    bodies = [os.urandom(n) + bytes(n) + b"d1:ei0ee" * n for n in range(0, 3000, 250)]
    assert [trial.compress(b) for b in bodies] == [zlib.compress(b, 9) for b in bodies]
    report = trial.report()
    assert report["captures"] == len(bodies)
    assert set(report) == {"captures", "zlib9", "kept9", "zlib1", "w11m1", "fixed9", "stored"}
    assert report["kept9"]["out_over_in"] == report["zlib9"]["out_over_in"]
    assert report["stored"]["out_over_in"] > 1 > report["zlib9"]["out_over_in"]


@farm_test
def test_the_deflate_trial_runs_in_every_monitor_process_and_leaves_the_captures_as_they_were() -> None:
    """``--deflate-ab``: a report per process that compressed captures (coordinator and probe process), every
    capture counted once, and the database (whose captures' SHA-256 are sealed) verifies."""
    m = 600
    row, stdout = _monitor_row(["--M", str(m), "--probe-processes", "2", "--deflate-ab"])
    reports = row["deflate_ab"]
    assert len(reports) == 2 and sum(r["captures"] for r in reports) == m
    assert row["verify"] == "ok" and row["verified_peers"] == row["committed_peers"] == m
    assert stdout.count("deflate-ab (a process, ") == 2
