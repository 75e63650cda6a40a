"""Tables of the web console's access control; mirrored by migration 0009.

Same conventions as :mod:`swarmscope.store.legal.schema`: portable column types, UTC microseconds in
``*_us`` integer columns. No secret is stored in the clear:

- ``web_user.password_hash``: an Argon2id hash in PHC string form (RFC 9106; argon2-cffi), NULL for a
  user without a password (token only).
- ``web_token.token_sha256`` and ``web_session.token_sha256``: hex SHA-256 of a random 256-bit bearer
  secret. A slow hash adds nothing for a secret with 256 bits of entropy; SHA-256 lets the lookup be an
  index seek. The secret itself is shown once (token) or lives only in the browser's cookie (session).

Every change of a user, token or session row is sealed as an event in the node's chain, and a row counts
only in the state last sealed for it (:mod:`swarmscope.store.access.account_events`; revision 0015 dropped
the per-row HMAC ``seal`` column of revision 0014, which could not tell an older sealed state from the
current one).

``web_login_attempt`` keeps every login attempt (name, address, success) for throttling. A display of a
subscriber identity in the console is audited where every other read is: ``audit_log`` (append-only), by
:func:`swarmscope.store.legal.subscribers.read_identity` with the console user as the actor.
"""

from __future__ import annotations

import sqlalchemy as sa

from swarmscope.store.metadata import metadata

web_user = sa.Table(
    "web_user",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.Text, nullable=False),  # viewer | analyst | counsel | admin
    sa.Column("client_id", sa.Integer, sa.ForeignKey("client.id")),  # bound to one rights holder, or NULL
    sa.Column("password_hash", sa.Text),
    sa.Column("added_us", sa.BigInteger, nullable=False),
    sa.Column("disabled_us", sa.BigInteger),
)

web_token = sa.Table(
    "web_token",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("web_user.id"), nullable=False, index=True),
    sa.Column("token_sha256", sa.Text, nullable=False, unique=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("revoked_us", sa.BigInteger),
    sa.Column("last_used_us", sa.BigInteger),  # to the minute (store/access/tokens.py); NULL: never used
    # when it stops working, sealed with the token's account event (migration 0023, store/access/tokens.py);
    # NULL: issued before revision 0023, it expires a fixed time after its sealed issue
    sa.Column("expires_us", sa.BigInteger),
)

web_session = sa.Table(
    "web_session",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("web_user.id"), nullable=False, index=True),
    sa.Column("token_sha256", sa.Text, nullable=False, unique=True),
    sa.Column("csrf", sa.Text, nullable=False),  # the session's CSRF token (useless without the cookie)
    sa.Column("address", sa.Text),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False),
    sa.Column("revoked_us", sa.BigInteger),
    # the last request that used it, to the minute (store/access/sessions.py; migration 0021): a session
    # idle longer than ``serve --session-idle`` ends; NULL (rows before 0021): idle since created_us
    sa.Column("last_seen_us", sa.BigInteger),
)

web_login_attempt = sa.Table(
    "web_login_attempt",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at_us", sa.BigInteger, nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False, index=True),
    sa.Column("address", sa.Text, nullable=False, index=True),
    sa.Column("ok", sa.Boolean, nullable=False),
)
