"""Revoking one API token (``users token NAME --revoke ID``) and listing tokens (``users tokens``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.access import tokens as token_store
from swarmscope.store.access import users as user_store
from swarmscope.store.ledger.node_key import default_key_path, open_node_key
from swarmscope.web.passwords import secret_sha256
from tests.web.conftest import NOW, WebWorld


@pytest.fixture(autouse=True)
def node_key_beside(web_db: Path) -> None:
    """The node key file beside the console database: ``users add/passwd/token/disable`` seal the account
    rows with it (the console started without it verifies nothing; see test_account_seals.py)."""
    open_node_key(default_key_path(str(web_db)))


register_commands()
runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def new_token(world: WebWorld, name: str) -> tuple[int, str]:
    """A token made by ``users token NAME``: (its id, from standard error; the secret, standard output)."""
    code, out, err = cli("users", "token", name, "--db", str(world.path))
    assert code == 0 and len(out.splitlines()) == 1, (out, err)
    line = rf"token (\d+) of {name}, expires 20[-0-9T:.]+Z \(revoke: users token NAME --revoke \1\)\n"
    found = re.fullmatch(line, err)
    assert found is not None, err
    return int(found.group(1)), out.strip()


async def me(world: WebWorld, token: str) -> int:
    response = await world._client(headers={"Authorization": f"Bearer {token}"}).get("/api/me")
    return response.status_code


async def test_a_revoked_token_answers_401_at_once_and_the_others_keep_working(web: WebWorld) -> None:
    first_id, first = new_token(web, "analyst")
    second_id, second = new_token(web, "analyst")
    assert first_id != second_id
    assert (await me(web, first), await me(web, second)) == (200, 200)
    code, out, _ = cli("users", "token", "analyst", "--revoke", str(first_id), "--db", str(web.path))
    assert code == 0 and out.startswith(f"token {first_id} of analyst: revoked ")
    assert await me(web, first) == 401  # the running app, no restart
    assert await me(web, second) == 200
    assert await me(web, web.template.tokens["analyst"]) == 200  # the fixture's token of the same user
    assert (await web.client("analyst").get("/api/me")).status_code == 200  # and the user's session
    code, out, _ = cli("users", "token", "analyst", "--revoke", str(first_id), "--db", str(web.path))
    assert code == 0 and out.startswith(f"token {first_id} of analyst: revoked ")  # twice: no change


async def test_another_users_token_id_or_an_unknown_id_is_refused(web: WebWorld) -> None:
    viewer_id, viewer = new_token(web, "viewer")
    for args, message in [
        (["analyst", "--revoke", str(viewer_id)], f"error: user 'analyst' has no API token {viewer_id}"),
        (["analyst", "--revoke", "999999"], "error: user 'analyst' has no API token 999999"),
        (["nobody", "--revoke", str(viewer_id)], "error: user 'nobody' has no API token"),
        (["viewer", "--revoke", "abc"], "error: --revoke abc: must be a whole number"),
    ]:
        result = runner.invoke(app, ["users", "token", *args, "--db", str(web.path)])
        assert result.exit_code == 1 and result.output.startswith(message), result.output
        assert len(result.output.strip().splitlines()) == 1
    assert await me(web, viewer) == 200
    assert all(row.revoked_us is None for row in token_store.list_tokens(web.store, "viewer"))


async def test_users_tokens_lists_ids_last_use_and_state_never_the_secret(web: WebWorld) -> None:
    used_id, used = new_token(web, "counsel")
    unused_id, unused = new_token(web, "counsel")
    assert await me(web, used) == 200
    cli("users", "token", "counsel", "--revoke", str(unused_id), "--db", str(web.path))
    code, out, _ = cli("users", "tokens", "counsel", "--db", str(web.path))
    assert code == 0
    lines = {int(line.split("\t")[0]): line.split("\t")[1:] for line in out.splitlines()}
    assert set(lines) == {row.id for row in token_store.list_tokens(web.store, "counsel")}
    assert lines[used_id][0] == "counsel" and lines[used_id][2].startswith("last used 20")
    assert lines[used_id][3] == "active" and lines[used_id][4].startswith("expires 20")
    assert lines[unused_id][2] == "never used" and lines[unused_id][3].startswith("revoked 20")
    assert used not in out and unused not in out
    code, out, err = cli("users", "tokens", "nobody", "--db", str(web.path))
    assert (code, out, err.strip()) == (1, "", "error: no user named 'nobody'")


def test_last_use_is_recorded_to_the_minute(web: WebWorld) -> None:
    token = web.template.tokens["admin"]
    digest = secret_sha256(token)

    def last_use() -> int | None:
        (row,) = token_store.list_tokens(web.store, "admin")
        return row.last_used_us

    assert last_use() is None
    assert user_store.user_by_token(web.store, digest, NOW, record=False) is not None  # not recorded
    assert last_use() is None
    user_store.user_by_token(web.store, digest, NOW)
    user_store.user_by_token(web.store, digest, NOW + 59_999_999)  # within the minute: not written
    assert last_use() == NOW
    user_store.user_by_token(web.store, digest, NOW + 60_000_000)
    assert last_use() == NOW + 60_000_000
