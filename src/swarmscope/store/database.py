"""Opening the evidence store: engine creation, SQLite pragmas, Alembic migrations, the :class:`Store`.

SQLite (the embedded default) is opened with:

- ``journal_mode=WAL``: the one writer (the monitor) never blocks readers (``report``, the web UI),
  and a reader never blocks the writer.
- ``foreign_keys=ON``: every sighting/observation must name a known run and swarm.
- ``synchronous=FULL``: in WAL mode ``NORMAL`` never corrupts the file but may lose the *last committed*
  transactions on power loss or an OS crash. Evidence that a run reported as committed must still be
  there afterwards, and the cost of ``FULL`` (one fsync of the WAL per commit) is paid once per batch,
  not per row, because the writer commits in batches (see :mod:`swarmscope.store.ledger.writer`).
- ``busy_timeout=10000`` (ms): a reader opening during a write waits instead of failing at once;
- the driver's own implicit ``BEGIN`` is switched off and SQLAlchemy's ``begin`` emits it, so an
  evidence commit can start with ``BEGIN IMMEDIATE`` (take the write lock before reading the chain head;
  two writers serialise instead of both extending the same head). See :mod:`swarmscope.store.ledger.commit`.

Any other SQLAlchemy URL (``postgresql+psycopg://...``) is passed through (portable types only)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import URL, Engine, make_url

from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.canonical import EvidenceRecord
from swarmscope.evidence.records import Observation, Sighting
from swarmscope.evidence.seal import SealedBatch
from swarmscope.store.access import schema as _access_schema  # noqa: F401  registers the console's tables
from swarmscope.store.console import schema as _console_schema  # noqa: F401  registers the read models
from swarmscope.store.fleet import schema as fleet_schema  # noqa: F401  (registers the fleet's tables)
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger import head_witness, writer
from swarmscope.store.ledger.recovery import RecoveryReport, recover
from swarmscope.store.ledger.schema import APPEND_ONLY_TABLES as LEDGER_APPEND_ONLY
from swarmscope.store.ledger.schema import batch_timestamp
from swarmscope.store.legal.schema import CASE_APPEND_ONLY_TABLES  # also registers the workflow's tables
from swarmscope.store.migrate import migrate_to_head
from swarmscope.store.pg_timeouts import connect_args

APPEND_ONLY_TABLES = LEDGER_APPEND_ONLY + CASE_APPEND_ONLY_TABLES  # UPDATE/DELETE refused by triggers

DEFAULT_DB = "swarmscope.db"  # shared by `swarmscope monitor` and `swarmscope report`
BUSY_TIMEOUT_MS = 10_000


class StoreError(SwarmscopeError):
    """The database is missing, unreadable, not a swarmscope store, or refused a write."""


def database_url(url_or_path: str) -> URL:
    """Turn a filesystem path or an SQLAlchemy URL string into a :class:`URL`.

    Args:
        url_or_path: ``"swarmscope.db"``, ``"/abs/path.db"`` or a URL such as ``"sqlite:///x.db"``.

    Returns:
        The parsed URL (a path becomes ``sqlite:///<path>``).

    Raises:
        StoreError: when the string is neither a path nor a valid URL.
    """
    if "://" not in url_or_path:
        return URL.create("sqlite", database=url_or_path)
    try:
        return make_url(url_or_path)
    except (sa.exc.ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url_or_path)  # never the password
        raise StoreError(f"not a database URL: {shown!r}") from exc


def sqlite_file(url: URL) -> str | None:
    """The file an SQLite URL names, or None for in-memory and non-SQLite URLs."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below emits BEGIN


def _sqlite_begin(conn: sa.Connection) -> None:
    """Start a transaction: ``BEGIN IMMEDIATE`` when the connection asks for the write lock up front."""
    immediate = conn.get_execution_options().get("swarmscope_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _reason(exc: sa.exc.SQLAlchemyError) -> str:
    """The driver's message on one line (libpq's span several: "server closed the connection...\n\t...")."""
    return " ".join(str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc).split())


def create_engine(url: URL) -> Engine:
    """A new engine for ``url`` (:func:`database_url`; the caller disposes of it). SQLite connections get
    the pragmas in the module docstring; other databases ``pool_pre_ping`` (a pooled connection is checked
    when taken, so after a server restart the next write reconnects instead of failing); PostgreSQL's get
    libpq connection and TCP timeouts unless the URL names them (:mod:`swarmscope.store.pg_timeouts`)."""
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args(url))
    engine = sa.create_engine(url, connect_args={"check_same_thread": False})
    sa.event.listen(engine, "connect", _set_sqlite_pragmas)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _check_existing(engine: Engine, where: str, create: bool) -> set[str]:
    """The database's table names; refuse a database with other tables (never migrate into it), or an
    empty one unless creating."""
    tables = set(sa.inspect(engine).get_table_names())
    if tables and "alembic_version" not in tables:
        raise StoreError(f"{where} is not a swarmscope database (it has other tables)")
    if not tables and not create:
        raise StoreError(f"{where} is not a swarmscope database (it is empty)")
    return tables


