"""Rows of console users and their API tokens: every read and write of ``web_user`` and ``web_token``.

The store keeps hashes only (see :mod:`swarmscope.store.access.schema`); hashing and checking passwords is
the caller's (the web layer's Argon2 hasher), so this module never sees a password. Every write seals the
rows' new state in the node's chain in the same transaction, and a token authenticates only when its row
and its user's row are the states last sealed for them (:mod:`swarmscope.store.access.account_events`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import InputError
from swarmscope.store.access import tokens
from swarmscope.store.access.account_events import SealedAccounts, seal_rows
from swarmscope.store.access.schema import web_session, web_token, web_user
from swarmscope.store.legal.schema import client

if TYPE_CHECKING:
    from swarmscope.store.database import Store


@dataclass(frozen=True, slots=True)
class UserRow:
    """One console user: ``role`` as stored (a name), ``client``/``client_id`` the rights holder it is
    bound to (None: every client), ``disabled_us`` UTC µs when disabled (None: active)."""

    id: int
    name: str
    role: str
    client: str | None
    client_id: int | None
    password_hash: str | None
    added_us: int
    disabled_us: int | None


def _select() -> sa.Select[Any]:
    return sa.select(web_user, client.c.name.label("client_name")).outerjoin(
        client, client.c.id == web_user.c.client_id
    )


def _user(row: sa.Row[Any]) -> UserRow:
    return UserRow(
        row.id, row.name, row.role, row.client_name, row.client_id, row.password_hash, row.added_us,
        row.disabled_us,
    )  # fmt: skip


def client_id(store: Store, name: str) -> int:
    """The id of the rights holder called ``name``.

    Raises:
        InputError: no client has that name (register it with ``works add --client``).
    """
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(client.c.id).where(client.c.name == name)).scalar()
    if found is None:
        raise InputError(f"--client: no rights holder named {name!r} in this database")
    return int(found)


def add_user(
    store: Store, name: str, role: str, client_id: int | None, password_hash: str | None, now_us: int
) -> UserRow:
    """Create a user, sealed.

    Raises:
        InputError: a user of that name exists. StoreError: no node key to seal with (nothing stored).
    """
    with store._write(immediate=True) as conn:
        if conn.execute(sa.select(web_user.c.id).where(web_user.c.name == name)).first():
            raise InputError(f"user {name!r} exists (use 'users passwd' or 'users disable')")
        values = {
            "name": name, "role": role, "client_id": client_id, "password_hash": password_hash,
            "added_us": now_us,
        }  # fmt: skip
        conn.execute(sa.insert(web_user).values(values))
        seal_rows(conn, store, web_user, web_user.c.name == name, now_us)
    return get_user(store, name)


def find_user(store: Store, name: str) -> UserRow | None:
    """The user called ``name`` (disabled or not), or None."""
    with store.engine.connect() as conn:
        row = conn.execute(_select().where(web_user.c.name == name)).first()
    return None if row is None else _user(row)


def get_user(store: Store, name: str) -> UserRow:
    """The user called ``name``.

    Raises:
        InputError: no such user.
    """
    found = find_user(store, name)
    if found is None:
        raise InputError(f"no user named {name!r}")
    return found


def user_by_id(store: Store, user_id: int) -> UserRow | None:
    with store.engine.connect() as conn:
        row = conn.execute(_select().where(web_user.c.id == user_id)).first()
    return None if row is None else _user(row)


def list_users(store: Store) -> list[UserRow]:
    with store.engine.connect() as conn:
        return [_user(r) for r in conn.execute(_select().order_by(web_user.c.id))]


def set_password_hash(store: Store, name: str, password_hash: str, now_us: int) -> None:
    """Replace a user's password hash and revoke its open sessions (a new password ends old logins); the
    user's new state and each ended session are sealed.

    Raises:
        InputError: no such user. StoreError: no node key to seal with (nothing changed).
    """
    user = get_user(store, name)
    with store._write(immediate=True) as conn:
        conn.execute(sa.update(web_user).where(web_user.c.id == user.id).values(password_hash=password_hash))
        ended = _revoke_sessions(conn, user.id, now_us)
        seal_rows(conn, store, web_user, web_user.c.id == user.id, now_us)
        seal_rows(conn, store, web_session, web_session.c.id.in_(ended), now_us)


def disable_user(store: Store, name: str, now_us: int) -> None:
    """Disable a user: its sessions and tokens are revoked at once and it can no longer log in. The
    user's disabled state and every session and token it ends are sealed (a disabled user is sealed again
    as it stands: a row whose disabling was undone without the key is disabled once more).

    Raises:
        InputError: no such user. StoreError: no node key to seal with (nothing changed).
    """
    user = get_user(store, name)
    with store._write(immediate=True) as conn:
        if user.disabled_us is None:
            conn.execute(sa.update(web_user).where(web_user.c.id == user.id).values(disabled_us=now_us))
        ended = _revoke_sessions(conn, user.id, now_us)
        token = web_token.c
        live = sa.select(token.id).where(token.user_id == user.id, token.revoked_us.is_(None))
        revoked = list(conn.execute(live).scalars())
        conn.execute(sa.update(web_token).where(token.id.in_(revoked)).values(revoked_us=now_us))
        seal_rows(conn, store, web_user, web_user.c.id == user.id, now_us)
        seal_rows(conn, store, web_session, web_session.c.id.in_(ended), now_us)
        seal_rows(conn, store, web_token, token.id.in_(revoked), now_us)


def _revoke_sessions(conn: sa.Connection, user_id: int, now_us: int) -> list[int]:
    """End ``user_id``'s open sessions at ``now_us``; returns their ids."""
    session = web_session.c
    ids = list(
        conn.execute(
            sa.select(session.id).where(session.user_id == user_id, session.revoked_us.is_(None))
        ).scalars()
    )
    conn.execute(sa.update(web_session).where(session.id.in_(ids)).values(revoked_us=now_us))
    return ids


