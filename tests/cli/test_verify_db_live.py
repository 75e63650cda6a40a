"""``verify --db`` on a live database: a writer process commits sealed batches while the check reads.

The check must read one snapshot (SQLite: one read transaction in WAL mode; PostgreSQL: REPEATABLE READ),
so an honest ledger is never reported broken because a batch landed between two of its queries, and the
head it names must be one the writer committed. Both backends; PostgreSQL from ``tests.pg_server``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from swarmscope.cli.verify_ledger import run_verify_ledger
from swarmscope.evidence.seal import key_fingerprint
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import load_or_create_node_key
from tests.pg_server import backend_url, drop_schema
from tests.store.factories import T0, add_swarms, sighting

ROUNDS = 30
DEADLINE_S = 90.0  # bound on the rounds, whatever the machine's load
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def live_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A store with two swarms and one sealed batch (index 0), and its node key file."""
    url = backend_url(request.param, tmp_path)
    key_file = tmp_path / "node-key.pem"
    store = open_store(url, node_key=load_or_create_node_key(key_file), now_us=T0)
    try:
        add_swarms(store)
        store.add_sightings(store.start_run({}, "test", T0), [sighting()], T0)
    finally:
        store.close()
    yield url, key_file
    if request.param == "postgresql":
        drop_schema(url)


def _rounds(url: str, writer: subprocess.Popen[str]) -> list[tuple[int, dict[str, Any]]]:
    verdicts = []
    started = time.monotonic()
    while len(verdicts) < ROUNDS and time.monotonic() - started < DEADLINE_S and writer.poll() is None:
        out = io.StringIO()
        status = run_verify_ledger(url, as_json=True, console=Console(file=out, width=200))
        verdicts.append((status, json.loads(out.getvalue())))
    return verdicts


def test_verify_db_while_a_writer_commits(live_url: tuple[str, Path], tmp_path: Path) -> None:
    url, key_file = live_url
    stop = tmp_path / "stop"
    command = [sys.executable, "-m", "tests.cli.live_writer", url, str(key_file), str(stop)]
    writer = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        first = writer.stdout.readline() if writer.stdout else ""  # the writer is committing
        verdicts = _rounds(url, writer)
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=60)
    assert first and writer.returncode == 0 and out.endswith("done\n"), (first, writer.returncode)
    heads = {(int(i), h) for i, h in (line.split() for line in [first, *out.splitlines()[:-1]])}
    assert len(verdicts) >= 5, "too few rounds ran"
    fingerprint = key_fingerprint(load_or_create_node_key(key_file).public_key().public_bytes_raw())
    for status, body in verdicts:
        assert body["problems"] == [] and status == 0, body
        (head,) = [h for h in body["heads"] if h["node"] == fingerprint]
        assert (head["index"], head["head_hash"]) in heads, head
    assert len({body["heads"][0]["index"] for _s, body in verdicts}) > 1, "every round saw one head"
