"""Alembic environment of the evidence store.

Run by :func:`swarmscope.store.database.open_store` with an open connection in
``config.attributes["connection"]``; from the ``alembic`` command line, give the database with
``-x url=sqlite:///path.db`` (or set ``sqlalchemy.url``). SQLite migrations use batch mode, since SQLite
cannot ALTER most table properties in place.
"""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from swarmscope.store.ledger.schema import compared_on
from swarmscope.store.metadata import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=compared_on(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///path.db ...")
    from swarmscope.store.database import create_engine, database_url

    engine = create_engine(database_url(url))
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported; migrate a database directly")
_run_online()
