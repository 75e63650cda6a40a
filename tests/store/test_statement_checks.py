"""PostgreSQL checks the references of evidence rows and ledger entries once per statement (migration 0017),
and still refuses every row it refused before: an orphan (unknown run, swarm, node key or batch), a
fenced-out batch, the removal of a parent that rows still name; and now also a dangling ledger link, and
(schema revision 0019) a row with no ledger link at all, which no lease would fence.

On the real PostgreSQL (``SWARMSCOPE_TEST_PG_URL``, started by tests/conftest.py). Both writer paths are
tried: a single-row INSERT and a ``COPY`` (``writer.COPY_MIN_ROWS`` rows or more); a refused statement
leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.database import Store, StoreError
from swarmscope.store.fleet.fencing import FencedStore, FencingRefused
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.commit import register_node
from swarmscope.store.ledger.schema import ledger_entry
from swarmscope.store.ledger.schema import observation as observation_table
from swarmscope.store.ledger.schema import sighting as sighting_table
from tests.store.factories import SWARM_A, SWARM_B, T0, observation, sighting

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
UNKNOWN_SWARM = "cc" * 20
TABLES = {"observation": (observation_table, writer.observation_row, observation),
          "sighting": (sighting_table, writer.sighting_row, sighting)}  # fmt: skip
SIZES = [1, writer.COPY_MIN_ROWS + 36]  # an INSERT, a COPY


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def _rows(kind: str, run: int, n: int, link: Any, **fields: Any) -> list[tuple[Any, ...]]:
    _, build, record = TABLES[kind]
    return [build(run, record(port=1000 + i, **fields), link) for i in range(n)]


def _entry(store: Store, kind: str) -> tuple[int, int]:
    """A ledger link rows of ``kind`` may carry: entry 0 of a node of its own (not a valid chain, only the
    reference the statement check looks for; the store's own chain is left alone)."""
    with store.engine.begin() as conn:
        node = register_node(conn, Ed25519PrivateKey.generate(), T0).id
        writer.insert_many(conn, ledger_entry, _entry_rows(node, None, 1, kind=kind))
    return (node, 0)


def _insert(store: Store, kind: str, rows: list[tuple[Any, ...]]) -> None:
    with store.engine.begin() as conn:
        writer.insert_many(conn, TABLES[kind][0], rows)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", TABLES)
def test_an_unknown_run_or_swarm_refuses_the_whole_statement(pg_store: Store, kind: str, size: int) -> None:
    run = pg_store.start_run({}, "0.1.0", T0)
    link = _entry(pg_store, kind)
    good = _rows(kind, run, size - 1, link)
    for bad, message in (
        (_rows(kind, run + 1, 1, link), f"names monitor run {run + 1}, which does not exist"),
        (
            _rows(kind, run, 1, link, infohash=UNKNOWN_SWARM),
            f"names swarm {UNKNOWN_SWARM}, which does not exist",
        ),
    ):
        with pytest.raises(sa.exc.IntegrityError, match=message):
            _insert(pg_store, kind, [*good, *bad])  # the orphan last: the rows before it go too
    assert _count(pg_store, kind) == 0
    _insert(pg_store, kind, _rows(kind, run, size, link))
    assert _count(pg_store, kind) == size


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", TABLES)
def test_a_ledger_link_to_no_entry_of_its_kind_is_refused(pg_store: Store, kind: str, size: int) -> None:
    run = pg_store.start_run({}, "0.1.0", T0)
    pg_store.commit_evidence(run, records=[observation(ip="127.0.0.7")], sealed_at_us=T0)  # entry 0
    assert pg_store.node is not None
    node = pg_store.node.id
    before = _count(pg_store, kind)
    good = _entry(pg_store, kind)  # the linked rows beside the bad one: of node good[0], the newest node
    links = [(node, 1), (good[0] + 1, 0), (node, None), (None, 0)]  # no such entry / half a link
    if kind == "sighting":
        links.append((node, 0))  # entry 0 is an observation's
    for link in links:
        with pytest.raises(sa.exc.IntegrityError, match=f"{kind} row names ledger entry"):
            _insert(pg_store, kind, [*_rows(kind, run, size - 1, good), *_rows(kind, run, 1, link)])
    assert _count(pg_store, kind) == before
    _insert(pg_store, kind, _rows(kind, run, size, good))
    assert _count(pg_store, kind) == before + size


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", TABLES)
def test_a_row_with_no_ledger_link_is_refused(pg_store: Store, kind: str, size: int) -> None:
    """A row with neither ``ledger_node`` nor ``ledger_index`` is in no sealed batch, so no lease fences it:
    PostgreSQL refuses it (schema revision 0019), alone or among linked rows; SQLite still stores it as
    ``unsealed`` (tests/cli/test_report_evidence.py)."""
    run = pg_store.start_run({}, "0.1.0", T0)
    good = _rows(kind, run, size - 1, _entry(pg_store, kind))
    for rows in (_rows(kind, run, size, (None, None)), [*good, *_rows(kind, run, 1, (None, None))]):
        with pytest.raises(sa.exc.IntegrityError, match=f"{kind} row of .* has no ledger link"):
            _insert(pg_store, kind, rows)
    assert _count(pg_store, kind) == 0


@pytest.mark.parametrize(
    "statement",
    [
        f"DELETE FROM swarm WHERE infohash = '{SWARM_A}'",
        f"UPDATE swarm SET infohash = '{UNKNOWN_SWARM}' WHERE infohash = '{SWARM_A}'",
        "TRUNCATE swarm",
        "DELETE FROM monitor_run",
        "UPDATE monitor_run SET id = id + 100",
    ],
)
def test_a_parent_named_by_evidence_rows_cannot_go(pg_store: Store, statement: str) -> None:
    run = pg_store.start_run({}, "0.1.0", T0)
    _insert(pg_store, "sighting", _rows("sighting", run, 1, _entry(pg_store, "sighting")))
    with (
        pytest.raises(sa.exc.IntegrityError, match="is still named by sighting rows"),
        pg_store.engine.begin() as conn,
    ):
        conn.execute(sa.text(statement))
    assert _count(pg_store, "swarm") == 2 and _count(pg_store, "monitor_run") == 1


def test_a_parent_no_row_names_can_go(pg_store: Store) -> None:
    run = pg_store.start_run({}, "0.1.0", T0)
    _insert(
        pg_store,
        "observation",
        _rows("observation", run, 1, _entry(pg_store, "observation"), infohash=SWARM_B),
    )
    with pg_store.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE swarm SET name = 'renamed' WHERE infohash = '{SWARM_B}'"))
        conn.execute(sa.text(f"DELETE FROM swarm WHERE infohash = '{SWARM_A}'"))
    assert _count(pg_store, "swarm") == 1


def test_no_trigger_fires_per_inserted_row(pg_store: Store) -> None:
    """A COPY of n rows runs one check per statement, not 2n foreign-key triggers (a row-level INSERT
    trigger has bits ROW (1) and INSERT (4) in ``pg_trigger.tgtype``)."""
    query = (
        "SELECT tgrelid::regclass::text, tgname, (tgtype & 5) = 5 FROM pg_trigger "
        "WHERE tgrelid IN ('observation'::regclass, 'sighting'::regclass, 'ledger_entry'::regclass) "
        "AND (tgtype & 4) = 4"
    )
    with pg_store.engine.connect() as conn:
        found = {tuple(r) for r in conn.execute(sa.text(query))}
    per_statement = {(t, f"{t}_rows_checked", False) for t in ("observation", "sighting", "ledger_entry")}
    assert found == per_statement


def test_a_fenced_out_copy_batch_is_refused_whole(pg_store: Store) -> None:
    fleet = Fleet(pg_store)
    fleet.add_swarm(FleetSwarm(SWARM_A, "a", b"d4:infod", None, "film", 1))
    assert pg_store.node is not None
    fleet.start_node(NodeStart("a", pg_store.node.fingerprint, None, 0, 4))
    held = {lease.infohash: lease.token for lease in fleet.take("a", 1, 0.3, None)}
    fenced = FencedStore(pg_store, lambda: held)
    run = pg_store.start_run({}, "0.1.0", T0)
    batch = [dataclasses.replace(observation(), port=1000 + i) for i in range(writer.COPY_MIN_ROWS * 2)]
    fenced.commit_evidence(run, records=batch, sealed_at_us=T0)
    time.sleep(0.4)  # past the lease: the token is no longer a live lease
    late = [dataclasses.replace(o, started_us=o.started_us + 1) for o in batch]
    with pytest.raises(FencingRefused, match="expired"):
        fenced.commit_evidence(run, records=late, sealed_at_us=T0 + 1)
    assert _count(pg_store, "observation") == len(batch) and _count(pg_store, "ledger_batch") == 1


def test_a_refused_copy_batch_is_a_store_error_and_writes_nothing(pg_store: Store) -> None:
    """The COPY path raises the database's refusal as SQLAlchemy's error, which the store turns into its
    one-line StoreError, as for a small batch's INSERT (it used to escape as a raw psycopg error)."""
    run = pg_store.start_run({}, "0.1.0", T0)
    batch = [observation(port=1000 + i) for i in range(writer.COPY_MIN_ROWS)]
    with pytest.raises(StoreError, match=f"write refused: observation row names swarm {UNKNOWN_SWARM}"):
        pg_store.commit_evidence(run, records=[*batch, observation(infohash=UNKNOWN_SWARM)], sealed_at_us=T0)
    assert _count(pg_store, "observation") == 0 and _count(pg_store, "ledger_entry") == 0
    pg_store.commit_evidence(run, records=batch, sealed_at_us=T0)  # the chain is not left locked or broken
    assert _count(pg_store, "observation") == len(batch)


def _entry_rows(
    node: int, batch: int | None, n: int, first: int = 0, kind: str = "observation"
) -> list[tuple[Any, ...]]:
    """``ledger_entry`` rows (table column order, no id) of ``node``: not a valid chain, only references."""
    return [
        (node, first + i, kind, bytes(32), bytes(32), bytes(32), b"x", batch, None, None) for i in range(n)
    ]


@pytest.mark.parametrize("size", SIZES)
def test_a_ledger_entry_of_an_unknown_node_or_batch_is_refused(pg_store: Store, size: int) -> None:
    run = pg_store.start_run({}, "0.1.0", T0)
    pg_store.commit_evidence(run, records=[observation()], sealed_at_us=T0)
    assert pg_store.node is not None
    node = pg_store.node.id
    with pg_store.engine.connect() as conn:
        batch = int(conn.execute(sa.text("SELECT max(id) FROM ledger_batch")).scalar_one())
    for rows, message in (
        (_entry_rows(node + 1, None, size, 1), f"names node key {node + 1}, which does not exist"),
        (_entry_rows(node, batch + 1, size, 1), f"names ledger batch {batch + 1}, which does not exist"),
    ):
        with pytest.raises(sa.exc.IntegrityError, match=message), pg_store.engine.begin() as conn:
            writer.insert_many(conn, ledger_entry, rows)
    assert _count(pg_store, "ledger_entry") == 1
    with pg_store.engine.begin() as conn:  # entries sealed later by recovery name no batch
        writer.insert_many(conn, ledger_entry, _entry_rows(node, None, size, 1))
    assert _count(pg_store, "ledger_entry") == 1 + size


def test_a_node_key_named_by_ledger_entries_cannot_go(pg_store: Store) -> None:
    with pg_store.engine.begin() as conn:  # a node with entries but no batch (its only references)
        other = register_node(conn, Ed25519PrivateKey.generate(), T0).id
        writer.insert_many(conn, ledger_entry, _entry_rows(other, None, 2))
    named = f"node_key {other} is still named by ledger_entry rows"
    with pytest.raises(sa.exc.IntegrityError, match=named), pg_store.engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM node_key WHERE id = {other}"))
    with pg_store.engine.begin() as conn:
        unused = register_node(conn, Ed25519PrivateKey.generate(), T0).id
        conn.execute(sa.text(f"DELETE FROM node_key WHERE id = {unused}"))  # named by nothing: it may go
    assert _count(pg_store, "node_key") == 2
