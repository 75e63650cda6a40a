"""How long the fleet waits on PostgreSQL (``store.pg_timeouts``): libpq connection and TCP timeouts on every
PostgreSQL engine (the URL's own win), and a node's lease transactions limited to its renewal period (a
renewal or take waiting on a row lock fails instead of hanging), the limit ending with the transaction.

The PostgreSQL tests run on the scratch server of tests/conftest.py (``SWARMSCOPE_TEST_PG_URL``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from swarmscope.store.database import Store, StoreError, create_engine
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.jobs import libpq_url
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from swarmscope.store.pg_timeouts import CONNECT_DEFAULTS, connect_args
from tests.store.factories import node_stores

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
needs_pg = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
SWARMS = [f"{i:02x}" * 20 for i in range(1, 3)]


def test_libpq_gets_connect_and_tcp_timeouts_unless_the_url_names_them() -> None:
    assert connect_args(make_url("postgresql+psycopg://u@db/evidence")) == CONNECT_DEFAULTS
    named = connect_args(make_url("postgresql+psycopg://u@db/evidence?connect_timeout=30"))
    assert "connect_timeout" not in named and named["tcp_user_timeout"] == 30_000
    assert connect_args(make_url("sqlite:///x.db")) == {}
    assert connect_args(make_url("postgresql+asyncpg://u@db/evidence")) == {}  # not libpq: unknown keys
    engine = create_engine(make_url("postgresql+psycopg://u:pw@db/evidence?connect_timeout=30"))
    try:  # the job queue's own connections (procrastinate, a libpq URI) get them too
        uri = make_url(libpq_url(engine))
    finally:
        engine.dispose()
    assert uri.drivername == "postgresql" and uri.password == "pw"
    assert uri.query["connect_timeout"] == "30" and uri.query["keepalives_idle"] == "10"


@pytest.fixture
def stores() -> Iterator[list[Store]]:
    assert PG_URL is not None
    with node_stores(PG_URL, 2) as opened:
        yield opened


def _start(fleet: Fleet, store: Store, name: str) -> int:
    assert store.node is not None
    return fleet.register(NodeStart(name, store.node.fingerprint, None, 0, 4), 30).incarnation


@needs_pg
def test_a_connection_carries_the_libpq_timeouts(stores: list[Store]) -> None:
    with stores[0].engine.connect() as conn:
        parameters = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    assert parameters["connect_timeout"] == "10" and parameters["tcp_user_timeout"] == "30000", parameters
    assert parameters["keepalives_idle"] == "10" and parameters["keepalives_count"] == "3"


@needs_pg
def test_a_renewal_waiting_on_a_row_lock_fails_within_the_timeout(stores: list[Store]) -> None:
    fleet = Fleet(stores[0], timeout=0.3)
    incarnation = _start(fleet, stores[0], "a")
    with stores[1].engine.connect() as blocker, blocker.begin():  # another session holds the node's row
        blocker.execute(sa.text("SELECT 1 FROM fleet_node WHERE name = 'a' FOR UPDATE"))
        began = time.monotonic()
        with pytest.raises(StoreError, match=r"(statement|lock) timeout"):
            fleet.renew("a", [], 30, 0.0, incarnation)
        assert time.monotonic() - began < 5.0  # not until the lock is given up
    assert fleet.renew("a", [], 30, 0.0, incarnation) == []  # the lock gone: it renews
    with stores[0].engine.connect() as conn:  # the limit ended with its transaction (pooled connection)
        shown = [
            conn.execute(sa.text(f"SHOW {name}")).scalar_one()
            for name in ("statement_timeout", "lock_timeout")
        ]
    assert shown == ["0", "0"]


@needs_pg
def test_a_take_cut_by_the_timeout_keeps_the_leases_it_took(stores: list[Store]) -> None:
    fleet = Fleet(stores[0], timeout=0.3)
    for infohash in SWARMS:
        fleet.add_swarm(FleetSwarm(infohash, infohash[:8], b"d4:infod", None, "film", 1))
    _start(fleet, stores[1], "b")
    assert len(fleet.take("b", 2, 0.1, None)) == 2
    time.sleep(0.2)  # b's leases expire: a takes them over
    _start(fleet, stores[0], "a")
    with stores[1].engine.connect() as blocker, blocker.begin():  # b's batch in flight holds the second
        query = "SELECT 1 FROM fleet_lease WHERE infohash = :h FOR SHARE"
        blocker.execute(sa.text(query), {"h": SWARMS[1]})
        taken = fleet.take("a", 2, 30, None)
    assert [lease.infohash for lease in taken] == [SWARMS[0]]  # the first, committed, is not lost
    assert [lease.infohash for lease in fleet.take("a", 2, 30, None)] == [SWARMS[1]]  # the rest next round
