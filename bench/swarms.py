"""1,000 swarms at once in one node: does every swarm keep its re-probe schedule while the node probes at
its full rate? (Performance goal 4; bench/README.md "Swarms".)

One command (``make bench-swarms``; root for ``unshare -n``)::

    python bench/swarms.py [--swarms 1000] [--peers 10] [--reprobe 60] [--duration 150] [--K 100]
                           [--loop uvloop|asyncio]

builds the stub farm (``bench/farm.py``), then in a fresh private network namespace (loopback only) runs
the farm (``-b seed``, pinned to CPU 1) and, pinned to CPU 0, swarmscope's ``Monitor`` over ``--swarms``
torrents with the whole evidence path on (SQLite store, fresh Ed25519 node key, captures, sealed batches,
``Depth.VERIFIED``). The torrents are the farm torrent renamed (``name`` differs, so every infohash does;
the farm echoes whichever infohash it is dialled with and serves the same pieces), without trackers.
Each swarm gets ``--peers`` distinct farm addresses (127.1.0.1 + i; one per peer, so per-IP politeness
never holds a probe back), handed over with ``Monitor.discovered`` at once, every peer due at t = 0.

Why these numbers: the first wave (every peer due at once) runs the node at its full rate R (probes/s,
measured); each peer's re-probe is then due ``--reprobe`` s after its probe ended, so the re-probes fall
due at the rate the first wave reached: the node probes at up to its full rate through every re-probe
wave, and the lag shows whether the scheduler keeps the schedule under that load. That holds while the
first wave is shorter than the interval (``swarms × peers / R`` < ``--reprobe``; longer, and re-probes
queue behind first probes): 10,000 peers at the ≈ 300–1,500 verified probes/s this shared 2-core box
gives take 7–35 s, under the 60 s interval. ``--duration`` 150 s gives every peer two re-probes (waves at
≈ 60 s and ≈ 120 s) in under 4 minutes.

The lag of a probe is the time its pure probe run was created (its connect starts) minus the due time the
plan had given it, in seconds; reported for re-probes (the schedule; goal 4) and, separately, for first
probes (their lag is the first wave's queue, by design). Prints one JSON line, a table and as the last line::

    swarms: swarms=S peers=N reprobe_s=I lag_p50_s=X lag_p95_s=X lag_max_s=X probes_per_s=R full_rate=R
            swarms_reprobed=K/S

(one line). Every wait is bounded: the monitor runs ``--duration`` s; the namespace run ``--duration`` +
300 s; the farm stops itself after ``--duration`` + 240 s and is stopped by its PID before. Exit status 0
whether or not the schedule was kept (it is a benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import farm
import probe

HERE = Path(__file__).resolve().parent
DB_DIR = farm.WORK / "swarms"
LATE_S = 5.0  # a re-probe started this many seconds after its due time counts as late, per swarm


# --- the monitor (inside the namespace, pinned) ----------------------------------------------------------


def variant_torrents(torrent: Path, swarms: int) -> list[Any]:
    """``swarms`` targets: the farm torrent's info dict renamed (distinct infohashes), no trackers."""
    from swarmscope.monitor.targets import target_from_metainfo
    from swarmscope.wire.bencode import decode, encode

    info = decode(torrent.read_bytes())[b"info"]
    out = []
    for i in range(swarms):
        renamed = {**info, b"name": info[b"name"] + f"-swarm{i:05d}".encode()}
        out.append(target_from_metainfo(encode({b"info": renamed}), f"swarms bench {i}"))
    return out


