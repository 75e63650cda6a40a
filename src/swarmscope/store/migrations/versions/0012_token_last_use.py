"""When each API token of the web console was last used.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Adds ``web_token.last_used_us`` (UTC µs, NULL: never used), recorded to the minute by the console's
token check, so ``swarmscope users tokens`` can show which token a script still uses before one is
revoked. A frozen snapshot (no import of ``access/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("web_token", sa.Column("last_used_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_token") as batch:
        batch.drop_column("last_used_us")
