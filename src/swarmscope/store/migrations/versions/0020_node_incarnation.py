"""A fleet node's incarnation: which process holds its name now.

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-07

Adds ``incarnation`` to ``fleet_node``: a counter the database increments on every start under the
node's name. The process that started last holds the current value; its renewals, heartbeats, lease
takes and batch commits are refused once another process started under that name (a paused process
that comes back after a restart must not go on under the name). A frozen snapshot (no import of
``fleet/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "fleet_node", sa.Column("incarnation", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
    )


def downgrade() -> None:
    with op.batch_alter_table("fleet_node") as batch:
        batch.drop_column("incarnation")
