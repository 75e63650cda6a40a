"""Memory per tracked peer: N peers over S swarms in one monitor, measured by RSS growth (goal: ≤ 1 KiB).

One command (``make bench-memory``; bench/README.md "Memory")::

    python bench/memory.py [--swarms 1000] [--peers 1000000] [--breakdown-peers 100000] [--top 12]

What is measured is the state the monitor keeps per peer address (src/swarmscope/monitor/): the probe
plan (``ProbePlan``: a ``PeerState`` per peer, its heap entry, per-IP counts), ``Monitor.sources`` (the
first source of each peer) and the live counters (``SwarmStats``: best tier, completion, client,
sources), plus the ledger writer's pending rows. It is fed the way the monitor is fed, without the
network (the network is not what is measured): ``Monitor.discovered`` with tracker replies of 200 peers
(and a DHT reply naming a quarter of them again), then one probe outcome per peer the way ``Monitor._probe``
ends (``ProbePlan.due``, ``Monitor._record``, ``ProbePlan.finished``), each ``Observation`` built with fresh
strings as the pure probe builds them (a third seeds, a third half, a third empty).

The store is not used: a stand-in for the ledger writer keeps pending rows the way ``LedgerWriter`` does
(a list) and drops them when ``flush_rows`` are queued (the real writer hands them to SQLite and drops
them then), so the pending rows are bounded as in a run. SQLite's page cache, captures and blobs are
not per-peer state and are left out (the Hurt Locker benchmark's RSS growth includes them).

Two child processes (so neither measurement disturbs the other): ``rss`` at the full N (RSS from
/proc/self/status after ``gc.collect()``, before and after), and ``breakdown`` with ``tracemalloc`` at a
smaller N (bytes per peer by allocating source line). Prints their JSON lines, a table and as the last
line::

    memory: bytes_per_peer=B goal=1024 met=yes|no peers=N swarms=S rss_growth_mib=M

Exit status 0 whether or not the goal is met (it is a benchmark).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

GOAL_BYTES = 1024  # issue goal: ≤ 1 KiB per tracked peer at 1,000,000 peers over 1,000 swarms
REPLY = 200  # peers per tracker reply (numwant's default; the reply a tracker cuts to)
PIECES = 2048  # pieces of every synthetic torrent (the farm torrent's count)
FIRST_ADDRESS = int.from_bytes(socket.inet_aton("10.0.0.1"), "big")  # never dialled: no network here
HERE = Path(__file__).resolve().parent


class PendingRows:
    """Stands in for ``LedgerWriter``: queues records in a list, "commits" (drops) them at ``flush_rows``."""

    def __init__(self, flush_rows: int) -> None:
        self.flush_rows = flush_rows
        self._records: list[Any] = []
        self.peak = 0
        self.committed = 0

    def add(self, record: Any, capture: Any = None) -> None:
        self._records.append(record)
        if len(self._records) >= self.flush_rows:
            self.peak = max(self.peak, len(self._records))
            self.committed += len(self._records)
            self._records = []

    @property
    def pending(self) -> int:
        return len(self._records)


def targets(swarms: int) -> list[Any]:
    """``swarms`` distinct v1 torrents of PIECES pieces of 16 KiB (names differ, so do the infohashes)."""
    from swarmscope.monitor.targets import target_from_metainfo
    from swarmscope.wire.bencode import encode

    out = []
    for i in range(swarms):
        info = {
            b"name": f"memory-bench-{i:05d}".encode(),
            b"piece length": 16384,
            b"length": 16384 * PIECES,
            b"pieces": bytes(20) * PIECES,
        }
        out.append(target_from_metainfo(encode({b"info": info}), f"memory bench swarm {i}"))
    return out


def build_monitor(swarms: int, per_swarm: int) -> Any:
    """A monitor over ``swarms`` targets, its writer replaced by :class:`PendingRows` (no store); its plan
    holds ``per_swarm`` peers not verified per swarm at least (they are all discovered before any probe)."""
    from swarmscope.monitor.config import MonitorConfig
    from swarmscope.monitor.crawler import Monitor
    from swarmscope.monitor.plan import PlanPolicy

    plan = PlanPolicy(max_peers_per_swarm=max(PlanPolicy().max_peers_per_swarm, per_swarm))
    config = MonitorConfig(peer_id=b"-SS0001-" + os.urandom(6).hex().encode(), plan=plan)
    store: Any = None  # never touched: run() is not called
    mon = Monitor(targets(swarms), store, config, on_warning=lambda _m: None, leads_from_caller=True)
    mon.evidence.writer = PendingRows(config.flush_rows)  # type: ignore[assignment]
    return mon


def observation(swarm: str, ip: str, port: int, n: int, now: int) -> Any:
    """What a finished verified probe of peer ``n`` yields (fresh strings, as parsing makes them)."""
    from swarmscope.evidence.records import Observation, Tier

    have = (PIECES, PIECES // 2, 0)[n % 3]
    return Observation(
        infohash=swarm,
        ip=ip,
        port=port,
        source="tracker",
        started_us=now,
        ended_us=now + 40_000,
        tier=Tier.VERIFIED if have else Tier.CONNECTED,
        failure=None if have else "no_pieces",
        peer_id=b"-TR3000-" + n.to_bytes(12, "big"),
        client=b"Transmission".decode(),
        client_version=f"3.{n % 4:02d}",
        num_pieces=PIECES,
        pieces_have=have,
        completion=have / PIECES,
        bytes_received=16384 if have else 0,
        wire_bytes_in=16800,
        wire_bytes_out=200,
        capture_sha256=n.to_bytes(32, "big"),
    )


def feed(mon: Any, swarms: int, peers: int) -> dict[str, Any]:
    """Discover ``peers`` over the swarms (tracker replies, a quarter named again by the DHT), then one
    probe outcome per peer; returns counts."""
    from swarmscope.evidence.records import Source

    per_swarm = peers // swarms
    swarm_ids = list(mon.targets)
    now = time.time_ns() // 1000
    n = 0
    for s, swarm in enumerate(swarm_ids):
        for start in range(0, per_swarm, REPLY):
            reply = [
                (socket.inet_ntoa((FIRST_ADDRESS + s * per_swarm + j).to_bytes(4, "big")), 6881, None)
                for j in range(start, min(per_swarm, start + REPLY))
            ]
            mon.discovered(swarm, reply, Source.TRACKER, "http://tracker.invalid/announce")
            mon.discovered(swarm, reply[: len(reply) // 4], Source.DHT, "dht")
            n += len(reply)
    probed = 0
    now = mon.clock.now_us()  # every peer planned so far is due now
    for _ in range(peers // 10_000 + 10):  # bounded: every peer is due now, 10,000 per round
        due = mon.plan.due(now, 10_000)
        if not due:
            break
        for key in due:
            obs = observation(key[0], key[1], key[2], probed, now)
            mon._record(key, obs)
            mon.plan.finished(key, obs, now + 50_000)
            probed += 1
    writer = mon.evidence.writer
    return {"discovered": n, "probed": probed, "pending_rows": writer.pending, "pending_peak": writer.peak}


def rss_bytes() -> int:
    """Resident set size of this process (bytes), from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("memory: no VmRSS in /proc/self/status (Linux only)")


