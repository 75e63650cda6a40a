"""Console accounts sealed with the node key: someone who can write the database file (triggers dropped)
but lacks the node key inserts a counsel user with a token whose SHA-256 he knows, a session row for an
honest counsel, or raises a viewer to counsel, or undoes a revocation. The console, holding the node key,
authenticates none of them (401) and seals nothing for them; the honest accounts beside them still work.
SQLite (the letters world, whose store holds the node key)."""

from __future__ import annotations

import httpx

from swarmscope.cases.letter_flow import draft_letters
from swarmscope.store.access import users as user_store
from swarmscope.web.passwords import new_secret, secret_sha256
from tests.cli.letter_world import SETTINGS, T0
from tests.tampering import tamper_file
from tests.web.conftest import asgi_client
from tests.web.letter_console import Console, ledger_entries


async def _approve(client: httpx.AsyncClient, doe: str, digest: str) -> httpx.Response:
    return await client.post(f"/api/cases/{doe}/letter/approve", json={"digest": digest})


async def test_a_forged_counsel_with_a_forged_token_is_refused(console: Console) -> None:
    doe = console.world.dois[0]
    draft_letters(console.world.store, SETTINGS, [doe], "counsel", T0)
    digest = (await console["counsel"].get(f"/api/cases/{doe}/letter")).json()["digest"]
    token = new_secret()
    tamper_file(
        console.world.db,
        "INSERT INTO web_user (name, role, client_id, password_hash, added_us) "
        f"VALUES ('A. Counsel', 'counsel', NULL, NULL, {T0})",
        "INSERT INTO web_token (user_id, token_sha256, created_us) VALUES ((SELECT id FROM web_user WHERE "
        f"name = 'A. Counsel'), '{secret_sha256(token)}', {T0})",
    )
    before = ledger_entries(console)
    forged = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console.app, client=("127.0.0.1", 50000)),
        base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    async with forged:
        assert (await forged.get(f"/api/cases/{doe}/letter")).status_code == 401
        assert (await _approve(forged, doe, digest)).status_code == 401
    assert ledger_entries(console) == before  # nothing sealed


async def test_a_token_row_moved_to_a_sealed_counsel_is_refused(console: Console) -> None:
    """A token the writer knows, inserted for the honest (sealed) counsel: the token row has no seal."""
    token = new_secret()
    counsel = user_store.get_user(console.world.store, "counsel")
    tamper_file(
        console.world.db,
        f"INSERT INTO web_token (user_id, token_sha256, created_us) VALUES ({counsel.id}, "
        f"'{secret_sha256(token)}', {T0})",
    )
    assert user_store.user_by_token(console.world.store, secret_sha256(token), T0) is None


async def test_a_forged_session_for_an_honest_counsel_is_refused(console: Console) -> None:
    doe = console.world.dois[0]
    secret, csrf = new_secret(), new_secret()
    counsel = user_store.get_user(console.world.store, "counsel")
    tamper_file(
        console.world.db,
        "INSERT INTO web_session (user_id, token_sha256, csrf, address, created_us, expires_us) VALUES "
        f"({counsel.id}, '{secret_sha256(secret)}', '{csrf}', '127.0.0.1', {T0}, {2**62})",
    )
    async with asgi_client(console.app, secret, csrf) as forged:
        assert (await forged.get(f"/api/cases/{doe}/letter")).status_code == 401


async def test_a_viewer_raised_to_counsel_or_a_revocation_undone_is_refused(console: Console) -> None:
    doe = console.world.dois[0]
    draft_letters(console.world.store, SETTINGS, [doe], "counsel", T0)
    assert (await console["viewer"].get(f"/api/cases/{doe}/letter")).status_code == 403  # a viewer's due
    assert (await console["counsel"].get(f"/api/cases/{doe}/letter")).status_code == 200  # honest counsel
    tamper_file(console.world.db, "UPDATE web_user SET role = 'counsel' WHERE name = 'viewer'")
    assert (await console["viewer"].get(f"/api/cases/{doe}/letter")).status_code == 401
    user_store.disable_user(console.world.store, "analyst", T0 + 1)  # sealed with the node key
    tamper_file(console.world.db, "UPDATE web_user SET disabled_us = NULL WHERE name = 'analyst'")
    tamper_file(console.world.db, "UPDATE web_session SET revoked_us = NULL")
    assert (await console["analyst"].get(f"/api/cases/{doe}/letter")).status_code == 401
    assert (await console["counsel"].get(f"/api/cases/{doe}/letter")).status_code == 200
