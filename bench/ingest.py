"""Ingest benchmark: evidence rows per second into SQLite and PostgreSQL, through the store's writer path.

Usage (the repo's venv python, ``src`` on the path; ``nice -n 10`` on a shared machine)::

    python bench/ingest.py [--rows 200000] [--batch 5000] [--writers 2,4] [--pg postgresql+psycopg://...]

Runs, in one process, for SQLite (a file in a temporary directory) and, when ``--pg`` (or
``SWARMSCOPE_TEST_PG_URL``) names a SCRATCH PostgreSQL database, for PostgreSQL too (its swarmscope schema
is created, then dropped with ``alembic downgrade base`` at the end: never point it at real evidence):

- ``seal``: ``Store.commit_evidence`` with batches of ``--batch`` verified observations with every field set
  (:func:`bench.records.observations`): canonical bytes, the SHA-256 chain, the Ed25519 seal and the row
  inserts, one transaction per batch, as the monitor's writer seals;
- ``insert``: the rows alone, pre-built with ``writer.observation_row`` and written by
  ``writer.insert_many`` (PostgreSQL: one ``COPY ... FROM STDIN`` per batch; SQLite: one ``executemany``),
  one transaction per batch: the database's share of the above. Each row carries a ledger link to one of
  the ``seal`` phase's entries, so PostgreSQL's statement checks (migration 0017) check real links;
- ``ceiling`` (PostgreSQL only): the same COPY of the same rows into an UNLOGGED copy of ``observation``
  without index, constraint or trigger (``CREATE UNLOGGED TABLE ... (LIKE observation INCLUDING
  DEFAULTS)``, dropped afterwards): what this server takes at most, so ``insert / ceiling`` says how much of
  the server's time the evidence table's indexes, WAL and checks cost;
- ``seal xN``, ``insert xN`` (PostgreSQL only, for each N of ``--writers``): the ``seal`` and ``insert``
  phases by N writer processes at once (``multiprocessing`` spawn), ``rows // N`` rows each, as the nodes of
  a fleet write: each process has its own connection, its own node key (so its own hash chain) and its own
  monitor run, and links its inserted rows to its own sealed entries. All start together (a barrier) and
  the phase ends when the last one is done: the rate is the fleet's aggregate; the CPU columns are the sum
  over the processes and over the server's backends.

Prints one line per (backend, phase): rows, wall seconds (``time.perf_counter``), rows per second, CPU
seconds of this process and of the server's backends on the benchmark's database (``/proc/PID/stat``
utime + stime; shown as ``-`` when the server runs elsewhere), rows per CPU second (the rate's bound on an
idle machine, where client and server run side by side on two cores, is about ``rows / max(client,
server)``), and the 1-minute load average. A last ``verdict`` line compares the best PostgreSQL insert
rate (the fleet's, else one writer's; it says which) with the goal of 100,000 rows/s, beside one writer's
rate and the ceiling. A benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import command
from bench.records import T0, observations

from swarmscope.evidence.records import Observation
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.schema import observation
from swarmscope.store.ledger.writer import insert_many, observation_row
from swarmscope.store.migrate import alembic_config

GOAL_ROWS_PER_S = 100_000
INFOHASH = "ab" * 20  # the swarm of bench.records.observations
CEILING_TABLE = "ingest_ceiling"
Rows = list[list[tuple[object, ...]]]


@dataclasses.dataclass(frozen=True)
class Phase:
    """One measured phase: ``rows`` in ``seconds`` (wall), CPU seconds of this process and of the server
    (None when not measurable), the 1-minute load average at its end."""

    rows: int
    seconds: float
    client_cpu: float
    server_cpu: float | None
    load: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    def line(self, backend: str, name: str) -> str:
        server = per_cpu = "-"
        if self.server_cpu is not None:
            server = f"{self.server_cpu:6.2f}"
            per_cpu = f"{self.rows / (self.client_cpu + self.server_cpu):,.0f}"
        return (
            f"{backend:10s} {name:8s} {self.rows:8d} rows {self.seconds:7.2f} s {self.rate:10,.0f} rows/s"
            f"  cpu client {self.client_cpu:6.2f} s server {server} s {per_cpu:>9s} rows/cpu-s"
            f"  load {self.load:5.2f}"
        )


def _proc_cpu(pid: int) -> float | None:
    """utime + stime of process ``pid`` in seconds (Linux ``/proc/PID/stat`` fields 14, 15), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu(store: Store) -> dict[int, float] | None:
    """CPU seconds so far of each PostgreSQL backend on this database (None on SQLite: no server)."""
    if store.engine.dialect.name != "postgresql":
        return None
    with store.engine.connect() as conn:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        pids = [int(p) for p in conn.exec_driver_sql(query).scalars()]
    found: dict[int, float] = {}
    for pid in pids:
        cpu = _proc_cpu(pid)
        if cpu is None:
            return None
        found[pid] = cpu
    return found


