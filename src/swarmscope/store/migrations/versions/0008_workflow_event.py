"""Sealed workflow decisions (README "Sealed workflow decisions"): the ``workflow_event`` table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

The legal workflow seals each decision that can later accuse someone as a ``workflow_event`` record in
the ledger (subject, step, UTC µs, the SHA-256 of the decision's content): a letter approved or sent, a
payment, a dispute, an escalation, an ISP or work directory entry. The workflow's rows count only when
their content hashes to such a proven record. The table is append-only like the other evidence tables
(UPDATE and DELETE refused by triggers, PostgreSQL reusing 0001's ``swarmscope_append_only`` function).

A frozen snapshot (no import of ``schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(), nullable=False),
        sa.Column("ledger_node", sa.Integer(), nullable=True),
        sa.Column("ledger_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_event")),
    )
    dialect = op.get_bind().dialect.name
    for action in ("UPDATE", "DELETE"):
        name = f"workflow_event_append_only_{action.lower()}"
        if dialect == "sqlite":
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {action} ON workflow_event "
                "BEGIN SELECT RAISE(ABORT, 'workflow_event is append-only'); END"
            )
        elif dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {action} ON workflow_event "
                "FOR EACH ROW EXECUTE FUNCTION swarmscope_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().execute(sa.text("SELECT count(*) FROM workflow_event")).scalar_one():
        raise RuntimeError("cannot downgrade below 0008: the ledger holds sealed workflow events")
    op.drop_table("workflow_event")
