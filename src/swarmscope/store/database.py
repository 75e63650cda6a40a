"""Opening the evidence store: engine creation, SQLite pragmas, Alembic migrations, the :class:`Store`.

SQLite (the embedded default) is opened with:

- ``journal_mode=WAL``: the one writer (the monitor) never blocks readers (``report``, the web UI),
  and a reader never blocks the writer.
- ``foreign_keys=ON``: every sighting/observation must name a known run and swarm.
- ``synchronous=FULL``: in WAL mode ``NORMAL`` never corrupts the file but may lose the *last committed*
  transactions on power loss or an OS crash. Evidence that a run reported as committed must still be
  there afterwards, and the cost of ``FULL`` (one fsync of the WAL per commit) is paid once per batch,
  not per row, because the writer commits in batches (see :mod:`swarmscope.store.writer`).
- ``busy_timeout=10000`` (ms): a reader opening during a write waits instead of failing at once.

Any other SQLAlchemy URL (``postgresql+psycopg://...``) is passed through unchanged; the schema uses
only portable types, so PostgreSQL needs a driver, not a rewrite.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Engine, make_url

from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.records import Observation, Sighting
from swarmscope.store import writer

DEFAULT_DB = "swarmscope.db"  # shared by `swarmscope monitor` and `swarmscope report`
BUSY_TIMEOUT_MS = 10_000
_PACKAGE_DIR = Path(__file__).resolve().parent


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
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"not a database URL: {url_or_path!r}") from exc


def _sqlite_file(url: URL) -> str | None:
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


def create_engine(url: URL) -> Engine:
    """Build an engine; SQLite connections get the pragmas in the module docstring.

    Args:
        url: the database URL (see :func:`database_url`).

    Returns:
        A new :class:`Engine` (the caller disposes of it).
    """
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False})
    sa.event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


def alembic_config(connection: sa.Connection) -> Config:
    """Alembic configuration for the packaged migrations, bound to an open connection.

    Args:
        connection: the connection migrations run on (``env.py`` uses it instead of a URL).

    Returns:
        A :class:`alembic.config.Config` usable with ``alembic.command.upgrade/downgrade``.
    """
    config = Config(str(_PACKAGE_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(_PACKAGE_DIR / "migrations"))
    config.attributes["connection"] = connection
    return config


def _check_existing(engine: Engine, where: str, create: bool) -> None:
    """Refuse a database with other tables (never migrate into it), or an empty one unless creating."""
    tables = set(sa.inspect(engine).get_table_names())
    if tables and "alembic_version" not in tables:
        raise StoreError(f"{where} is not a swarmscope database (it has other tables)")
    if not tables and not create:
        raise StoreError(f"{where} is not a swarmscope database (it is empty)")


def open_store(url_or_path: str, *, create: bool = True) -> Store:
    """Open (and with ``create`` make) the evidence store, migrating its schema to the newest revision.

    Args:
        url_or_path: a filesystem path (SQLite file) or an SQLAlchemy URL.
        create: when False, the database must already exist and be a swarmscope store (used by readers
            such as ``swarmscope report``); when True a missing SQLite file is created.

    Returns:
        An open :class:`Store`; call :meth:`Store.close` when done.

    Raises:
        StoreError: missing file (``create=False``), unreadable file, a database holding other tables
            (never migrated into), failed migration.
    """
    url = database_url(url_or_path)
    path = _sqlite_file(url)
    if path is not None and not create and not os.path.isfile(path):
        raise StoreError(f"database not found: {path}")
    engine = create_engine(url)
    try:
        _check_existing(engine, path or url.render_as_string(hide_password=True), create)
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        reason = str(exc.orig) if isinstance(exc, sa.exc.DBAPIError) else str(exc)
        raise StoreError(f"cannot open database {path or url_or_path}: {reason}") from exc
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


class Store:
    """The evidence store: one writer, append-only evidence tables (see :mod:`swarmscope.store.schema`).

    Args:
        engine: an engine whose database is migrated to head (use :func:`open_store`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """One write transaction; database errors become :class:`StoreError` (nothing is committed)."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            reason = str(exc.orig) if isinstance(exc, sa.exc.DBAPIError) else str(exc)
            raise StoreError(f"write refused: {reason}") from exc

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
        with self._write() as conn:
            return writer.add_swarm(
                conn,
                writer.SwarmInfo(
                    infohash, v1, v2, name, num_pieces, piece_length, total_size, metainfo, magnet, added_us
                ),
            )

    def start_run(self, settings: dict[str, Any], version: str, started_us: int | None = None) -> int:
        """Record the start of a monitor run; returns the run id.

        Args:
            settings: the run's settings (JSON-serialisable). version: swarmscope version string.
            started_us: UTC microseconds; defaults to now (the store is an adapter; it may read a clock).
        """
        with self._write() as conn:
            return writer.start_run(conn, settings, version, started_us)

    def end_run(self, run_id: int, ended_us: int) -> None:
        """Record when run ``run_id`` ended (UTC microseconds)."""
        with self._write() as conn:
            writer.end_run(conn, run_id, ended_us)

    def add_sightings(self, run_id: int, sightings: Sequence[Sighting]) -> None:
        """Append sightings of run ``run_id`` in one transaction (one ``executemany``)."""
        if sightings:
            with self._write() as conn:
                writer.insert_sightings(conn, run_id, sightings)

    def add_observations(self, run_id: int, observations: Sequence[Observation]) -> None:
        """Append observations of run ``run_id`` in one transaction (one ``executemany``)."""
        if observations:
            with self._write() as conn:
                writer.insert_observations(conn, run_id, observations)

    def close(self) -> None:
        """Release every connection (checkpointing the WAL when this was the last one)."""
        self.engine.dispose()