def phase_rss(swarms: int, peers: int) -> dict[str, Any]:
    """RSS growth from an empty monitor (targets built, imports done) to N tracked peers."""
    mon = build_monitor(swarms, peers // swarms)
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.monotonic()
    counts = feed(mon, swarms, peers)
    gc.collect()
    rss1 = rss_bytes()
    return {
        "phase": "rss",
        "swarms": swarms,
        "peers": len(mon.plan.peers),
        **counts,
        "feed_s": round(time.monotonic() - t0, 1),
        "rss0_mib": round(rss0 / 2**20, 1),
        "rss_growth_mib": round((rss1 - rss0) / 2**20, 1),
        "bytes_per_peer": round((rss1 - rss0) / max(1, len(mon.plan.peers))),
    }


def phase_breakdown(swarms: int, peers: int, top: int) -> dict[str, Any]:
    """``tracemalloc`` bytes per peer by allocating line (traced: slower, and smaller N)."""
    mon = build_monitor(swarms, peers // swarms)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    feed(mon, swarms, peers)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    n = max(1, len(mon.plan.peers))
    here = str(HERE)
    own = [tracemalloc.Filter(False, tracemalloc.__file__)]
    compared = after.filter_traces(own).compare_to(before.filter_traces(own), "lineno")
    stats = [s for s in compared if s.size_diff > 0]
    lines = []
    for s in stats[:top]:
        frame = s.traceback[0]
        where = frame.filename.split("/src/")[-1] if here not in frame.filename else "bench/memory.py"
        lines.append({"where": f"{where}:{frame.lineno}", "bytes_per_peer": round(s.size_diff / n, 1)})
    total = sum(s.size_diff for s in stats)
    return {
        "phase": "breakdown",
        "swarms": swarms,
        "peers": n,
        "traced_bytes_per_peer": round(total / n),
        "top": lines,
    }


def child(args: argparse.Namespace, phase: str) -> dict[str, Any]:
    """Run one phase in a fresh interpreter (bounded: 30 minutes); its JSON line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--swarms", str(args.swarms)]
    cmd += ["--peers", str(args.peers if phase == "rss" else args.breakdown_peers), "--top", str(args.top)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    try:
        return dict(json.loads(p.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError):
        raise SystemExit(f"memory: the {phase} phase exited {p.returncode}: {p.stderr[-1500:]}") from None


def report(rss: dict[str, Any], breakdown: dict[str, Any]) -> None:
    """The table, the breakdown and the last line."""
    per = rss["bytes_per_peer"]
    print(
        f"\n| peers | swarms | RSS growth MiB | bytes/peer (RSS) | bytes/peer (tracemalloc, N = "
        f"{breakdown['peers']:,}) | goal |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {rss['peers']:,} | {rss['swarms']:,} | {rss['rss_growth_mib']} | {per:,} | "
        f"{breakdown['traced_bytes_per_peer']:,} | ≤ {GOAL_BYTES:,} |"
    )
    print("\ntracemalloc, bytes per peer by allocating line:")
    for line in breakdown["top"]:
        print(f"  {line['bytes_per_peer']:>8.1f}  {line['where']}")
    met = "yes" if per <= GOAL_BYTES else "no"
    print(
        f"\nmemory: bytes_per_peer={per} goal={GOAL_BYTES} met={met} peers={rss['peers']} "
        f"swarms={rss['swarms']} rss_growth_mib={rss['rss_growth_mib']}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--swarms", type=int, default=1000)
    ap.add_argument("--peers", type=int, default=1_000_000)
    ap.add_argument("--breakdown-peers", type=int, default=100_000)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--phase", choices=("rss", "breakdown"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.swarms < 1 or args.peers < args.swarms or args.breakdown_peers < args.swarms:
        print("memory: need 1 <= --swarms <= --peers and --breakdown-peers", file=sys.stderr)
        raise SystemExit(1)
    if args.phase == "rss":
        print(json.dumps(phase_rss(args.swarms, args.peers)))
        return
    if args.phase == "breakdown":  # the parent passes the breakdown's N as --peers
        print(json.dumps(phase_breakdown(args.swarms, args.peers, args.top)))
        return
    rss = child(args, "rss")
    print(json.dumps(rss), flush=True)
    breakdown = child(args, "breakdown")
    print(json.dumps(breakdown), flush=True)
    report(rss, breakdown)


if __name__ == "__main__":
    main()
