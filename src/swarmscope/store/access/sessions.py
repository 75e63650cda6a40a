"""Console sessions and login attempts: every read and write of ``web_session`` and ``web_login_attempt``.

A session is a server-side row, so logging out, a new password or disabling the user ends it at once
(a signed cookie alone could not be revoked). The browser holds only the random secret whose SHA-256 is
``token_sha256``. Times are UTC microseconds. A session's start and end are sealed in the node's chain,
and a session counts only in the state last sealed for it (:mod:`swarmscope.store.access.account_events`).

A session ends at its absolute expiry (``expires_us``) and, before that, once idle: unused for longer
than the console's idle time (OWASP Session Management Cheat Sheet, "Idle Timeout"). Its last use,
``last_seen_us``, is written to the minute (:data:`SEEN_RESOLUTION_US`: a browser making many requests a
second writes once a minute), so an idle session ends up to a minute early, never late. Like a token's
last use it informs and is not sealed: someone who can write the database file could keep a session
from going idle, never make one, nor stretch it past its sealed expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.store.access.account_events import SealedAccounts, seal_rows
from swarmscope.store.access.schema import web_login_attempt, web_session, web_user
from swarmscope.store.access.users import UserRow, user_by_id, user_holds

if TYPE_CHECKING:
    from swarmscope.store.database import Store

SEEN_RESOLUTION_US = 60_000_000  # a session's last use is recorded to the minute
ATTEMPT_LOCK = 0x5357_4C47  # pg_advisory_xact_lock key serialising login attempt counts ("SWLG")


@dataclass(frozen=True, slots=True)
class SessionRow:
    """An open session: its user, CSRF token, expiry and last use as recorded (UTC µs; the creation for a
    row never used since revision 0021)."""

    id: int
    user: UserRow
    csrf: str
    expires_us: int
    last_seen_us: int


def open_session(
    store: Store,
    user_id: int,
    token_sha256: str,
    csrf: str,
    address: str | None,
    now_us: int,
    expires_us: int,
) -> None:
    """Store a new session row, sealed.

    Raises:
        StoreError: no node key to seal with (nothing stored).
    """
    row = {
        "user_id": user_id, "token_sha256": token_sha256, "csrf": csrf, "address": address,
        "created_us": now_us, "expires_us": expires_us, "last_seen_us": now_us,
    }  # fmt: skip
    with store._write(immediate=True) as conn:
        conn.execute(sa.insert(web_session).values(row))
        seal_rows(conn, store, web_session, web_session.c.token_sha256 == token_sha256, now_us)


def _last_seen() -> sa.ColumnElement[int]:
    return sa.func.coalesce(web_session.c.last_seen_us, web_session.c.created_us)


def find_session(
    store: Store,
    token_sha256: str,
    now_us: int,
    sealed: SealedAccounts | None = None,
    idle_us: int | None = None,
) -> SessionRow | None:
    """The live session with this secret's SHA-256: not revoked, not expired, not idle for ``idle_us``
    or longer (None: no idle limit), its user not disabled, and the session's and its user's rows the
    states last sealed for them under ``sealed``'s keys (default: the store's own node key)."""
    query = (
        sa.select(web_session)
        .join(web_user, web_user.c.id == web_session.c.user_id)
        .where(
            web_session.c.token_sha256 == token_sha256,
            web_session.c.revoked_us.is_(None),
            web_session.c.expires_us > now_us,
            web_user.c.disabled_us.is_(None),
        )
    )
    if idle_us is not None:
        query = query.where(_last_seen() > now_us - idle_us)
    with store.engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    view = SealedAccounts.of_store(store) if sealed is None else sealed
    user = user_by_id(store, row["user_id"])
    if user is None or not view.holds("web_session", row) or not user_holds(view, user):
        return None
    seen = row["created_us"] if row["last_seen_us"] is None else row["last_seen_us"]
    return SessionRow(row["id"], user, row["csrf"], row["expires_us"], seen)


def record_seen(store: Store, session: SessionRow, now_us: int) -> None:
    """Note that ``session`` was used at ``now_us``, unless its last use as read is less than
    :data:`SEEN_RESOLUTION_US` ago (module docstring)."""
    if now_us - session.last_seen_us < SEEN_RESOLUTION_US:
        return
    with store._write() as conn:
        conn.execute(sa.update(web_session).where(web_session.c.id == session.id).values(last_seen_us=now_us))


def revoke_session(store: Store, token_sha256: str, now_us: int) -> None:
    """End the session with this secret's SHA-256 (logout); unknown secrets are ignored. The end is sealed
    when the store holds the node key; without it only the row ends (it then differs from the session's
    sealed state, so it opens nothing, but the end is not in the chain)."""
    session = web_session.c
    with store._write(immediate=True) as conn:
        live = sa.select(session.id).where(session.token_sha256 == token_sha256, session.revoked_us.is_(None))
        ids = list(conn.execute(live).scalars())
        conn.execute(sa.update(web_session).where(session.id.in_(ids)).values(revoked_us=now_us))
        if store.node is not None and store.node.private_key is not None:
            seal_rows(conn, store, web_session, session.id.in_(ids), now_us)


def record_attempt(store: Store, name: str, address: str, ok: bool, now_us: int) -> None:
    """Store one login attempt (successful or not)."""
    with store._write() as conn:
        row = {"at_us": now_us, "name": name, "address": address, "ok": ok}
        conn.execute(sa.insert(web_login_attempt).values(row))


def _failures(since_us: int, name: str | None, address: str | None) -> sa.Select[Any]:
    query = sa.select(sa.func.count()).where(
        web_login_attempt.c.at_us >= since_us, web_login_attempt.c.ok.is_(False)
    )
    if name is not None:
        query = query.where(web_login_attempt.c.name == name)
    if address is not None:
        query = query.where(web_login_attempt.c.address == address)
    return query


def failures_since(
    store: Store, since_us: int, *, name: str | None = None, address: str | None = None
) -> int:
    """Failed login attempts at or after ``since_us`` for a name or from an address."""
    with store.engine.connect() as conn:
        return int(conn.execute(_failures(since_us, name, address)).scalar() or 0)


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    """Failures allowed at or after ``since_us`` (UTC µs) per name and per address (None: no address
    limit, a browser with a device cookie for the name)."""

    since_us: int
    per_name: int
    per_address: int | None


def begin_attempt(store: Store, name: str, address: str, now_us: int, limits: AttemptLimits) -> int | str:
    """Count a login attempt BEFORE its password is checked: in one serialised transaction, refuse it
    when the name or the address is at its limit (returns ``"name"`` or ``"address"``, nothing stored),
    else store it as a failure and return its row id (:func:`settle_attempt` marks it a success).

    Counting first means concurrent attempts cannot all read the same count and all be checked (a
    check-then-record race). The transaction is serialised by SQLite's write lock (BEGIN IMMEDIATE) or a
    PostgreSQL transaction-level advisory lock (:data:`ATTEMPT_LOCK`).
    """
    with store._write(immediate=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ATTEMPT_LOCK})
        if conn.execute(_failures(limits.since_us, name, None)).scalar_one() >= limits.per_name:
            return "name"
        per_address = limits.per_address
        if (
            per_address is not None
            and conn.execute(_failures(limits.since_us, None, address)).scalar_one() >= per_address
        ):
            return "address"
        row = {"at_us": now_us, "name": name, "address": address, "ok": False}
        inserted = conn.execute(sa.insert(web_login_attempt).values(row).returning(web_login_attempt.c.id))
        return int(inserted.scalar_one())


def settle_attempt(store: Store, attempt_id: int) -> None:
    """Mark the attempt :func:`begin_attempt` counted as a success: it no longer counts as a failure."""
    with store._write() as conn:
        conn.execute(sa.update(web_login_attempt).where(web_login_attempt.c.id == attempt_id).values(ok=True))
