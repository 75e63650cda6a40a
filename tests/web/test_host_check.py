"""The Host check against DNS rebinding: only the names the console serves reach a route."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from swarmscope.cli.serve import _allowed_hosts
from swarmscope.errors import InputError
from swarmscope.store.access.schema import web_login_attempt
from swarmscope.web.app import create_app
from swarmscope.web.security import CSP
from swarmscope.web.settings import WebSettings
from tests.web.conftest import WebWorld


def _attempts(web: WebWorld) -> int:
    with web.store.engine.connect() as conn:
        return len(conn.execute(sa.select(web_login_attempt.c.id)).all())


async def test_a_rebound_host_gets_400_with_the_headers_and_no_login_is_counted(web: WebWorld) -> None:
    client = web.anonymous()
    before = _attempts(web)
    rebound = {"host": "rebind.attacker.example:8080"}
    form = await client.get("/login", headers=rebound)
    assert form.status_code == 400 and form.text == "invalid Host header: not a name this console serves\n"
    assert form.headers["content-security-policy"] == CSP and form.headers["cache-control"] == "no-store"
    data = {"name": "analyst", "password": "a wrong guess, long enough", "login_token": "x"}
    assert (await client.post("/login", data=data, headers=rebound)).status_code == 400
    assert (await web.client("viewer", token=True).get("/api/me", headers=rebound)).status_code == 400
    assert _attempts(web) == before  # refused before the login route: nothing counted
    for host in ("127.0.0.1:8080", "localhost", "LOCALHOST:1", "[::1]:8080", "127.0.0.1"):
        assert (await client.get("/login", headers={"host": host})).status_code == 200, host
    for host in ("", "[::1", "127.0.0.1:x", "user@127.0.0.1", "127.0.0.1.evil.example"):
        assert (await client.get("/login", headers={"host": host})).status_code == 400, host


async def test_a_proxy_name_given_to_serve_is_served(web: WebWorld) -> None:
    settings = WebSettings(db=str(web.path), allowed_hosts=frozenset({"console.example.org"}))
    app = create_app(settings, store=web.store)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://console.example.org") as client:
        assert (await client.get("/login")).status_code == 200
        assert (await client.get("/login", headers={"host": "other.example.org"})).status_code == 400


def test_serve_refuses_an_allowed_host_with_a_port_or_path() -> None:
    assert _allowed_hosts(["Console.Example.org", "[2001:db8::1]"]) == {"console.example.org", "2001:db8::1"}
    for bad in ("console.example.org:443", "a/b", "", "two words"):
        with pytest.raises(InputError, match="--allowed-host"):
            _allowed_hosts([bad])
