"""Console accounts sealed with a key the database's writer does not hold.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

Adds ``seal`` (hex HMAC-SHA256, NULL: never sealed) to ``web_user``, ``web_token`` and ``web_session``:
the console, when it holds the node key, acts only for rows whose seal holds
(:mod:`swarmscope.store.access.account_seal`). A frozen snapshot (no import of ``access/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TABLES = ("web_user", "web_token", "web_session")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("seal", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("seal")
