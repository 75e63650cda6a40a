"""Every role against every route: a table read from the app, so a route without a role rule fails."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends

from swarmscope.web.app import create_app
from swarmscope.web.deps import require
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings
from tests.web.conftest import USERS, WebWorld
from tests.web.routes import concrete, route_table


async def test_every_route_has_a_role_rule_or_is_public(web: WebWorld) -> None:
    table, missing = route_table(web.app)
    assert missing == []
    assert ("GET", "/", Role.VIEWER) in table
    assert ("POST", "/logout", Role.VIEWER) in table


def test_a_new_route_without_a_role_rule_is_found(web_db: object) -> None:
    from swarmscope.store.database import open_store

    store = open_store(str(web_db), create=False)
    try:
        app = create_app(WebSettings(db=str(web_db)), store=store)
        extra = APIRouter()

        @extra.get("/api/forgotten")
        def forgotten() -> dict[str, str]:
            return {}

        @extra.get("/api/guarded", dependencies=[Depends(require(Role.ADMIN))])
        def guarded() -> dict[str, str]:
            return {}

        app.include_router(extra)
        table, missing = route_table(app)
        assert missing == ["GET /api/forgotten"]
        assert ("GET", "/api/guarded", Role.ADMIN) in table
    finally:
        store.close()


async def test_every_role_against_every_route(web: WebWorld) -> None:
    """Below the route's role: 403 (before any CSRF or body check); at or above: never 401/403."""
    table, _ = route_table(web.app)
    clients = {name: web.client(name) for name in USERS}
    anonymous = web.anonymous()
    last = [("POST", "/logout")]  # it ends the session the other rows still use
    for method, path, role in sorted(table, key=lambda row: row[:2] in last):
        url = concrete(path)
        unauth = await anonymous.request(method, url, headers={"accept": "application/json"})
        assert unauth.status_code == 401, (method, path)
        for name, client in clients.items():
            headers = {"x-csrf-token": client.csrf, "accept": "application/json"}  # type: ignore[attr-defined]
            answer = await client.request(method, url, headers=headers)
            user_role = USERS[name][0]
            if user_role < role:
                assert answer.status_code == 403, (method, path, name, answer.text)
            else:
                assert answer.status_code not in (401, 403), (method, path, name, answer.text)


@pytest.mark.parametrize("path", ["/health", "/login", "/static/app.css"])
async def test_public_routes_need_no_login(web: WebWorld, path: str) -> None:
    assert (await web.anonymous().get(path)).status_code == 200
