"""Shared fixtures of the web console tests: an app over a temporary SQLite store, users of every role.

The world: two rights holders (``Acme Films`` and ``Globex Music``, one work each), an unbound user per
role (``viewer``, ``analyst``, ``counsel``, ``admin``) and two client-bound users (``acme``: a viewer of
Acme Films, ``globex``: a counsel of Globex Music). Argon2 hashing is slow on purpose, so the users are
made and logged in once per session in a template database; each test gets a copy of that file and of
the node key file beside it (accounts are sealed in the ledger with that key, and the console trusts it
and holds it, as ``swarmscope serve`` does with the key beside the database).

Use ``web.client(name)`` for an in-process ``httpx.AsyncClient`` (httpx.ASGITransport) logged in as that
user (session cookie; ``client.csrf`` holds its CSRF token) or ``web.client(name, token=True)`` for one
that sends the user's API token. ``web.anonymous()`` is logged in as nobody.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from swarmscope.cases.directory import add_work
from swarmscope.net.clock import Clock
from swarmscope.store.access import sessions as session_store
from swarmscope.store.access import users as user_store
from swarmscope.store.access.schema import web_session
from swarmscope.store.access.tokens import DAY_US
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.head_witness import witness_path
from swarmscope.store.ledger.node_key import default_key_path, open_node_key
from swarmscope.web import accounts
from swarmscope.web.app import create_app
from swarmscope.web.deps import SESSION_COOKIE
from swarmscope.web.passwords import new_secret, secret_sha256
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings
from tests.pg_server import drop_schema

NOW = 1_765_000_000_000_000  # UTC µs (2025-12-06)
PG_KEY = Ed25519PrivateKey.generate()  # the node key of the PostgreSQL console stores (the console holds it)
PASSWORD = "correct horse battery staple"
ACME, GLOBEX = "Acme Films", "Globex Music"
USERS: dict[str, tuple[Role, str | None]] = {
    "viewer": (Role.VIEWER, None),
    "analyst": (Role.ANALYST, None),
    "counsel": (Role.COUNSEL, None),
    "admin": (Role.ADMIN, None),
    "acme": (Role.VIEWER, ACME),
    "globex": (Role.COUNSEL, GLOBEX),
}
BASE_URL = "http://127.0.0.1"


@dataclass
class Template:
    """The session-wide database file and the secrets issued in it (session secret, CSRF, API token)."""

    path: Path
    sessions: dict[str, tuple[str, str]]
    tokens: dict[str, str]
    works: dict[str, int]
    key: Ed25519PrivateKey  # the node key (file beside the template) that sealed the accounts


@dataclass
class WebWorld:
    """One test's console: its store (a copy of the template), the app and the secrets of its users."""

    path: Path
    store: Store
    app: FastAPI
    template: Template
    opened: list[httpx.AsyncClient] = field(default_factory=list)

    def _client(self, **extra: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 50000))
        client = httpx.AsyncClient(transport=transport, base_url=BASE_URL, **extra)
        self.opened.append(client)
        return client

    def client(self, name: str, *, token: bool = False) -> httpx.AsyncClient:
        """A client logged in as ``name`` by session cookie (``.csrf`` set) or by API token."""
        if token:
            return self._client(headers={"Authorization": f"Bearer {self.template.tokens[name]}"})
        secret, csrf = self.template.sessions[name]
        client = self._client(cookies={SESSION_COOKIE: secret})
        client.csrf = csrf  # type: ignore[attr-defined]
        return client

    def anonymous(self) -> httpx.AsyncClient:
        return self._client()

    def work_id(self, client: str) -> int:
        return self.template.works[client]


def wake_sessions(store: Store) -> None:
    """Mark every session of ``store`` used now, by the real clock the console reads: the fixtures open
    them at :data:`NOW` (long before), and a session unused for ``serve --session-idle`` ends. Its last
    use is not sealed, so nothing else changes."""
    with store.engine.begin() as conn:
        conn.execute(sa.update(web_session).values(last_seen_us=Clock().now_us()))


