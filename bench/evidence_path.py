"""The evidence path of the Hurt Locker benchmark: the monitor on the farm, and its database checked.

``python bench/evidence_path.py CFG_JSON`` runs inside the benchmark's network namespace, pinned to one CPU
(``bench/hurtlocker.py`` starts it): swarmscope's ``Monitor`` with an SQLite store and a fresh Ed25519 node
key, every one of the M farm peers handed over with ``Monitor.discovered``, captures on, ``Depth.VERIFIED``;
timed from the hand-over until every peer's observation is committed in a sealed batch. Prints one JSON
line. :func:`check_database` then runs outside the namespace: ``swarmscope verify --db`` and an SQL count
of the committed peers.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import farm
import probe

STALL_S = 60.0  # the monitor is aborted when no sealed batch was committed for this long
WRITER_PID = ".writer-pid"  # beside the database: the writer process's PID (--writer-process)
PROBE_PIDS = ".probe-pids"  # beside the database: the other probe processes' PIDs (--probe-processes)
ACKED = ".acked"  # beside the database: "last_index head_hash_hex" of every batch acknowledged to the monitor


class CommitCounter(probe.CountingStore):
    """Counts distinct peers whose observation reached ``connected`` or better, once its sealed batch is
    committed (a peer observed twice counts once: ``done`` is set when every one of the M is in).

    ``profiler``: a second cProfile run around each commit, in the writer's thread (cProfile is per thread).
    """

    def __init__(self, *args: Any, profiler: Any = None) -> None:
        super().__init__(*args)
        self.profiler = profiler
        self.peers: set[str] = set()
        self.observations = 0
        self.acked: list[str] = []  # every sealed batch acknowledged (its COMMIT returned), any process's

    def acknowledged(self, sealed: Any) -> None:
        """Note a sealed batch whose COMMIT returned (the crash tests check each one is in the database)."""
        if sealed is not None:
            self.acked.append(f"{sealed.batch.last_index} {sealed.batch.head_hash.hex()}")

    def commit_evidence(self, run_id: int, **kw: Any) -> Any:
        from swarmscope.evidence.records import Observation, Tier

        if self.profiler is not None:
            self.profiler.enable()
        try:
            sealed = self.store.commit_evidence(run_id, **kw)  # returns after the COMMIT
        finally:
            if self.profiler is not None:
                self.profiler.disable()
        self.acknowledged(sealed)
        for obs in kw["records"]:
            if isinstance(obs, Observation):
                probe._tally(obs, self.tally)
                self.observations += 1
                if obs.tier >= Tier.CONNECTED:
                    self.peers.add(obs.ip)
        if len(self.peers) >= self.want:
            self.loop.call_soon_threadsafe(self.done.set)
        return sealed


async def monitor(cfg: dict[str, Any], tally: Counter[str], out: dict[str, Any]) -> None:
    """The whole evidence path on the farm: discovered() → plan → probe → capture → writer → sealed commit."""
    import cProfile

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from swarmscope.evidence.probe.run import Depth, ProbePolicy
    from swarmscope.evidence.records import Source
    from swarmscope.monitor.config import MonitorConfig
    from swarmscope.monitor.crawler import Monitor
    from swarmscope.monitor.plan import PlanPolicy
    from swarmscope.monitor.targets import load_target
    from swarmscope.store.database import open_store

    target = load_target(json.loads(Path(cfg["farm_json"]).read_text())["torrent"])
    key = Ed25519PrivateKey.generate()
    store = open_store(cfg["db"], node_key=key)
    done, stop = asyncio.Event(), asyncio.Event()
    out["writer_profiler"] = cProfile.Profile() if cfg.get("profile") else None
    shards = cfg.get("probe_processes") or 1
    with_writer = cfg.get("writer_process") or shards > 1
    ledger = await _writer_process(cfg, key, store, out) if with_writer else None
    # with probe processes the database is polled instead (their commits pass the coordinator as bytes)
    own_tally = tally if shards == 1 else Counter()
    counting = CommitCounter(ledger or store, own_tally, cfg["M"], done, profiler=out["writer_profiler"])
    policy = ProbePolicy(depth=Depth.VERIFIED)
    if cfg.get("claims_wait") is not None:
        policy = ProbePolicy(depth=Depth.VERIFIED, claims_wait=cfg["claims_wait"])
    peer_id = b"-SS0001-" + os.urandom(6).hex().encode()
    # the M peers of the one swarm are handed over at once, none verified yet: the plan's bound of peers
    # not verified per swarm (PlanPolicy.max_peers_per_swarm, README "Resource bounds") must hold them all
    plan = PlanPolicy(max_peers_per_swarm=max(PlanPolicy().max_peers_per_swarm, cfg["M"]))
    config = MonitorConfig(peer_id=peer_id, max_peers=cfg["K"], probe=policy, plan=plan)
    router = None
    if shards > 1:
        from swarmscope.monitor.probe_processes import ProbeProcesses

        torrent = json.loads(Path(cfg["farm_json"]).read_text())["torrent"]
        router = ProbeProcesses(
            shards, ledger, cfg["db"], [torrent], config, _stderr, on_committed=counting.acknowledged
        )
        out["router"] = router
    mon = Monitor(
        [target], store, config, on_warning=lambda _m: None, leads_from_caller=True, ledger=counting,
        router=router,
    )  # fmt: skip
    runner = asyncio.create_task(mon.run(stop))
    try:
        for _ in range(1000):  # until the run row and the swarm row exist (bounded: 10 s)
            if mon.run_id is not None and mon.stats and (router is None or len(router.pids) == shards - 1):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        for pid in [] if router is None else router.pids:  # the coordinator stays on the client's CPU
            os.sched_setaffinity(pid, set(range(os.cpu_count() or 1)))
        if router is not None:  # killed() waits for them after a kill
            Path(cfg["db"] + PROBE_PIDS).write_text(" ".join(map(str, router.pids)))
        peers: list[tuple[str, int, bytes | None]] = [
            (farm.peer_address(i), farm.PORT, None) for i in range(cfg["M"])
        ]
        out["t0"], out["cpu0"], out["user0"] = time.monotonic(), probe.cpu_s(), probe.user_s()
        out["writer0"] = writer_cpu(ledger)
        out["shards0"] = shards_cpu(router)
        poller = None
        if router is not None:
            poller = asyncio.create_task(_poll_committed(cfg["db"], cfg["M"], tally, done, out))
            if cfg.get("kill_probe_after"):
                asyncio.get_running_loop().call_later(cfg["kill_probe_after"], _kill_probe, router, out)
        out["rss0"] = probe.vm_kb("VmRSS") or 0
        if ledger is not None and cfg.get("kill_writer_after"):
            asyncio.get_running_loop().call_later(cfg["kill_writer_after"], _kill_writer, ledger, out)
        mon.discovered(target.swarm, peers, Source.TRACKER, "hurtlocker")
        await done.wait()
        out["t1"], out["cpu1"], out["user1"] = time.monotonic(), probe.cpu_s(), probe.user_s()
        out["writer1"] = writer_cpu(ledger)
        out["shards1"] = shards_cpu(router)
        if poller is not None:
            await poller
        out["rss1"] = probe.vm_kb("VmRSS") or 0
        if router is None:
            out["peers"], out["observations"] = len(counting.peers), counting.observations
    finally:
        stop.set()
        await asyncio.wait_for(runner, 120)
        if ledger is not None:
            out["writers_started"] = ledger.started
            ledger.close()
        if router is not None:
            out["probe_processes_started"] = router.started
        store.close()
        Path(cfg["db"] + ACKED).write_text("".join(f"{line}\n" for line in counting.acked))


def _stderr(message: str) -> None:
    print(f"monitor: {message}", file=sys.stderr, flush=True)


async def _poll_committed(
    db: str, want: int, tally: Counter[str], done: asyncio.Event, out: dict[str, Any]
) -> None:
    """With probe processes (their commits go through the coordinator's relay as bytes): read the
    committed observations from the database every 0.5 s, new rows only, until ``want`` distinct peers
    reached ``connected`` or better (their batch committed: SQLite shows committed rows only)."""
    import sqlite3

    peers: set[str] = set()
    last = 0

    def read() -> list[tuple[int, str, str]]:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as con:
            return con.execute(
                "SELECT rowid, ip, tier FROM observation WHERE rowid > ? AND ledger_index IS NOT NULL"
                " ORDER BY rowid",
                (last,),
            ).fetchall()

    while not done.is_set():
        await asyncio.sleep(0.5)
        for rowid, ip, tier in await asyncio.to_thread(read):
            last = rowid
            tally[tier] += 1
            if tier != "listed":
                peers.add(ip)
        out["peers"], out["observations"] = len(peers), sum(tally.values())
        if len(peers) >= want:
            done.set()


def shards_cpu(router: Any) -> tuple[float, float]:
    """(user, system) CPU seconds of the probe processes (0, 0 without them), from /proc."""
    pids = [] if router is None else router.pids
    times = [_proc_cpu(pid) for pid in pids]
    return sum(t[0] for t in times), sum(t[1] for t in times)


async def _writer_process(cfg: dict[str, Any], key: Any, store: Any, out: dict[str, Any]) -> Any:
    """The node's evidence writer in its own process (``--writer-process``), started before the timed
    phase; with ``writer_cpus`` it may run on every CPU (the monitor stays pinned to the client's)."""
    from swarmscope.monitor.writer_process import WriterProcess

    ledger = WriterProcess(cfg["db"], key, None, store)
    await asyncio.to_thread(ledger.start)
    Path(cfg["db"] + WRITER_PID).write_text(str(ledger.pid))  # killed() waits for it after a kill
    if cfg.get("writer_cpus"):
        os.sched_setaffinity(ledger.pid, set(range(os.cpu_count() or 1)))
    return ledger


def _kill_writer(ledger: Any, out: dict[str, Any]) -> None:
    """SIGKILL the writer process by its PID mid-run (crash safety: a new one must take over)."""
    if ledger.pid is not None:
        out["writer_cpu_killed"] = writer_cpu(ledger)
        os.kill(ledger.pid, 9)
        out["writer_killed"] = ledger.pid


def _kill_probe(router: Any, out: dict[str, Any]) -> None:
    """SIGKILL probe process 1 by its PID mid-run (crash safety: what committed must verify)."""
    pid = router.pids[0]
    out["probe_cpu_killed"] = _proc_cpu(pid)
    os.kill(pid, 9)
    out["probe_killed"] = pid


def writer_cpu(ledger: Any) -> tuple[float, float]:
    """(user, system) CPU seconds of the running writer process (0, 0 without one), from /proc."""
    pid = None if ledger is None else ledger.pid
    return (0.0, 0.0) if pid is None else _proc_cpu(pid)


def _proc_cpu(pid: int) -> tuple[float, float]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def measure_monitor(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`monitor` in this process (already in the namespace, pinned); its JSON result."""
    import cProfile

    import swarmscope.monitor.crawler  # noqa: F401 - imports outside the timed phase
    from swarmscope.monitor.writer_process import collecting_less

    totals = None
    if cfg.get("stages"):
        import stages

        totals = stages.install()
    if cfg["loop"] == "uvloop":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    # commits come in batches (flush_interval 0.5 s, flush_rows 5,000; the first one also holds M sightings),
    # so "no probe ended for STALL_S" means "no batch committed for that long": allow long batches
    probe.STALL_S = STALL_S
    if cfg.get("switch_interval"):
        sys.setswitchinterval(cfg["switch_interval"])
    tally: Counter[str] = Counter()
    out: dict[str, Any] = {}
    profiler = cProfile.Profile() if cfg.get("profile") else None
    aborted = False
    # the cyclic collector as `swarmscope monitor` tunes it around its run (cli/monitor.py): without it the
    # coordinator's full collections walk every tracked peer's objects again and again (docs/performance.md)
    with collecting_less(), runner:
        try:
            if profiler is not None:
                profiler.enable()
            runner.run(probe.watched(monitor(cfg, tally, out), tally, cfg["deadline"]))
        except TimeoutError:
            aborted = True
        finally:
            if profiler is not None:
                profiler.disable()
                write_profile(profiler, "loop", cfg)
                write_profile(out["writer_profiler"], "writer", cfg)
    t1, c1, u1 = (
        out.get("t1", time.monotonic()),
        out.get("cpu1", probe.cpu_s()),
        out.get("user1", probe.user_s()),
    )
    elapsed = t1 - out.get("t0", t1)
    w0 = out.get("writer0", (0.0, 0.0))
    w1 = out.get("writer1", w0)  # an aborted run never read it: its writer's CPU is not counted
    if "writer_killed" in out:  # the killed writer's CPU up to the kill, then its successor's
        w1 = tuple(a + b - c for a, b, c in zip(w1, out["writer_cpu_killed"], w0, strict=True))
    writer_user, writer_sys = w1[0] - w0[0], w1[1] - w0[1]
    s0 = out.get("shards0", (0.0, 0.0))
    s1 = out.get("shards1", s0)
    shards_user, shards_sys = s1[0] - s0[0], s1[1] - s0[1]
    committed = out.get("peers", sum(tally[k] for k in probe.REACHED))
    res = {
        "observations": out.get("observations"),
        "switch_interval_s": sys.getswitchinterval(),
        "malloc_top_pad": os.environ.get("MALLOC_TOP_PAD_"),
        "probes_per_s": round(committed / elapsed, 1) if elapsed > 0 else 0.0,
        "completed": committed,
        "elapsed_s": round(elapsed, 3),
        "cpu_s": round(c1 - out.get("cpu0", c1) + writer_user + writer_sys + shards_user + shards_sys, 3),
        "cpu_user_s": round(u1 - out.get("user0", u1) + writer_user + shards_user, 3),
        "loop_cpu_s": round(c1 - out.get("cpu0", c1), 3),
        "writer_process": bool(cfg.get("writer_process")) or (cfg.get("probe_processes") or 1) > 1,
        "writer_cpu_s": round(writer_user + writer_sys, 3),
        "probe_processes": cfg.get("probe_processes") or 1,
        "probe_processes_cpu_s": round(shards_user + shards_sys, 3),
        "writers_started": out.get("writers_started"),
        "probe_killed": out.get("probe_killed"),
        "probe_processes_started": out.get("probe_processes_started"),
        "writer_killed": out.get("writer_killed"),
        "vmhwm_kb": probe.vm_kb("VmHWM"),
        "rss_growth_kb": out.get("rss1", 0) - out.get("rss0", 0),
        "outcomes": dict(sorted(tally.items())),
        "aborted": aborted,
    }
    if totals is not None:
        res["stages"] = totals.per_peer(committed)
    return res


def write_profile(profiler: Any, thread: str, cfg: dict[str, Any]) -> None:
    """Top 30 by own time and top 40 by cumulative time, to bench/.work/hurtlocker-profile-THREAD.txt."""
    import io
    import pstats

    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    (farm.WORK / f"hurtlocker-profile-{thread}-M{cfg['M']}.txt").write_text(text.getvalue())


# --- outside the namespace: the database, verified --------------------------------------------------------


def check_database(db: Path) -> dict[str, Any]:
    """``swarmscope verify --db`` (exit status and counts) and the committed peers counted in SQL."""
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "swarmscope.cli", "verify", "--db", str(db), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    try:
        verdict = json.loads(p.stdout)
    except ValueError:
        verdict = {"ok": False, "problems": [p.stderr[-800:]]}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        reached, verified, rows = con.execute(
            "SELECT COUNT(DISTINCT o.ip), COUNT(DISTINCT CASE WHEN o.tier = 'verified' THEN o.ip END),"
            " COUNT(*) FROM observation o JOIN capture c ON c.sha256 = o.capture_sha256"
            " WHERE o.ledger_index IS NOT NULL"
        ).fetchone()
        (twice,) = con.execute("SELECT COUNT(*) - COUNT(DISTINCT record_hash) FROM ledger_entry").fetchone()
        batches = {
            f"{last} {head.hex()}"
            for last, head in con.execute("SELECT last_index, head_hash FROM ledger_batch")
        }
    acked_file = Path(str(db) + ACKED)
    acked = acked_file.read_text().split("\n")[:-1] if acked_file.is_file() else []
    return {
        "verify": "ok" if p.returncode == 0 and verdict.get("ok") else "failed",
        "verify_counts": verdict.get("counts"),
        "verify_problems": len(verdict.get("problems", [])),
        "verify_s": round(time.monotonic() - t0, 1),
        "committed_peers": reached,
        "verified_peers": verified,
        "observation_rows": rows,  # committed observations with their capture (a peer probed twice: 2)
        "chained_twice": twice,  # ledger entries whose record (SHA-256 of canonical bytes) came before
        "acked_batches": len(acked),  # batches acknowledged to the monitor (or a probe process) ...
        "acked_missing": sum(1 for line in acked if line not in batches),  # ... and not in the database
        "db_mib": round(db.stat().st_size / 2**20, 1),
    }


if __name__ == "__main__":
    print(json.dumps(measure_monitor(json.loads(sys.argv[1]))), flush=True)
