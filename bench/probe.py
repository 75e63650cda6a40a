"""Probe-rate benchmark: swarmscope's probe engine and monitor against a raw-Python and a C ceiling.

Every figure that matters is a ratio of two measurements taken in the same run on the same machine against the
same stub farm (see bench/README.md). Usage (the repo's venv python, root for ``unshare -n``)::

    python bench/probe.py [--M 5000] [--K 100] [--runs 3] [--modes hs,block]
                          [--tools c,raw,swarmscope,monitor] [--loops asyncio,uvloop] [--claims-wait 0.2,0]
                          [--profile]

Each measurement runs in a fresh private network namespace (``unshare -n``), with a fresh farm pinned to one
CPU and the client pinned to another, and the client in its own process (so peak RSS is per tool). One JSON
line per measurement on stdout, then a Markdown table of medians and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import farm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

TOOLS = ("c", "raw", "swarmscope", "monitor")
MODES = ("hs", "block")
REACHED = ("connected", "has_pieces", "verified")  # probe outcomes that count as completed
RUN_DEADLINE = 120.0  # seconds for one measurement's probing phase
SUBPROCESS_TIMEOUT = 300
STALL_S = 5.0  # abort a measurement when no probe ended for this long


def vm_kb(field: str) -> int | None:
    """``VmHWM`` / ``VmRSS`` of this process in KiB (ru_maxrss would include the pre-exec parent)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def cpu_s() -> float:
    """User + system CPU seconds of this process, all threads (the monitor's writer thread included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def user_s() -> float:
    """User CPU seconds of this process (the Python side; system time is the kernel's socket work)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


# --- swarmscope's engine: ProbeRun + net.peer_conn.probe, K workers ------------------------------------


def _engine_parts(cfg: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    from swarmscope.evidence.probe.pieces import MetainfoPieces
    from swarmscope.evidence.probe.policy import Depth, ProbePolicy
    from swarmscope.monitor.targets import load_target
    from swarmscope.wire import extension

    target = load_target(meta["torrent"])
    assert target.meta is not None
    depth = Depth.HAS_PIECES if cfg["mode"] == "hs" else Depth.VERIFIED
    return {
        "target": target,
        "pieces": MetainfoPieces(target.meta),
        "policy": ProbePolicy(depth=depth, claims_wait=cfg["claims_wait"]),
        "peer_id": b"-SB0001-" + os.urandom(6).hex().encode(),
        "ext": extension.encode_handshake({}, v=b"swarmscope-bench"),
    }


def _tally(obs: Any, tally: Counter[str]) -> None:
    tally[obs.tier.name.lower()] += 1
    if obs.failure:
        tally["failure:" + obs.failure] += 1


async def engine(cfg: dict[str, Any], meta: dict[str, Any], tally: Counter[str]) -> None:
    from swarmscope.evidence.probe.run import ProbeRun
    from swarmscope.evidence.records import Source
    from swarmscope.net.clock import Clock
    from swarmscope.net.peer_conn import probe

    parts = _engine_parts(cfg, meta)
    target, clock = parts["target"], Clock()
    indices = iter(range(cfg["M"]))

    async def worker() -> None:
        for i in indices:
            run = ProbeRun(
                swarm=target.swarm,
                wire_infohash=target.wire_infohash,
                peer_id=parts["peer_id"],
                pieces=parts["pieces"],
                ip=farm.peer_address(i),
                port=farm.PORT,
                source=Source.MANUAL.value,
                started_us=clock.now_us(),
                policy=parts["policy"],
                extension_handshake=parts["ext"],
            )
            _tally(await probe(run, clock=clock, connect_timeout=5.0), tally)

    await asyncio.gather(*(worker() for _ in range(cfg["K"])))


# --- the monitor: discovered() -> plan -> probe -> single writer -> SQLite commit ----------------------


class CountingStore:
    """Delegates to a real Store; counts observations once their sealed batch is committed."""

    def __init__(self, store: Any, tally: Counter[str], want: int, done: asyncio.Event) -> None:
        self.store, self.tally, self.want, self.done = store, tally, want, done
        self.loop = asyncio.get_running_loop()
        self.committed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def commit_evidence(self, run_id: int, **kw: Any) -> Any:
        """The monitor's sealed commit (captures, chain, Ed25519 seal); counts its observations after it."""
        from swarmscope.evidence.records import Observation

        sealed = self.store.commit_evidence(run_id, **kw)  # returns after the commit
        observations = [r for r in kw["records"] if isinstance(r, Observation)]
        for obs in observations:
            _tally(obs, self.tally)
        self.committed += len(observations)
        if self.committed >= self.want:
            self.loop.call_soon_threadsafe(self.done.set)
        return sealed


async def monitor(
    cfg: dict[str, Any], meta: dict[str, Any], tally: Counter[str], timing: dict[str, float]
) -> None:
    from swarmscope.evidence.records import Source
    from swarmscope.monitor.config import MonitorConfig
    from swarmscope.monitor.crawler import Monitor
    from swarmscope.monitor.plan import PlanPolicy
    from swarmscope.store.database import open_store

    parts = _engine_parts(cfg, meta)
    tmp = tempfile.mkdtemp(prefix="swarmscope-bench-")
    store = open_store(os.path.join(tmp, "bench.db"), node_key=Ed25519PrivateKey.generate())
    done, stop = asyncio.Event(), asyncio.Event()
    counting = CountingStore(store, tally, cfg["M"], done)
    # the M peers of the one swarm are handed over at once, none verified yet: the plan's bound of peers
    # not verified per swarm (PlanPolicy.max_peers_per_swarm, README "Resource bounds") must hold them all
    plan = PlanPolicy(max_peers_per_swarm=max(PlanPolicy().max_peers_per_swarm, cfg["M"]))
    config = MonitorConfig(peer_id=parts["peer_id"], max_peers=cfg["K"], probe=parts["policy"], plan=plan)
    mon = Monitor([parts["target"]], counting, config, on_warning=lambda _msg: None, leads_from_caller=True)
    runner = asyncio.create_task(mon.run(stop))
    try:
        for _ in range(1000):  # until the run row and the swarm row exist (bounded: 10 s)
            if mon.run_id is not None and mon.stats:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        peers: list[tuple[str, int, bytes | None]] = [
            (farm.peer_address(i), farm.PORT, None) for i in range(cfg["M"])
        ]
        timing["t0"], timing["cpu0"], timing["user0"] = time.monotonic(), cpu_s(), user_s()
        timing["rss0"] = vm_kb("VmRSS") or 0
        mon.discovered(parts["target"].swarm, peers, Source.TRACKER, "bench")
        await done.wait()
        timing["t1"], timing["cpu1"], timing["user1"] = time.monotonic(), cpu_s(), user_s()
        timing["rss1"] = vm_kb("VmRSS") or 0
    finally:
        stop.set()
        await asyncio.wait_for(runner, 60)
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --- one measurement in this process ----------------------------------------------------------------------


async def watched(work: Any, tally: Counter[str], deadline: float) -> None:
    """Run ``work``; TimeoutError after ``deadline`` s or when no probe ends for STALL_S seconds."""
    task = asyncio.ensure_future(work)
    t_end = time.monotonic() + deadline
    last, last_t = -1, time.monotonic()
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            now, n = time.monotonic(), sum(tally.values())
            if n != last:
                last, last_t = n, now
            if now > t_end or now - last_t > STALL_S:
                raise TimeoutError
        task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=10)


def write_profile(profiler: cProfile.Profile, cfg: dict[str, Any]) -> None:
    """Top functions by own and by cumulative time, to bench/.work/profile-TOOL[-cwWAIT]-LOOP-MODE.txt."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    wait = "" if cfg.get("claims_wait") is None else f"-cw{cfg['claims_wait']:g}"
    path = farm.WORK / f"profile-{cfg['tool']}{wait}-{cfg['loop']}-{cfg['mode']}.txt"
    path.write_text(out.getvalue())


def measure(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run the Python measurement ``cfg`` in this process (already in the namespace, pinned)."""
    meta = json.loads(Path(cfg["farm_json"]).read_text())
    if cfg["loop"] == "uvloop":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    if cfg["tool"] != "raw":
        import swarmscope.monitor.crawler  # noqa: F401 - imports outside the timed phase
    timing: dict[str, float] = {}
    tally: Counter[str] = Counter()
    timing["rss0"] = vm_kb("VmRSS") or 0
    aborted = False
    with runner:
        t0, c0, u0 = time.monotonic(), cpu_s(), user_s()
        if cfg["tool"] == "raw":
            work = farm.raw_ceiling(cfg, meta, tally)
        elif cfg["tool"] == "swarmscope":
            work = engine(cfg, meta, tally)
        else:
            work = monitor(cfg, meta, tally, timing)
        profiler = cProfile.Profile() if cfg.get("profile") else None
        try:
            if profiler is not None:
                profiler.enable()
            runner.run(watched(work, tally, cfg.get("deadline", RUN_DEADLINE)))
        except TimeoutError:
            aborted = True
        finally:
            if profiler is not None:
                profiler.disable()
                write_profile(profiler, cfg)
        t1, c1, u1 = (
            timing.get("t1", time.monotonic()),
            timing.get("cpu1", cpu_s()),
            timing.get("user1", user_s()),
        )
        t0, c0, u0 = timing.get("t0", t0), timing.get("cpu0", c0), timing.get("user0", u0)
        rss1 = timing.get("rss1", vm_kb("VmRSS") or 0)
    completed = sum(tally[k] for k in REACHED)
    return {
        "probes_per_s": round(completed / (t1 - t0), 1),
        "completed": completed,
        "elapsed_s": round(t1 - t0, 4),
        "cpu_s": round(c1 - c0, 3),
        "cpu_user_s": round(u1 - u0, 3),
        "vmhwm_kb": vm_kb("VmHWM"),
        "rss_growth_kb": rss1 - timing["rss0"],
        "outcomes": dict(sorted(tally.items())),
        "aborted": aborted,
    }


def one(cfg: dict[str, Any]) -> dict[str, Any]:
    """Inside a fresh network namespace: farm up, one client measurement, farm down."""
    farm.setup_namespace()
    meta = json.loads(Path(cfg["farm_json"]).read_text())
    meta["stubfarm"], meta["ceiling"] = cfg["stubfarm"], cfg["ceiling"]
    client_cpu, farm_cpu = farm.cpus()
    stats: dict[str, Any] = {}
    with farm.running_farm(meta, farm_cpu, stats):
        if cfg["tool"] == "c":
            cmd = farm.ceiling_command(meta, cfg["mode"], cfg["M"], cfg["K"])
        else:
            cmd = [sys.executable, __file__, "_measure", json.dumps(cfg)]
        p = subprocess.run(
            farm.pinned(cmd, client_cpu), capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
        )
    try:
        res = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        res = {"error": f"client exited {p.returncode} without a result", "stderr": p.stderr[-1500:]}
    if cfg["tool"] == "c" and "error" not in res:
        res = farm.ceiling_result(res)
    return {**res, "farm": stats}


# --- orchestration and the table ------------------------------------------------------------------------


def configs(a: argparse.Namespace, meta: dict[str, Any]) -> list[dict[str, Any]]:
    loops = [x for x in a.loops.split(",") if x]
    if "uvloop" in loops:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            print("bench: uvloop not importable, stdlib asyncio only", file=sys.stderr)
            loops.remove("uvloop")
    base = {
        "M": a.M,
        "K": a.K,
        "profile": a.profile,
        "farm_json": str(farm.WORK / "data" / "farm.json"),
        "stubfarm": meta["stubfarm"],
        "ceiling": meta["ceiling"],
    }
    waits = [float(x) for x in a.claims_wait.split(",") if x]
    out = []
    for tool in a.tools.split(","):
        if tool == "c" and meta["ceiling"] is None:
            continue
        for wait in waits if tool in ("swarmscope", "monitor") else [None]:
            for loop in ["-"] if tool == "c" else loops:
                for mode in a.modes.split(","):
                    out.append({**base, "tool": tool, "loop": loop, "mode": mode, "claims_wait": wait})
    return out


def run_all(a: argparse.Namespace) -> list[dict[str, Any]]:
    meta = farm.prepare()
    rows = []
    cfgs = configs(a, meta)
    for run in range(1, a.runs + 1):  # run 1 of every configuration, then run 2, ...: spreads drift
        for cfg in cfgs:
            cfg = {**cfg, "run": run}
            cmd = ["unshare", "-n", "--", sys.executable, __file__, "_one", json.dumps(cfg)]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT + 60)
                res = json.loads(p.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                res = {"error": "namespace run timed out"}
            except (IndexError, ValueError):
                res = {"error": f"namespace run exited {p.returncode}", "stderr": p.stderr[-1500:]}
            row = {k: cfg[k] for k in ("tool", "loop", "mode", "M", "K", "claims_wait", "run")} | res
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def _med(rows: list[dict[str, Any]], key: str) -> float | None:
    xs = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(xs) if xs else None


def _medians(rs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rs if r["completed"]]
    growth = [r["rss_growth_kb"] * 1024 / r["M"] for r in rs if r.get("rss_growth_kb") is not None]
    return {
        "rate": statistics.median(r["probes_per_s"] for r in rs),
        "cpu_us": statistics.median(r["cpu_s"] / r["completed"] * 1e6 for r in ok) if ok else None,
        "user_us": statistics.median(r["cpu_user_s"] / r["completed"] * 1e6 for r in ok) if ok else None,
        "per_peer": statistics.median(growth) if growth else None,
        "hwm_mib": (_med(rs, "vmhwm_kb") or 0) / 1024,
    }


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "-"


Key = tuple[str, float, str, str]  # tool, claims_wait (-1: not applicable), loop, mode


def _label(key: Key) -> str:
    return key[0] if key[1] < 0 else f"{key[0]} (claims_wait {key[1]:g} s)"


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: medians per (tool, claims_wait, loop, mode), then swarmscope's ratios to the ceilings."""
    groups: dict[Key, list[dict[str, Any]]] = {}
    for r in rows:
        if "error" not in r:
            wait = -1.0 if r.get("claims_wait") is None else r["claims_wait"]
            groups.setdefault((r["tool"], wait, r["loop"], r["mode"]), []).append(r)
    med: dict[Key, dict[str, Any]] = {}
    lines = [
        "| tool | loop | mode | runs | probes/s median (min–max) | completed | CPU µs/probe (user) "
        "| peak RSS MiB | RSS growth B/peer | outcomes (last run) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: (TOOLS.index(k[0]), -k[1], k[2], MODES.index(k[3]))):
        rs = groups[key]
        m = med[key] = _medians(rs)
        rates = [r["probes_per_s"] for r in rs]
        cpu = "-" if m["cpu_us"] is None else f"{m['cpu_us']:.0f} ({m['user_us']:.0f})"
        per_peer = "-" if m["per_peer"] is None else f"{m['per_peer']:,.0f}"
        aborted = " ABORTED" if any(r.get("aborted") for r in rs) else ""
        lines.append(
            f"| {_label(key)} | {key[2]} | {key[3]} | {len(rs)} | {m['rate']:,.0f} ({min(rates):,.0f}–"
            f"{max(rates):,.0f}){aborted} | {_med(rs, 'completed'):,.0f} | {cpu} | {m['hwm_mib']:.0f} "
            f"| {per_peer} | {json.dumps(rs[-1].get('outcomes', {}))} |"
        )
    lines += [
        "",
        "| measured | loop | mode | probes/s ÷ raw (same loop) | ÷ raw uvloop | ÷ C "
        "| CPU/probe × raw (same loop) | × raw uvloop | × C | user CPU/probe × raw (same loop) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, m in med.items():
        tool, _wait, loop, mode = key
        if tool not in ("swarmscope", "monitor"):
            continue
        refs = [
            med.get(("raw", -1.0, loop, mode)),
            med.get(("raw", -1.0, "uvloop", mode)),
            med.get(("c", -1.0, "-", mode)),
        ]
        rate_ratios = " | ".join(_ratio(m["rate"], x["rate"] if x else None) for x in refs)
        cpu_ratios = " | ".join(_ratio(m["cpu_us"], x["cpu_us"] if x else None) for x in refs)
        user_ratio = _ratio(m["user_us"], refs[0]["user_us"] if refs[0] else None)
        lines.append(f"| {_label(key)} | {loop} | {mode} | {rate_ratios} | {cpu_ratios} | {user_ratio} |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[:1] == ["_measure"]:
        print(json.dumps(measure(json.loads(argv[1]))), flush=True)
        return
    if argv[:1] == ["_one"]:
        print(json.dumps(one(json.loads(argv[1]))), flush=True)
        return
    ap = argparse.ArgumentParser(prog="bench/probe.py", description=__doc__.splitlines()[0])
    ap.add_argument("--M", type=int, default=5000, help="distinct farm peers probed per measurement")
    ap.add_argument("--K", type=int, default=100, help="probes in flight")
    ap.add_argument("--runs", type=int, default=3, help="runs of every measurement (medians are reported)")
    ap.add_argument(
        "--modes", default="hs,block", help="hs = handshake + bitfield; block = + one verified block"
    )
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--loops", default="asyncio,uvloop", help="event loops for the Python tools")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="cProfile each Python measurement (slower; figures not comparable): bench/.work/profile-*",
    )
    ap.add_argument(
        "--claims-wait",
        default="0.2,0",
        help="ProbePolicy.claims_wait values (s, comma-separated): how long swarmscope waits for piece "
        "claims from a peer that claims none (a third of the farm); 0 isolates the engine's own cost",
    )
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit(
            "bench/probe.py needs root (unshare -n: a private network namespace per measurement)"
        )
    rows = run_all(a)
    print()
    print(table(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
