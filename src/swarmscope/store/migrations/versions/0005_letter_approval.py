"""Letters: an approval binds content and a dispute voids pending approvals (README "Letters").

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Adds to ``letter``:

- ``settings_json`` (text): the letter settings (amount, currency, term, sender, payee, IBAN/BIC, dispute
  contacts) frozen when the letter is drafted, as canonical JSON; sending renders from these only.
- ``approved_sha256`` (text): hex SHA-256 of the content the approver saw (``letters preview``), recorded
  by ``letters approve`` and checked again by ``letters send``.
- ``voided_us`` (big integer): when an unsent letter was voided (a redraft supersedes it, a dispute stops
  it); a voided letter is never approved or sent.

Letters drafted before this revision have no frozen settings: they must be drafted again before approval.
A frozen snapshot (no import of ``store/legal/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("letter") as batch:
        batch.add_column(sa.Column("settings_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("approved_sha256", sa.Text(), nullable=True))
        batch.add_column(sa.Column("voided_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("letter") as batch:
        batch.drop_column("voided_us")
        batch.drop_column("approved_sha256")
        batch.drop_column("settings_json")
