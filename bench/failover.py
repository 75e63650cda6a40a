"""Failover benchmark: seconds from ``kill -9`` of a fleet node to its swarms leased again by the others.

Usage (root, the repo's venv python, ``src`` on the path, a SCRATCH PostgreSQL database)::

    python bench/failover.py [--runs 8] [--lease 4] [--pg postgresql+psycopg://...]

The process first enters a private network namespace (only ``lo``; :mod:`swarmscope.netns`): the nodes
bind 127.0.3.1, .5 and .9 (one /30 each) and the swarms' tracker is ``http://127.0.0.1:1/announce``
(nobody listens there), so nothing leaves the machine; PostgreSQL is reached on its Unix socket. Per run,
on a fresh schema (dropped at the end: never point ``--pg`` at real evidence):

1. ``fleet add`` two torrents, two vantages each; three ``swarmscope node`` processes (``--capacity 2
   --lease-seconds L --no-dht``), waited for until every swarm is leased by two nodes;
2. ``kill -9`` of a node holding the most leases (by its PID) at a random point of its renewal round
   (0 to L/3 s after coverage, uniform), then the live leases are polled every 50 ms until every swarm
   is again leased by two nodes, none of them the dead one.

Per run one JSON line: ``failover_s`` (wall clock, kill to coverage, ``time.monotonic``), ``left_s`` (what
was left of the dead node's leases at the kill, database time), ``take_s`` (from those leases' expiry to
the last takeover, database time: the survivor's lease round). Theory: a lease is renewed every L/3, so
``left_s`` lies in (2L/3, L] and ``take_s`` in [0, L/3] plus a round's own time: failover in
(2L/3, 4L/3] plus polling. The last line is the distribution (min, median, max, mean) and the load
average (``os.getloadavg``) before and after. A benchmark, not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from swarmscope.netns import enter_private_netns, in_private_netns
from swarmscope.store.database import open_store
from swarmscope.store.scratch import drop_schema
from swarmscope.testbed.content import build_content
from swarmscope.testbed.process import free_port, stop_process

CLI = [sys.executable, "-m", "swarmscope.cli"]
NODE_IPS = {"n1": "127.0.3.1", "n2": "127.0.3.5", "n3": "127.0.3.9"}
TRACKER = "http://127.0.0.1:1/announce"  # refused at once: no leads, only leases are measured
_LIVE = sa.text(
    "SELECT infohash, node_name, expires_us, taken_us, swarmscope_now_us() AS now"
    " FROM fleet_lease WHERE expires_us > swarmscope_now_us()"
)


def _live(engine: sa.Engine) -> list[sa.Row]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        return list(conn.execute(_LIVE))


def _covered(rows: list, swarms: int, without: str | None = None) -> bool:  # type: ignore[type-arg]
    holders: dict[str, set[str]] = {}
    for row in rows:
        holders.setdefault(row.infohash, set()).add(row.node_name)
    return len(holders) == swarms and all(len(h) == 2 and without not in h for h in holders.values())


def _wait(check, timeout: float, step: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"nothing after {timeout} s")


def _node(url: str, name: str, lease: float, work: Path) -> subprocess.Popen[bytes]:
    ip = NODE_IPS[name]
    command = [
        *CLI, "node", "--db", url, "--name", name, "--bind", ip, "--listen-port", str(free_port(ip)),
        "--capacity", "2", "--lease-seconds", str(lease), "--max-peers", "20", "--no-dht",
        "--node-key", str(work / f"{name}.pem"),
    ]  # fmt: skip
    log = (work / f"{name}.log").open("ab")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def one_run(url: str, lease: float, work: Path) -> dict[str, float]:
    """One kill -9 and the time until the dead node's swarms are covered again (module docstring)."""
    torrents = [
        str(build_content(work / f"c{i}", size=(3 + i) * 16384, piece_length=16384, seed=b"fo%d" % i,
                          announce=[TRACKER]).torrent_path)
        for i in range(2)
    ]  # fmt: skip
    open_store(url).close()  # the schema, migrated
    added = subprocess.run([*CLI, "fleet", "add", *torrents, "--db", url, "--vantages", "2"],
                           capture_output=True, timeout=120)  # fmt: skip
    if added.returncode:
        raise RuntimeError(added.stderr.decode(errors="replace"))
    nodes = {name: _node(url, name, lease, work) for name in NODE_IPS}
    engine = sa.create_engine(url)
    try:
        rows = _wait(lambda: (r := _live(engine)) and _covered(r, 2) and r, 120)
        time.sleep(random.uniform(0, lease / 3))  # anywhere in the victims' renewal round
        rows = _live(engine)
        held: dict[str, int] = {}
        for row in rows:
            held[row.node_name] = held.get(row.node_name, 0) + 1
        victim = max(held, key=lambda n: held[n])
        os.kill(nodes[victim].pid, signal.SIGKILL)
        killed = time.monotonic()
        nodes[victim].wait(10)
        theirs = [r for r in _live(engine) if r.node_name == victim]
        left_s = min(r.expires_us - r.now for r in theirs) / 1e6 if theirs else 0.0
        expiry = max(r.expires_us for r in theirs) if theirs else 0
        after = _wait(lambda: (r := _live(engine)) and _covered(r, 2, without=victim) and r, 4 * lease + 10)
        failover = time.monotonic() - killed
        taken = max(r.taken_us for r in after if r.infohash in {t.infohash for t in theirs})
        return {"failover_s": round(failover, 3), "left_s": round(left_s, 3),
                "take_s": round((taken - expiry) / 1e6, 3)}  # fmt: skip
    finally:
        engine.dispose()
        for proc in nodes.values():
            stop_process(proc)  # type: ignore[arg-type]
        drop_schema(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--lease", type=float, default=4.0, help="--lease-seconds of every node")
    parser.add_argument("--pg", default=os.environ.get("SWARMSCOPE_TEST_PG_URL"))
    args = parser.parse_args()
    if not args.pg:
        parser.error("--pg (or SWARMSCOPE_TEST_PG_URL): a SCRATCH PostgreSQL database")
    if not in_private_netns() and not enter_private_netns():
        parser.error("cannot enter a private network namespace (root and unshare needed)")
    load_before = os.getloadavg()
    times = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="swarmscope-failover.") as tmp:
            result = one_run(args.pg, args.lease, Path(tmp))
        times.append(result["failover_s"])
        print(json.dumps({"run": run + 1, "lease_s": args.lease, **result}), flush=True)
    print(json.dumps({
        "lease_s": args.lease, "runs": len(times), "min_s": min(times),
        "median_s": round(statistics.median(times), 3), "max_s": max(times),
        "mean_s": round(statistics.fmean(times), 3),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
