"""Migration 0023 (``web_token.expires_us``) down and up on SQLite and PostgreSQL: a token issued before it
(NULL expiry, its event sealed over the older field set) is accepted before and after, and expires 90 days
after its sealed issue; a token issued with an expiry loses it on the downgrade and is refused from then
on (its sealed state names an expiry the row no longer holds: issue it again), as the migration says."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.access import tokens as token_store
from swarmscope.store.access import users as user_store
from swarmscope.store.database import Store
from swarmscope.store.migrate import alembic_config
from swarmscope.web import accounts
from swarmscope.web.passwords import secret_sha256
from tests.cases.evidence import T0
from tests.tampering import backend_store
from tests.web.test_token_expiry import legacy_token

DAY = token_store.DAY_US


def _token_columns(store: Store) -> set[str]:
    return {c["name"] for c in sa.inspect(store.engine).get_columns("web_token")}


def _migrate(store: Store, revision: str, *, down: bool) -> None:
    with store.engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_token_expiry_down_and_up(backend: str, tmp_path: Path) -> None:
    with backend_store(backend, tmp_path, Ed25519PrivateKey.generate(), T0) as store:
        user_store.add_user(store, "bot", "analyst", None, None, T0)
        _legacy_id, legacy = legacy_token(store, "bot", T0 + 1)
        fresh_id, fresh = accounts.new_token(store, "bot", T0 + 2, T0 + 30 * DAY)
        for secret in (legacy, fresh):
            assert user_store.user_by_token(store, secret_sha256(secret), T0 + 3) is not None
        assert "expires_us" in _token_columns(store)

        _migrate(store, "0022", down=True)
        assert "expires_us" not in _token_columns(store)
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM web_token")).scalar() == 2  # rows kept

        _migrate(store, "head", down=False)
        assert "expires_us" in _token_columns(store)
        rows = {row.id: row for row in token_store.list_tokens(store, "bot")}
        assert {row.expires_us for row in rows.values()} == {None}
        assert user_store.user_by_token(store, secret_sha256(legacy), T0 + 3, record=False) is not None
        with pytest.raises(token_store.TokenExpired) as caught:
            user_store.user_by_token(store, secret_sha256(legacy), T0 + 1 + 90 * DAY, record=False)
        assert caught.value.expires_us == T0 + 1 + 90 * DAY
        assert user_store.user_by_token(store, secret_sha256(fresh), T0 + 3) is None
        assert rows[fresh_id].revoked_us is None  # refused for its seal, not revoked
