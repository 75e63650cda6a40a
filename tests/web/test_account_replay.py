"""Console accounts replayed: someone who can write the database file (triggers dropped) but lacks the node
key keeps a copy of an account row (a backup, a copy taken before the change) and writes it back after
``users disable``, ``users passwd``, a token revocation or a logout. Each change is a sealed event in the
node's chain, and the console accepts a row only in the state its newest sealed event gives: the written
back rows answer 401 and nothing is sealed for them; the honest accounts beside them still work. SQLite
(the letters world, whose store holds the node key).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from swarmscope.cases.letter_flow import draft_letters
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import workflow_trust
from swarmscope.store.access import sessions as session_store
from swarmscope.store.access import tokens as token_store
from swarmscope.store.access import users as user_store
from swarmscope.store.database import open_store
from swarmscope.store.ledger.head_witness import witness_path
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.ledger.schema import ledger_entry
from swarmscope.web import accounts
from swarmscope.web.app import create_app
from swarmscope.web.passwords import new_secret, secret_sha256
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings
from tests.cases.evidence import node_key_for
from tests.cli.letter_world import SETTINGS, T0, build_world
from tests.tampering import tamper_file
from tests.web.conftest import BASE_URL, asgi_client, quick_user
from tests.web.letter_console import Console, ledger_entries

LATER = T0 + 3_650 * token_store.DAY_US  # the tokens' expiry: the console checks it by the system clock

PASSWORD = "correct horse battery staple"
register_commands()
runner = CliRunner()


def _copy(console: Console, table: str, where: str) -> dict[str, Any]:
    """The row of ``table`` matching ``where`` as the file holds it, every column (a writer's backup)."""
    with sqlite3.connect(str(console.world.db)) as raw:
        raw.row_factory = sqlite3.Row
        row = raw.execute(f"SELECT * FROM {table} WHERE {where}").fetchone()
    raw.close()
    assert row is not None
    return dict(row)


def _write_back(console: Console, table: str, row: dict[str, Any]) -> None:
    """Write every column of the copied ``row`` back over the row of the same id (triggers dropped)."""
    values = ", ".join(f"{name} = {_literal(value)}" for name, value in row.items() if name != "id")
    tamper_file(console.world.db, f"UPDATE {table} SET {values} WHERE id = {row['id']}")


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _bearer(console: Console, token: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=console.app, client=("127.0.0.1", 50000))
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers)


async def _login(console: Console, name: str, password: str) -> httpx.Response:
    async with asgi_client(console.app) as client:
        form = await client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token is not None
        data = {"name": name, "password": password, "login_token": token.group(1), "next": "/"}
        return await client.post("/login", data=data)


async def test_a_disabled_counsels_old_rows_written_back_get_no_approval(console: Console) -> None:
    """The reviewer's repro K: counsel's token works; the admin disables counsel; the old user and token
    rows are written back (disabled_us and revoked_us NULL); the token must not preview or approve."""
    store, doe = console.world.store, console.world.dois[0]
    draft_letters(store, SETTINGS, [doe], "counsel", T0)
    _token_id, token = accounts.new_token(store, "counsel", T0, LATER)
    async with _bearer(console, token) as counsel:
        letter = await counsel.get(f"/api/cases/{doe}/letter")
        assert letter.status_code == 200, letter.text
        digest = letter.json()["digest"]
        user, tokens = _copy(console, "web_user", "name = 'counsel'"), _copy(console, "web_token", "1 = 1")
        user_store.disable_user(store, "counsel", T0 + 1)
        assert (await counsel.get(f"/api/cases/{doe}/letter")).status_code == 401
        _write_back(console, "web_user", user)
        _write_back(console, "web_token", tokens)
        assert user_store.find_user(store, "counsel").disabled_us is None  # type: ignore[union-attr]
        before = ledger_entries(console)
        assert (await counsel.get(f"/api/cases/{doe}/letter")).status_code == 401
        approve = await counsel.post(f"/api/cases/{doe}/letter/approve", json={"digest": digest})
        assert approve.status_code == 401
    assert ledger_entries(console) == before  # nothing sealed for it
    assert (await console["example"].get(f"/api/cases/{doe}/letter")).status_code == 200  # honest counsel


