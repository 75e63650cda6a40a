"""The "Hurt Locker" benchmark: M farm peers verified by a hash-checked block, committed as sealed evidence.

One command (``make bench``; root for ``unshare -n``; see bench/README.md "Hurt Locker")::

    python bench/hurtlocker.py [--M 50000] [--K 100] [--runs 1] [--tools c,libtorrent,monitor]
                               [--loop uvloop|asyncio] [--farm seed|mix] [--lt-window 60]
                               [--profile] [--stages] [--kill-after S | --kill-at-peers N] [--keep-db]
                               [--writer-process [--writer-cpus] [--kill-writer-after S]]

builds the stub farm and the C ceiling (``bench/farm.py``), then per run, each tool in its own fresh private
network namespace (loopback only) with a fresh farm pinned to CPU 1 and the client pinned to CPU 0:

* ``c``: ``ceiling.c -m block``: connect, handshake, bitfield, one 16 KiB block checked by SHA-1, RST close.
* ``libtorrent``: ``lt_monitor.py`` (libtorrent 2.1.1 as a naive monitor, the farm's distinct handshakes
  as ground truth, window ``--lt-window`` s).
* ``monitor``: swarmscope's ``Monitor`` with an SQLite store and a fresh Ed25519 node key: every peer
  handed over with ``Monitor.discovered`` (a tracker reply is cut to 200 peers), captures on,
  ``Depth.VERIFIED``; timed from the hand-over until all M peers' observations are committed in sealed
  batches (``bench/evidence_path.py``).
  Afterwards, outside the namespace: ``swarmscope verify --db`` on the database, and an SQL count of the
  distinct peers whose sealed observation is ``verified`` and names a stored capture.

Prints one JSON line per measurement, a Markdown table per run, and as its LAST line::

    hurtlocker: vs_c=R vs_libtorrent=R committed=N/M verify=ok|failed seconds=S

R = the monitor's committed peers per second ÷ the C ceiling's (÷ libtorrent's handshaked peers per
second); with several runs, medians of the runs' ratios and seconds, the fewest committed, ``ok`` only when
every run's database verified. Exit status 0 whether or not the goals are met (it is a benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import farm
from crashkill import KILL_CAP_S, killed, probes_ended, writer_ended
from evidence_path import PROBE_PIDS, WRITER_PID, check_database

GOAL_SECONDS, GOAL_VS_C, GOAL_VS_LT = 6.0, 0.5, 7.0  # issue goals at M = 50,000 (README "Performance")
TOOLS = ("c", "libtorrent", "monitor")
NS_TIMEOUT = 600  # seconds for one namespace run (the farm's own -T limit is below it)
DB_DIR = farm.WORK / "hurtlocker"
HERE = Path(__file__).resolve().parent


# --- inside the namespace ----------------------------------------------------------------------------------


def one(cfg: dict[str, Any]) -> dict[str, Any]:
    """Inside a fresh network namespace: farm up (``-b`` behaviour), one client, farm down by PID."""
    farm.setup_namespace()
    meta = json.loads(Path(cfg["farm_json"]).read_text())
    meta["stubfarm"], meta["ceiling"] = cfg["stubfarm"], cfg["ceiling"]
    client_cpu, farm_cpu = farm.cpus()
    stats: dict[str, Any] = {}
    limit = cfg["lt_window"] + 120 if cfg["tool"] == "libtorrent" else 300
    with farm.running_farm(meta, farm_cpu, stats, limit, ["-b", cfg["farm"]], 0.1) as farm_stats:
        if cfg["tool"] == "c":
            cmd = farm.ceiling_command(meta, "block", cfg["M"], cfg["K"])
        elif cfg["tool"] == "libtorrent":
            cmd = [
                sys.executable,
                str(farm.REFS / "lt_monitor.py"),
                "-M",
                str(cfg["M"]),
                "--meta",
                cfg["farm_json"],
                "--window",
                str(cfg["lt_window"]),
                "--farm-stats",
                str(farm_stats),
            ]
        else:
            cmd = [sys.executable, str(HERE / "evidence_path.py"), json.dumps(cfg)]
        env = dict(os.environ)
        if cfg["tool"] == "monitor" and cfg.get("malloc_top_pad"):
            env["MALLOC_TOP_PAD_"] = str(cfg["malloc_top_pad"])  # glibc reads it at process start
        if cfg["tool"] == "monitor" and cfg.get("deflate_ab"):
            env |= deflate_ab_env(env, cfg["deflate_ab"])
        if cfg["tool"] == "monitor" and (cfg.get("kill_after") or cfg.get("kill_at_peers")):
            res = killed(
                farm.pinned(cmd, client_cpu), env, cfg.get("kill_after"), cfg.get("kill_at_peers"), cfg["db"]
            )
            ended = writer_ended(Path(cfg["db"] + WRITER_PID)) | probes_ended(Path(cfg["db"] + PROBE_PIDS))
            return {**res, **ended, "farm": stats}
        p = subprocess.run(
            farm.pinned(cmd, client_cpu), capture_output=True, text=True, timeout=NS_TIMEOUT - 60, env=env
        )
    try:
        res = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"client exited {p.returncode} without a result", "stderr": p.stderr[-1500:]}
    if cfg["tool"] == "c":
        res = farm.ceiling_result(res)
    elif cfg["tool"] == "libtorrent":
        res = {
            k: res.get(k)
            for k in (
                "probes_per_s",
                "completed",
                "elapsed_s",
                "t_all_farm_s",
                "probes_per_s_basis",
                "probes_per_s_until_plateau",
                "farm_crossings",
                "vmhwm_kb",
                "cpu_user_s_window",
                "cpu_sys_s_window",
                "progress",
            )
        }
    return {**res, "farm": stats}


# --- orchestration, table, last line ---------------------------------------------------------------------


def deflate_ab_env(env: dict[str, str], out_dir: str) -> dict[str, str]:
    """The monitor's environment for ``--deflate-ab``: bench/deflate_ab first on ``PYTHONPATH`` (its
    ``sitecustomize`` runs in every process the monitor starts), its reports written to ``out_dir``."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for old in Path(out_dir).glob("deflate-ab-*.json"):
        old.unlink()
    path = os.pathsep.join(p for p in (str(HERE / "deflate_ab"), env.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "SWARMSCOPE_DEFLATE_AB": out_dir}


def deflate_ab_reports(out_dir: Path) -> list[dict[str, Any]]:
    """Every monitor process's ``--deflate-ab`` report (bench/deflate_ab), the process that compressed the
    most captures first."""
    reports = [json.loads(p.read_text()) for p in sorted(out_dir.glob("deflate-ab-*.json"))]
    return sorted(reports, key=lambda r: -int(r["captures"]))


def deflate_ab_lines(res: dict[str, Any]) -> list[str]:
    """One line per monitor process of its ``--deflate-ab`` report: µs of thread CPU per capture by variant
    (when it went first), compressed ÷ body size."""
    return [
        f"deflate-ab (a process, {r['captures']:,} captures): "
        + ", ".join(
            f"{name} {v['cpu_us']} µs (first {v['first_cpu_us']}) ×{v['out_over_in']}"
            for name, v in r.items()
            if name != "captures"
        )
        for r in res.get("deflate_ab") or []
    ]


def run_once(a: argparse.Namespace, meta: dict[str, Any], run: int) -> dict[str, dict[str, Any]]:
    """One run: every tool in its own namespace, then the monitor's database checked. tool -> result."""
    DB_DIR.mkdir(parents=True, exist_ok=True)
    db = DB_DIR / f"run{run}-M{a.M}.db"
    for leftover in DB_DIR.glob(db.name + "*"):
        leftover.unlink()
    base = {
        "M": a.M,
        "K": a.K,
        "farm": a.farm,
        "loop": a.loop,
        "lt_window": a.lt_window,
        "run": run,
        "farm_json": str(farm.WORK / "data" / "farm.json"),
        "ceiling": meta["ceiling"],
        "stubfarm": meta["stubfarm"],
        "db": str(db),
        "profile": a.profile,
        "stages": a.stages,
        "claims_wait": a.claims_wait,
        "deadline": a.deadline,
        "switch_interval": a.switch_interval,
        "malloc_top_pad": a.malloc_top_pad,
        "kill_after": a.kill_after,
        "kill_at_peers": a.kill_at_peers,
        "writer_process": a.writer_process,
        "writer_cpus": a.writer_cpus,
        "kill_writer_after": a.kill_writer_after,
        "probe_processes": a.probe_processes,
        "kill_probe_after": a.kill_probe_after,
        "deflate_ab": str(farm.WORK / f"deflate-ab-run{run}") if a.deflate_ab else None,
    }
    results: dict[str, dict[str, Any]] = {}
    for tool in a.tools.split(","):
        if tool == "c" and meta["ceiling"] is None:
            continue
        cfg = {**base, "tool": tool}
        cmd = ["unshare", "-n", "--", sys.executable, __file__, "_one", json.dumps(cfg)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=NS_TIMEOUT)
            res = json.loads(p.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            res = {"error": "namespace run timed out"}
        except (IndexError, ValueError):
            res = {"error": f"namespace run exited {p.returncode}", "stderr": p.stderr[-1500:]}
        if tool == "monitor" and not db.is_file():
            res |= {"verify": "failed", "verify_problems": 1, "verify_note": f"no database at {db}"}
        elif tool == "monitor":
            res |= check_database(db)
            if base["deflate_ab"]:
                res["deflate_ab"] = deflate_ab_reports(Path(base["deflate_ab"]))
            if not a.keep_db:
                for path in DB_DIR.glob(db.name + "*"):
                    path.unlink()
        results[tool] = res
        print(json.dumps({"tool": tool, "run": run, "M": a.M, "K": a.K} | res), flush=True)
    return results


def _rate(res: dict[str, Any] | None) -> float | None:
    return (
        None if res is None or "error" in res or not res.get("probes_per_s") else float(res["probes_per_s"])
    )


def _cpu_per_peer(res: dict[str, Any] | None) -> float | None:
    """CPU seconds (user + sys, all threads) per reached peer; libtorrent's over its whole window."""
    if res is None or "error" in res or not res.get("completed"):
        return None
    cpu = res.get("cpu_s")
    if cpu is None:
        cpu = (res.get("cpu_user_s_window") or 0) + (res.get("cpu_sys_s_window") or 0)
    return float(cpu) / res["completed"] if cpu else None


def _lt_rate(res: dict[str, Any] | None) -> float | None:
    """libtorrent's handshaked peers per second: up to its plateau when it stopped short of M.

    libtorrent keeps every connection open, so it stalls near the open-file limit (20,000 here) short of
    M = 50,000 (``../shared/bench/README.md``); only when its download completes does it drop the seeds and
    dial on. ``reached / window`` would count the stall against it: the rate up to the plateau is the one in
    its favour, and the one compared.
    """
    if res is None or "error" in res:
        return None
    plateau = res.get("probes_per_s_until_plateau")
    return float(plateau) if plateau and res.get("t_all_farm_s") is None else _rate(res)


def summary(res: dict[str, dict[str, Any]], m: int) -> dict[str, Any]:
    """The run's ratios and the monitor's committed / verify / seconds figures.

    ``cpu_vs_c``: the C ceiling's CPU per peer ÷ the monitor's; on a machine shared with other work the
    wall-clock ratio moves with their load, the CPU ratio much less (printed beside, never in the last line).
    """
    mon, c, lt = _rate(res.get("monitor")), _rate(res.get("c")), _lt_rate(res.get("libtorrent"))
    monitor = res.get("monitor", {})
    mon_cpu, c_cpu = _cpu_per_peer(res.get("monitor")), _cpu_per_peer(res.get("c"))
    return {
        "cpu_vs_c": c_cpu / mon_cpu if mon_cpu and c_cpu else None,
        "vs_c": mon / c if mon and c else None,
        "vs_libtorrent": mon / lt if mon and lt else None,
        "committed": int(monitor.get("verified_peers") or 0),
        "verify": monitor.get("verify", "failed"),
        "seconds": monitor.get("elapsed_s"),
        "M": m,
    }


def run_table(res: dict[str, dict[str, Any]], run: int) -> str:
    """Markdown: one row per tool of one run."""
    lines = [
        f"run {run}:",
        "| tool | peers/s | reached | elapsed s | CPU µs/peer (user) | peak RSS MiB | RSS growth B/peer "
        "| verified + committed | verify |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for tool, r in res.items():
        if "error" in r:
            lines.append(f"| {tool} | error: {r['error']} | | | | | | | |")
            continue
        done = r.get("completed") or 0
        cpu = (
            r.get("cpu_s")
            if tool != "libtorrent"
            else (r.get("cpu_user_s_window") or 0) + (r.get("cpu_sys_s_window") or 0)
        )
        user = r.get("cpu_user_s") if tool != "libtorrent" else r.get("cpu_user_s_window")
        per = f"{cpu / done * 1e6:.0f} ({(user or 0) / done * 1e6:.0f})" if done and cpu else "-"
        growth = r.get("rss_growth_kb")
        growth_s = f"{growth * 1024 / done:,.0f}" if growth and done else "-"
        committed = (
            f"{r['verified_peers']:,} ({r['committed_peers']:,} reached)" if "verified_peers" in r else "-"
        )
        elapsed = r.get("elapsed_s") if tool != "libtorrent" else r.get("t_all_farm_s") or r.get("elapsed_s")
        lines.append(
            f"| {tool} | {(_lt_rate(r) if tool == 'libtorrent' else r.get('probes_per_s')) or 0:,.0f} "
            f"| {done:,} | {elapsed} | {per} "
            f"| {(r.get('vmhwm_kb') or 0) / 1024:.0f} | {growth_s} | {committed} | {r.get('verify', '-')} |"
        )
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def last_line(sums: list[dict[str, Any]]) -> str:
    """``hurtlocker: vs_c=R vs_libtorrent=R committed=N/M verify=ok|failed seconds=S`` over the runs."""

    def med(key: str) -> float | None:
        xs = [s[key] for s in sums if s[key] is not None]
        return statistics.median(xs) if xs else None

    committed = min(s["committed"] for s in sums)
    verify = "ok" if all(s["verify"] == "ok" for s in sums) else "failed"
    seconds = med("seconds")
    took = "-" if seconds is None else f"{seconds:.2f}"
    return (
        f"hurtlocker: vs_c={_fmt(med('vs_c'))} vs_libtorrent={_fmt(med('vs_libtorrent'))} "
        f"committed={committed}/{sums[0]['M']} verify={verify} seconds={took}"
    )


def goals(sums: list[dict[str, Any]], results: list[dict[str, dict[str, Any]]]) -> list[str]:
    """The issue's four goals beside what this command measured (and which have no measurement yet)."""
    out = []
    for s in sums:
        out.append(
            f"goal 1 (M={s['M']}): seconds {s['seconds']} (goal <= {GOAL_SECONDS:g} at 50,000), vs_c "
            f"{_fmt(s['vs_c'])} (goal >= {GOAL_VS_C}), vs_libtorrent {_fmt(s['vs_libtorrent'])} "
            f"(goal >= {GOAL_VS_LT:g}), verified+committed {s['committed']}/{s['M']}, verify {s['verify']}; "
            f"CPU per peer: C ÷ monitor {_fmt(s['cpu_vs_c'])}"
        )
    growth = [
        r["monitor"]["rss_growth_kb"] * 1024 / r["monitor"]["completed"]
        for r in results
        if r.get("monitor", {}).get("completed") and r["monitor"].get("rss_growth_kb") is not None
    ]
    if growth:
        out.append(
            f"goal 2 (<= 1 KiB per tracked peer at 1,000,000 peers / 1,000 swarms): not measured here "
            f"(bench/memory.py measures it, run it alone); this run's monitor RSS growth: "
            f"{statistics.median(growth):,.0f} B per peer at M={sums[0]['M']}"
        )
    out.append(
        "goal 3 (DHT >= 30,000 KRPC/s per core beside raw UDP): bench/dht.py measures it (run it alone)"
    )
    out.append("goal 4 (1,000 swarms, re-probe lag distribution): bench/swarms.py measures it (run it alone)")
    return out


def main(argv: list[str]) -> None:
    if argv[:1] == ["_one"]:
        print(json.dumps(one(json.loads(argv[1]))), flush=True)
        return
    ap = argparse.ArgumentParser(prog="bench/hurtlocker.py", description=__doc__.splitlines()[0])
    ap.add_argument("--M", type=int, default=50_000, help="distinct farm peers (127.1.0.1 + i)")
    ap.add_argument("--K", type=int, default=100, help="probes in flight (C: -K; monitor: max_peers)")
    ap.add_argument("--runs", type=int, default=1, help="runs (each measures all tools)")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"), help="the monitor's loop")
    ap.add_argument(
        "--farm",
        default="seed",
        choices=("seed", "mix"),
        help="stubfarm -b: seed = every peer holds every piece (each can be verified)",
    )
    ap.add_argument("--lt-window", type=float, default=60.0, help="seconds libtorrent gets (lt_monitor.py)")
    ap.add_argument(
        "--claims-wait", type=float, default=None, help="ProbePolicy.claims_wait (s); default kept"
    )
    ap.add_argument("--deadline", type=float, default=240.0, help="seconds the monitor may take at most")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the loop thread and the writer's commits: bench/.work/hurtlocker-profile-*",
    )
    ap.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval in the monitor's process (s; Python's default 0.005): how long the "
        "event loop may wait for the GIL while the writer thread runs",
    )
    ap.add_argument(
        "--malloc-top-pad",
        type=int,
        default=None,
        help="MALLOC_TOP_PAD_ (bytes) for the monitor's process: whether glibc returning the heap after "
        "every free makes each capture's deflate set-up expensive (docs/performance.md)",
    )
    ap.add_argument(
        "--kill-after",
        type=float,
        default=None,
        help="SIGKILL the monitor this many seconds into its run, then verify what it committed "
        "(crash safety; no rate is measured)",
    )
    ap.add_argument(
        "--kill-at-peers",
        type=int,
        default=None,
        help="SIGKILL the monitor once this many observations are committed (polled; at most "
        f"{KILL_CAP_S:g} s), then verify what it committed: a kill mid-run on any machine",
    )
    ap.add_argument(
        "--writer-process",
        action="store_true",
        help="the evidence writer in its own process (monitor --writer-process); its CPU is counted",
    )
    ap.add_argument(
        "--writer-cpus",
        action="store_true",
        help="with --writer-process: the writer may run on every CPU (the monitor stays on the client's)",
    )
    ap.add_argument(
        "--kill-writer-after",
        type=float,
        default=None,
        help="with --writer-process: SIGKILL the writer process this many seconds after the hand-over; a "
        "new one must take over and every peer still be committed once",
    )
    ap.add_argument(
        "--probe-processes",
        type=int,
        default=1,
        help="monitor --probe-processes N: N processes probe (the coordinator pinned to the client's CPU, "
        "the others on every CPU), one writer process; their CPU is counted",
    )
    ap.add_argument(
        "--kill-probe-after",
        type=float,
        default=None,
        help="with --probe-processes: SIGKILL probe process 1 this many seconds after the hand-over; what "
        "was committed must verify (no rate is measured)",
    )
    ap.add_argument("--stages", action="store_true", help="time the evidence path's stages (bench/stages.py)")
    ap.add_argument(
        "--deflate-ab",
        action="store_true",
        help="every capture compressed by every variant of bench/deflate_ab (thread CPU per capture in "
        "each monitor process; the captures keep the format's bytes)",
    )
    ap.add_argument("--keep-db", action="store_true", help="keep bench/.work/hurtlocker/runN-MM.db")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench/hurtlocker.py needs root (unshare -n: a private network namespace per tool)")
    if a.loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            print("hurtlocker: uvloop not importable, stdlib asyncio", file=sys.stderr)
            a.loop = "asyncio"
    t0 = time.monotonic()
    meta = farm.prepare()
    results = [run_once(a, meta, run) for run in range(1, a.runs + 1)]
    sums = [summary(r, a.M) for r in results]
    print()
    for run, res in enumerate(results, 1):
        print(run_table(res, run))
        for line in deflate_ab_lines(res.get("monitor", {})):
            print(line)
        print(last_line([sums[run - 1]]).replace("hurtlocker:", f"run {run}:"))
        print()
    for line in goals(sums, results):
        print(line)
    print(f"(wall {time.monotonic() - t0:.0f} s for the whole command)")
    print(last_line(sums))


if __name__ == "__main__":
    main(sys.argv[1:])
