"""Ingest benchmark: evidence rows per second into SQLite and PostgreSQL, through the store's writer path.

Usage (the repo's venv python, ``src`` on the path)::

    python bench/ingest.py [--rows 200000] [--batch 5000] [--pg postgresql+psycopg://...]

Runs, in one process, for SQLite (a file in a temporary directory) and, when ``--pg`` (or
``SWARMSCOPE_TEST_PG_URL``) names a SCRATCH PostgreSQL database, for PostgreSQL too (its swarmscope schema
is created, then dropped with ``alembic downgrade base`` at the end: never point it at real evidence):

- ``seal``: ``Store.commit_evidence`` with batches of ``--batch`` verified observations with every field set
  (:func:`bench.records.observations`): canonical bytes, the SHA-256 chain, the Ed25519 seal and the row
  inserts, one transaction per batch, as the monitor's writer seals;
- ``insert``: the rows alone, pre-built with ``writer.observation_row`` and written by
  ``writer.insert_many`` (one ``executemany`` per batch: psycopg 3 sends it pipelined, SQLite's executemany
  loops in C), one transaction per batch: the database's share of the above.

Prints one line per (backend, phase): rows, seconds, rows per second; a last ``verdict`` line compares
PostgreSQL's ``insert`` rate with the goal of 100,000 rows/s. A benchmark, not a test: nothing asserts a
speed. Wall-clock seconds (``time.perf_counter``).
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


def _batches(obs: list[Observation], size: int) -> list[list[Observation]]:
    return [obs[i : i + size] for i in range(0, len(obs), size)]


def _seal(store: Store, run: int, batches: list[list[Observation]]) -> None:
    for i, batch in enumerate(batches):
        store.commit_evidence(run, records=batch, sealed_at_us=T0 + 10**12 + i)


def _insert(store: Store, run: int, batches: list[list[Observation]]) -> None:
    rows = [[observation_row(run, o, (None, None)) for o in batch] for batch in batches]
    started = time.perf_counter()
    for batch_rows in rows:
        with store.engine.begin() as conn:
            insert_many(conn, observation, batch_rows)
    _insert.seconds = time.perf_counter() - started  # type: ignore[attr-defined]


def _timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_backend(name: str, url: str, rows: int, batch: int) -> dict[str, float]:
    """Both phases on the store at ``url``; returns rows per second per phase."""
    store = open_store(url, node_key=Ed25519PrivateKey.generate(), now_us=T0)
    rates: dict[str, float] = {}
    try:
        store.add_swarm(INFOHASH, INFOHASH, None, "bench.bin", 64, 16384, 1 << 20, None, None, T0)
        run = store.start_run({"bench": "ingest"}, "bench", T0)
        obs = observations(rows)
        seconds = _timed(lambda: _seal(store, run, _batches(obs, batch)))
        rates["seal"] = rows / seconds
        print(f"{name:10s} seal    {rows:8d} rows {seconds:7.2f} s {rates['seal']:10,.0f} rows/s", flush=True)
        # distinct start times, so the insert phase's rows are new rows, not the sealed ones again
        later = [dataclasses.replace(o, started_us=o.started_us + 10**9) for o in obs]
        _insert(store, run, _batches(later, batch))
        seconds = _insert.seconds  # type: ignore[attr-defined]
        rates["insert"] = rows / seconds
        print(
            f"{name:10s} insert  {rows:8d} rows {seconds:7.2f} s {rates['insert']:10,.0f} rows/s", flush=True
        )
    finally:
        if name == "postgresql":
            with store.engine.begin() as conn:
                command.downgrade(alembic_config(conn), "base")
        store.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--pg", default=os.environ.get("SWARMSCOPE_TEST_PG_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="swarmscope-ingest-") as tmp:
        run_backend("sqlite", str(Path(tmp) / "ingest.db"), args.rows, args.batch)
    if not args.pg:
        print("verdict: PostgreSQL not measured (give --pg URL of a scratch database)")
        return
    pg = run_backend("postgresql", args.pg, args.rows, args.batch)
    met = "met" if pg["insert"] >= GOAL_ROWS_PER_S else "NOT met"
    print(f"verdict: PostgreSQL insert {pg['insert']:,.0f} rows/s, goal {GOAL_ROWS_PER_S:,} rows/s {met}")


if __name__ == "__main__":
    main()
