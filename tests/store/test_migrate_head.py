"""Opening a store at the packaged head revision skips Alembic; any other database still goes through it.

``store.migrate.migrate_to_head`` reads the ``alembic_version`` row before it imports Alembic: at
``HEAD_REVISION`` there is nothing to upgrade (docs/performance.md "Step 6": ≈ 0.2 s of CPU per process that
opens the store). These tests pin that constant to the scripts' head, check that a store at head opens
without Alembic in a fresh interpreter, and that an older or an unknown revision is still Alembic's to
upgrade or refuse, as before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from swarmscope.store.database import create_engine, database_url, open_store
from swarmscope.store.migrate import HEAD_REVISION, alembic_config

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _version(db: Path) -> list[str]:
    engine = create_engine(database_url(str(db)))
    try:
        with engine.connect() as conn:
            return list(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
    finally:
        engine.dispose()


def test_head_revision_is_the_head_of_the_packaged_migrations(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s.db"))
    try:
        with store.engine.connect() as conn:
            heads = ScriptDirectory.from_config(alembic_config(conn)).get_heads()
    finally:
        store.close()
    assert heads == [HEAD_REVISION], "a new migration: set store.migrate.HEAD_REVISION to its revision"
    assert _version(tmp_path / "s.db") == [HEAD_REVISION]


def test_a_store_at_head_opens_without_importing_alembic(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    open_store(str(db)).close()
    code = (
        "import sys\n"
        "from swarmscope.store.database import open_store\n"
        f"open_store({str(db)!r}, create=False).close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={"PYTHONPATH": SRC}
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_an_older_revision_is_still_upgraded_on_open(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    open_store(str(db)).close()
    engine = create_engine(database_url(str(db)))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0021")
    finally:
        engine.dispose()
    assert _version(db) == ["0021"]
    open_store(str(db), create=False).close()
    assert _version(db) == [HEAD_REVISION]


def test_an_unknown_revision_is_still_refused_by_alembic(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    open_store(str(db)).close()
    engine = create_engine(database_url(str(db)))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    finally:
        engine.dispose()
    with pytest.raises(CommandError, match="9999"):
        open_store(str(db), create=False)
    assert _version(db) == ["9999"]
