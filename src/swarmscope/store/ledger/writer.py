"""Writing rows: swarms, monitor runs, and the append-only sightings and observations.

Evidence rows are only ever INSERTed here, in batches: one ``executemany`` per call inside the caller's
transaction, so a batch is committed whole or not at all. Nothing in this package updates or deletes a
sighting or an observation (and migration 0001's triggers refuse it at the database).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from swarmscope.evidence.declarations import EVIDENCE_SPECS
from swarmscope.evidence.records import Attribution, ClockSample, Observation, RunStarted, Sighting
from swarmscope.store.ledger.record_rows import BUILDERS, LedgerLink, RowBuilder
from swarmscope.store.ledger.schema import monitor_run, swarm
from swarmscope.store.metadata import metadata


@dataclass(frozen=True, slots=True)
class SwarmInfo:
    """A swarm as the monitor knows it, and as the store holds it.

    Args:
        infohash: the swarm id, lower-case hex (v1, or v2 for v2-only torrents; BEP 3 / BEP 52).
        v1, v2: the v1 (SHA-1) and v2 (SHA-256) infohash hex, when the torrent has them.
        name: the torrent's name. num_pieces: piece count. piece_length, total_size: bytes.
        metainfo: the exact .torrent bytes, or None (magnet-only, metadata not fetched yet).
        magnet: the magnet URI it came from, if any. added_us: UTC microseconds.
        id: the ``swarm`` row id once stored (:func:`swarmscope.store.ledger.queries.swarm_rows`), None
        before.
    """

    infohash: str
    v1: str | None
    v2: str | None
    name: str
    num_pieces: int
    piece_length: int
    total_size: int
    metainfo: bytes | None
    magnet: str | None
    added_us: int
    id: int | None = None


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None  # a single-row INSERT always has one
    return int(key[0])


def add_swarm(conn: sa.Connection, info: SwarmInfo) -> int:
    """Insert the swarm unless its infohash is known; returns the swarm row id.

    A swarm first added from a magnet (no metainfo) gets its metainfo fields filled in when it is added
    again with metainfo; otherwise an existing row is left as it is. Two nodes of a fleet that lease one
    swarm at once both add it: the one whose insert meets the other's row (unique infohash) takes that row.
    """
    values = {
        "infohash": info.infohash.lower(),
        "v1": info.v1.lower() if info.v1 else None,
        "v2": info.v2.lower() if info.v2 else None,
        "name": info.name,
        "num_pieces": info.num_pieces,
        "piece_length": info.piece_length,
        "total_size": info.total_size,
        "metainfo": info.metainfo,
        "magnet": info.magnet,
        "added_us": info.added_us,
    }
    known = sa.select(swarm.c.id, swarm.c.metainfo).where(swarm.c.infohash == values["infohash"])
    existing = conn.execute(known).first()
    if existing is None:
        try:
            with conn.begin_nested():  # a savepoint: another writer (a fleet node) may insert it meanwhile
                return _new_id(conn.execute(sa.insert(swarm).values(values)))
        except sa.exc.IntegrityError:
            existing = conn.execute(known).first()
            if existing is None:
                raise
    if existing.metainfo is None and info.metainfo is not None:
        fill = {k: v for k, v in values.items() if k not in ("infohash", "added_us", "magnet")}
        conn.execute(sa.update(swarm).where(swarm.c.id == existing.id).values(fill))
    return int(existing.id)


def start_run(conn: sa.Connection, settings: dict[str, Any], version: str, started_us: int | None) -> int:
    """Insert a monitor run; returns its id. ``started_us`` defaults to the system UTC clock."""
    if started_us is None:
        started_us = time.time_ns() // 1000
    row = {"started_us": started_us, "settings": settings, "software_version": version}
    return _new_id(conn.execute(sa.insert(monitor_run).values(row)))


def end_run(conn: sa.Connection, run_id: int, ended_us: int) -> None:
    """Set the end time (UTC microseconds) of a run (the only UPDATE this package issues)."""
    result = conn.execute(sa.update(monitor_run).where(monitor_run.c.id == run_id).values(ended_us=ended_us))
    if result.rowcount != 1:
        raise sa.exc.NoResultFound(f"no monitor run with id {run_id}")


# The row builders of the evidence records, derived from their declarations (evidence.declarations):
# ``builder(run_id, record, link)`` gives the row in table column order, without ``id``.
observation_row = BUILDERS[Observation]
sighting_row = BUILDERS[Sighting]
clock_sample_row = BUILDERS[ClockSample]
run_started_row = BUILDERS[RunStarted]  # its own ``run_id`` is kept as recorded; the argument is unused
attribution_row = BUILDERS[Attribution]


COPY_MIN_ROWS = 64  # below this, one pipelined executemany costs about what a COPY's round trips do


# The psycopg 3 type each portable column type is sent as in a binary COPY. JSON columns hold their JSON
# text already (the row builders serialise it): sent as ``text``, whose binary form (the UTF-8 bytes) is
# what the server's ``json_recv`` reads.
_BINARY_TYPES: dict[type[sa.types.TypeEngine[Any]], str] = {
    sa.Integer: "int4",
    sa.BigInteger: "int8",
    sa.Text: "text",
    sa.LargeBinary: "bytea",
    sa.Float: "float8",
    sa.Boolean: "bool",
    sa.JSON: "text",
}


def _binary_types(table: sa.Table, columns: list[str]) -> list[str] | None:
    """The binary COPY type of each of ``columns``, or None when one has a type not in the map."""
    names = []
    for column in columns:
        kind = type(table.c[column].type)
        if kind not in _BINARY_TYPES:
            return None
        names.append(_BINARY_TYPES[kind])
    return names


def _copy_rows(conn: sa.Connection, table: sa.Table, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """``rows`` into ``table`` by ``COPY (columns) FROM STDIN`` on the connection's psycopg 3 driver
    connection: binary format with each column's declared type (``Copy.set_types``; no hex text for bytea,
    no number parsing on the server), text format for a table with a column type outside
    :data:`_BINARY_TYPES` (psycopg dumps each value by its Python type: bytes as bytea, None as NULL).

    Raises:
        sqlalchemy.exc.DBAPIError: the server refused the COPY (a trigger or constraint: the subclass
            SQLAlchemy gives the driver's error, e.g. ``IntegrityError``), as ``exec_driver_sql`` would
            raise it: the driver cursor bypasses SQLAlchemy, whose callers catch only its own errors.
    """
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in columns)
    name = conn.dialect.identifier_preparer.format_table(table)
    driver = conn.connection.driver_connection
    assert driver is not None
    types = _binary_types(table, columns)
    statement = f"COPY {name} ({quoted}) FROM STDIN" + (" (FORMAT BINARY)" if types else "")
    dbapi = conn.dialect.loaded_dbapi
    from psycopg.types.string import BytesBinaryDumper  # here: SQLite-only use never imports psycopg

    try:
        with driver.cursor() as cursor:
            # psycopg's dbapi20 module registers a Python dumper for the bytea oid last, so set_types picks it
            # (about 1 µs per bytea value); registered again on this cursor, the C dumper of psycopg_binary.
            cursor.adapters.register_dumper(bytes, BytesBinaryDumper)
            with cursor.copy(statement) as copy:
                if types:
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error) from exc


def insert_many(
    conn: sa.Connection, table: sa.Table, rows: list[tuple[Any, ...]], statement: sa.Insert | None = None
) -> None:
    """One ``executemany`` of pre-serialised rows (table column order, ``id`` omitted).

    The Core INSERT is compiled once for the connection's dialect and run with
    ``exec_driver_sql``: SQLAlchemy's per-row parameter processing cost more than SQLite itself
    (50,000 observations with every field set: ~2.2 s through ``Connection.execute``, ~0.7 s this way,
    of which ~0.5 s is SQLite's own ``executemany``). ``statement`` replaces the plain INSERT (e.g. one
    with ``ON CONFLICT DO NOTHING``); tables without an ``id`` column take every column.

    On PostgreSQL a plain INSERT of :data:`COPY_MIN_ROWS` rows or more goes in with ``COPY ... FROM STDIN``
    instead (psycopg 3's ``Cursor.copy``, in the caller's transaction; same rows, same triggers and
    constraints): a pipelined ``executemany`` costs one statement execution per row on the server.
    """
    if not rows:
        return
    columns = [c.name for c in table.columns if c.name != "id"]
    if statement is None and len(rows) >= COPY_MIN_ROWS and conn.dialect.name == "postgresql":
        _copy_rows(conn, table, columns, rows)
        return
    compiled = (statement if statement is not None else sa.insert(table)).compile(
        dialect=conn.dialect, column_keys=columns
    )
    if compiled.positional:
        if list(compiled.positiontup or ()) != columns:
            raise RuntimeError(f"{table.name}: compiled parameter order differs from column order")
        conn.exec_driver_sql(compiled.string, rows)
    else:
        conn.exec_driver_sql(compiled.string, [dict(zip(columns, row, strict=True)) for row in rows])


# record type -> (its table, its row builder), for every declared evidence record.
ROW_BUILDERS: dict[type[Any], tuple[sa.Table, RowBuilder]] = {
    spec.cls: (metadata.tables[str(spec.table)], BUILDERS[spec.cls]) for spec in EVIDENCE_SPECS
}


def insert_records(
    conn: sa.Connection, run_id: int, records: Sequence[Any], links: Sequence[LedgerLink]
) -> None:
    """Append evidence records of any kind, one ``executemany`` per table, each with its ledger link.

    Args:
        conn: the caller's transaction. run_id: the monitor run. records: Observation, Sighting,
            ClockSample, RunStarted or Attribution values. links: (node id, ledger index) per record, same
            order.
    """
    rows: dict[type[Any], list[tuple[Any, ...]]] = {}
    for record, link in zip(records, links, strict=True):
        kind = type(record)
        rows.setdefault(kind, []).append(ROW_BUILDERS[kind][1](run_id, record, link))
    for kind, kind_rows in rows.items():
        insert_many(conn, ROW_BUILDERS[kind][0], kind_rows)
