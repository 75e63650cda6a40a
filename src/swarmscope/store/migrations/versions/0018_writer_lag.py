"""A fleet node's writer lag, reported with its heartbeat.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

Adds ``writer_lag_us`` to ``fleet_node``: how long, in microseconds, the node's oldest evidence record not
yet committed had waited in its ledger writer's queue when the node last renewed its leases (0: nothing
pending; NULL: not reported yet, e.g. a node of an older version). An idle healthy node shows 0, a node
whose store keeps refusing shows a growing age. A frozen snapshot (no import of ``fleet/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("fleet_node", sa.Column("writer_lag_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fleet_node") as batch:
        batch.drop_column("writer_lag_us")
