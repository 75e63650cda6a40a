"""On PostgreSQL too: the case board's numeric DOE order (pages, keyset cursor, a request's cases) and a
session's idle time, on the same queries as SQLite. Runs only with ``SWARMSCOPE_TEST_PG_URL`` (see
tests/store/test_postgresql.py); the database is emptied afterwards."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from swarmscope.store.access import case_pages, scoping
from swarmscope.store.access import sessions as session_store
from swarmscope.store.access import users as user_store
from swarmscope.store.database import Store
from swarmscope.store.legal.schema import legal_case
from tests.web.conftest import NOW

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
MINUTE = 60_000_000


def test_doe_order_and_idle_sessions_on_postgresql(pg_store: Store) -> None:
    numbers = ["DOE-1000000", "DOE-999999", "DOE-000002", "DOE-1000001"]
    rows = [
        {"doe": doe, "ip": f"127.0.0.{i + 2}", "port": 6881, "infohash": "aa" * 20, "first_hit_us": NOW,
         "last_hit_us": NOW, "hits": 1, "status": "candidate", "created_us": NOW, "status_us": NOW}
        for i, doe in enumerate(numbers)
    ]  # fmt: skip
    with pg_store.engine.begin() as conn:
        conn.execute(sa.insert(legal_case), rows)
    numeric = ["DOE-000002", "DOE-999999", "DOE-1000000", "DOE-1000001"]
    first = case_pages.first_pages(pg_store, None, limit=3)["candidate"]
    assert [c.doe for c in first.cases] == numeric[:3] and first.next_cursor == "DOE-1000000"
    rest = case_pages.case_page(pg_store, None, ["candidate"], cursor=first.next_cursor, limit=3)
    assert [c.doe for c in rest.cases] == numeric[3:] and rest.next_cursor is None
    assert [c.doe for c in scoping.cases(pg_store, None)] == numeric
    user = user_store.add_user(pg_store, "ops", "viewer", None, None, NOW)
    session_store.open_session(pg_store, user.id, "ab" * 32, "csrf", None, NOW, NOW + 600 * MINUTE)
    assert session_store.find_session(pg_store, "ab" * 32, NOW + 29 * MINUTE, idle_us=30 * MINUTE)
    assert session_store.find_session(pg_store, "ab" * 32, NOW + 31 * MINUTE, idle_us=30 * MINUTE) is None
    assert session_store.find_session(pg_store, "ab" * 32, NOW + 31 * MINUTE) is not None  # no idle limit