def open_store(
    url_or_path: str,
    *,
    create: bool = True,
    node_key: Ed25519PrivateKey | None = None,
    now_us: int | None = None,
) -> Store:
    """Open (and with ``create`` make) the evidence store, migrating its schema to the newest revision.

    Args:
        url_or_path: a filesystem path (SQLite file) or an SQLAlchemy URL.
        create: when False, the database must already exist and be a swarmscope store (used by readers
            such as ``swarmscope report``); when True a missing SQLite file is created.
        node_key: the node's signing key (:func:`swarmscope.store.ledger.node_key.load_or_create_node_key`).
            With it the store is a writer: the key is registered in ``node_key`` and
            :meth:`Store.recover` runs before this returns (its report is ``store.ledger.recovery``). Without
            it the store is read-only for evidence (evidence writes raise :class:`StoreError`).
        now_us: UTC microseconds for the node registration and any batch recovery seals (default: the
            system clock; pass the monitor's honest clock).

    Returns:
        An open :class:`Store`; call :meth:`Store.close` when done.

    Raises:
        StoreError: missing file (``create=False``), unreadable file, a database holding other tables
            (never migrated into), failed migration, a damaged ledger recovery cannot repair.
    """
    url = database_url(url_or_path)
    path = sqlite_file(url)
    if path is not None and not create and not os.path.isfile(path):
        raise StoreError(f"database not found: {path}")
    engine = create_engine(url)
    shown = path or url.render_as_string(hide_password=True)  # a URL's password is never printed
    try:
        tables = _check_existing(engine, shown, create)
        with engine.begin() as connection:
            migrate_to_head(connection, tables)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot open database {shown}: {_reason(exc)}") from exc
    except BaseException:
        engine.dispose()
        raise
    store = Store(engine)
    if node_key is not None:
        try:
            store.attach_node_key(node_key, now_us)
        except BaseException:
            store.close()
            raise
    return store