def add_token(store: Store, user_id: int, token_sha256: str, now_us: int, expires_us: int) -> int:
    """Store an API token's SHA-256 (hex) for a user, expiring at ``expires_us`` (UTC µs), both sealed;
    returns the token's id (to list or revoke it).

    Raises:
        InputError: ``expires_us`` is not after ``now_us``. StoreError: no node key to seal with (nothing
            stored).
    """
    if expires_us <= now_us:
        raise InputError("an API token must expire after it is issued")
    with store._write(immediate=True) as conn:
        row = {"user_id": user_id, "token_sha256": token_sha256, "created_us": now_us}
        row["expires_us"] = expires_us
        key = conn.execute(sa.insert(web_token).values(row)).inserted_primary_key
        assert key is not None  # an INSERT of one row always has its primary key
        seal_rows(conn, store, web_token, web_token.c.id == int(key[0]), now_us)
    return int(key[0])


def user_by_token(
    store: Store,
    token_sha256: str,
    now_us: int,
    sealed: SealedAccounts | None = None,
    *,
    record: bool = True,
) -> UserRow | None:
    """The active user holding the unrevoked API token with this SHA-256 (hex), or None; the token's row
    and its user's row must be the states last sealed for them under ``sealed``'s keys (default: the
    store's own node key). With ``record`` the token's use at ``now_us`` (UTC µs) is recorded
    (:func:`swarmscope.store.access.tokens.record_use`).

    Raises:
        TokenExpired: the token would be accepted but its expiry (:func:`.tokens.expiry_us`) is at or
            before ``now_us`` (its use is not recorded).
    """
    query = (
        _select()
        .add_columns(*(c.label(f"token_{c.name}") for c in web_token.c))
        .join(web_token, web_token.c.user_id == web_user.c.id)
        .where(
            web_token.c.token_sha256 == token_sha256,
            web_token.c.revoked_us.is_(None),
            web_user.c.disabled_us.is_(None),
        )
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    view = SealedAccounts.of_store(store) if sealed is None else sealed
    token = {k.removeprefix("token_"): v for k, v in row._mapping.items() if k.startswith("token_")}
    if not (view.holds("web_token", token) and user_holds(view, _user(row))):
        return None
    sealed_at = view.sealed_at("web_token", row.token_id)
    assert sealed_at is not None  # holds() found its newest event
    ends = tokens.expiry_us(row.token_expires_us, sealed_at)
    if ends <= now_us:
        raise tokens.TokenExpired(ends)
    if record:
        tokens.record_use(store, row.token_id, row.token_last_used_us, now_us)
    return _user(row)


def user_holds(sealed: SealedAccounts, user: UserRow) -> bool:
    """Whether ``user``, as read, is the state last sealed for it under ``sealed``'s keys."""
    return sealed.holds("web_user", asdict(user))