async def test_a_revoked_token_written_back_is_refused(console: Console) -> None:
    store = console.world.store
    token_id, token = accounts.new_token(store, "analyst", T0, LATER)
    _other_id, other = accounts.new_token(store, "analyst", T0, LATER)
    async with _bearer(console, token) as old, _bearer(console, other) as kept:
        assert (await old.get("/api/me")).status_code == 200
        row = _copy(console, "web_token", f"id = {token_id}")
        token_store.revoke_token(store, "analyst", token_id, T0 + 1)
        _write_back(console, "web_token", row)
        assert user_store.user_by_token(store, secret_sha256(token), T0 + 2) is None
        assert (await old.get("/api/me")).status_code == 401
        assert (await kept.get("/api/me")).status_code == 200  # the user's other token goes on


async def test_a_pre_passwd_password_hash_written_back_does_not_log_in(console: Console) -> None:
    store = console.world.store
    accounts.add_user(store, "carol", "counsel", None, PASSWORD, T0)
    assert (await _login(console, "carol", PASSWORD)).status_code == 303
    old = _copy(console, "web_user", "name = 'carol'")
    accounts.set_password(store, "carol", "a brand new long password", T0 + 1)
    _write_back(console, "web_user", old)  # the old Argon2 hash again
    refused = await _login(console, "carol", PASSWORD)
    assert refused.status_code == 401 and "wrong user name or password" in refused.text
    before = ledger_entries(console)
    assert (await _login(console, "carol", "a brand new long password")).status_code == 401  # row != sealed
    assert ledger_entries(console) == before  # no session sealed


async def test_an_ended_session_written_back_is_refused(console: Console) -> None:
    client = console["viewer"]
    assert (await client.get("/api/me")).status_code == 200
    secret = client.cookies.get("swarmscope_session")
    assert secret is not None
    row = _copy(console, "web_session", f"token_sha256 = '{secret_sha256(secret)}'")
    logout = await client.post("/logout", headers={"x-csrf-token": client.csrf})  # type: ignore[attr-defined]
    assert logout.status_code == 303
    _write_back(console, "web_session", row)
    async with asgi_client(console.app, secret, row["csrf"]) as replayed:
        assert (await replayed.get("/api/me")).status_code == 401
    assert session_store.find_session(console.world.store, secret_sha256(secret), T0) is None


async def test_a_role_elevated_by_row_edit_is_refused_on_token_and_session(console: Console) -> None:
    store, doe = console.world.store, console.world.dois[0]
    draft_letters(store, SETTINGS, [doe], "counsel", T0)
    _token_id, token = accounts.new_token(store, "viewer", T0, LATER)
    tamper_file(console.world.db, "UPDATE web_user SET role = 'admin' WHERE name = 'viewer'")
    async with _bearer(console, token) as raised:
        assert (await raised.get(f"/api/cases/{doe}/letter")).status_code == 401
    assert (await console["viewer"].get("/api/me")).status_code == 401


async def test_a_deleted_tail_that_would_bring_back_an_older_state_is_refused(tmp_path: Path) -> None:
    """The disabling batch deleted with its entries (the shorter chain's seals all hold) and the old rows
    written back: the chain-head witness the console keeps shows the loss, and no account is accepted."""
    world = build_world(tmp_path)
    trusted = workflow_trust(str(world.db), None, None, T0).fingerprints
    witness = witness_path(default_key_path(str(world.db)))
    settings = WebSettings(
        db=str(world.db), trusted_keys=trusted, node_key=node_key_for(world.db), witness=witness
    )
    web_app = create_app(settings, store=world.store)
    quick_user(world.store, "counsel", Role.COUNSEL, None)
    _token_id, token = accounts.new_token(world.store, "counsel", T0, LATER)
    console = Console(world, web_app, {})
    try:
        async with _bearer(console, token) as counsel:
            assert (await counsel.get("/api/me")).status_code == 200
            head = _head(console)
            user, row = _copy(console, "web_user", "name = 'counsel'"), _copy(console, "web_token", "1 = 1")
            user_store.disable_user(world.store, "counsel", T0 + 1)  # sealed; the witness moves on
            tamper_file(
                world.db,
                f"DELETE FROM ledger_batch WHERE last_index > {head}",
                f"DELETE FROM ledger_entry WHERE idx > {head}",
            )
            _write_back(console, "web_user", user)
            _write_back(console, "web_token", row)
            refused = await counsel.get("/api/me")
            assert refused.status_code == 409, refused.text
            assert "its chain lacks the witnessed head" in refused.json()["detail"]
    finally:
        world.store.close()


def _head(console: Console) -> int:
    with console.world.store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(ledger_entry.c.idx))).scalar_one())


