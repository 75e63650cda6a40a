"""A fleet node's incarnation (which process holds its name now) and its clock offset.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

Adds ``incarnation`` to ``fleet_node``: a counter the database increments on every start under the
node's name. The process that started last holds the current value; its renewals, heartbeats, lease
takes and batch commits are refused once another process started under that name (a paused process
that comes back after a restart must not go on under the name). Adds ``clock_offset_us`` (database
time minus the node's clock, microseconds, measured at its last lease round; NULL: not reported) and
``clock_threshold_us`` (the node's clock threshold, microseconds), so ``fleet status`` flags a node whose
clock is off; and ``lease_us`` (the node's lease length, microseconds, NULL: unknown), so a node
silent for several lease periods shows as dead. A frozen snapshot (no import of ``fleet/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "fleet_node", sa.Column("incarnation", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column("fleet_node", sa.Column("clock_offset_us", sa.BigInteger(), nullable=True))
    op.add_column("fleet_node", sa.Column("clock_threshold_us", sa.BigInteger(), nullable=True))
    op.add_column("fleet_node", sa.Column("lease_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fleet_node") as batch:
        batch.drop_column("lease_us")
        batch.drop_column("clock_threshold_us")
        batch.drop_column("clock_offset_us")
        batch.drop_column("incarnation")
