"""Migrating the evidence store's schema to the packaged head revision, importing Alembic only when there is
something to migrate.

Every process that opens the store (the monitor, each probe process, the writer process, every command)
used to run ``alembic upgrade head`` on open, which imports Alembic (with Mako and Pygments: ≈ 0.2 s of CPU,
about a fifth of a probe process's start-up; docs/performance.md "Step 6") and reads every migration script,
only to find the database at head. :func:`migrate_to_head` first reads the ``alembic_version`` row: at
:data:`HEAD_REVISION` there is nothing to do (exactly what ``upgrade head`` would do there: nothing);
anything else (a new database, an older revision, a revision this software does not know) goes to Alembic
as before, which upgrades or refuses. Source: Alembic's ``command.upgrade`` ("head": the newest revision
of the script directory); ``tests/store/test_migrations.py`` pins :data:`HEAD_REVISION` to that head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision of migrations/versions (its ``revision``); a new migration changes it (the test above).
HEAD_REVISION = "0023"
_PACKAGE_DIR = Path(__file__).resolve().parent


def alembic_config(connection: sa.Connection) -> Config:
    """Alembic configuration (for ``alembic.command.upgrade/downgrade``) of the packaged migrations, bound
    to ``connection``, the connection they run on (``env.py`` uses it instead of a URL)."""
    from alembic.config import Config  # imported here: opening a store at head never needs Alembic

    config = Config(str(_PACKAGE_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(_PACKAGE_DIR / "migrations"))
    config.attributes["connection"] = connection
    return config


def at_head(connection: sa.Connection, tables: set[str]) -> bool:
    """True when ``tables`` (the database's table names) hold ``alembic_version`` with exactly one row,
    :data:`HEAD_REVISION`."""
    if "alembic_version" not in tables:
        return False
    rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    return rows == [HEAD_REVISION]


def migrate_to_head(connection: sa.Connection, tables: set[str]) -> None:
    """``alembic upgrade head`` on ``connection``, skipped when the database is at :data:`HEAD_REVISION`.

    Args:
        connection: in a transaction (``engine.begin()``). tables: the database's table names.

    Raises:
        sqlalchemy.exc.SQLAlchemyError, alembic's errors: as ``alembic.command.upgrade`` (a failed
        migration, a revision the scripts do not know).
    """
    if at_head(connection, tables):
        return
    from alembic import command  # imported here: see the module docstring

    command.upgrade(alembic_config(connection), "head")
