"""Identities bound to what the ISP disclosed (README "Identities"): ``subscriber.ip`` and ``.port``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Adds to ``subscriber``:

- ``ip`` (text): the IP address the disclosure row named (normalised as observations store it).
- ``port`` (integer): the source port the disclosure row named; NULL when it named none.

With ``window_start_us``/``window_end_us`` they are what the ISP disclosed; the identity ciphertext
authenticates all four (AES-GCM associated data, :mod:`swarmscope.cases.identities`). Rows imported
before this revision have ``ip`` NULL: their ciphertext is bound to the case row only, so they are
refused until the disclosure is imported again. A frozen snapshot (no import of ``legal.schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.add_column(sa.Column("ip", sa.Text(), nullable=True))
        batch.add_column(sa.Column("port", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_column("port")
        batch.drop_column("ip")
