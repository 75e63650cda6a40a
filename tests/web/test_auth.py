"""Login, sessions, throttling, CSRF, API tokens, disabled users and the security headers."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from swarmscope.store.access import sessions as session_store
from swarmscope.store.access import users as user_store
from swarmscope.store.access.schema import web_login_attempt, web_session
from swarmscope.web import accounts
from swarmscope.web.auth import LOGIN_COOKIE
from swarmscope.web.deps import SESSION_COOKIE, now_us
from swarmscope.web.login_throttle import DEVICE_COOKIE, MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_NAME
from swarmscope.web.passwords import secret_sha256
from swarmscope.web.security import CSP
from tests.web.conftest import NOW, PASSWORD, WebWorld

HTML = {"accept": "text/html"}


async def login(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"name": name, "password": password, "login_token": token.group(1), "next": "/cases"}
    return await client.post("/login", data=data)


async def test_login_sets_a_strict_httponly_session_cookie_and_a_server_side_row(web: WebWorld) -> None:
    client = web.anonymous()
    answer = await login(client, "analyst", PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/cases"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    me = await client.get("/api/me")
    assert me.json()["name"] == "analyst"
    with web.store.engine.connect() as conn:
        secret = client.cookies[SESSION_COOKIE]
        stored = list(conn.execute(sa.select(web_session.c.token_sha256)).scalars())
    assert secret not in stored and len(stored) == 7  # six in the template, ours: hashes only


async def test_wrong_password_and_unknown_user_get_the_same_line(web: WebWorld) -> None:
    wrong = await login(web.anonymous(), "analyst", "not the password at all")
    nobody = await login(web.anonymous(), "nobody", "not the password at all")
    assert wrong.status_code == nobody.status_code == 401
    assert "wrong user name or password" in wrong.text and "wrong user name or password" in nobody.text
    assert SESSION_COOKIE not in wrong.cookies


async def test_login_without_the_form_token_is_refused(web: WebWorld) -> None:
    client = web.anonymous()
    data = {"name": "admin", "password": PASSWORD, "login_token": "forged"}
    client.cookies.set(LOGIN_COOKIE, "other")
    answer = await client.post("/login", data=data)
    assert answer.status_code == 403 and SESSION_COOKIE not in answer.cookies


async def test_failed_logins_are_throttled_per_name_and_stored(web: WebWorld) -> None:
    client = web.anonymous()
    for _ in range(MAX_FAILURES_PER_NAME):
        assert (await login(client, "counsel", "wrong password, long")).status_code == 401
    throttled = await login(client, "counsel", PASSWORD)  # even the right password now
    assert throttled.status_code == 429
    assert "too many failed logins for this user name" in throttled.text
    with web.store.engine.connect() as conn:
        rows = conn.execute(sa.select(web_login_attempt).where(web_login_attempt.c.name == "counsel")).all()
    assert [r.ok for r in rows if r.at_us > NOW] == [False] * MAX_FAILURES_PER_NAME  # the template's: NOW
    assert (await login(client, "analyst", PASSWORD)).status_code == 303  # another name still logs in


async def test_failed_logins_are_throttled_per_address(web: WebWorld) -> None:
    client = web.anonymous()
    for i in range(MAX_FAILURES_PER_ADDRESS - 1):  # stored as the login stores them (Argon2 is slow)
        session_store.record_attempt(web.store, f"guess{i}", "127.0.0.1", False, now_us())
    await login(client, "guess-last", "wrong password, long")
    answer = await login(client, "admin", PASSWORD)
    assert answer.status_code == 429 and "from this address" in answer.text


async def test_a_browser_that_logged_in_before_passes_the_address_limit_but_not_the_name_limit(
    web: WebWorld,
) -> None:
    known = web.anonymous()  # counsel's own browser: one good login sets its device cookie
    assert (await login(known, "counsel", PASSWORD)).status_code == 303
    assert DEVICE_COOKIE in known.cookies
    known.cookies.delete(SESSION_COOKIE)
    for i in range(MAX_FAILURES_PER_ADDRESS - 1):  # a flood of made-up names from the shared address
        session_store.record_attempt(web.store, f"made-up-{i}", "127.0.0.1", False, now_us())
    assert (await login(web.anonymous(), "made-up-last", "wrong password, long")).status_code == 401
    assert (await login(web.anonymous(), "counsel", PASSWORD)).status_code == 429  # an unknown browser
    assert (await login(known, "counsel", PASSWORD)).status_code == 303  # counsel's browser still logs in
    other = await login(known, "admin", PASSWORD)  # the cookie is counsel's, not the browser's for all names
    assert other.status_code == 429 and "from this address" in other.text
    forged = web.anonymous()
    _name, expiry, signature = known.cookies[DEVICE_COOKIE].split(".")  # counsel's signature, admin's name
    forged.cookies.set(DEVICE_COOKIE, f"YWRtaW4.{expiry}.{signature}", path="/login")
    assert (await login(forged, "admin", PASSWORD)).status_code == 429
    for _ in range(MAX_FAILURES_PER_NAME):
        await login(known, "counsel", "wrong password, long")
    throttled = await login(known, "counsel", PASSWORD)  # never exempt from the name counter
    assert throttled.status_code == 429 and "for this user name" in throttled.text


async def test_wrong_logins_under_many_names_do_not_lock_the_others_out(web: WebWorld) -> None:
    client = web.anonymous()  # every user comes from one address: loopback, or the TLS proxy
    for i in range(20):
        assert (await login(client, f"nobody-{i}", "wrong password, long")).status_code == 401
    assert (await login(web.anonymous(), "counsel", PASSWORD)).status_code == 303
    for _ in range(MAX_FAILURES_PER_NAME):  # a name with no account is throttled like one with an account
        await login(client, "nobody-0", "wrong password, long")
    ghost = await login(client, "nobody-0", "wrong password, long")
    for _ in range(MAX_FAILURES_PER_NAME):
        await login(client, "analyst", "wrong password, long")
    real = await login(client, "analyst", PASSWORD)
    assert ghost.status_code == real.status_code == 429
    assert ghost.text.count("too many failed logins for this user name") == 1
    assert real.text.count("too many failed logins for this user name") == 1


async def test_a_post_without_the_csrf_token_is_refused(web: WebWorld) -> None:
    client = web.client("viewer")
    refused = await client.post("/logout")
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = await client.post("/logout", headers={"x-csrf-token": "x" * 43})
    assert wrong.status_code == 403
    assert (await client.get("/api/me")).status_code == 200  # still logged in
    done = await client.post("/logout", data={"csrf_token": client.csrf})  # type: ignore[attr-defined]
    assert done.status_code == 303
    assert (await web.client("viewer").get("/api/me")).status_code == 401  # the session row is revoked


async def test_api_token_authenticates_without_csrf_and_a_bad_one_is_401(web: WebWorld) -> None:
    client = web.client("admin", token=True)
    assert (await client.get("/api/me")).json()["role"] == "admin"
    bad = await web._client(headers={"Authorization": "Bearer not-a-token"}).get("/api/me")
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"


async def test_disabling_a_user_ends_its_sessions_and_tokens(web: WebWorld) -> None:
    user_store.disable_user(web.store, "analyst", NOW)
    assert (await web.client("analyst").get("/api/me")).status_code == 401
    assert (await web.client("analyst", token=True).get("/api/me")).status_code == 401
    assert (await login(web.anonymous(), "analyst", PASSWORD)).status_code == 401


async def test_a_new_password_ends_the_open_sessions(web: WebWorld) -> None:
    accounts.set_password(web.store, "counsel", "another long password", NOW)
    assert (await web.client("counsel").get("/api/me")).status_code == 401
    assert (await login(web.anonymous(), "counsel", "another long password")).status_code == 303


async def test_pages_redirect_to_login_and_the_api_answers_401(web: WebWorld) -> None:
    page = await web.anonymous().get("/docs", headers=HTML)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/docs"
    assert (await web.anonymous().get("/api/me", headers=HTML)).status_code == 401


async def test_login_redirects_only_to_local_paths(web: WebWorld) -> None:
    client = web.anonymous()
    form = await client.get("/login?next=//evil.example/")
    assert 'name="next" value="/"' in form.text


async def test_security_headers_on_every_response(web: WebWorld) -> None:
    for client, path in [
        (web.anonymous(), "/login"),
        (web.client("admin"), "/"),
        (web.client("admin"), "/api/me"),
        (web.anonymous(), "/api/me"),
        (web.anonymous(), "/static/app.js"),
    ]:
        answer = await client.get(path)
        assert answer.headers["content-security-policy"] == CSP, path
        assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "unsafe" not in CSP
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        expected = "public, max-age=3600" if path.startswith("/static/") else "no-store"
        assert answer.headers["cache-control"] == expected, path


async def test_an_expired_session_is_refused(web: WebWorld) -> None:
    secret, csrf = "expired-session-secret-" + "x" * 20, "csrf"
    user = user_store.get_user(web.store, "admin")
    session_store.open_session(web.store, user.id, secret_sha256(secret), csrf, None, NOW, NOW + 1)
    client = web.anonymous()
    client.cookies.set(SESSION_COOKIE, secret)
    assert (await client.get("/api/me")).status_code == 401


async def test_a_live_poll_whose_session_ended_sends_the_browser_to_the_login_page(web: WebWorld) -> None:
    client = web.client("viewer")
    poll = {"hx-request": "true", "hx-current-url": "http://127.0.0.1/swarms?sort=peers"}
    assert (await client.get("/swarms/live", headers=poll)).status_code == 200
    user_store.disable_user(web.store, "viewer", NOW)  # or passwd, logout, expiry: the session row ends
    ended = await client.get("/swarms/live", headers=poll)
    assert ended.status_code == 401 and ended.headers["hx-redirect"] == "/login?next=/swarms%3Fsort%3Dpeers"
    elsewhere = {"hx-request": "true", "hx-current-url": "https://evil.example/swarms"}
    assert (await client.get("/swarms/live", headers=elsewhere)).headers["hx-redirect"] == "/login?next=/"
    plain = await client.get("/swarms/live")  # not htmx: the API's 401, no redirect header
    assert plain.status_code == 401 and "hx-redirect" not in plain.headers


async def test_a_look_alike_name_logs_in_as_the_user_it_looks_like_and_shares_its_throttle(
    web: WebWorld,
) -> None:
    acme_cyrillic = "\u0410\u0421\u041c\u0415"  # АСМЕ: UTS #39 skeleton of ACME, so of acme
    client = web.anonymous()
    assert (await login(client, acme_cyrillic, PASSWORD)).status_code == 303
    assert (await client.get("/api/me")).json()["name"] == "acme"  # the account it looks like, not another
    for spelling in ("\u0430cme", "acrne", "ACME", acme_cyrillic, "\u0430\u0441me"):
        assert (await login(web.anonymous(), spelling, "wrong password, long")).status_code == 401
    assert (await login(web.anonymous(), "acme", PASSWORD)).status_code == 429
    with web.store.engine.connect() as conn:
        names = set(conn.execute(sa.select(web_login_attempt.c.name)).scalars())
    assert "acme" in names and not names & {acme_cyrillic, "acrne", "\u0430cme"}


async def test_a_login_compares_names_as_the_console_does_and_throttles_them_together(web: WebWorld) -> None:
    client = web.anonymous()
    assert (await login(client, "Counsel", PASSWORD)).status_code == 303  # NFKC + case-folded
    assert (await client.get("/api/me")).json()["name"] == "counsel"
    for spelling in ("COUNSEL", "Counsel", "\uff43ounsel", "counsel", "cOunsel"):  # ｃ: full width
        assert (await login(web.anonymous(), spelling, "wrong password, long")).status_code == 401
    assert (await login(web.anonymous(), "counsel", PASSWORD)).status_code == 429
