"""Smoke run of the many-swarms benchmark (bench/swarms.py) at a small size against the stub farm: every
swarm is monitored at once, every peer verified and re-probed on its schedule, and the lag distribution
printed. No speed or lag bound is asserted (benchmarked, never asserted in tests): only that the run
happened as described and reported what bench/README.md "Swarms" documents."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.stub_farm import REFS, STUB_FARM_MARKS

ROOT = Path(__file__).resolve().parents[1]
SWARMS, PEERS = 8, 3

pytestmark = STUB_FARM_MARKS


def test_every_swarm_is_probed_and_reprobed_and_the_lag_reported() -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "swarms.py"), "--swarms", str(SWARMS), "--peers", str(PEERS)]
    cmd += ["--reprobe", "3", "--duration", "8", "--K", "10", "--loop", "asyncio"]
    env = {**os.environ, "SWARMSCOPE_BENCH_REFS": str(REFS)}
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.strip().splitlines()
    res = json.loads(lines[0])
    assert "error" not in res, res
    assert (res["swarms"], res["peers"], res["swarms_reprobed"]) == (SWARMS, SWARMS * PEERS, SWARMS)
    assert res["reprobes"] >= SWARMS * PEERS  # every peer re-probed at least once in 8 s at a 3 s interval
    assert set(res["outcomes"]) == {"verified"} and res["outcomes"]["verified"] == res["probes"]
    assert res["committed_observations"] == res["probes"]  # everything probed was sealed and committed
    assert res["farm"]["hs_ok"] == res["probes"]  # one connection per probe, every one to the farm
    assert 0 <= res["lag_p50_s"] <= res["lag_p95_s"] <= res["lag_max_s"]
    assert re.fullmatch(
        rf"swarms: swarms={SWARMS} peers={SWARMS * PEERS} reprobe_s=3 lag_p50_s=\S+ lag_p95_s=\S+ "
        rf"lag_max_s=\S+ probes_per_s=\S+ full_rate=\S+ swarms_reprobed={SWARMS}/{SWARMS}",
        lines[-1],
    )
