"""Concurrent logins: every attempt is counted before its password is checked, and at most
``MAX_VERIFYING`` checks (Argon2id, 64 MiB each) run at once; the rest are 429 with ``Retry-After``.

The app runs its (sync) login route in AnyIO's thread pool, so ``asyncio.gather`` of in-process requests
runs the checks in parallel threads, as uvicorn does."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.access import sessions as session_store
from swarmscope.store.database import open_store
from swarmscope.web import accounts
from swarmscope.web.app import create_app
from swarmscope.web.deps import now_us
from swarmscope.web.login_throttle import MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_NAME
from swarmscope.web.passwords import MAX_VERIFYING, check_password
from swarmscope.web.settings import WebSettings
from tests.pg_server import drop_schema
from tests.web.conftest import NOW, PASSWORD, WebWorld, asgi_client

WRONG = "wrong password, long"


@dataclass
class Checks:
    """Password checks seen: how many in all, and the most at once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    running: int = 0
    most: int = 0
    total: int = 0

    def check(self, stored: str | None, password: str) -> bool:
        with self.lock:
            self.running += 1
            self.total += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.3)  # widen the window in which concurrent attempts overlap
            return check_password(stored, password)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Checks]:
    seen = Checks()
    monkeypatch.setattr(accounts, "check_password", seen.check)
    yield seen


async def _login(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"name": name, "password": password, "login_token": token.group(1)}
    return await client.post("/login", data=data)


async def _burst(web: WebWorld, names: list[str], password: str) -> list[httpx.Response]:
    """Log in as each of ``names`` at once (the forms fetched first, then every POST together)."""
    clients = [web.anonymous() for _ in names]
    forms = await asyncio.gather(*(c.get("/login") for c in clients))
    tokens = [re.search(r'name="login_token" value="([^"]+)"', f.text) for f in forms]
    posts = [
        c.post("/login", data={"name": n, "password": password, "login_token": t.group(1) if t else ""})
        for c, n, t in zip(clients, names, tokens, strict=True)
    ]
    return await asyncio.gather(*posts)


async def test_a_burst_of_wrong_logins_checks_few_passwords_and_answers_429(
    web: WebWorld, checks: Checks
) -> None:
    answers = await _burst(web, ["counsel"] * 12, WRONG)
    assert checks.most <= MAX_VERIFYING and 1 <= checks.total <= MAX_FAILURES_PER_NAME
    assert sorted({a.status_code for a in answers}) == [401, 429]
    busy = [a for a in answers if a.status_code == 429]
    assert all(a.headers["retry-after"] == "1" and "try again in a second" in a.text for a in busy)


async def test_concurrent_wrong_logins_never_check_more_than_the_name_limit(
    web: WebWorld, checks: Checks
) -> None:
    for _ in range(8):  # pairs at once: each pair within MAX_VERIFYING, so only the counter stops them
        await _burst(web, ["counsel"] * MAX_VERIFYING, WRONG)
    assert checks.total == MAX_FAILURES_PER_NAME
    refused = await _login(web.anonymous(), "counsel", PASSWORD)
    assert refused.status_code == 429 and "for this user name" in refused.text
    assert refused.headers["retry-after"] == str(15 * 60)


async def test_made_up_names_at_once_stop_at_the_address_limit(web: WebWorld, checks: Checks) -> None:
    for i in range(MAX_FAILURES_PER_ADDRESS - 1):  # stored as the login stores them (Argon2 is slow)
        session_store.record_attempt(web.store, f"made-up-{i}", "127.0.0.1", False, now_us())
    for round_ in range(3):
        await _burst(web, [f"new-{round_}-{i}" for i in range(MAX_VERIFYING)], WRONG)
    assert checks.total == 1  # one more failure reached the address limit; no name had failed before
    answer = await _login(web.anonymous(), "another-made-up-name", WRONG)
    assert answer.status_code == 429 and "from this address" in answer.text


async def test_a_right_password_clears_its_counted_attempt(web: WebWorld, checks: Checks) -> None:
    for _ in range(MAX_FAILURES_PER_NAME - 1):
        assert (await _login(web.anonymous(), "analyst", WRONG)).status_code == 401
    for _ in range(3):  # counted before the check, then cleared: the name stays one short of its limit
        assert (await _login(web.anonymous(), "analyst", PASSWORD)).status_code == 303
    assert (await _login(web.anonymous(), "analyst", WRONG)).status_code == 401
    assert (await _login(web.anonymous(), "analyst", PASSWORD)).status_code == 429


PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
KEY = Ed25519PrivateKey.generate()


@pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
async def test_concurrent_wrong_logins_on_postgresql_stop_at_the_name_limit(checks: Checks) -> None:
    assert PG_URL is not None
    store = open_store(PG_URL, node_key=KEY, now_us=NOW)
    try:
        accounts.add_user(store, "pgc", "counsel", None, PASSWORD, NOW)
        app = create_app(WebSettings(db=PG_URL), store=store)
        clients = [asgi_client(app) for _ in range(MAX_VERIFYING)]
        try:
            for _ in range(6):  # pairs at once; the advisory lock serialises their counts
                await asyncio.gather(*(_login(c, "pgc", WRONG) for c in clients))
            assert checks.total == MAX_FAILURES_PER_NAME
            assert (await _login(clients[0], "pgc", PASSWORD)).status_code == 429
        finally:
            for client in clients:
                await client.aclose()
    finally:
        store.close()
        drop_schema(PG_URL)