class SwarmStore(probe.CountingStore):
    """The real store, counting swarm rows added and observations committed (sealed batches)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.swarms_added = 0

    def add_swarm(self, **kw: Any) -> Any:
        result = self.store.add_swarm(**kw)
        self.swarms_added += 1
        return result


def lag_monitor(monitor_class: Any) -> Any:
    """A ``Monitor`` subclass recording each probe's start lag (s) against the plan's due time."""

    class LagMonitor(monitor_class):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self.first_lags: list[float] = []
            self.reprobe_lags: dict[str, list[float]] = {}  # swarm -> lags
            self._recorded: dict[Any, int] = {}  # key -> the due time already recorded

        def _new_run(self, key: Any, now: int, *, source: str, inbound: bool = False) -> Any:
            state = self.plan.peers.get(key)
            if not inbound and state is not None and self._recorded.get(key) != state.due_us:
                self._recorded[key] = state.due_us
                lag = (now - state.due_us) / 1e6
                if state.probes:
                    self.reprobe_lags.setdefault(key[0], []).append(lag)
                else:
                    self.first_lags.append(lag)
            return super()._new_run(key, now, source=source, inbound=inbound)

    return LagMonitor


async def monitor(cfg: dict[str, Any], out: dict[str, Any]) -> None:
    """Every swarm's peers handed over at t = 0; run ``duration`` s; stop (everything pending commits)."""
    from collections import Counter

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from swarmscope.evidence.probe.run import Depth, ProbePolicy
    from swarmscope.evidence.records import Source
    from swarmscope.monitor.config import MonitorConfig
    from swarmscope.monitor.crawler import Monitor
    from swarmscope.monitor.plan import PlanPolicy
    from swarmscope.store.database import open_store

    targets = variant_torrents(Path(json.loads(Path(cfg["farm_json"]).read_text())["torrent"]), cfg["swarms"])
    store = open_store(cfg["db"], node_key=Ed25519PrivateKey.generate())
    tally: Counter[str] = Counter()
    counting = SwarmStore(store, tally, 1 << 62, asyncio.Event())
    config = MonitorConfig(
        peer_id=b"-SS0001-" + os.urandom(6).hex().encode(),
        max_peers=cfg["K"],
        probe=ProbePolicy(depth=Depth.VERIFIED),
        plan=PlanPolicy(
            reprobe_interval=cfg["reprobe"],
            max_peers_per_swarm=max(PlanPolicy().max_peers_per_swarm, cfg["peers"]),  # handed over at once
        ),
    )
    mon = lag_monitor(Monitor)(targets, counting, config, on_warning=lambda _m: None, leads_from_caller=True)
    stop = asyncio.Event()
    runner = asyncio.create_task(mon.run(stop))
    try:
        for _ in range(6000):  # until every swarm row exists (bounded: 60 s)
            if counting.swarms_added >= len(targets) or runner.done():
                break
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        n = 0
        for target in targets:
            peers = [(farm.peer_address(n + j), farm.PORT, None) for j in range(cfg["peers"])]
            mon.discovered(target.swarm, peers, Source.TRACKER, "swarms bench")
            n += cfg["peers"]
        wave_end = None
        while time.monotonic() - t0 < cfg["duration"] and not runner.done():
            await asyncio.sleep(0.25)
            if wave_end is None and sum(s.probes for s in mon.stats.values()) >= n:
                wave_end = time.monotonic() - t0  # n probes ended: the first wave (re-probes come later)
        out.update(
            elapsed_s=time.monotonic() - t0,
            probes=sum(s.probes for s in mon.stats.values()),
            first_wave_s=wave_end,
            first_lags=mon.first_lags,
            reprobe_lags=mon.reprobe_lags,
            peers=n,
        )
    finally:
        stop.set()
        await asyncio.wait_for(runner, 120)
        store.close()
    out.update(committed=counting.committed, outcomes=dict(tally))


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` (nearest rank), or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def measure(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`monitor` in this process; the lag distribution and rates as one JSON-able dict."""
    import swarmscope.monitor.crawler  # noqa: F401 - imports before the clock starts

    if cfg["loop"] == "uvloop":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    out: dict[str, Any] = {}
    cpu0 = probe.cpu_s()
    with runner:
        runner.run(monitor(cfg, out))
    reprobes = [lag for lags in out["reprobe_lags"].values() for lag in lags]
    late = sum(1 for lags in out["reprobe_lags"].values() if max(lags) > LATE_S)
    first = out["first_lags"]
    wave = out["first_wave_s"]
    return {
        "swarms": cfg["swarms"],
        "peers": out["peers"],
        "reprobe_s": cfg["reprobe"],
        "duration_s": round(out["elapsed_s"], 1),
        "probes": out["probes"],
        "committed_observations": out["committed"],
        "probes_per_s": round(out["probes"] / out["elapsed_s"], 1),
        "full_rate": round(out["peers"] / wave, 1) if wave else None,
        "first_wave_s": round(wave, 1) if wave else None,
        "first_lag_p50_s": _r(quantile(first, 0.5)),
        "first_lag_max_s": _r(max(first, default=None)),
        "reprobes": len(reprobes),
        "lag_p50_s": _r(quantile(reprobes, 0.5)),
        "lag_p95_s": _r(quantile(reprobes, 0.95)),
        "lag_p99_s": _r(quantile(reprobes, 0.99)),
        "lag_max_s": _r(max(reprobes, default=None)),
        "lag_mean_s": _r(statistics.fmean(reprobes) if reprobes else None),
        "swarms_reprobed": len(out["reprobe_lags"]),
        f"swarms_late_over_{LATE_S:g}s": late,
        "cpu_s": round(probe.cpu_s() - cpu0, 1),
        "vmhwm_kb": probe.vm_kb("VmHWM"),
        "outcomes": out["outcomes"],
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- the namespace, the farm ------------------------------------------------------------------------------


def one(cfg: dict[str, Any]) -> dict[str, Any]:
    """Inside a fresh network namespace: farm up (every peer a seed), the monitor pinned, farm down by PID."""
    farm.setup_namespace()
    meta = json.loads(Path(cfg["farm_json"]).read_text())
    meta["stubfarm"] = cfg["stubfarm"]
    client_cpu, farm_cpu = farm.cpus()
    stats: dict[str, Any] = {}
    with farm.running_farm(meta, farm_cpu, stats, cfg["duration"] + 240, ["-b", "seed"], 5.0):
        cmd = farm.pinned([sys.executable, __file__, "_monitor", json.dumps(cfg)], client_cpu)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=cfg["duration"] + 200)
    try:
        res = dict(json.loads(p.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError):
        return {"error": f"the monitor exited {p.returncode} without a result", "stderr": p.stderr[-1500:]}
    return {**res, "farm": stats}


def table(res: dict[str, Any]) -> str:
    """Markdown: the run's figures."""
    return "\n".join(
        [
            "| swarms | peers | re-probe s | full rate /s (first wave s) | probes/s over the run | re-probes "
            "| lag p50 / p95 / p99 / max s | swarms re-probed | swarms with a lag > 5 s |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {res['swarms']:,} | {res['peers']:,} | {res['reprobe_s']:g} | {res['full_rate']} "
            f"({res['first_wave_s']}) | {res['probes_per_s']} | {res['reprobes']:,} | {res['lag_p50_s']} / "
            f"{res['lag_p95_s']} / {res['lag_p99_s']} / {res['lag_max_s']} | {res['swarms_reprobed']:,} "
            f"| {res[f'swarms_late_over_{LATE_S:g}s']} |",
        ]
    )


def last_line(res: dict[str, Any]) -> str:
    return (
        f"swarms: swarms={res['swarms']} peers={res['peers']} reprobe_s={res['reprobe_s']:g} "
        f"lag_p50_s={res['lag_p50_s']} lag_p95_s={res['lag_p95_s']} lag_max_s={res['lag_max_s']} "
        f"probes_per_s={res['probes_per_s']} full_rate={res['full_rate']} "
        f"swarms_reprobed={res['swarms_reprobed']}/{res['swarms']}"
    )


def main(argv: list[str]) -> None:
    if argv[:1] == ["_one"]:
        print(json.dumps(one(json.loads(argv[1]))), flush=True)
        return
    if argv[:1] == ["_monitor"]:
        print(json.dumps(measure(json.loads(argv[1]))), flush=True)
        return
    ap = argparse.ArgumentParser(prog="bench/swarms.py", description=__doc__.splitlines()[0])
    ap.add_argument("--swarms", type=int, default=1000, help="swarms monitored at once")
    ap.add_argument("--peers", type=int, default=10, help="distinct farm peers per swarm")
    ap.add_argument("--reprobe", type=float, default=60.0, help="re-probe interval of a verified peer (s)")
    ap.add_argument("--duration", type=float, default=150.0, help="seconds the monitor runs")
    ap.add_argument("--K", type=int, default=100, help="probes in flight (MonitorConfig.max_peers)")
    ap.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    ap.add_argument("--keep-db", action="store_true", help="keep bench/.work/swarms/swarms.db")
    a = ap.parse_args(argv)
    if a.swarms < 1 or a.peers < 1 or a.swarms * a.peers > 60_000 or a.duration <= 0 or a.reprobe <= 0:
        print(
            "swarms: need swarms, peers >= 1, swarms × peers <= 60,000 (the farm), duration, reprobe > 0",
            file=sys.stderr,
        )
        raise SystemExit(1)
    if os.geteuid() != 0:
        print("swarms: needs root (unshare -n: a private network namespace)", file=sys.stderr)
        raise SystemExit(1)
    meta = farm.prepare()
    DB_DIR.mkdir(parents=True, exist_ok=True)
    db = DB_DIR / "swarms.db"
    for leftover in DB_DIR.glob(db.name + "*"):
        leftover.unlink()
    cfg = {
        "swarms": a.swarms,
        "peers": a.peers,
        "reprobe": a.reprobe,
        "duration": a.duration,
        "K": a.K,
        "loop": a.loop,
        "db": str(db),
        "farm_json": str(farm.WORK / "data" / "farm.json"),
        "stubfarm": meta["stubfarm"],
    }
    cmd = ["unshare", "-n", "--", sys.executable, __file__, "_one", json.dumps(cfg)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + 300)
        res = json.loads(p.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        res = {"error": "namespace run timed out"}
    except (IndexError, ValueError):
        res = {"error": f"namespace run exited {p.returncode}", "stderr": p.stderr[-1500:]}
    if not a.keep_db:
        shutil.rmtree(DB_DIR, ignore_errors=True)
    print(json.dumps(res), flush=True)
    if "error" in res:
        print(f"swarms: error: {res['error']}")
        return
    print()
    print(table(res))
    print()
    print(last_line(res))


if __name__ == "__main__":
    main(sys.argv[1:])
