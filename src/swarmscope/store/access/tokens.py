"""API tokens of console users as the ``users tokens`` listing sees them: list, revoke, note their use.

A token row keeps the SHA-256 of the secret only (see :mod:`swarmscope.store.access.schema`); its id (an
integer) is what an operator names to revoke one token while the user's other tokens keep working.
Creating a token and finding the user behind one are in :mod:`swarmscope.store.access.users`.

Every token expires (RFC 6750 section 5.3: bearer tokens should be short-lived; a script's token lives
days, not the hour the RFC suggests for OAuth, and is revocable at once). ``users token --expires-days
N`` (:data:`DEFAULT_DAYS` without it) sets ``expires_us``, sealed with the token's ``account_token``
event (:mod:`swarmscope.store.access.account_events`): a database writer without the node key cannot
extend it. A token issued before schema revision 0023 holds NULL there and its sealed event names no
expiry; it expires :data:`LEGACY_LIFETIME_US` after the ``at_us`` of its newest sealed event (its issue,
for a token never revoked), which the node key signed, never after a date anyone who can write the file
could move (:func:`expiry_us`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import InputError
from swarmscope.store.access.account_events import SealedAccounts, seal_rows
from swarmscope.store.access.schema import web_token, web_user

if TYPE_CHECKING:
    from swarmscope.store.database import Store

# Last use is recorded to the minute: a script calling the API many times a second writes once a minute.
USE_RESOLUTION_US = 60_000_000
DAY_US = 86_400_000_000
DEFAULT_DAYS = 90  # ``users token`` without --expires-days
MAX_DAYS = 365  # the longest --expires-days (cli/numeric.py TOKEN_DAYS)
LEGACY_LIFETIME_US = DEFAULT_DAYS * DAY_US  # a token issued before revision 0023: after its sealed issue


class TokenExpired(Exception):
    """A token that is otherwise live (unrevoked, its user active, both rows the states sealed) but whose
    expiry ``expires_us`` (UTC µs) has passed; the console answers it 401 naming the time."""

    def __init__(self, expires_us: int) -> None:
        super().__init__(f"API token expired at {expires_us} µs")
        self.expires_us = expires_us


def expiry_us(expires_us: int | None, sealed_at_us: int) -> int:
    """When a token stops working (UTC µs): its sealed ``expires_us``, or for a token issued before schema
    revision 0023 (``expires_us`` None) :data:`LEGACY_LIFETIME_US` after ``sealed_at_us``, the UTC µs of
    its newest sealed event (module docstring)."""
    return expires_us if expires_us is not None else sealed_at_us + LEGACY_LIFETIME_US


@dataclass(frozen=True, slots=True)
class TokenRow:
    """One API token: ``user`` its user's name; ``created_us``, ``last_used_us`` (None: never used, else
    to :data:`USE_RESOLUTION_US`), ``revoked_us`` (None: not revoked) and ``expires_us`` (None: issued
    before schema revision 0023, see :func:`expiry_us`) in UTC µs; ``user_id`` and ``token_sha256`` (hex
    SHA-256 of the secret) complete the sealed fields, for :func:`holds`."""

    id: int
    user: str
    created_us: int
    last_used_us: int | None
    revoked_us: int | None
    expires_us: int | None
    user_id: int
    token_sha256: str


def holds(sealed: SealedAccounts, row: TokenRow) -> bool:
    """Whether token ``row``, as read, is the state last sealed for it under ``sealed``'s keys (an expiry
    moved or blanked without the node key is not)."""
    return sealed.holds("web_token", asdict(row))


def _select() -> sa.Select[Any]:
    return sa.select(
        web_token.c.id, web_user.c.name, web_token.c.created_us, web_token.c.last_used_us,
        web_token.c.revoked_us, web_token.c.expires_us, web_token.c.user_id, web_token.c.token_sha256,
    ).join(web_user, web_user.c.id == web_token.c.user_id)  # fmt: skip


def list_tokens(store: Store, user: str | None = None) -> list[TokenRow]:
    """Every token (or ``user``'s), oldest first; revoked ones included."""
    query = _select().order_by(web_token.c.id)
    if user is not None:
        query = query.where(web_user.c.name == user)
    with store.engine.connect() as conn:
        return [TokenRow(*row) for row in conn.execute(query)]


def revoke_token(store: Store, user: str, token_id: int, now_us: int) -> TokenRow:
    """Revoke ``user``'s token ``token_id`` at once; the user's other tokens and sessions are untouched.
    Revoking a revoked token changes nothing. The revocation is sealed in the node's chain
    (:mod:`swarmscope.store.access.account_events`). Returns the token's row after the change.

    Raises:
        InputError: ``user`` holds no token with that id (a mistyped id never revokes another's token).
        StoreError: no node key to seal with (nothing changed).
    """
    query = _select().where(web_token.c.id == token_id, web_user.c.name == user)
    with store._write(immediate=True) as conn:
        row = conn.execute(query).first()
        if row is None:
            raise InputError(f"user {user!r} has no API token {token_id} (see 'users tokens {user}')")
        if row.revoked_us is None:
            conn.execute(sa.update(web_token).where(web_token.c.id == token_id).values(revoked_us=now_us))
            seal_rows(conn, store, web_token, web_token.c.id == token_id, now_us)
        found = conn.execute(query).one()
    return TokenRow(*found)


def record_use(store: Store, token_id: int, last_used_us: int | None, now_us: int) -> None:
    """Note that token ``token_id`` was used at ``now_us``, unless its last use (``last_used_us``, as
    read) is less than :data:`USE_RESOLUTION_US` ago."""
    if last_used_us is not None and now_us - last_used_us < USE_RESOLUTION_US:
        return
    with store._write() as conn:
        conn.execute(sa.update(web_token).where(web_token.c.id == token_id).values(last_used_us=now_us))
