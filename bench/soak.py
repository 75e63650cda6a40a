"""Soak: the real monitor against the stub farm for N minutes, memory and file descriptors sampled throughout.

A leak shows as growth over time, not as a slow run, so this measures growth (run it niced on a shared
machine). Usage (the repo's venv python, root for ``unshare -n``)::

    python bench/soak.py [--minutes 30] [--sample 60] [--M 2000] [--K 100] [--reprobe 20] [--warmup 5]

What runs (bench/README.md "Soak"): in a fresh private network namespace (loopback only) the stub farm of
``bench/farm.py`` and, in its own process, ``Monitor`` with an SQLite store (temp dir, migrated, node key,
captures on: the full evidence path of ``bench/probe.py``'s ``monitor`` tool). The M farm peers are handed
to it once; its plan then re-probes each every ``--reprobe`` seconds, so it works the whole time. Every
``--sample`` seconds the monitor process reports one JSON line: VmRSS and Threads from /proc/PID/status,
open fds from /proc/PID/fd (sockets and other files apart), asyncio tasks, observations committed, records
pending in the ledger writer, peers in the plan, database size.

The bound (stated, checked against the samples taken after ``--warmup`` minutes; the first such sample is
the baseline): RSS at the end ≤ baseline + max(10 %, 20 MiB); non-socket fds within baseline ± 10 at every
sample; sockets ≤ K + 10 at every sample (K probes in flight, each one socket). The last line is exactly
``soak: minutes=N rss_start_mib=A rss_end_mib=B fds_start=C fds_end=D verdict=ok|grew``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import farm
import probe
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

RSS_GROWTH_FRACTION = 0.10  # of the baseline RSS ...
RSS_GROWTH_MIB = 20.0  # ... or this many MiB, whichever is larger
STAGGER = 20  # the peers are handed over in this many slices over the first re-probe interval
FDS_SLACK = 10  # non-socket fds: baseline ± this; sockets: ≤ K + this
STOP_S = 90.0  # the monitor's shutdown (final commit) may take this long
SLACK_S = 300.0  # the whole namespace run: minutes × 60 + this, then it is killed by its PID


# --- inside the monitor's process --------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (KiB) and Threads of ``pid`` from /proc/PID/status."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    return out


def proc_fds(pid: int) -> tuple[int, int]:
    """(open fds, of which sockets) of ``pid`` from /proc/PID/fd; an fd closed while listed is skipped."""
    fds = sockets = 0
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue
        fds += 1
        sockets += target.startswith("socket:")
    return fds, sockets


def sample(t0: float, mon: Any, counting: Any, db: Path, warnings: Counter[str]) -> dict[str, Any]:
    """One sample of this process and its monitor (the JSON line's fields; sizes in KiB, time in s)."""
    pid = os.getpid()
    status, (fds, sockets) = proc_status(pid), proc_fds(pid)
    writer = mon.evidence.writer
    db_bytes = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return {
        "t_s": round(time.monotonic() - t0, 1),
        "rss_kib": status.get("VmRSS"),
        "hwm_kib": status.get("VmHWM"),
        "threads": status.get("Threads"),
        "fds": fds,
        "sockets": sockets,
        "files": fds - sockets,
        "tasks": len(asyncio.all_tasks()),
        "committed": counting.committed,
        "pending": writer.pending if writer is not None else None,
        "lost": writer.lost if writer is not None else None,
        "plan_peers": len(mon.plan.peers),
        "db_mib": round(db_bytes / 2**20, 1),
        "warnings": sum(warnings.values()),
    }


async def feed(mon: Any, swarm: str, cfg: dict[str, Any], source: Any) -> None:
    """Hand the M farm peers over in STAGGER slices spread over one re-probe interval.

    The plan re-probes each peer ``reprobe`` seconds after its last probe, so staggered first probes keep
    the monitor busy all the time instead of in one burst per interval.
    """
    m, slices = cfg["M"], min(STAGGER, cfg["M"])
    for k in range(slices):
        chunk = range(k * m // slices, (k + 1) * m // slices)
        mon.discovered(swarm, [(farm.peer_address(i), farm.PORT, None) for i in chunk], source, "soak")
        await asyncio.sleep(cfg["reprobe"] / slices)


async def soak_monitor(cfg: dict[str, Any]) -> None:
    """The monitor on the farm for cfg["minutes"], a sample line every cfg["sample"] seconds, then stop."""
    from swarmscope.evidence.records import Source
    from swarmscope.monitor.config import MonitorConfig
    from swarmscope.monitor.crawler import Monitor
    from swarmscope.monitor.plan import PlanPolicy
    from swarmscope.store.database import open_store

    meta = json.loads(Path(cfg["farm_json"]).read_text())
    parts = probe._engine_parts({**cfg, "claims_wait": 0.2}, meta)
    tmp = Path(tempfile.mkdtemp(prefix="swarmscope-soak-"))
    db = tmp / "soak.db"
    store = open_store(str(db), node_key=Ed25519PrivateKey.generate())
    counting = probe.CountingStore(store, Counter(), 2**62, asyncio.Event())
    config = MonitorConfig(
        peer_id=parts["peer_id"],
        max_peers=cfg["K"],
        probe=parts["policy"],
        plan=PlanPolicy(
            reprobe_interval=cfg["reprobe"],
            retry_after_failure=cfg["reprobe"],
            max_peers_per_swarm=max(PlanPolicy().max_peers_per_swarm, cfg["M"]),  # all of them in one swarm
        ),
    )
    warnings: Counter[str] = Counter()
    stop = asyncio.Event()

    def warn(msg: str) -> None:
        warnings[msg[:80]] += 1

    mon = Monitor([parts["target"]], counting, config, on_warning=warn, leads_from_caller=True)
    runner = asyncio.create_task(mon.run(stop))
    try:
        for _ in range(1000):  # until the run row, the writer and the swarm row exist (bounded: 10 s)
            if mon.run_id is not None and mon.stats and mon.evidence.writer is not None:
                break
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        feeder = asyncio.create_task(feed(mon, parts["target"].swarm, cfg, Source.TRACKER))
        end = t0 + cfg["minutes"] * 60
        for n in range(int(cfg["minutes"] * 60 / cfg["sample"]) + 2):  # bounded by the sample count
            print(json.dumps(sample(t0, mon, counting, db, warnings)), flush=True)
            if runner.done() or time.monotonic() >= end - 0.5:
                break
            await asyncio.sleep(min(cfg["sample"], max(0.0, t0 + (n + 1) * cfg["sample"] - time.monotonic())))
        await feeder
    finally:
        stop.set()
        await asyncio.wait_for(runner, STOP_S)
        writer = mon.evidence.writer
        final = {"final": True, "committed": counting.committed, "lost": writer.lost if writer else None}
        print(json.dumps(final | {"warnings": dict(warnings.most_common(5))}), flush=True)
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --- inside the namespace: farm up, the monitor process, farm down ------------------------------------------


def in_namespace(cfg: dict[str, Any]) -> None:
    """Loopback up, the farm, the monitor in its own process (its lines go straight to our stdout)."""
    farm.setup_namespace()
    meta = json.loads(Path(cfg["farm_json"]).read_text())
    meta["stubfarm"] = cfg["stubfarm"]
    client_cpu, farm_cpu = farm.cpus()
    stats: dict[str, Any] = {}
    budget = cfg["minutes"] * 60 + STOP_S + 60
    with farm.running_farm(meta, farm_cpu, stats, run_limit_s=budget + 30):
        cmd = farm.pinned([sys.executable, __file__, "_monitor", json.dumps(cfg)], client_cpu)
        p = subprocess.Popen(cmd)
        try:
            p.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=15)
    print(json.dumps({"farm": stats, "monitor_exit": p.returncode}), flush=True)


# --- the caller: stream the samples, then the table and the verdict ----------------------------------------


def run_soak(a: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the namespace process; echo and collect its JSON lines. Killed by PID when over its budget."""
    meta = farm.prepare()
    cfg = {k: getattr(a, k) for k in ("minutes", "sample", "M", "K", "reprobe")}
    cfg |= {"mode": "block", "farm_json": str(farm.WORK / "data" / "farm.json"), "stubfarm": meta["stubfarm"]}
    cmd = ["unshare", "-n", "--", sys.executable, __file__, "_ns", json.dumps(cfg)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(a.minutes * 60 + SLACK_S, p.kill)
    watchdog.start()
    lines: list[dict[str, Any]] = []
    try:
        assert p.stdout is not None
        for line in p.stdout:  # ends at EOF: the namespace process exited (or the watchdog killed it)
            if line.startswith("{"):
                print(line, end="", flush=True)
                lines.append(json.loads(line))
        p.wait(timeout=30)
    finally:
        watchdog.cancel()
        if p.poll() is None:
            p.kill()
            p.wait(timeout=15)
    return lines


def verdict(samples: list[dict[str, Any]], warmup_s: float, k: int) -> tuple[dict[str, Any], list[str]]:
    """The baseline sample (first at or after ``warmup_s``) and the bounds it broke (empty: ok)."""
    later = [s for s in samples if s["t_s"] >= warmup_s] or samples[-1:]
    base, end = later[0], later[-1]
    broke = []
    allowed_kib = max(base["rss_kib"] * RSS_GROWTH_FRACTION, RSS_GROWTH_MIB * 1024)
    if end["rss_kib"] - base["rss_kib"] > allowed_kib:
        grew_mib = (end["rss_kib"] - base["rss_kib"]) / 1024
        broke.append(f"RSS grew {grew_mib:.1f} MiB > {allowed_kib / 1024:.1f}")
    if any(abs(s["files"] - base["files"]) > FDS_SLACK for s in later):
        broke.append(f"non-socket fds left {base['files']} ± {FDS_SLACK}")
    if any(s["sockets"] > k + FDS_SLACK for s in samples):
        broke.append(f"sockets above K + {FDS_SLACK} = {k + FDS_SLACK}")
    return base, broke


def table(samples: list[dict[str, Any]]) -> str:
    """Markdown: one row per sample."""
    rows = [
        "| t (min) | RSS MiB | fds (sockets) | threads | tasks | committed obs | writer pending | DB MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in samples:
        rows.append(
            f"| {s['t_s'] / 60:.1f} | {s['rss_kib'] / 1024:.1f} | {s['fds']} ({s['sockets']}) "
            f"| {s['threads']} | {s['tasks']} | {s['committed']:,} | {s['pending']} | {s['db_mib']} |"
        )
    return "\n".join(rows)


def report(a: argparse.Namespace, lines: list[dict[str, Any]]) -> int:
    """Table, bounds and the last line; exit status 0 when within the bound, 1 otherwise."""
    samples = [x for x in lines if "t_s" in x]
    final = next((x for x in lines if x.get("final")), {})
    if len(samples) < 2 or not final:
        print(f"soak: the monitor did not run to the end ({len(samples)} samples, no final line)")
        return 1
    base, broke = verdict(samples, a.warmup * 60, a.K)
    print("\n" + table(samples) + "\n")
    print(
        f"bound: from t={base['t_s'] / 60:.1f} min RSS ≤ +max({RSS_GROWTH_FRACTION:.0%}, "
        f"{RSS_GROWTH_MIB:g} MiB), "
        f"non-socket fds ± {FDS_SLACK}, sockets ≤ K + {FDS_SLACK}; committed={final['committed']:,} "
        f"lost={final['lost']} " + ("; ".join(broke) if broke else "within bound")
    )
    end = samples[-1]
    print(
        f"soak: minutes={a.minutes:g} rss_start_mib={base['rss_kib'] / 1024:.1f} "
        f"rss_end_mib={end['rss_kib'] / 1024:.1f} fds_start={base['fds']} fds_end={end['fds']} "
        f"verdict={'grew' if broke else 'ok'}"
    )
    return 1 if broke else 0


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "_monitor":
        asyncio.run(soak_monitor(json.loads(sys.argv[2])))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "_ns":
        in_namespace(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="how long the monitor runs")
    ap.add_argument("--sample", type=float, default=60.0, help="seconds between samples")
    ap.add_argument("--M", type=int, default=2000, help="farm peers monitored")
    ap.add_argument("--K", type=int, default=100, help="probes in flight (MonitorConfig.max_peers)")
    ap.add_argument("--reprobe", type=float, default=20.0, help="seconds between probes of one peer")
    ap.add_argument("--warmup", type=float, default=5.0, help="minutes before the baseline sample")
    a = ap.parse_args()
    if a.minutes <= 0 or a.sample <= 0 or a.M < 1 or a.K < 1 or a.reprobe <= 0:
        raise SystemExit("soak: --minutes, --sample, --M, --K and --reprobe must be positive")
    if os.geteuid() != 0:
        raise SystemExit("soak: needs root (each run is in its own unshare -n network namespace)")
    sys.exit(report(a, run_soak(a)))


if __name__ == "__main__":
    main()
