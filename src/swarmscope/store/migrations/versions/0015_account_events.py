"""Console accounts sealed as ledger events instead of per-row HMACs.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Drops ``seal`` (the hex HMAC-SHA256 of revision 0014) from ``web_user``, ``web_token`` and
``web_session``: a row's MAC proved that a state was once written by the node key's holder, not that it
is the current one (an older sealed row written back undid a disabling or a revocation). Every account
change is now a sealed event in the node's chain, and a row counts only in the state its newest event
gives (:mod:`swarmscope.store.access.account_events`). Accounts made before this revision have no event:
``users passwd`` seals a user as it stands, ``users token`` issues a sealed token. A frozen snapshot (no
import of ``access/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TABLES = ("web_user", "web_token", "web_session")


def upgrade() -> None:
    for table in _TABLES:  # SQLite >= 3.35 drops a column in place (no table copy under foreign keys)
        op.drop_column(table, "seal")


def downgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("seal", sa.Text(), nullable=True))
