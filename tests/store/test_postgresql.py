"""The same store on PostgreSQL: migrations, round trips, append-only triggers.

Runs only when ``SWARMSCOPE_TEST_PG_URL`` names an empty scratch database, e.g.
``postgresql+psycopg://postgres@/swarmscope_test?host=/tmp/pg/sock`` (a server on a Unix socket or
loopback); the database is downgraded to empty afterwards. Needs the ``psycopg`` driver.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from swarmscope.evidence.records import ExtensionInfo
from swarmscope.store import queries
from swarmscope.store.database import Store, alembic_config, open_store
from swarmscope.store.schema import metadata
from tests.store.factories import SWARM_B, T0, add_swarms, full_observation, observation, sighting

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


@pytest.fixture
def pg_store() -> Iterator[Store]:
    assert PG_URL is not None
    store = open_store(PG_URL)
    try:
        add_swarms(store)
        yield store
    finally:
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        store.close()


def test_round_trip_on_postgresql(pg_store: Store) -> None:
    run = pg_store.start_run({"k": [1, 2]}, "0.1.0", T0)
    obs = [
        full_observation(),
        observation(),
        full_observation(extension=ExtensionInfo(), infohash=SWARM_B, quirks=('he said "hi"\\',)),
    ]
    pg_store.add_observations(run, obs)
    pg_store.add_sightings(run, [sighting(), sighting(peer_id=b"\x00" * 20)])
    pg_store.end_run(run, T0 + 1)
    assert queries.load_observations(pg_store) == obs
    assert queries.load_sightings(pg_store) == [sighting(), sighting(peer_id=b"\x00" * 20)]
    assert queries.run_rows(pg_store)[0].settings == {"k": [1, 2]}


@pytest.mark.parametrize("statement", ["UPDATE observation SET ip = 'x'", "DELETE FROM sighting"])
def test_append_only_on_postgresql(pg_store: Store, statement: str) -> None:
    run = pg_store.start_run({}, "0.1.0", T0)
    pg_store.add_observations(run, [observation()])
    pg_store.add_sightings(run, [sighting()])
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), pg_store.engine.begin() as conn:
        conn.execute(sa.text(statement))


def test_downgrade_upgrade_on_postgresql(pg_store: Store) -> None:
    with pg_store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
        command.upgrade(alembic_config(conn), "head")
    assert {"swarm", "monitor_run", "sighting", "observation"} <= set(
        sa.inspect(pg_store.engine).get_table_names()
    )


def test_no_drift_from_schema_module_on_postgresql(pg_store: Store) -> None:
    with pg_store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
