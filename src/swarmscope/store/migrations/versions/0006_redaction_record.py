"""Sealed purge records (README "Retention"): the ``redaction`` table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

A retention purge seals one ``redaction`` record in the ledger naming every entry it redacted (node
fingerprint, chain index, the record type its bytes held, its record hash); a redacted entry no sealed
purge record names is a problem for ``verify_ledger``, ``export`` and the workflow. The table is
append-only like the other evidence tables (UPDATE and DELETE refused by triggers, PostgreSQL reusing
0001's ``swarmscope_append_only`` function); 0004's redaction trigger never lets a purge redact its entry
(only observation, sighting and attribution entries).

A frozen snapshot (no import of ``schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("purged_at_us", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("ledger_node", sa.Integer(), nullable=True),
        sa.Column("ledger_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redaction")),
    )
    dialect = op.get_bind().dialect.name
    for action in ("UPDATE", "DELETE"):
        name = f"redaction_append_only_{action.lower()}"
        if dialect == "sqlite":
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {action} ON redaction "
                "BEGIN SELECT RAISE(ABORT, 'redaction is append-only'); END"
            )
        elif dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {action} ON redaction "
                "FOR EACH ROW EXECUTE FUNCTION swarmscope_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().execute(sa.text("SELECT count(*) FROM redaction")).scalar_one():
        raise RuntimeError("cannot downgrade below 0006: the ledger holds sealed purge records")
    op.drop_table("redaction")
