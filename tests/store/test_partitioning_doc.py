"""docs/partitioning.md runs as written: every ```sql block of the page, in order, on the test PostgreSQL
over a migrated store, then what the page says of it: rows routed to their month's partition, a row
without one refused, the append-only triggers on every partition (one made later too) with the cloned
trigger seeing the partition's name, and dropping an evidence partition refused by the event trigger."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.database import Store, open_store
from tests.pg_server import drop_schema
from tests.store.factories import T0, add_swarms

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
PAGE = Path(__file__).resolve().parents[2] / "docs" / "partitioning.md"
JAN_2027 = 1_798_761_600_000_000  # 2027-01-01T00:00Z, UTC µs
FEB_2027 = 1_801_440_000_000_000  # 2027-02-01T00:00Z


def sql_blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", PAGE.read_text(), flags=re.S)


@pytest.fixture
def store() -> Iterator[Store]:
    assert PG_URL is not None
    opened = open_store(PG_URL, node_key=Ed25519PrivateKey.generate(), now_us=T0)
    try:
        add_swarms(opened)
        yield opened
    finally:
        opened.close()
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:  # event triggers belong to the database, not to the schema
            conn.exec_driver_sql("DROP EVENT TRIGGER IF EXISTS swarmscope_keep_evidence_partitions")
        engine.dispose()
        drop_schema(PG_URL)


def _refused(conn: sa.Connection, sql: str, params: dict[str, object] | None = None) -> str:
    with pytest.raises(sa.exc.DBAPIError) as caught, conn.begin_nested():
        conn.execute(sa.text(sql), params or {})
    return str(caught.value.orig)


def _insert(conn: sa.Connection, run_id: int, seen_at_us: int) -> str:
    row = conn.execute(
        sa.text(
            "INSERT INTO sighting_p (run_id, infohash, ip, port, source, detail, seen_at_us) "
            "VALUES (:run, :ih, '127.0.1.5', 6881, 'tracker', 't', :at) RETURNING tableoid::regclass::text"
        ),
        {"run": run_id, "ih": "aa" * 20, "at": seen_at_us},
    )
    return str(row.scalar_one())


def test_the_page_runs_as_written_and_does_what_it_says(store: Store) -> None:
    blocks = sql_blocks()
    assert len(blocks) == 2
    run_id = store.start_run({}, "0.1.0", T0)
    with store.engine.connect() as conn, conn.begin():
        cursor = conn.connection.cursor()  # the driver's own: no parameters, so '%' stays as psql reads it
        for block in blocks:
            cursor.execute(block)
        assert _insert(conn, run_id, T0) == "sighting_p_2026_11"  # T0: 2026-11-30
        assert _insert(conn, run_id, JAN_2027 - 1) == "sighting_p_2026_12"
        missing = "INSERT INTO sighting_p (run_id, infohash, ip, port, source, detail, seen_at_us) "
        missing += "VALUES (:run, :ih, '127.0.1.5', 6881, 'tracker', 't', :at)"
        reason = _refused(conn, missing, {"run": run_id, "ih": "aa" * 20, "at": FEB_2027})
        assert 'no partition of relation "sighting_p" found for row' in reason
        conn.exec_driver_sql(
            "CREATE TABLE sighting_p_2027_01 PARTITION OF sighting_p "
            f"FOR VALUES FROM ({JAN_2027}) TO ({FEB_2027})"
        )
        assert _insert(conn, run_id, JAN_2027) == "sighting_p_2027_01"
        for month in ("2026_11", "2026_12", "2027_01"):  # the parent's triggers, on every partition
            where = {"lo": 0}
            update = _refused(conn, f"UPDATE sighting_p_{month} SET port = 1 WHERE id > :lo", where)
            assert f"sighting_p_{month} is append-only" in update
            delete = _refused(conn, "DELETE FROM sighting_p WHERE seen_at_us >= :lo", where)
            assert "is append-only" in delete and "sighting_p_20" in delete  # TG_TABLE_NAME: the partition
        dropped = _refused(conn, "DROP TABLE sighting_p_2026_11")
        assert "evidence partition public.sighting_p_2026_11 may not be dropped" in dropped
        count = conn.execute(sa.text("SELECT count(*) FROM sighting_p")).scalar_one()
        assert count == 3


def test_the_page_names_the_migrations_that_ship() -> None:
    """The intro's migration range ends at the newest migration, and none of them partitions a table."""
    versions = PAGE.parents[1] / "src" / "swarmscope" / "store" / "migrations" / "versions"
    migrations = sorted(versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert f"0001 to {migrations[-1].name[:4]};" in " ".join(PAGE.read_text().split())
    assert not [m.name for m in migrations if "PARTITION" in m.read_text().upper()]
