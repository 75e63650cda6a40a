"""Opening the store: paths and URLs, SQLite pragmas, refusing missing or foreign databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from swarmscope.store.database import DEFAULT_DB, StoreError, database_url, open_store


def test_default_db_is_a_relative_sqlite_file() -> None:
    assert DEFAULT_DB == "swarmscope.db"
    assert database_url(DEFAULT_DB).render_as_string() == "sqlite:///swarmscope.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/tmp/x.db", "sqlite:////tmp/x.db"),
        ("rel/x.db", "sqlite:///rel/x.db"),
        ("sqlite:///y.db", "sqlite:///y.db"),
        ("postgresql+psycopg://u@localhost/swarmscope", "postgresql+psycopg://u@localhost/swarmscope"),
    ],
)
def test_database_url_accepts_paths_and_urls(given: str, expected: str) -> None:
    assert database_url(given).render_as_string(hide_password=False) == expected


def test_pragmas_on_every_connection(db_path: Path) -> None:
    store = open_store(str(db_path))
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    finally:
        store.close()
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_create_false_refuses_missing_file_without_creating_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(StoreError, match="database not found"):
        open_store(str(missing), create=False)
    assert not missing.exists()


@pytest.mark.parametrize("content", [b"", b"this is not sqlite at all" * 100])
def test_create_false_refuses_empty_or_garbage_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(content)
    with pytest.raises(StoreError, match=r"not a swarmscope database|cannot open database"):
        open_store(str(bad), create=False)


def test_refuses_foreign_sqlite_database(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE t (x)")
    raw.close()
    for create in (False, True):
        with pytest.raises(StoreError, match="other tables"):
            open_store(str(other), create=create)
    with sqlite3.connect(other) as raw:
        assert [r[0] for r in raw.execute("SELECT name FROM sqlite_master")] == ["t"]
    raw.close()


def test_reopen_existing_store_keeps_rows(db_path: Path) -> None:
    store = open_store(str(db_path))
    swarm_id = store.add_swarm("ab" * 20, "ab" * 20, None, "x", 1, 16384, 10, None, None, 5)
    store.close()
    again = open_store(str(db_path), create=False)
    try:
        with again.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM swarm")).scalar() == swarm_id
    finally:
        again.close()


def test_store_is_a_context_manager(db_path: Path) -> None:
    with open_store(str(db_path)) as store:
        run = store.start_run({}, "0.1.0", 1)
        store.end_run(run, 2)
    assert db_path.exists()


def test_wal_reader_sees_last_commit_while_writer_holds_a_transaction(db_path: Path) -> None:
    writer = open_store(str(db_path))
    try:
        writer.add_swarm("ab" * 20, None, None, "x", 1, 16384, 10, None, None, 5)
        with writer.engine.begin() as conn:  # an open write transaction, not yet committed
            conn.execute(
                sa.text(
                    "INSERT INTO monitor_run (started_us, settings, software_version) VALUES (1, '{}', 'v')"
                )
            )
            reader = open_store(str(db_path), create=False)  # neither blocks nor waits for the writer
            try:
                with reader.engine.connect() as rconn:
                    assert rconn.execute(sa.text("SELECT count(*) FROM swarm")).scalar() == 1
                    assert rconn.execute(sa.text("SELECT count(*) FROM monitor_run")).scalar() == 0
            finally:
                reader.close()
    finally:
        writer.close()


def test_a_failed_open_never_prints_the_url_password(tmp_path: Path) -> None:
    url = f"postgresql://alice:s3cret-pw@/swarm?host={tmp_path}/no-such-socket-dir"  # nothing listens there
    with pytest.raises(StoreError, match="cannot open database") as raised:
        open_store(url, create=False)
    assert "s3cret-pw" not in str(raised.value) and "alice:***@" in str(raised.value), raised.value


def test_a_malformed_url_is_shown_without_its_password() -> None:
    with pytest.raises(StoreError, match="not a database URL") as raised:
        database_url("postgresql://alice:s3cret-pw@host:notaport/swarm")
    assert "s3cret-pw" not in str(raised.value) and "alice:***@" in str(raised.value), raised.value
