"""Emptying a SCRATCH PostgreSQL database: the test fixtures' and the benchmarks' reset between runs.

Never for a store holding evidence: :func:`drop_schema` removes every table, row, function, trigger and
sequence of the ``public`` schema (the swarmscope schema, and procrastinate's, which an ``alembic
downgrade`` does not remove) and re-creates that schema empty, so the next ``open_store`` migrates from
nothing.
"""

from __future__ import annotations

import sqlalchemy as sa


def drop_schema(url: str) -> None:
    """``DROP SCHEMA public CASCADE`` then ``CREATE SCHEMA public`` in one transaction on ``url``.

    Raises:
        ValueError: ``url`` is not a PostgreSQL URL (a SQLite scratch store is a file: delete it).
        sqlalchemy.exc.SQLAlchemyError: the server refused or could not be reached.
    """
    if sa.engine.make_url(url).get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {sa.engine.make_url(url).render_as_string()}")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
