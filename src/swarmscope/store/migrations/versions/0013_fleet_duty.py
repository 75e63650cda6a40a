"""The fleet's periodic duties: RFC 3161 timestamping and retention purges, claimed once per period.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

New table ``fleet_duty``: one row per duty (``timestamp``, ``purge``) with its period (seconds), its
settings (JSON) and the last claim (database time, node name, finish time, outcome). A frozen snapshot
(no import of ``fleet/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_duty",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("every_s", sa.Integer(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("started_us", sa.BigInteger()),
        sa.Column("node_name", sa.Text()),
        sa.Column("finished_us", sa.BigInteger()),
        sa.Column("outcome", sa.Text()),
        sa.CheckConstraint("every_s >= 1", name="every_positive"),
    )


def downgrade() -> None:
    op.drop_table("fleet_duty")
