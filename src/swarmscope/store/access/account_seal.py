"""Console accounts sealed with a key the database's writer does not hold.

``web_user``, ``web_token`` and ``web_session`` are plain rows: someone who can write the database file
could otherwise insert a counsel user and a token whose SHA-256 he knows (or a session), or raise his own
user's role, and have the console, which holds the node key, seal decisions for him. So each row carries
``seal``: the hex HMAC-SHA256 (RFC 2104) of its granting fields, keyed with
``SHA-256(b"swarmscope console accounts v1\\n" || the node's raw Ed25519 private key (32 bytes))``
(:func:`account_key`), over the UTF-8 JSON (keys sorted, no whitespace) of ``{"table": ..., **fields}``:

- ``web_user``: id, name, role, client_id, password_hash, disabled_us;
- ``web_token``: id, user_id, token_sha256, revoked_us;
- ``web_session``: id, user_id, token_sha256, csrf, expires_us, revoked_us.

Every write of those rows made by a store holding the node key re-seals them in the same transaction
(:func:`reseal`). A store holding the key (the console started with it, the ``users`` commands) acts only
for rows whose seal holds (:func:`holds`): a row inserted or altered without the key, or a revocation
undone, authenticates nobody. ``last_used_us`` is not sealed (it only informs).

Source: README "Web console" (accounts sealed with the node key); RFC 2104 (HMAC).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

if TYPE_CHECKING:
    from swarmscope.store.database import Store

_PREFIX = b"swarmscope console accounts v1\n"
FIELDS = {
    "web_user": ("id", "name", "role", "client_id", "password_hash", "disabled_us"),
    "web_token": ("id", "user_id", "token_sha256", "revoked_us"),
    "web_session": ("id", "user_id", "token_sha256", "csrf", "expires_us", "revoked_us"),
}


def account_key(store: Store) -> bytes | None:
    """The 32-byte HMAC key of ``store``'s node key (module docstring); None for a store without it."""
    node = store.node
    if node is None or node.private_key is None:
        return None
    raw = node.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return hashlib.sha256(_PREFIX + raw).digest()


def seal_of(key: bytes, table: str, row: Mapping[Any, Any]) -> str:
    """The hex seal of ``row`` (a mapping holding at least the sealed fields) of ``table``."""
    fields = {name: row[name] for name in FIELDS[table]}
    text = json.dumps({"table": table, **fields}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def holds(key: bytes, table: str, row: Mapping[Any, Any]) -> bool:
    """Whether ``row``'s stored ``seal`` is the one ``key`` gives its sealed fields now."""
    stored = row.get("seal")
    return isinstance(stored, str) and hmac.compare_digest(stored, seal_of(key, table, row))


def reseal(conn: sa.Connection, key: bytes | None, table: sa.Table, where: sa.ColumnElement[bool]) -> None:
    """Seal every row of ``table`` matching ``where`` as it stands, inside the caller's write transaction;
    nothing without a ``key`` (a store opened without the node key leaves rows unsealed)."""
    if key is None:
        return
    for row in conn.execute(sa.select(table).where(where)).mappings().all():
        seal = seal_of(key, table.name, row)
        conn.execute(sa.update(table).where(table.c.id == row["id"]).values(seal=seal))