def _measure(store: Store, rows: int, fn: Callable[[], None]) -> Phase:
    before = _server_cpu(store)
    cpu, started = time.process_time(), time.perf_counter()
    fn()
    seconds, client = time.perf_counter() - started, time.process_time() - cpu
    after = _server_cpu(store)
    server = None
    if before is not None and after is not None:  # a backend that ended mid-phase is not counted
        server = sum(v - before.get(p, 0.0) for p, v in after.items())
    return Phase(rows, seconds, client, server, os.getloadavg()[0])


def _batches(obs: list[Observation], size: int) -> list[list[Observation]]:
    return [obs[i : i + size] for i in range(0, len(obs), size)]


def _seal(store: Store, run: int, batches: list[list[Observation]]) -> None:
    for i, batch in enumerate(batches):
        store.commit_evidence(run, records=batch, sealed_at_us=T0 + 10**12 + i)


def _copy_each(store: Store, table: sa.Table, batches: Rows) -> None:
    for batch_rows in batches:
        with store.engine.begin() as conn:
            insert_many(conn, table, batch_rows)


def _insert_rows(store: Store, run: int, obs: list[Observation], batch: int) -> Rows:
    """The insert phase's rows: new start times (new rows, not the sealed ones again), each linked to the
    sealed ledger entry of the same position (entry ``i`` is the ``i``-th observation sealed)."""
    assert store.node is not None
    node = store.node.id
    later = [dataclasses.replace(o, started_us=o.started_us + 10**9) for o in obs]
    rows = [observation_row(run, o, (node, i)) for i, o in enumerate(later)]
    return [rows[i : i + batch] for i in range(0, len(rows), batch)]


def _ceiling_table(store: Store) -> sa.Table:
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE UNLOGGED TABLE {CEILING_TABLE} (LIKE observation INCLUDING DEFAULTS)")
    return sa.Table(CEILING_TABLE, sa.MetaData(), *[sa.Column(c.name, c.type) for c in observation.columns])


# Fleet phases: ``count`` writer processes at once, each with its own connection, node key (so its own hash
# chain, as each node of a fleet has) and monitor run, ``rows // count`` rows each. Every process and the
# parent meet at a barrier before and after each phase, so the parent reads the server's CPU and the wall
# time of the phase as a whole: the fleet's aggregate rate.
def _met(meet: Any, fn: Callable[[], None]) -> float:
    """``fn`` between the barrier's ready, go and done; returns this process's CPU seconds in it. The last
    wait (read) keeps this process's connection open until the parent has read the server's CPU."""
    meet.wait()  # ready
    meet.wait()  # go
    started = time.process_time()
    fn()
    spent = time.process_time() - started
    meet.wait()  # done
    meet.wait()  # read
    return spent


def _writer(url: str, index: int, count: int, rows: int, batch: int, meet: Any, out: Any) -> None:
    """One fleet writer (a spawned process); puts (index, {phase: client CPU seconds}) on ``out``."""
    store = open_store(url, node_key=Ed25519PrivateKey.generate(), now_us=T0)
    cpu: dict[str, float] = {}
    try:
        run = store.start_run({"bench": "ingest", "writer": index}, "bench", T0)
        obs = observations(rows * count)[index * rows : (index + 1) * rows]  # distinct peers per writer
        sealed = _batches(obs, batch)
        cpu["seal"] = _met(meet, lambda: _seal(store, run, sealed))
        inserts = _insert_rows(store, run, obs, batch)
        cpu["insert"] = _met(meet, lambda: _copy_each(store, observation, inserts))
    finally:
        store.close()
        out.put((index, cpu))


