"""API tokens that expire: ``users token NAME --expires-days N`` (1..365, default 90), the expiry sealed
with the token's account event (a database writer without the node key cannot extend it), the console's
401 naming it, ``users tokens`` showing it, and tokens issued before schema revision 0023 (NULL expiry:
90 days after their sealed issue). SQLite (the console's world); the migration also on PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import sqlalchemy as sa

from swarmscope.cli.text import iso
from swarmscope.store.access import tokens as token_store
from swarmscope.store.access import users as user_store
from swarmscope.store.access.account_events import row_sha256, seal_rows
from swarmscope.store.access.schema import web_token
from swarmscope.store.database import Store
from swarmscope.store.legal.workflow_seals import content_sha256
from swarmscope.web import accounts
from swarmscope.web.deps import LOG_IN_FIRST, now_us
from swarmscope.web.passwords import new_secret, secret_sha256
from tests.tampering import tamper_file
from tests.web.conftest import WebWorld
from tests.web.test_tokens import cli, me, node_key_beside  # noqa: F401 (the fixture: the node key file)

DAY = token_store.DAY_US
EXPIRED = re.compile(r"this API token expired at 20[-0-9]{8} [:0-9]{8} UTC; an admin issues a new one")


async def answer(world: WebWorld, token: str) -> tuple[int, str]:
    """(status, detail) of ``GET /api/me`` with ``token``, a real request through the app."""
    response = await world._client(headers={"Authorization": f"Bearer {token}"}).get("/api/me")
    return response.status_code, response.json().get("detail", "")


def legacy_token(store: Store, name: str, at_us: int) -> tuple[int, str]:
    """A token as revision 0022 issued it: no expiry in its row, its event sealed at ``at_us`` over the
    fields of then (the hash is checked against that older field set)."""
    secret, user = new_secret(), user_store.get_user(store, name)
    with store._write(immediate=True) as conn:
        values = {"user_id": user.id, "token_sha256": secret_sha256(secret), "created_us": at_us}
        token_id = int(conn.execute(sa.insert(web_token).values(values)).inserted_primary_key[0])
        seal_rows(conn, store, web_token, web_token.c.id == token_id, at_us)
        row = conn.execute(sa.select(web_token).where(web_token.c.id == token_id)).mappings().one()
    before = {"id": token_id, "user_id": user.id, "token_sha256": secret_sha256(secret), "revoked_us": None}
    assert row_sha256("web_token", row) == content_sha256("account_token", before)
    return token_id, secret


def issued(err: str) -> tuple[int, int]:
    """(token id, expiry in UTC µs) from the standard-error line of ``users token``."""
    found = re.fullmatch(r"token (\d+) of \w+, expires (\S+) \(revoke: users token NAME --revoke \1\)\n", err)
    assert found is not None, err
    return int(found.group(1)), round(datetime.fromisoformat(found.group(2)).timestamp() * 1_000_000)


def test_users_token_sets_and_names_the_expiry(web: WebWorld) -> None:
    for args, days in ((["--expires-days", "7"], 7), ([], 90), (["--expires-days", "365"], 365)):
        before = now_us()
        code, out, err = cli("users", "token", "viewer", *args, "--db", str(web.path))
        assert code == 0 and len(out.split()) == 1, err
        token_id, expires = issued(err)
        assert before + days * DAY <= expires <= now_us() + days * DAY
        (row,) = [r for r in token_store.list_tokens(web.store, "viewer") if r.id == token_id]
        assert row.expires_us == expires


@pytest.mark.parametrize("text", ["0", "366", "-1", "nan", "NaN", "inf", "1.5", "1e2", "abc", ""])
def test_a_bad_expiry_is_one_line_exit_1_and_nothing_stored(web: WebWorld, text: str) -> None:
    count = len(token_store.list_tokens(web.store))
    code, out, err = cli("users", "token", "viewer", "--expires-days", text, "--db", str(web.path))
    assert (code, out) == (1, "") and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: --expires-days ")
    assert "must be a whole number, at least 1, at most 365 days" in err, err
    assert len(token_store.list_tokens(web.store)) == count


def test_an_expiry_with_revoke_is_refused(web: WebWorld) -> None:
    (row, *_) = token_store.list_tokens(web.store, "viewer")
    args = ["--revoke", str(row.id), "--expires-days", "5", "--db", str(web.path)]
    code, out, err = cli("users", "token", "viewer", *args)
    assert (code, out, err.strip()) == (1, "", "error: --expires-days is for a new token, not with --revoke")
    assert token_store.list_tokens(web.store, "viewer")[0].revoked_us is None


async def test_an_expired_token_answers_401_naming_its_expiry(web: WebWorld) -> None:
    now = now_us()
    _id, live = accounts.new_token(web.store, "analyst", now - DAY, now + DAY)
    expired_id, expired = accounts.new_token(web.store, "analyst", now - 2 * DAY, now - DAY)
    assert await answer(web, live) == (200, "")
    status, detail = await answer(web, expired)
    assert status == 401 and EXPIRED.match(detail), detail
    token_store.revoke_token(web.store, "analyst", expired_id, now)
    assert await answer(web, expired) == (401, LOG_IN_FIRST)  # revoked: the plain 401, as before
    assert await answer(web, web.template.tokens["analyst"]) == (200, "")  # the user's other token


async def test_a_writer_without_the_node_key_cannot_extend_a_token(web: WebWorld) -> None:
    """The expiry is sealed: moving it later, or blanking it so the token passes for one issued before
    expiry existed (90 days from its issue), makes the row not the sealed state: the plain 401."""
    now = now_us()
    live_id, live = accounts.new_token(web.store, "counsel", now - DAY, now + DAY)
    expired_id, expired = accounts.new_token(web.store, "counsel", now - 2 * DAY, now - DAY)
    for statement in (
        f"UPDATE web_token SET expires_us = {now + 300 * DAY} WHERE id = {expired_id}",
        f"UPDATE web_token SET expires_us = NULL WHERE id = {expired_id}",
        f"UPDATE web_token SET expires_us = {now + 300 * DAY} WHERE id = {live_id}",
    ):
        tamper_file(web.path, statement)
        token = live if f"id = {live_id}" in statement else expired
        assert await answer(web, token) == (401, LOG_IN_FIRST), statement
    assert await answer(web, web.template.tokens["counsel"]) == (200, "")
    code, out, _err = cli("users", "tokens", "counsel", "--db", str(web.path))
    states = {int(line.split("\t")[0]): line.split("\t")[4] for line in out.splitlines()}
    refused = " (refused: not the state last sealed for it)"
    assert code == 0 and states[live_id] == "active" + refused and states[expired_id] == "active" + refused
    assert not any(refused in state for i, state in states.items() if i not in (live_id, expired_id))


async def test_a_token_issued_before_expiry_existed_expires_90_days_after_its_sealed_issue(
    web: WebWorld,
) -> None:
    now = now_us()
    recent_id, recent = legacy_token(web.store, "admin", now - 10 * DAY)
    old_id, old = legacy_token(web.store, "admin", now - 91 * DAY)
    assert await answer(web, recent) == (200, "")
    status, detail = await answer(web, old)
    assert status == 401 and EXPIRED.match(detail), detail
    tamper_file(web.path, f"UPDATE web_token SET created_us = {now} WHERE id = {old_id}")  # not sealed
    assert (await answer(web, old))[0] == 401
    code, out, _err = cli("users", "tokens", "admin", "--db", str(web.path))
    lines = {int(line.split("\t")[0]): line.split("\t")[1:] for line in out.splitlines()}
    assert code == 0 and lines[recent_id][3] == "active"
    assert re.fullmatch(r"expires 20\S+Z \(issued before tokens expired\)", lines[recent_id][4])
    assert lines[old_id][3] == "expired"  # from its sealed issue, not the row's created_us
    tamper_file(web.path, f"UPDATE web_token SET expires_us = {now + DAY} WHERE id = {old_id}")
    assert await answer(web, old) == (401, LOG_IN_FIRST)


async def test_users_tokens_shows_expired_tokens(web: WebWorld) -> None:
    now = now_us()
    expired_id, _expired = accounts.new_token(web.store, "viewer", now - 2 * DAY, now - DAY)
    code, out, _err = cli("users", "tokens", "viewer", "--db", str(web.path))
    lines = {int(line.split("\t")[0]): line.split("\t")[1:] for line in out.splitlines()}
    assert code == 0 and lines[expired_id][3] == "expired"
    assert lines[expired_id][4] == f"expires {iso(now - DAY)}"
