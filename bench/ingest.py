"""Ingest benchmark: evidence rows per second into SQLite and PostgreSQL, through the store's writer path.

Usage (the repo's venv python, ``src`` on the path; ``nice -n 10`` on a shared machine)::

    python bench/ingest.py [--rows 200000] [--batch 5000] [--pg postgresql+psycopg://...]

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
  the server's time the evidence table's indexes, WAL and checks cost.

Prints one line per (backend, phase): rows, wall seconds (``time.perf_counter``), rows per second, CPU
seconds of this process and of the server's backends on the benchmark's database (``/proc/PID/stat``
utime + stime; shown as ``-`` when the server runs elsewhere), rows per CPU second (the rate's bound on an
idle machine, where client and server run side by side on two cores, is about ``rows / max(client,
server)``), and the 1-minute load average. A last ``verdict`` line compares PostgreSQL's ``insert`` rate
with the goal of 100,000 rows/s and with its ceiling. A benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import command
from bench.records import T0, observations

from swarmscope.evidence.records import Observation
from swarmscope.store.database import Store, alembic_config, open_store
from swarmscope.store.ledger.schema import observation
from swarmscope.store.ledger.writer import insert_many, observation_row

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


def run_backend(name: str, url: str, rows: int, batch: int) -> dict[str, Phase]:
    """Every phase on the store at ``url``; returns each phase's measurement."""
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
    finally:
        if name == "postgresql":
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {CEILING_TABLE}")
                command.downgrade(alembic_config(conn), "base")
        store.close()
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--pg", default=os.environ.get("SWARMSCOPE_TEST_PG_URL"))
    args = parser.parse_args()
    print(f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="swarmscope-ingest-") as tmp:
        run_backend("sqlite", str(Path(tmp) / "ingest.db"), args.rows, args.batch)
    if not args.pg:
        print("verdict: PostgreSQL not measured (give --pg URL of a scratch database)")
        return
    pg = run_backend("postgresql", args.pg, args.rows, args.batch)
    insert, ceiling = pg["insert"].rate, pg["ceiling"].rate
    met = "met" if insert >= GOAL_ROWS_PER_S else "NOT met"
    print(
        f"verdict: PostgreSQL insert {insert:,.0f} rows/s, goal {GOAL_ROWS_PER_S:,} rows/s {met}; "
        f"ceiling (unlogged, no index) {ceiling:,.0f} rows/s, insert/ceiling {insert / ceiling:.2f}"
    )


if __name__ == "__main__":
    main()