def fleet_phases(store: Store, url: str, rows: int, batch: int, count: int) -> dict[str, Phase]:
    """``seal`` and ``insert`` by ``count`` concurrent writer processes; the aggregate of each phase."""
    context = multiprocessing.get_context("spawn")
    meet, out = context.Barrier(count + 1, timeout=900), context.Queue()
    each = rows // count
    procs = [
        context.Process(target=_writer, args=(url, i, count, each, batch, meet, out)) for i in range(count)
    ]
    for proc in procs:
        proc.start()
    try:
        marks: dict[str, tuple[dict[int, float] | None, float, dict[int, float] | None, float]] = {}
        for phase in ("seal", "insert"):
            meet.wait()  # ready: every writer connected
            before, started = _server_cpu(store), time.perf_counter()
            meet.wait()  # go
            meet.wait()  # done
            marks[phase] = (before, started, _server_cpu(store), time.perf_counter())
            meet.wait()  # read
        clients = dict(out.get(timeout=60) for _ in procs)
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.terminate()  # by its PID
    phases = {}
    for phase, (before, started, after, ended) in marks.items():
        server = None
        if before is not None and after is not None:
            server = sum(v - before.get(p, 0.0) for p, v in after.items())
        client = sum(c[phase] for c in clients.values())
        phases[phase] = Phase(each * count, ended - started, client, server, os.getloadavg()[0])
    return phases


def run_backend(name: str, url: str, rows: int, batch: int, writers: list[int]) -> dict[str, Phase]:
    """Every phase on the store at ``url`` (PostgreSQL: then the fleet phases of each count in ``writers``);
    returns each phase's measurement, the fleet's as ``seal xN`` and ``insert xN``."""
    store = open_store(url, node_key=Ed25519PrivateKey.generate(), now_us=T0)
    phases: dict[str, Phase] = {}
    try:
        store.add_swarm(INFOHASH, INFOHASH, None, "bench.bin", 64, 16384, 1 << 20, None, None, T0)
        run = store.start_run({"bench": "ingest"}, "bench", T0)
        obs = observations(rows)
        sealed = _batches(obs, batch)
        phases["seal"] = _measure(store, rows, lambda: _seal(store, run, sealed))
        print(phases["seal"].line(name, "seal"), flush=True)
        inserts = _insert_rows(store, run, obs, batch)
        phases["insert"] = _measure(store, rows, lambda: _copy_each(store, observation, inserts))
        print(phases["insert"].line(name, "insert"), flush=True)
        if name == "postgresql":
            bare = _ceiling_table(store)
            phases["ceiling"] = _measure(store, rows, lambda: _copy_each(store, bare, inserts))
            print(phases["ceiling"].line(name, "ceiling"), flush=True)
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP TABLE {CEILING_TABLE}")
            for count in writers:
                for phase, measured in fleet_phases(store, url, rows, batch, count).items():
                    phases[f"{phase} x{count}"] = measured
                    print(measured.line(name, f"{phase} x{count}"), flush=True)
    finally:
        if name == "postgresql":
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {CEILING_TABLE}")
                command.downgrade(alembic_config(conn), "base")
        store.close()
    return phases


def verdict(pg: dict[str, Phase]) -> str:
    """The last line: the fleet's best ``insert xN`` rate (else one writer's) against the goal."""
    fleet = [k for k in pg if k.startswith("insert x")]
    best = max(fleet, key=lambda k: pg[k].rate, default="insert")
    rate, ceiling = pg[best].rate, pg["ceiling"].rate
    met = "met" if rate >= GOAL_ROWS_PER_S else "NOT met"
    who = f"{best[len('insert x') :]} concurrent writers" if best != "insert" else "one writer"
    return (
        f"verdict: PostgreSQL insert {rate:,.0f} rows/s ({who}, load {pg[best].load:.2f}), goal "
        f"{GOAL_ROWS_PER_S:,} rows/s {met}; one writer {pg['insert'].rate:,.0f} rows/s; ceiling (one "
        f"writer, unlogged, no index) {ceiling:,.0f} rows/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--writers", default="2,4", help="fleet phases: concurrent writer processes (2,4)")
    parser.add_argument("--pg", default=os.environ.get("SWARMSCOPE_TEST_PG_URL"))
    args = parser.parse_args()
    writers = [int(w) for w in args.writers.split(",") if w.strip()]
    print(f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="swarmscope-ingest-") as tmp:
        run_backend("sqlite", str(Path(tmp) / "ingest.db"), args.rows, args.batch, [])
    if not args.pg:
        print("verdict: PostgreSQL not measured (give --pg URL of a scratch database)")
        return
    print(verdict(run_backend("postgresql", args.pg, args.rows, args.batch, writers)), flush=True)


if __name__ == "__main__":
    main()
