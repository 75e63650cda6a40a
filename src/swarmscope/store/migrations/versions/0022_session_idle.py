"""When each console session was last used, for the idle timeout.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07

Adds ``web_session.last_seen_us`` (UTC µs; NULL for a row written before this revision, whose idle time
then counts from ``created_us``): the console ends a session idle longer than ``serve --session-idle``
(OWASP Session Management Cheat Sheet, "Idle Timeout") besides its absolute lifetime ``expires_us``. It
informs, like ``web_token.last_used_us``, and is not sealed. A frozen snapshot (no import of
``access/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("web_session", sa.Column("last_seen_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_session") as batch:
        batch.drop_column("last_seen_us")
