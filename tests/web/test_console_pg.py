"""The console over PostgreSQL: users, sessions, throttling and client scoping on the same queries.

Runs only when ``SWARMSCOPE_TEST_PG_URL`` names an empty scratch database (see
tests/store/test_postgresql.py); the database is downgraded to empty afterwards.
"""

from __future__ import annotations

import os

import pytest

from swarmscope.cases.directory import add_work
from swarmscope.store.access import tokens as token_store
from swarmscope.store.database import Store
from swarmscope.web import accounts
from swarmscope.web.app import create_app
from swarmscope.web.deps import now_us
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings
from tests.web.conftest import ACME, GLOBEX, NOW, PASSWORD, asgi_client, quick_user

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


async def test_console_on_postgresql(pg_store: Store) -> None:
    for client in (ACME, GLOBEX):
        add_work(pg_store, client, f"{client} feature", None, None, None, NOW)
    accounts.add_user(pg_store, "root", "admin", None, PASSWORD, NOW)
    secret, _csrf = accounts.log_in(pg_store, "root", PASSWORD, "127.0.0.1", now_us(), 3600)
    app = create_app(WebSettings(db=str(PG_URL)), store=pg_store)
    root = asgi_client(app, secret)
    acme = asgi_client(app, *quick_user(pg_store, "acme", Role.VIEWER, ACME))
    try:
        assert (await root.get("/api/me")).json()["role"] == "admin"
        assert [w["client"] for w in (await root.get("/api/works")).json()] == [ACME, GLOBEX]
        assert [w["client"] for w in (await acme.get("/api/works")).json()] == [ACME]
        for _ in range(5):
            with pytest.raises(accounts.LoginRefused, match="wrong"):
                accounts.log_in(pg_store, "root", "wrong password!", "127.0.0.2", now_us(), 3600)
        with pytest.raises(accounts.LoginRefused, match="too many failed logins for this user name"):
            accounts.log_in(pg_store, "root", PASSWORD, "127.0.0.2", now_us(), 3600)
        refused = await acme.post("/logout")
        assert refused.status_code == 403
    finally:
        await root.aclose()
        await acme.aclose()


async def test_revoking_one_api_token_on_postgresql(pg_store: Store) -> None:
    quick_user(pg_store, "bot", Role.ANALYST, None)
    (first_id, first), (_second_id, second) = (
        accounts.new_token(pg_store, "bot", now_us()) for _ in range(2)
    )
    app = create_app(WebSettings(db=str(PG_URL)), store=pg_store)
    client = asgi_client(app)
    try:
        for token in (first, second):
            answer = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200
        token_store.revoke_token(pg_store, "bot", first_id, now_us())
        assert (await client.get("/api/me", headers={"Authorization": f"Bearer {first}"})).status_code == 401
        assert (await client.get("/api/me", headers={"Authorization": f"Bearer {second}"})).status_code == 200
        rows = {row.id: row for row in token_store.list_tokens(pg_store, "bot")}
        assert rows[first_id].revoked_us is not None and rows[first_id].last_used_us is not None
        assert all(row.last_used_us is not None for row in rows.values())
    finally:
        await client.aclose()
