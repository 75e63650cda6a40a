"""The observation's format version 2: ``source_port``, the TCP source port of an inbound connection.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

Adds ``source_port`` (NULL: an outbound probe, or a row sealed under version 1) and the table's
``version`` column (the canonical format version each row was sealed under; rows from before hold 1), as
the declarations' docstring prescribes (``op.add_column``: a batch rebuild of an evidence table would trip
the append-only triggers of the tables that refer to it). RFC 6302 section 2: a server logging an
inbound connection keeps its source port, the only thing that tells CGNAT subscribers apart.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("observation", sa.Column("source_port", sa.Integer(), nullable=True))
    op.add_column(
        "observation", sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1"))
    )


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+, PostgreSQL): no batch rebuild under the append-only triggers
    op.drop_column("observation", "version")
    op.drop_column("observation", "source_port")