class Store:
    """The evidence store: one writer, append-only evidence tables (see
    :mod:`swarmscope.store.ledger.schema`).

    Args:
        engine: an engine whose database is migrated to head (use :func:`open_store`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.node: ledger.Node | None = None
        self.recovery: RecoveryReport | None = None
        self.witness: Path | None = None  # the chain-head witness file (cli.node_identity.bind_witness)

    @contextmanager
    def _write(self, *, immediate: bool = False) -> Iterator[sa.Connection]:
        """One write transaction; database errors become :class:`StoreError` (nothing is committed).

        ``immediate``: on SQLite take the write lock at BEGIN (chain head reads; see ``ledger``).
        """
        try:
            with self.engine.connect() as conn:
                conn.info.pop(head_witness.SEALED_HEAD, None)  # a pooled connection's rolled-back seal
                head_witness.keep(conn, self.witness)
                if immediate:
                    conn.execution_options(swarmscope_immediate=True)
                with conn.begin():
                    yield conn
                head_witness.after_commit(conn, self.witness, self.node)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"write refused: {_reason(exc)}") from exc
        except (ledger.LedgerStateError, head_witness.WitnessError) as exc:
            raise StoreError(f"write refused: {exc}") from exc

    def attach_node_key(self, key: Ed25519PrivateKey, now_us: int | None = None) -> RecoveryReport:
        """Make this store a writer for ``key``: register the node, then run :meth:`recover`.

        Args:
            key: the node's Ed25519 key. now_us: UTC microseconds (default: system clock).

        Returns:
            The recovery report (also kept as ``self.recovery``).

        Raises:
            StoreError: the database refused the registration; damage recovery cannot repair.
        """
        now = time.time_ns() // 1000 if now_us is None else now_us
        with self._write(immediate=True) as conn:
            self.node = ledger.register_node(conn, key, now)
        self.recovery = self.recover(now)
        return self.recovery

    def recover(self, now_us: int) -> RecoveryReport:
        """Check this node's ledger from its last sealed head and handle a half-written batch.

        See :func:`swarmscope.store.ledger.recovery.recover` (what is detected, what is done).

        Raises:
            StoreError: no node key; a damaged ledger recovery cannot repair.
        """
        if self.node is None:
            raise StoreError("recovery needs the node's signing key (open_store(..., node_key=...))")
        with self._write(immediate=True) as conn:
            return recover(conn, self.node, now_us)

    def commit_evidence(
        self,
        run_id: int,
        *,
        records: Sequence[EvidenceRecord],
        captures: Mapping[bytes, bytes] | None = None,
        blobs: Mapping[bytes, bytes] | None = None,
        reference_pieces: Sequence[tuple[str, int, bytes]] = (),
        sealed_at_us: int,
        clock: dict[str, Any] | None = None,
    ) -> SealedBatch | None:
        """Append, chain and seal evidence records with their content, in ONE transaction.

        Args:
            run_id: the monitor run the records belong to.
            records: Observation, Sighting, ClockSample or RunStarted values, in ledger order.
            captures: wire captures, SHA-256 → encoded capture bytes (stored once; duplicates skipped).
            blobs: proving blocks and other content, SHA-256 → bytes (stored once).
            reference_pieces: (infohash hex, piece index, bytes) of reference content (stored once).
            sealed_at_us: UTC microseconds of the seal (the caller's honest clock).
            clock: the clock measurement behind ``sealed_at_us`` (see :class:`evidence.seal.Batch`).

        Returns:
            The :class:`SealedBatch` covering exactly these records, or None when ``records`` is empty
            (content is still stored then, unsealed: it is content-addressed and proves nothing alone).

        Raises:
            StoreError: no node key; a capture/blob key that is not its data's SHA-256; the database
                refused a row (unknown run or swarm...); unsealed ledger entries (recovery not run).
                Nothing is written then.

        Source: README "Sealed ledger" and "Crash safety".
        """
        extra = ledger.Commit(captures or {}, blobs or {}, reference_pieces, sealed_at_us, clock)
        return self.commit_batch(run_id, records, extra)

    def commit_batch(
        self, run_id: int, records: Sequence[EvidenceRecord], extra: ledger.Commit
    ) -> SealedBatch | None:
        """:meth:`commit_evidence` with its content in ``extra``, whose ``canonical`` may carry each
        record's canonical bytes when the caller proved them (the evidence writer process's strict
        decoder: decode, re-encode, compare); raises as :meth:`commit_evidence`."""
        if self.node is None or self.node.private_key is None:
            raise StoreError("evidence writes need the node's signing key (open_store(..., node_key=...))")
        with self._write(immediate=True) as conn:
            if not records:
                ledger.store_content(conn, extra)
                return None
            sealed, _batch_id = ledger.commit(conn, self.node, run_id, records, extra)
            return sealed

    def committed_batch(self, records: Sequence[EvidenceRecord], sealed_at_us: int) -> SealedBatch | None:
        """The sealed batch a failed :meth:`commit_evidence` of ``records`` stored after all, or None.

        A commit that raised may still have committed (its answer was lost: see ``ledger.find_commit``);
        a caller retrying it asks this first, so the records are never chained twice.

        Raises:
            StoreError: no node key; the database cannot be read (still unreachable: ask again later).
        """
        if self.node is None:
            raise StoreError("committed_batch needs the node's signing key (open_store(..., node_key=...))")
        with self._write() as conn:
            return ledger.find_commit(conn, self.node, records, sealed_at_us)

    def add_timestamp_token(self, batch: int | SealedBatch, tsa_url: str, token: bytes, added_us: int) -> int:
        """Store an RFC 3161 timestamp token (DER) obtained for a sealed batch; returns the row id.

        Args:
            batch: ``ledger_batch.id`` (see ``ledger.entries.load_batches``) or the :class:`SealedBatch`
                that :meth:`commit_evidence` returned (found by signer, last index and head hash).
            tsa_url: the authority asked. token: the TimeStampToken DER. added_us: UTC microseconds.

        Raises:
            StoreError: unknown batch, or the database refused the row.
        """
        with self._write() as conn:
            batch_id = batch if isinstance(batch, int) else ledger.find_batch(conn, batch)
            if batch_id is None:
                raise StoreError("timestamp token: no such sealed batch in this store")
            row = {"batch_id": batch_id, "tsa_url": tsa_url, "token": token, "added_us": added_us}
            key = conn.execute(sa.insert(batch_timestamp).values(row)).inserted_primary_key
            assert key is not None
            return int(key[0])

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_swarm(
        self,
        infohash: str,
        v1: str | None,
        v2: str | None,
        name: str,
        num_pieces: int,
        piece_length: int,
        total_size: int,
        metainfo: bytes | None,
        magnet: str | None,
        added_us: int,
    ) -> int:
        """Record a swarm (idempotent per infohash); returns its row id. See :func:`writer.add_swarm`."""
        fields = (name, num_pieces, piece_length, total_size, metainfo, magnet, added_us)
        with self._write(immediate=True) as conn:  # read, then insert: SQLite WAL upgrades no stale read
            return writer.add_swarm(conn, writer.SwarmInfo(infohash, v1, v2, *fields))

    def start_run(self, settings: dict[str, Any], version: str, started_us: int | None = None) -> int:
        """Record the start of a monitor run (settings JSON-serialisable; ``started_us`` UTC µs, default
        now: the store is an adapter, it may read a clock); returns the run id."""
        with self._write() as conn:
            return writer.start_run(conn, settings, version, started_us)

    def end_run(self, run_id: int, ended_us: int) -> None:
        """Record when run ``run_id`` ended (UTC microseconds)."""
        with self._write() as conn:
            writer.end_run(conn, run_id, ended_us)

    def add_sightings(
        self, run_id: int, sightings: Sequence[Sighting], sealed_at_us: int | None = None
    ) -> None:
        """Append and seal sightings of run ``run_id`` (:meth:`commit_evidence`; default: system clock)."""
        if sightings:
            now = time.time_ns() // 1000 if sealed_at_us is None else sealed_at_us
            self.commit_evidence(run_id, records=sightings, sealed_at_us=now)

    def add_observations(
        self, run_id: int, observations: Sequence[Observation], sealed_at_us: int | None = None
    ) -> None:
        """Append and seal observations of run ``run_id`` (:meth:`commit_evidence`; default: system clock)."""
        if observations:
            now = time.time_ns() // 1000 if sealed_at_us is None else sealed_at_us
            self.commit_evidence(run_id, records=observations, sealed_at_us=now)

    def close(self) -> None:
        """Release every connection (checkpointing the WAL when this was the last one)."""
        self.engine.dispose()