async def test_a_console_without_the_node_key_checks_the_sealed_accounts(console: Console) -> None:
    """Started with the trusted key's fingerprint but not the key: a sealed token works, a written-back
    one does not, an inserted one does not, and a login is refused (no session could be sealed)."""
    store = console.world.store
    token_id, token = accounts.new_token(store, "analyst", T0, LATER)
    _kept_id, kept = accounts.new_token(store, "viewer", T0, LATER)
    row = _copy(console, "web_token", f"id = {token_id}")
    token_store.revoke_token(store, "analyst", token_id, T0 + 1)
    _write_back(console, "web_token", row)
    forged = new_secret()
    viewer = user_store.get_user(store, "viewer")
    tamper_file(
        console.world.db,
        f"INSERT INTO web_token (user_id, token_sha256, created_us) VALUES ({viewer.id}, "
        f"'{secret_sha256(forged)}', {T0})",
    )
    trusted = workflow_trust(str(console.world.db), None, None, T0).fingerprints
    reader = open_store(str(console.world.db), create=False)
    try:
        keyless = Console(
            console.world,
            create_app(WebSettings(db=str(console.world.db), trusted_keys=trusted), store=reader),
            {},
        )
        for secret, status in ((kept, 200), (token, 401), (forged, 401)):
            async with _bearer(keyless, secret) as client:
                assert (await client.get("/api/me")).status_code == status
        refused = await _login(keyless, "viewer", PASSWORD)
        assert refused.status_code == 401 and "holds no node key to seal a session" in refused.text
    finally:
        reader.close()


def test_users_commands_refuse_a_written_back_or_elevated_user(console: Console, tmp_path: Path) -> None:
    """``users token`` for a user whose disabling was undone by writing back its old row, and ``users
    passwd`` for a user whose role was raised by a row edit: one line, exit status 1, nothing sealed."""
    store, db = console.world.store, str(console.world.db)
    old = _copy(console, "web_user", "name = 'counsel'")
    user_store.disable_user(store, "counsel", T0 + 1)
    _write_back(console, "web_user", old)
    tamper_file(console.world.db, "UPDATE web_user SET role = 'admin' WHERE name = 'viewer'")
    password = tmp_path / "pw"
    password.write_text("a long enough password\n")
    before = ledger_entries(console)
    for args in (
        ["users", "token", "counsel"],
        ["users", "passwd", "viewer", "--password-file", str(password)],
    ):
        result = runner.invoke(app, [*args, "--db", db])
        name = args[2]
        assert result.exit_code == 1, result.output
        assert result.output.strip().splitlines()[-1] == (
            f"error: user {name!r}: its row is not the state last sealed for it (altered or written back "
            "without the node key); nothing changed (users disable ends it)"
        )
        assert result.stdout == ""  # no token printed
    assert ledger_entries(console) == before
    listed = runner.invoke(app, ["users", "list", "--db", db]).stdout.splitlines()
    assert "counsel\tcounsel\t-\tactive (refused: not the state last sealed for it)" in listed
    assert "viewer\tadmin\t-\tactive (refused: not the state last sealed for it)" in listed
    assert "analyst\tanalyst\t-\tactive" in listed
    assert runner.invoke(app, ["users", "disable", "viewer", "--db", db]).exit_code == 0  # rights away: acts


@pytest.mark.parametrize("blank", ["NULL", "X'00'"])
async def test_a_hidden_disabling_refuses_every_account(console: Console, blank: str) -> None:
    """The disabling's ledger entries blanked or overwritten (their batch still verifies: the record
    hashes stand) and the old rows written back: the event cannot drop out unseen, so no account is
    accepted until the chain is whole again (409), and nothing is sealed."""
    store = console.world.store
    _token_id, token = accounts.new_token(store, "counsel", T0, LATER)
    async with _bearer(console, token) as counsel:
        assert (await counsel.get("/api/me")).status_code == 200  # the console has read the chain so far
        head = _head(console)
        user, row = _copy(console, "web_user", "name = 'counsel'"), _copy(console, "web_token", "1 = 1")
        user_store.disable_user(store, "counsel", T0 + 1)
        tamper_file(console.world.db, f"UPDATE ledger_entry SET canonical = {blank} WHERE idx > {head}")
        _write_back(console, "web_user", user)
        _write_back(console, "web_token", row)
        before = ledger_entries(console)
        refused = await counsel.get("/api/me")
        assert refused.status_code == 409, refused.text
        assert "no account is accepted: ledger index" in refused.json()["detail"]
        assert (await console["example"].get("/api/me")).status_code == 409  # every account: fail closed
    assert ledger_entries(console) == before
