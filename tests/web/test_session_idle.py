"""A console session ends once idle (``serve --session-idle MINUTES``, default 30) as well as at its
absolute lifetime: an idle session's page goes to the login page and its API call answers 401. The tests
age the stored session row (its last use, ``web_session.last_seen_us``) instead of sleeping."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli import serve as serve_cli
from swarmscope.cli.app import app as cli_app
from swarmscope.net.clock import Clock
from swarmscope.store.access.schema import web_session
from swarmscope.web.app import create_app
from swarmscope.web.passwords import secret_sha256
from swarmscope.web.settings import SESSION_IDLE_SECONDS, WebSettings
from tests.web.conftest import WebWorld, asgi_client

register_commands()
HTML = {"accept": "text/html"}
POLL = {"hx-request": "true", "x-swarmscope-poll": "1", "hx-current-url": "http://127.0.0.1/swarms"}
MINUTE_US = 60_000_000


def _age(web: WebWorld, name: str, idle_us: int | None) -> None:
    """Make ``name``'s session last used ``idle_us`` ago (None: never recorded, as a row before 0021)."""
    secret = web.template.sessions[name][0]
    seen = None if idle_us is None else Clock().now_us() - idle_us
    with web.store.engine.begin() as conn:
        where = web_session.c.token_sha256 == secret_sha256(secret)
        conn.execute(sa.update(web_session).where(where).values(last_seen_us=seen))


def _last_seen(web: WebWorld, name: str) -> int | None:
    secret = web.template.sessions[name][0]
    with web.store.engine.connect() as conn:
        where = web_session.c.token_sha256 == secret_sha256(secret)
        found: int | None = conn.execute(sa.select(web_session.c.last_seen_us).where(where)).scalar_one()
    return found


async def test_a_session_idle_past_the_default_ends_page_to_login_api_401(web: WebWorld) -> None:
    assert SESSION_IDLE_SECONDS == 30 * 60
    _age(web, "viewer", 29 * MINUTE_US)
    client = web.client("viewer")
    assert (await client.get("/api/me")).status_code == 200  # 29 minutes: still on, and now used again
    assert Clock().now_us() - (_last_seen(web, "viewer") or 0) < MINUTE_US
    _age(web, "viewer", 31 * MINUTE_US)
    assert (await client.get("/api/me")).status_code == 401
    page = await client.get("/cases?status=sent", headers=HTML)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/cases%3Fstatus%3Dsent"
    poll = await client.get("/swarms/live", headers=POLL)
    assert poll.status_code == 401 and poll.headers["hx-redirect"] == "/login?next=/swarms"
    assert (await web.client("viewer", token=True).get("/api/me")).status_code == 200  # tokens: no idle


async def test_the_idle_time_is_the_servers_setting(web: WebWorld) -> None:
    app = create_app(WebSettings(db=str(web.path), session_idle_seconds=120), store=web.store)
    secret, csrf = web.template.sessions["counsel"]
    async with asgi_client(app, secret, csrf) as client:
        _age(web, "counsel", 90_000_000)
        assert (await client.get("/api/me")).status_code == 200
        _age(web, "counsel", 3 * MINUTE_US)
        assert (await client.get("/api/me")).status_code == 401


async def test_a_live_pages_own_polls_are_not_use(web: WebWorld) -> None:
    client = web.client("analyst")
    _age(web, "analyst", 20 * MINUTE_US)
    before = _last_seen(web, "analyst")
    assert (await client.get("/swarms/live", headers=POLL)).status_code == 200
    assert _last_seen(web, "analyst") == before  # a wall screen goes idle like any unattended browser
    assert (await client.get("/swarms", headers=HTML)).status_code == 200  # a person's request is use
    assert (_last_seen(web, "analyst") or 0) > (before or 0)


async def test_use_is_recorded_to_the_minute(web: WebWorld) -> None:
    client = web.client("admin")
    _age(web, "admin", 30_000_000)
    before = _last_seen(web, "admin")
    assert (await client.get("/api/me")).status_code == 200
    assert _last_seen(web, "admin") == before  # used 30 s ago: not written again


async def test_a_session_never_seen_counts_idle_from_its_start(web: WebWorld) -> None:
    _age(web, "admin", None)  # created at the fixtures' NOW, a year or more before the clock
    assert (await web.client("admin").get("/api/me")).status_code == 401


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-5", "0", "1", "1.9", "481", "1e999", "ten"])
def test_serve_refuses_a_bad_idle_time_in_one_line(value: str, web_db: Path) -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--db", str(web_db), "--session-idle", value])
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: --session-idle") and "minutes" in line and "Traceback" not in line


def test_serve_passes_the_idle_time_on(web_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[WebSettings] = []
    monkeypatch.setattr(serve_cli, "serve", lambda settings, _announce: seen.append(settings))
    for args, seconds in ([], 1800.0), (["--session-idle", "7.5"], 450.0):
        result = CliRunner().invoke(cli_app, ["serve", "--db", str(web_db), *args])
        assert result.exit_code == 0, result.output
        assert seen[-1].session_idle_seconds == seconds
