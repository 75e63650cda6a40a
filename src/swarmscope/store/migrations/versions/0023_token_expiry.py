"""When each console API token expires.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07

Adds ``web_token.expires_us`` (UTC µs): ``users token NAME --expires-days N`` (default 90) gives every new
token an expiry, and the token's ``account_token`` event seals it with the rest of the row
(:mod:`swarmscope.store.access.account_events`), so a database writer without the node key cannot extend
it. Rows written before this revision keep NULL: their sealed events never named an expiry, and writing
one now would break their seal (and an unsealed date could be moved by anyone who can write the file).
Such a token expires :data:`swarmscope.store.access.tokens.LEGACY_LIFETIME_US` after its sealed issue
(the ``at_us`` the node key signed), already past for a token issued more than 90 days before.

The downgrade drops the column: a token issued since then is refused by the code of revision 0022 (its
sealed state names an expiry the row no longer holds); issue it again. A frozen snapshot (no import of
``access/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("web_token", sa.Column("expires_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_token") as batch:
        batch.drop_column("expires_us")