def make_users(store: Store) -> None:
    """The users of :data:`USERS`, with :data:`PASSWORD`."""
    for name, (role, client) in USERS.items():
        accounts.add_user(store, name, role.label, client, PASSWORD, NOW)


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    path = tmp_path_factory.mktemp("web") / "template.db"
    key = open_node_key(default_key_path(str(path))).key
    store = open_store(str(path), node_key=key, now_us=NOW)
    store.witness = witness_path(default_key_path(str(path)))  # as the CLI's writers keep it
    try:
        works = {c: add_work(store, c, f"{c} feature", None, None, None, NOW) for c in (ACME, GLOBEX)}
        make_users(store)
        sessions = {
            name: accounts.log_in(store, name, PASSWORD, "127.0.0.1", NOW, 10 * 365 * 86_400)
            for name in USERS
        }
        tokens = {name: accounts.issue_token(store, name, NOW, NOW + 3_650 * DAY_US) for name in USERS}
        user_store.list_users(store)
    finally:
        store.close()
    return Template(path, sessions, tokens, works, key)


@pytest.fixture
def web_db(web_template: Template, tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of the template database and of its node key file (mode 0600 kept), its sessions
    marked used now (:func:`wake_sessions`)."""
    path = tmp_path / "console.db"
    shutil.copyfile(web_template.path, path)
    for source, copy in ((web_template.path, path),):
        key, kept = default_key_path(str(source)), default_key_path(str(copy))
        shutil.copy2(key, kept)
        shutil.copy2(witness_path(key), witness_path(kept))
    with closing(sqlite3.connect(path)) as conn, conn:  # the template's sessions, used just now
        conn.execute("UPDATE web_session SET last_seen_us = ?", (Clock().now_us(),))
    yield path


@pytest.fixture
async def web(web_template: Template, web_db: Path) -> AsyncIterator[WebWorld]:
    store = open_store(str(web_db), create=False, node_key=web_template.key, now_us=NOW)
    app = create_app(WebSettings(db=str(web_db)), store=store)
    world = WebWorld(web_db, store, app, web_template)
    try:
        yield world
    finally:
        for client in world.opened:
            await client.aclose()
        store.close()


def quick_user(store: Store, name: str, role: Role, client: str | None) -> tuple[str, str]:
    """A user without a password and an open session (no Argon2: fast); returns (secret, CSRF token)."""
    cid = None if client is None else user_store.client_id(store, client)
    user = user_store.add_user(store, name, role.label, cid, None, NOW)
    secret, csrf = new_secret(), new_secret()
    session_store.open_session(store, user.id, secret_sha256(secret), csrf, "127.0.0.1", NOW, 2**62)
    wake_sessions(store)
    return secret, csrf


def asgi_client(app: FastAPI, secret: str | None = None, csrf: str | None = None) -> httpx.AsyncClient:
    """An in-process client of ``app``, logged in with the session ``secret`` (``.csrf`` set)."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    cookies = {SESSION_COOKIE: secret} if secret else None
    client = httpx.AsyncClient(transport=transport, base_url=BASE_URL, cookies=cookies)
    client.csrf = csrf  # type: ignore[attr-defined]
    return client


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Any]:
    """The letters world with a keyed console over it (:func:`tests.web.letter_console.open_console`)."""
    from tests.web.letter_console import open_console

    async for made in open_console(tmp_path):
        yield made


@pytest.fixture
def pg_store() -> Iterator[Store]:
    """A writer store on the scratch PostgreSQL (``SWARMSCOPE_TEST_PG_URL``) at :data:`NOW`, sealing with
    :data:`PG_KEY`; its schema dropped after (a sealed workflow event refuses a downgrade past 0008)."""
    url = os.environ.get("SWARMSCOPE_TEST_PG_URL")  # read now: the root conftest sets it after this loads
    assert url is not None, "a PostgreSQL console test skips without SWARMSCOPE_TEST_PG_URL"
    store = open_store(url, node_key=PG_KEY, now_us=NOW)
    try:
        yield store
    finally:
        store.close()
        drop_schema(url)
